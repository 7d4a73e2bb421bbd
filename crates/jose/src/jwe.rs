//! JWE compact serialisation with direct encryption (`alg: dir`): `A128CBC-HS256`,
//! `A192CBC-HS384`, `A256CBC-HS512` (RFC 7518 §5.2) and `A128GCM`, `A256GCM` (§5.3), with
//! optional `zip: DEF`, on aws-lc-rs.
//!
//! Decryption checks the header (only `dir`, a known `enc`, no `crit`), the part lengths, and
//! the authentication tag in constant time **before** any unpadding or decompression.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
    AES_128, AES_192, AES_256,
};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde_json::Value;

use crate::Invalid;

/// The largest decompressed payload accepted (a compressed cookie cannot expand past this).
pub const MAX_INFLATED: usize = 256 * 1024;

/// A content encryption algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enc {
    /// AES-128-CBC + HMAC-SHA-256/128; 32-byte key.
    A128CbcHs256,
    /// AES-192-CBC + HMAC-SHA-384/192; 48-byte key.
    A192CbcHs384,
    /// AES-256-CBC + HMAC-SHA-512/256; 64-byte key.
    A256CbcHs512,
    /// AES-128-GCM; 16-byte key.
    A128Gcm,
    /// AES-256-GCM; 32-byte key.
    A256Gcm,
}

impl Enc {
    /// The `enc` header value.
    pub fn name(self) -> &'static str {
        match self {
            Enc::A128CbcHs256 => "A128CBC-HS256",
            Enc::A192CbcHs384 => "A192CBC-HS384",
            Enc::A256CbcHs512 => "A256CBC-HS512",
            Enc::A128Gcm => "A128GCM",
            Enc::A256Gcm => "A256GCM",
        }
    }

    /// Parses an `enc` name.
    pub fn from_name(name: &str) -> Option<Enc> {
        [Enc::A128CbcHs256, Enc::A192CbcHs384, Enc::A256CbcHs512, Enc::A128Gcm, Enc::A256Gcm]
            .into_iter()
            .find(|e| e.name() == name)
    }

    /// The key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Enc::A128CbcHs256 => 32,
            Enc::A192CbcHs384 => 48,
            Enc::A256CbcHs512 => 64,
            Enc::A128Gcm => 16,
            Enc::A256Gcm => 32,
        }
    }

    fn iv_len(self) -> usize {
        if self.is_gcm() {
            12
        } else {
            16
        }
    }

    fn tag_len(self) -> usize {
        match self {
            Enc::A128CbcHs256 | Enc::A128Gcm | Enc::A256Gcm => 16,
            Enc::A192CbcHs384 => 24,
            Enc::A256CbcHs512 => 32,
        }
    }

    fn is_gcm(self) -> bool {
        matches!(self, Enc::A128Gcm | Enc::A256Gcm)
    }
}

/// Encrypts `plaintext` into a compact JWE. `key` must be `enc.key_len()` bytes.
pub fn encrypt(enc: Enc, key: &[u8], plaintext: &[u8], compress: bool) -> Result<String, Invalid> {
    if key.len() != enc.key_len() {
        return Err(Invalid);
    }
    let header = if compress {
        format!(r#"{{"alg":"dir","enc":"{}","zip":"DEF"}}"#, enc.name())
    } else {
        format!(r#"{{"alg":"dir","enc":"{}"}}"#, enc.name())
    };
    let header_b64 = B64.encode(header);
    let mut data = if compress { miniz_oxide::deflate::compress_to_vec(plaintext, 6) } else { plaintext.to_vec() };
    let mut iv = vec![0u8; enc.iv_len()];
    aws_lc_rs::rand::fill(&mut iv).map_err(|_| Invalid)?;
    let aad = header_b64.as_bytes();
    let tag = if enc.is_gcm() {
        let key = gcm_key(enc, key)?;
        let nonce = Nonce::try_assume_unique_for_key(&iv).map_err(|_| Invalid)?;
        let tag = key.seal_in_place_separate_tag(nonce, Aad::from(aad), &mut data).map_err(|_| Invalid)?;
        tag.as_ref().to_vec()
    } else {
        let (mac_key, enc_key) = key.split_at(enc.key_len() / 2);
        let cipher = PaddedBlockEncryptingKey::cbc_pkcs7(cbc_key(enc, enc_key)?).map_err(|_| Invalid)?;
        let iv16: [u8; 16] = iv.as_slice().try_into().map_err(|_| Invalid)?;
        cipher.less_safe_encrypt(&mut data, EncryptionContext::Iv128(FixedLength::from(iv16))).map_err(|_| Invalid)?;
        cbc_tag(enc, mac_key, aad, &iv, &data)
    };
    Ok(format!("{header_b64}..{}.{}.{}", B64.encode(&iv), B64.encode(&data), B64.encode(tag)))
}

/// Decrypts a compact JWE with the first of `keys` that authenticates it.
pub fn decrypt(token: &str, keys: &[&[u8]]) -> Result<Vec<u8>, Invalid> {
    let mut parts = token.split('.');
    let (Some(h), Some(ek), Some(iv), Some(ct), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Invalid);
    };
    if !ek.is_empty() || h.len() > 512 {
        return Err(Invalid);
    }
    let header: Value = serde_json::from_slice(&B64.decode(h).map_err(|_| Invalid)?).map_err(|_| Invalid)?;
    let header = header.as_object().ok_or(Invalid)?;
    if header.get("alg").and_then(Value::as_str) != Some("dir") || header.contains_key("crit") {
        return Err(Invalid);
    }
    let enc = header.get("enc").and_then(Value::as_str).and_then(Enc::from_name).ok_or(Invalid)?;
    let compressed = match header.get("zip") {
        None => false,
        Some(z) if z.as_str() == Some("DEF") => true,
        Some(_) => return Err(Invalid),
    };
    let iv = B64.decode(iv).map_err(|_| Invalid)?;
    let ct = B64.decode(ct).map_err(|_| Invalid)?;
    let tag = B64.decode(tag).map_err(|_| Invalid)?;
    if iv.len() != enc.iv_len() || tag.len() != enc.tag_len() {
        return Err(Invalid);
    }
    let plain = keys
        .iter()
        .filter(|k| k.len() == enc.key_len())
        .find_map(|key| open(enc, key, h.as_bytes(), &iv, ct.clone(), &tag).ok())
        .ok_or(Invalid)?;
    if compressed {
        miniz_oxide::inflate::decompress_to_vec_with_limit(&plain, MAX_INFLATED).map_err(|_| Invalid)
    } else {
        Ok(plain)
    }
}

fn open(enc: Enc, key: &[u8], aad: &[u8], iv: &[u8], mut ct: Vec<u8>, tag: &[u8]) -> Result<Vec<u8>, Invalid> {
    if enc.is_gcm() {
        let key = gcm_key(enc, key)?;
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| Invalid)?;
        ct.extend_from_slice(tag);
        let len = key.open_in_place(nonce, Aad::from(aad), &mut ct).map_err(|_| Invalid)?.len();
        ct.truncate(len);
        return Ok(ct);
    }
    let (mac_key, enc_key) = key.split_at(enc.key_len() / 2);
    let expected = cbc_tag(enc, mac_key, aad, iv, &ct);
    // Authenticate first, in constant time; only then decrypt and unpad.
    aws_lc_rs::constant_time::verify_slices_are_equal(&expected, tag).map_err(|_| Invalid)?;
    let cipher = PaddedBlockDecryptingKey::cbc_pkcs7(cbc_key(enc, enc_key)?).map_err(|_| Invalid)?;
    let iv16: [u8; 16] = iv.try_into().map_err(|_| Invalid)?;
    let len = cipher.decrypt(&mut ct, DecryptionContext::Iv128(FixedLength::from(iv16))).map_err(|_| Invalid)?.len();
    ct.truncate(len);
    Ok(ct)
}

fn gcm_key(enc: Enc, key: &[u8]) -> Result<LessSafeKey, Invalid> {
    let alg = if enc == Enc::A128Gcm { &AES_128_GCM } else { &AES_256_GCM };
    UnboundKey::new(alg, key).map(LessSafeKey::new).map_err(|_| Invalid)
}

fn cbc_key(enc: Enc, key: &[u8]) -> Result<UnboundCipherKey, Invalid> {
    let alg = match enc {
        Enc::A128CbcHs256 => &AES_128,
        Enc::A192CbcHs384 => &AES_192,
        _ => &AES_256,
    };
    UnboundCipherKey::new(alg, key).map_err(|_| Invalid)
}

/// RFC 7518 §5.2.2.1: HMAC over AAD || IV || ciphertext || AL (AAD length in bits, 64-bit
/// big-endian), truncated to half the hash.
fn cbc_tag(enc: Enc, mac_key: &[u8], aad: &[u8], iv: &[u8], ct: &[u8]) -> Vec<u8> {
    let alg = match enc {
        Enc::A128CbcHs256 => hmac::HMAC_SHA256,
        Enc::A192CbcHs384 => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(alg, mac_key));
    ctx.update(aad);
    ctx.update(iv);
    ctx.update(ct);
    ctx.update(&((aad.len() as u64) * 8).to_be_bytes());
    let full = ctx.sign();
    full.as_ref()[..enc.tag_len()].to_vec()
}

#[cfg(test)]
mod tests;
