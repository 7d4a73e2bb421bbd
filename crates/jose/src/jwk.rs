//! JWKs (RFC 7517) and JWK sets: what a token service publishes at its `jwks_uri` and what a
//! resource server reads back. Public keys only: a private member is never written.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::jws::Alg;
use crate::keys::{Material, VerificationKey};
use crate::{sha256, Invalid, B64};

impl VerificationKey {
    /// The key as a public JWK: `kty`, `use: sig`, `alg`, `kid`, the key members, and with a
    /// certificate chain `x5c` (standard base64 DER, leaf first) and `x5t#S256`.
    pub fn to_jwk(&self) -> Value {
        let mut jwk = Map::new();
        match &self.material {
            Material::Rsa { n, e } => {
                jwk.insert("kty".into(), "RSA".into());
                jwk.insert("n".into(), B64.encode(n).into());
                jwk.insert("e".into(), B64.encode(e).into());
            }
            Material::EcP256 { point } => {
                let (x, y) = split_point(point).unwrap_or_default();
                jwk.insert("kty".into(), "EC".into());
                jwk.insert("crv".into(), "P-256".into());
                jwk.insert("x".into(), B64.encode(x).into());
                jwk.insert("y".into(), B64.encode(y).into());
            }
            Material::Ed25519 { x } => {
                jwk.insert("kty".into(), "OKP".into());
                jwk.insert("crv".into(), "Ed25519".into());
                jwk.insert("x".into(), B64.encode(x).into());
            }
        }
        jwk.insert("use".into(), "sig".into());
        jwk.insert("alg".into(), self.alg.name().into());
        jwk.insert("kid".into(), self.kid.clone().into());
        if let Some(leaf) = self.x5c.first() {
            jwk.insert("x5c".into(), self.x5c.iter().map(|c| Value::from(STANDARD.encode(c))).collect());
            jwk.insert("x5t#S256".into(), B64.encode(sha256(leaf)).into());
        }
        Value::Object(jwk)
    }

    /// Reads a public JWK. The algorithm is the JWK's `alg`, else the key type's default
    /// (`RS256`, `ES256`, `EdDSA`); the `kid` is the JWK's, else its thumbprint. Encryption
    /// keys (`use: enc`), private members and unknown types are refused.
    pub fn from_jwk(jwk: &Value) -> Result<Self, Invalid> {
        let m = jwk.as_object().ok_or(Invalid)?;
        if m.get("use").and_then(Value::as_str).is_some_and(|u| u != "sig") || m.contains_key("d") {
            return Err(Invalid);
        }
        let member = |name: &str| -> Result<Vec<u8>, Invalid> {
            B64.decode(m.get(name).and_then(Value::as_str).ok_or(Invalid)?).map_err(|_| Invalid)
        };
        let (material, default_alg) = match (m.get("kty").and_then(Value::as_str), m.get("crv").and_then(Value::as_str))
        {
            (Some("RSA"), _) => {
                (Material::Rsa { n: strip_zeros(member("n")?), e: strip_zeros(member("e")?) }, Alg::RS256)
            }
            (Some("EC"), Some("P-256")) => {
                let (x, y) = (member("x")?, member("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(Invalid);
                }
                (Material::EcP256 { point: [&[4u8][..], &x, &y].concat() }, Alg::ES256)
            }
            (Some("OKP"), Some("Ed25519")) => {
                let x = member("x")?;
                if x.len() != 32 {
                    return Err(Invalid);
                }
                (Material::Ed25519 { x }, Alg::EdDSA)
            }
            _ => return Err(Invalid),
        };
        let alg = match m.get("alg").and_then(Value::as_str) {
            Some(name) => Alg::from_name(name).ok_or(Invalid)?,
            None => default_alg,
        };
        let fits = matches!(
            (&material, alg),
            (Material::Rsa { .. }, Alg::RS256 | Alg::PS256)
                | (Material::EcP256 { .. }, Alg::ES256)
                | (Material::Ed25519 { .. }, Alg::EdDSA)
        );
        if !fits {
            return Err(Invalid);
        }
        let x5c = match m.get("x5c") {
            Some(Value::Array(certs)) => certs
                .iter()
                .map(|c| c.as_str().and_then(|c| STANDARD.decode(c).ok()).ok_or(Invalid))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(Invalid),
            None => Vec::new(),
        };
        let mut key = VerificationKey { kid: String::new(), alg, material, x5c };
        key.kid = match m.get("kid").and_then(Value::as_str) {
            Some(kid) => kid.to_string(),
            None => key.thumbprint(),
        };
        Ok(key)
    }
}

impl VerificationKey {
    /// The public key of an X.509 certificate (DER): RSA (`RS256`), EC P-256 (`ES256`) or
    /// Ed25519 (`EdDSA`); the certificate becomes its `x5c` and the `kid` the thumbprint.
    pub fn from_certificate(der: &[u8]) -> Result<Self, Invalid> {
        use x509_parser::public_key::PublicKey;
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| Invalid)?;
        let spki = cert.public_key();
        let (material, alg) = match spki.parsed().map_err(|_| Invalid)? {
            PublicKey::RSA(rsa) => (
                Material::Rsa { n: strip_zeros(rsa.modulus.to_vec()), e: strip_zeros(rsa.exponent.to_vec()) },
                Alg::RS256,
            ),
            PublicKey::EC(point) => {
                let p256 = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .is_some_and(|oid| oid.to_id_string() == "1.2.840.10045.3.1.7");
                if !p256 || point.data().len() != 65 {
                    return Err(Invalid);
                }
                (Material::EcP256 { point: point.data().to_vec() }, Alg::ES256)
            }
            _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => {
                let x = spki.subject_public_key.data.to_vec();
                if x.len() != 32 {
                    return Err(Invalid);
                }
                (Material::Ed25519 { x }, Alg::EdDSA)
            }
            _ => return Err(Invalid),
        };
        let mut key = VerificationKey { kid: String::new(), alg, material, x5c: vec![der.to_vec()] };
        key.kid = key.thumbprint();
        Ok(key)
    }
}

/// A JWK set: `{ "keys": [...] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    /// The keys, in the set's order.
    pub keys: Vec<VerificationKey>,
}

impl JwkSet {
    /// The set as JSON.
    pub fn to_json(&self) -> Value {
        json!({ "keys": self.keys.iter().map(VerificationKey::to_jwk).collect::<Vec<_>>() })
    }

    /// Reads a JWK set. Keys Gatehouse cannot verify with (encryption keys, other curves,
    /// symmetric keys) are skipped, as RFC 7517 section 5 asks; a set with none is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, Invalid> {
        let value: Value = serde_json::from_slice(bytes).map_err(|_| Invalid)?;
        let keys = value.get("keys").and_then(Value::as_array).ok_or(Invalid)?;
        let keys: Vec<_> = keys.iter().filter_map(|k| VerificationKey::from_jwk(k).ok()).collect();
        if keys.is_empty() {
            return Err(Invalid);
        }
        Ok(JwkSet { keys })
    }

    /// The key with `kid`.
    pub fn find(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// `(x, y)` of an uncompressed point `04 || x || y`.
fn split_point(point: &[u8]) -> Option<(&[u8], &[u8])> {
    let coords = point.strip_prefix(&[4u8])?;
    Some(coords.split_at(coords.len() / 2))
}

/// RSA members are unsigned big-endian integers; some writers keep a leading zero.
fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count().min(v.len().saturating_sub(1));
    v.drain(..zeros);
    v
}
