//! Round trips, rejection of tampering, and a mutation fuzz loop over the decoder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const ALL: [Enc; 5] = [Enc::A128CbcHs256, Enc::A192CbcHs384, Enc::A256CbcHs512, Enc::A128Gcm, Enc::A256Gcm];

fn key(enc: Enc, seed: u8) -> Vec<u8> {
    (0..enc.key_len()).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
}

#[test]
fn round_trips_every_method_with_and_without_compression() {
    let plain = br#"{"authUsername":"Sam Carter","exp":1800000000}"#;
    for enc in ALL {
        for compress in [false, true] {
            let k = key(enc, 1);
            let token = encrypt(enc, &k, plain, compress).unwrap();
            assert_eq!(token.split('.').nth(1), Some(""), "dir has an empty key part");
            assert_eq!(decrypt(&token, &[&k]).unwrap(), plain, "{enc:?} compress={compress}");
            // A second key that does not fit is skipped; the right one still opens it.
            assert_eq!(decrypt(&token, &[&key(enc, 2), &k]).unwrap(), plain);
            assert_eq!(decrypt(&token, &[&key(enc, 2)]), Err(Invalid), "wrong key");
        }
    }
}

#[test]
fn every_token_gets_a_fresh_iv() {
    let k = key(Enc::A256CbcHs512, 3);
    let a = encrypt(Enc::A256CbcHs512, &k, b"{}", false).unwrap();
    let b = encrypt(Enc::A256CbcHs512, &k, b"{}", false).unwrap();
    assert_ne!(a, b);
}

#[test]
fn rejects_wrong_headers_and_shapes() {
    let k = key(Enc::A256CbcHs512, 4);
    let token = encrypt(Enc::A256CbcHs512, &k, b"{}", false).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let with_header = |h: &str| format!("{}.{}.{}.{}.{}", B64.encode(h), parts[1], parts[2], parts[3], parts[4]);
    for header in [
        r#"{"alg":"none","enc":"A256CBC-HS512"}"#,
        r#"{"alg":"dir","enc":"A256CBC-HS999"}"#,
        r#"{"alg":"dir","enc":"A256CBC-HS512","crit":["x"]}"#,
        r#"{"alg":"dir","enc":"A256CBC-HS512","zip":"GZ"}"#,
        r#"[]"#,
    ] {
        assert_eq!(decrypt(&with_header(header), &[&k]), Err(Invalid), "{header}");
    }
    // The header is authenticated: an equivalent header with other bytes fails the tag.
    assert_eq!(decrypt(&with_header(r#"{"enc":"A256CBC-HS512","alg":"dir"}"#), &[&k]), Err(Invalid));
    for bad in ["", "a.b.c.d", "a.b.c.d.e.f", &token[..token.len() - 1], &format!("{token}.")] {
        assert_eq!(decrypt(bad, &[&k]), Err(Invalid), "{bad}");
    }
    let with_key = format!("{}.AAAA.{}.{}.{}", parts[0], parts[2], parts[3], parts[4]);
    assert_eq!(decrypt(&with_key, &[&k]), Err(Invalid), "dir tokens carry no encrypted key");
}

/// A small deterministic generator, so a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Mutation fuzzing: flip, insert, delete and truncate characters of valid tokens of every
/// method. The decoder must never panic and must never accept a token that differs from one
/// it made, unless the change is one base64 cannot see (a change in the unused low bits of
/// the last character decodes to the same bytes).
#[test]
fn fuzz_mutated_tokens_are_rejected_without_panics() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \x00\xff";
    let mut accepted_changes = 0;
    for round in 0..20_000 {
        let enc = ALL[round % ALL.len()];
        let k = key(enc, 5);
        let plain = format!(r#"{{"n":{round}}}"#);
        let token = encrypt(enc, &k, plain.as_bytes(), round % 3 == 0).unwrap();
        let mut bytes = token.clone().into_bytes();
        for _ in 0..1 + rng.below(3) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] = alphabet[rng.below(alphabet.len())],
                1 => bytes.insert(at, alphabet[rng.below(alphabet.len())]),
                2 => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        let mutated = String::from_utf8_lossy(&bytes).into_owned();
        if mutated == token {
            continue;
        }
        if let Ok(out) = decrypt(&mutated, &[&k]) {
            assert_eq!(out, plain.as_bytes(), "a mutated token decrypted to something else: {mutated}");
            accepted_changes += 1;
        }
    }
    // Only base64's don't-care bits may slip through, and rarely.
    assert!(accepted_changes < 200, "{accepted_changes} mutated tokens were accepted");
}

#[test]
fn decompression_is_bounded() {
    let k = key(Enc::A256Gcm, 6);
    let bomb = vec![b'a'; MAX_INFLATED + 1];
    let token = encrypt(Enc::A256Gcm, &k, &bomb, true).unwrap();
    assert!(token.len() < 4096, "the bomb is small: {}", token.len());
    assert_eq!(decrypt(&token, &[&k]), Err(Invalid));
}
