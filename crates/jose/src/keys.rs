//! Keys: a [`SigningKey`] made from a private key (PKCS#8, or PKCS#1 for RSA, as keystores
//! and `openssl genpkey` write them) and the [`VerificationKey`] that checks what it signs.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, ED25519,
};

use crate::jws::Alg;
use crate::{sha256, Invalid, B64};
use base64::Engine as _;

/// The kinds of key JOSE here knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// RSA, 2048 to 8192 bits.
    Rsa,
    /// ECDSA on P-256.
    EcP256,
    /// Ed25519.
    Ed25519,
}

enum Private {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key that signs JWS, with its `kid`, algorithm and certificate chain.
pub struct SigningKey {
    private: Private,
    alg: Alg,
    public: VerificationKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.public.kid).finish()
    }
}

impl SigningKey {
    /// A key from DER: PKCS#8 for every kind, or PKCS#1 `RSAPrivateKey`. The algorithm is
    /// the key's default (`RS256`, `ES256`, `EdDSA`); `chain` (leaf first, DER) becomes the
    /// JWK's `x5c`. The `kid` is the JWK thumbprint.
    pub fn from_der(der: &[u8], chain: Vec<Vec<u8>>) -> Result<Self, Invalid> {
        let private = if let Ok(k) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
            Private::Rsa(k)
        } else if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            Private::Ec(k)
        } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            Private::Ed(k)
        } else {
            return Err(Invalid);
        };
        let (alg, material) = match &private {
            Private::Rsa(k) => {
                let public = k.public_key();
                let n = public.modulus().big_endian_without_leading_zero().to_vec();
                let e = public.exponent().big_endian_without_leading_zero().to_vec();
                (Alg::RS256, Material::Rsa { n, e })
            }
            Private::Ec(k) => (Alg::ES256, Material::EcP256 { point: k.public_key().as_ref().to_vec() }),
            Private::Ed(k) => (Alg::EdDSA, Material::Ed25519 { x: k.public_key().as_ref().to_vec() }),
        };
        let mut public = VerificationKey { kid: String::new(), alg, material, x5c: chain };
        public.kid = public.thumbprint();
        Ok(SigningKey { private, alg, public })
    }

    /// The same key with another `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.public.kid = kid.into();
        self
    }

    /// The same RSA key signing with `alg` (`RS256` or `PS256`); other kinds keep theirs.
    pub fn with_alg(mut self, alg: Alg) -> Result<Self, Invalid> {
        let fits = matches!((&self.private, alg), (Private::Rsa(_), Alg::RS256 | Alg::PS256)) || alg == self.alg;
        if !fits {
            return Err(Invalid);
        }
        self.alg = alg;
        self.public.alg = alg;
        Ok(self)
    }

    /// The algorithm it signs with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The `kid` it signs with.
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// What kind of key it is.
    pub fn kind(&self) -> KeyKind {
        self.public.kind()
    }

    /// The public half, to publish in a JWK set.
    pub fn verification_key(&self) -> &VerificationKey {
        &self.public
    }

    /// Signs `message` (the JWS signing input).
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Invalid> {
        match &self.private {
            Private::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding =
                    if self.alg == Alg::PS256 { &signature::RSA_PSS_SHA256 } else { &signature::RSA_PKCS1_SHA256 };
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message, &mut sig).map_err(|_| Invalid)?;
                Ok(sig)
            }
            Private::Ec(k) => Ok(k.sign(&SystemRandom::new(), message).map_err(|_| Invalid)?.as_ref().to_vec()),
            Private::Ed(k) => Ok(k.sign(message).as_ref().to_vec()),
        }
    }
}

/// The public key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Material {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `04 || x || y`.
    EcP256 {
        point: Vec<u8>,
    },
    Ed25519 {
        x: Vec<u8>,
    },
}

/// A public key that verifies JWS: its material, the one algorithm it accepts, its `kid`,
/// and the certificate chain it came with (DER, leaf first), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationKey {
    /// The key id tokens name in their header.
    pub kid: String,
    /// The only algorithm this key verifies.
    pub alg: Alg,
    pub(crate) material: Material,
    /// The certificate chain (`x5c`), leaf first, DER.
    pub x5c: Vec<Vec<u8>>,
}

impl VerificationKey {
    /// What kind of key it is.
    pub fn kind(&self) -> KeyKind {
        match self.material {
            Material::Rsa { .. } => KeyKind::Rsa,
            Material::EcP256 { .. } => KeyKind::EcP256,
            Material::Ed25519 { .. } => KeyKind::Ed25519,
        }
    }

    /// Whether `signature` is this key's signature of `message` with its algorithm.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match (&self.material, self.alg) {
            (Material::Rsa { n, e }, Alg::RS256 | Alg::PS256) => {
                let params: &signature::RsaParameters = if self.alg == Alg::PS256 {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                signature::RsaPublicKeyComponents { n, e }.verify(params, message, sig).is_ok()
            }
            (Material::EcP256 { point }, Alg::ES256) => {
                UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(message, sig).is_ok()
            }
            (Material::Ed25519 { x }, Alg::EdDSA) => UnparsedPublicKey::new(&ED25519, x).verify(message, sig).is_ok(),
            _ => false,
        }
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256 of the required members in order).
    pub fn thumbprint(&self) -> String {
        let canonical = match &self.material {
            Material::Rsa { n, e } => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, B64.encode(e), B64.encode(n)),
            Material::EcP256 { point } => {
                let coords = point.get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                format!(r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#, B64.encode(x), B64.encode(y))
            }
            Material::Ed25519 { x } => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(x)),
        };
        B64.encode(sha256(canonical.as_bytes()))
    }
}
