//! JOSE in one place, on the crypto library the binary already links (aws-lc-rs):
//!
//! - [`jws`]: compact JWS signing and verification with `RS256`, `PS256`, `ES256` and `EdDSA`
//!   (Ed25519). Verification takes the algorithm from the *key*, never from the token, so a
//!   token cannot choose `none` or switch an RSA key to HMAC.
//! - [`jwe`]: compact JWE with direct encryption (`dir`; `A*CBC-HS*` and `A*GCM`), what
//!   `JwtSession` cookies use.
//! - [`jwk`]: JWKs and JWK sets (`kty` RSA, EC P-256, OKP Ed25519) with `kid`, `x5c` and
//!   `x5t#S256`; the `kid` defaults to the RFC 7638 thumbprint.
//!
//! Every failure to verify or decrypt is the same [`Invalid`]: callers answer "no session" or
//! 401 and never tell an attacker which check failed.

pub mod jwe;
pub mod jwk;
pub mod jws;
mod keys;

pub use keys::{KeyKind, SigningKey, VerificationKey};

/// Why a token or key was refused. Deliberately without detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid")
    }
}

impl std::error::Error for Invalid {}

/// Base64url without padding, as JOSE writes every part.
pub(crate) use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

/// The SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref().to_vec()
}
