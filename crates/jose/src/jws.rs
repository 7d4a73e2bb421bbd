//! Compact JWS (RFC 7515) with `RS256`, `PS256`, `ES256` and `EdDSA`.
//!
//! [`sign`] writes `{"alg","typ","kid"}` plus any extra header members. [`verify`] picks the
//! key by the token's `kid` (or tries every key when the token names none), requires the
//! token's `alg` to be exactly the key's, refuses `crit`, and checks the signature before
//! anything reads the payload.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::keys::{SigningKey, VerificationKey};
use crate::{Invalid, B64};

/// The largest token [`verify`] reads: far above any access token, so a huge header cannot
/// make the gateway decode megabytes.
pub const MAX_TOKEN: usize = 64 * 1024;

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// The `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` name; `none`, HMAC and anything else unknown is `None`.
    pub fn from_name(name: &str) -> Option<Alg> {
        [Alg::RS256, Alg::PS256, Alg::ES256, Alg::EdDSA].into_iter().find(|a| a.name() == name)
    }
}

/// Signs `payload` with `key`; `typ` (e.g. `at+jwt`) and `extra` header members are added.
pub fn sign(
    key: &SigningKey,
    typ: Option<&str>,
    extra: &Map<String, Value>,
    payload: &[u8],
) -> Result<String, Invalid> {
    let mut header = Map::new();
    header.insert("alg".into(), key.alg().name().into());
    if let Some(typ) = typ {
        header.insert("typ".into(), typ.into());
    }
    header.insert("kid".into(), key.kid().into());
    for (k, v) in extra {
        header.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let header = serde_json::to_vec(&Value::Object(header)).map_err(|_| Invalid)?;
    let mut token = B64.encode(header);
    token.push('.');
    B64.encode_string(payload, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    B64.encode_string(signature, &mut token);
    Ok(token)
}

/// A verified token: its header and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The `kid` of the key that verified it.
    pub kid: String,
}

/// Verifies a compact JWS against `keys`.
pub fn verify<'k>(token: &str, keys: impl IntoIterator<Item = &'k VerificationKey>) -> Result<Verified, Invalid> {
    if token.len() > MAX_TOKEN {
        return Err(Invalid);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Invalid);
    };
    let header = match serde_json::from_slice(&B64.decode(h).map_err(|_| Invalid)?) {
        Ok(Value::Object(m)) => m,
        _ => return Err(Invalid),
    };
    if header.contains_key("crit") {
        return Err(Invalid);
    }
    let alg = header.get("alg").and_then(Value::as_str).and_then(Alg::from_name).ok_or(Invalid)?;
    let kid = header.get("kid").and_then(Value::as_str);
    let signature = B64.decode(s).map_err(|_| Invalid)?;
    let message = &token.as_bytes()[..h.len() + 1 + p.len()];
    let key = keys
        .into_iter()
        .filter(|k| k.alg == alg && kid.is_none_or(|kid| kid == k.kid))
        .find(|k| k.verify(message, &signature))
        .ok_or(Invalid)?;
    let payload = B64.decode(p).map_err(|_| Invalid)?;
    Ok(Verified { header, payload, kid: key.kid.clone() })
}

/// The header of a compact JWS, unverified: only to choose a key set (by `kid` or `iss`);
/// nothing read here may be trusted before [`verify`].
pub fn peek_header(token: &str) -> Option<Map<String, Value>> {
    let h = token.split('.').next()?;
    if h.len() > MAX_TOKEN {
        return None;
    }
    match serde_json::from_slice(&B64.decode(h).ok()?) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
