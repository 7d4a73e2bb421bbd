//! How stored text becomes a secret: `BASE64` or `PLAIN` encodings, and property formats
//! (`PemPropertyFormat`, `SecretKeyPropertyFormat`) chosen per secret id by `mappings`.

use std::collections::HashMap;
use std::sync::Arc;

use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

use crate::pem;
use crate::provider::secret_id;
use crate::secret::{Secret, SecretError, SecretValue};

/// How a store's raw content is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Base64 (IG's default for environment and file stores).
    Base64,
    /// The bytes as they are, without one trailing newline.
    Plain,
}

/// A property format: how one secret's content is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyFormat {
    /// Generic bytes in an encoding.
    Encoded(Encoding),
    /// PEM: a private key and certificates, or certificates.
    Pem,
    /// A symmetric key in an encoding (`SecretKeyPropertyFormat`).
    SecretKey(Encoding),
}

impl Encoding {
    /// Decodes raw stored bytes. `what` names the secret in errors.
    pub fn decode(self, raw: &[u8], what: &str) -> Result<Secret, SecretError> {
        match self {
            Encoding::Plain => {
                let end = raw.strip_suffix(b"\r\n").or_else(|| raw.strip_suffix(b"\n")).unwrap_or(raw);
                Ok(Secret::new(end.to_vec()))
            }
            Encoding::Base64 => {
                let text: Vec<u8> = raw.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
                let text = Secret::new(text);
                BASE64.decode(text.expose()).map(Secret::new).map_err(|_| {
                    SecretError::new(format!("{what} is not valid base64 (set the store's format to PLAIN?)"))
                })
            }
        }
    }

    /// Reads a store's `format` property (`BASE64` when absent).
    pub fn from_config(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Self, ConfigError> {
        let Some(node) = node else { return Ok(Encoding::Base64) };
        let s = cx.string(node)?;
        match s.to_ascii_uppercase().as_str() {
            "BASE64" => Ok(Encoding::Base64),
            "PLAIN" => Ok(Encoding::Plain),
            _ => Err(cx.err(node, format!("format must be BASE64 or PLAIN, not '{s}'"))),
        }
    }
}

/// Base64 that accepts input with or without padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl PropertyFormat {
    /// Decodes one secret's raw content.
    pub fn decode(self, raw: &[u8], what: &str) -> Result<SecretValue, SecretError> {
        match self {
            PropertyFormat::Encoded(e) | PropertyFormat::SecretKey(e) => e.decode(raw, what).map(SecretValue::Bytes),
            PropertyFormat::Pem => pem::parse(raw, what),
        }
    }
}

/// Builds `PemPropertyFormat`.
pub(crate) fn build_pem(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    if let Some(n) = config.get("decryptionSecretId") {
        return Err(cx.err(
            n,
            "encrypted PEM keys (decryptionSecretId) are not supported; store the key decrypted and protect the file",
        ));
    }
    config.ignore(&["secretsProvider"]);
    config.finish()?;
    Ok(Object::Other(Arc::new(PropertyFormat::Pem)))
}

/// Builds `SecretKeyPropertyFormat` (`format`, `algorithm`).
pub(crate) fn build_secret_key(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let encoding = Encoding::from_config(cx, config.get("format"))?;
    if let Some(a) = config.get("algorithm") {
        cx.string(a)?;
    }
    config.finish()?;
    Ok(Object::Other(Arc::new(PropertyFormat::SecretKey(encoding))))
}

/// Reads `mappings: [{ "secretId", "format" }]` of environment and file stores.
pub(crate) fn mappings(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<HashMap<String, PropertyFormat>, ConfigError> {
    let mut out = HashMap::new();
    let Some(node) = node else { return Ok(out) };
    for item in cx.array(node)? {
        let m = cx.config(item)?;
        let id = secret_id(cx, m.require("secretId")?)?;
        let format_node = m.require("format")?;
        let format = match format_node.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("BASE64") => PropertyFormat::Encoded(Encoding::Base64),
            Some("PLAIN") => PropertyFormat::Encoded(Encoding::Plain),
            // The type name alone, without a heap object of that name, means its defaults.
            Some("PEMPROPERTYFORMAT") if cx.heap().lookup("PemPropertyFormat", format_node)?.is_none() => {
                PropertyFormat::Pem
            }
            _ => *cx.other::<PropertyFormat>(format_node, "a secret property format such as PemPropertyFormat")?,
        };
        m.finish()?;
        out.insert(id, format);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings() {
        let plain = Encoding::Plain.decode(b"password\n", "x").unwrap();
        assert_eq!(plain.expose(), b"password");
        assert_eq!(Encoding::Plain.decode(b"password", "x").unwrap().expose(), b"password");
        assert_eq!(Encoding::Base64.decode(b"cGFzc3dvcmQ=\n", "x").unwrap().expose(), b"password");
        assert_eq!(Encoding::Base64.decode(b"cGFzc3dvcmQ", "x").unwrap().expose(), b"password");
        let err = Encoding::Base64.decode(b"pass word!", "secret 'x'").unwrap_err();
        assert!(err.0.contains("secret 'x'") && !err.0.contains("pass word"), "{err}");
    }
}
