//! Client secrets as the identity manager keeps them: only `HashedSecret`, the base64 of the
//! SHA-256 of the UTF-8 secret (`secret` is `K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=`),
//! written with or without the `=` padding.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use gatehouse_core::credentials::{hash_matches, sha256};

/// The 32 hash bytes of a `HashedSecret`, padded or not; `None` when it is not one.
pub use gatehouse_core::credentials::parse_hashed;

/// The `HashedSecret` of `secret`.
pub fn hash_secret(secret: &str) -> String {
    STANDARD.encode(sha256(secret.as_bytes()))
}

/// Whether `secret` hashes to `hashed`, compared in constant time.
pub fn matches(secret: &str, hashed: &[u8; 32]) -> bool {
    hash_matches(secret.as_bytes(), hashed)
}

/// Characters of generated secrets: letters and digits, so the secret survives any config
/// file or shell quoting.
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A new 32-character secret from the operating system's CSPRNG (about 190 bits).
pub fn generate_secret() -> Result<String, String> {
    let mut out = String::with_capacity(32);
    let mut byte = [0u8; 1];
    while out.len() < 32 {
        aws_lc_rs::rand::fill(&mut byte).map_err(|_| "the system random generator failed".to_string())?;
        // Rejection sampling keeps every character equally likely (248 = 4 * 62).
        if byte[0] < 248 {
            out.push(ALPHABET[usize::from(byte[0]) % ALPHABET.len()] as char);
        }
    }
    Ok(out)
}

/// Why a chosen secret is weak, if it is: short, or made of few distinct characters.
pub fn weakness(secret: &str) -> Option<String> {
    let len = secret.chars().count();
    let mut distinct: Vec<char> = secret.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if len < 16 {
        Some(format!("the secret has {len} characters; use at least 16 (a generated one has 32)"))
    } else if distinct.len() < 8 {
        Some(format!("the secret uses only {} distinct characters: it is easy to guess", distinct.len()))
    } else {
        None
    }
}

/// The secret tool's line: `Shared secret for 'secret' is 'K7gN...'`.
pub fn shared_secret_line(secret: &str) -> String {
    format!("Shared secret for '{secret}' is '{}'", hash_secret(secret))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_reference_hash_of_secret() {
        assert_eq!(hash_secret("secret"), "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=");
        assert_eq!(
            shared_secret_line("secret"),
            "Shared secret for 'secret' is 'K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols='"
        );
        let padded = parse_hashed("K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=").unwrap();
        assert_eq!(parse_hashed("K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols").unwrap(), padded);
        assert!(matches("secret", &padded) && !matches("Secret", &padded) && !matches("", &padded));
        assert_eq!(parse_hashed("not a hash"), None);
        assert_eq!(parse_hashed("c2hvcnQ="), None, "not 32 bytes");
    }

    #[test]
    fn generated_secrets_are_long_random_and_strong() {
        let a = generate_secret().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(a, generate_secret().unwrap());
        assert_eq!(weakness(&a), None);
        assert!(weakness("secret").is_some());
        assert!(weakness("aaaaaaaaaaaaaaaaaaaaaaa").is_some());
    }
}
