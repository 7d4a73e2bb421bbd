//! Secret values: bytes that never print and are wiped on drop, TLS identities and trust
//! anchors, and the errors that name a store and a secret id but never a value.

use std::fmt;
use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};
use zeroize::Zeroizing;

/// Secret bytes (a password, a symmetric key): redacted in `Debug`, zeroized on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// The bytes. Callers must not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as UTF-8 text (a password), if they are.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

/// How a private key is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// PKCS#8 (`PRIVATE KEY`, and every key from a PKCS#12 keystore).
    Pkcs8,
    /// PKCS#1 (`RSA PRIVATE KEY`).
    Pkcs1,
    /// SEC1 (`EC PRIVATE KEY`).
    Sec1,
}

/// A TLS identity: a private key and its certificate chain, leaf first.
#[derive(Clone)]
pub struct TlsIdentity {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    key: Secret,
    encoding: KeyEncoding,
}

impl TlsIdentity {
    /// An identity from a DER key and a chain.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: Secret, encoding: KeyEncoding) -> Self {
        TlsIdentity { chain, key, encoding }
    }

    /// The private key, borrowed (no copy of the key material is made).
    pub fn key(&self) -> PrivateKeyDer<'_> {
        let der = self.key.expose();
        match self.encoding {
            KeyEncoding::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            KeyEncoding::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            KeyEncoding::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity").field("certificates", &self.chain.len()).field("key", &"[redacted]").finish()
    }
}

/// One version of a secret as a store holds it.
#[derive(Debug, Clone)]
pub enum SecretValue {
    /// Raw bytes: a password, a generic secret or a symmetric key.
    Bytes(Secret),
    /// A private key with its certificate chain.
    Identity(Arc<TlsIdentity>),
    /// Certificates only (trust anchors).
    Certificates(Vec<CertificateDer<'static>>),
}

impl SecretValue {
    /// What the value is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            SecretValue::Bytes(_) => "a generic secret",
            SecretValue::Identity(_) => "a private key with certificates",
            SecretValue::Certificates(_) => "certificates",
        }
    }
}

/// The versions of one secret, the active one first (a keystore mapping with several aliases
/// has several; the others still verify or decrypt).
pub type Versions = Arc<[SecretValue]>;

/// A failure to find or decode a secret. Its text names the store and the secret id, never
/// the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(pub String);

impl SecretError {
    /// An error with `msg`.
    pub fn new(msg: impl Into<String>) -> Self {
        SecretError(msg.into())
    }
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

/// Checks a secret id: letters, digits, `.`, `-` and `_`, no leading or trailing dot. This
/// also keeps ids from naming files outside a store's directory.
pub fn check_secret_id(id: &str) -> Result<(), SecretError> {
    let ok = !id.is_empty()
        && !id.starts_with('.')
        && !id.ends_with('.')
        && !id.contains("..")
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(SecretError::new(format!(
            "'{id}' is not a valid secret id (letters, digits, '.', '-', '_'; no leading or trailing dot)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_bytes() {
        let s = Secret::new(b"hunter2".to_vec());
        assert_eq!(format!("{s:?}"), "Secret([redacted; 7 bytes])");
        let id = TlsIdentity::new(vec![], Secret::new(b"keymaterial".to_vec()), KeyEncoding::Pkcs8);
        assert!(!format!("{id:?}").contains("keymaterial"));
        assert!(!format!("{:?}", SecretValue::Bytes(s)).contains("hunter2"));
    }

    #[test]
    fn secret_ids() {
        for ok in ["keystore.pass", "key.manager.secret.id", "a-b_c.1"] {
            assert!(check_secret_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "../etc/passwd", "a/b", "a..b", "a b"] {
            assert!(check_secret_id(bad).is_err(), "{bad}");
        }
    }
}
