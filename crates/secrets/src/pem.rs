//! PEM (`PemPropertyFormat`): a private key and its certificates in one file, or
//! certificates alone.

use std::sync::Arc;

use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::CertificateDer;

use crate::secret::{KeyEncoding, Secret, SecretError, SecretValue, TlsIdentity};

/// Whether `bytes` look like PEM text.
pub fn looks_like_pem(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii_start();
    text.starts_with(b"-----BEGIN ")
}

/// Parses PEM text: a key and certificates become an identity (leaf first, as written),
/// certificates alone become trust anchors. `what` names the secret in errors.
pub fn parse(bytes: &[u8], what: &str) -> Result<SecretValue, SecretError> {
    if contains(bytes, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(bytes, b"Proc-Type: 4,ENCRYPTED") {
        return Err(SecretError::new(format!(
            "{what}: encrypted PEM private keys are not supported; decrypt the key (openssl pkey -in KEY -out PLAIN)"
        )));
    }
    let mut key = None;
    let mut chain = Vec::new();
    for item in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (kind, der) = item.map_err(|e| SecretError::new(format!("{what}: invalid PEM: {e}")))?;
        let der = Secret::new(der);
        let encoding = match kind {
            SectionKind::Certificate => {
                chain.push(CertificateDer::from(der.expose().to_vec()));
                continue;
            }
            SectionKind::PrivateKey => KeyEncoding::Pkcs8,
            SectionKind::RsaPrivateKey => KeyEncoding::Pkcs1,
            SectionKind::EcPrivateKey => KeyEncoding::Sec1,
            _ => continue,
        };
        if key.replace((der, encoding)).is_some() {
            return Err(SecretError::new(format!("{what}: more than one private key in one PEM secret")));
        }
    }
    match key {
        Some((der, encoding)) => Ok(SecretValue::Identity(Arc::new(TlsIdentity::new(chain, der, encoding)))),
        None if !chain.is_empty() => Ok(SecretValue::Certificates(chain)),
        None => Err(SecretError::new(format!("{what}: no private key or certificate in the PEM data"))),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_and_encrypted_keys_without_echoing_them() {
        let err = parse(b"not pem at all: s3cret", "secret 'x'").unwrap_err();
        assert!(!err.0.contains("s3cret"), "{err}");
        let err = parse(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", "x")
            .unwrap_err();
        assert!(err.0.contains("encrypted"), "{err}");
        assert!(looks_like_pem(b"\n-----BEGIN CERTIFICATE-----"));
        assert!(!looks_like_pem(b"password"));
    }
}
