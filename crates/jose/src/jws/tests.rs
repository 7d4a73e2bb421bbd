//! Round trips, tampering, algorithm confusion, and JWK round trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::*;
use crate::jwk::JwkSet;

fn rsa() -> SigningKey {
    let der = RsaKeyPair::generate(KeySize::Rsa2048).unwrap().as_der().unwrap();
    SigningKey::from_der(der.as_ref(), Vec::new()).unwrap()
}

fn ec() -> SigningKey {
    let der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
    SigningKey::from_der(der.as_ref(), Vec::new()).unwrap()
}

fn ed() -> SigningKey {
    let der = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    SigningKey::from_der(der.as_ref(), Vec::new()).unwrap()
}

fn keys() -> Vec<SigningKey> {
    vec![rsa(), rsa().with_alg(Alg::PS256).unwrap(), ec(), ed()]
}

/// `token` with part `i` replaced by base64url of `with`.
fn replace_part(token: &str, i: usize, with: &[u8]) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    parts[i] = B64.encode(with);
    parts.join(".")
}

#[test]
fn every_algorithm_signs_and_verifies() {
    let payload = br#"{"sub":"Job","scope":"usercube_api"}"#;
    for key in keys() {
        let token = sign(&key, Some("at+jwt"), &Map::new(), payload).unwrap();
        let v = verify(&token, [key.verification_key()]).unwrap();
        assert_eq!(v.payload, payload);
        assert_eq!(v.header["alg"], key.alg().name());
        assert_eq!(v.header["typ"], "at+jwt");
        assert_eq!(v.kid, key.kid());
    }
}

#[test]
fn tampered_tokens_are_invalid() {
    for key in keys() {
        let vk = key.verification_key();
        let token = sign(&key, None, &Map::new(), br#"{"sub":"Job"}"#).unwrap();
        assert_eq!(verify(&replace_part(&token, 1, br#"{"sub":"Admin"}"#), [vk]), Err(Invalid));
        let header = format!(r#"{{"alg":"{}","kid":"{}","x":1}}"#, key.alg().name(), key.kid());
        assert_eq!(verify(&replace_part(&token, 0, header.as_bytes()), [vk]), Err(Invalid));
        let mut sig = B64.decode(token.rsplit('.').next().unwrap()).unwrap();
        sig[0] ^= 1;
        assert_eq!(verify(&replace_part(&token, 2, &sig), [vk]), Err(Invalid));
        assert_eq!(verify(&token[..token.len() - 2], [vk]), Err(Invalid));
        assert_eq!(verify(&format!("{token}.x"), [vk]), Err(Invalid));
        assert_eq!(verify("", [vk]), Err(Invalid));
    }
}

#[test]
fn the_key_decides_the_algorithm_not_the_token() {
    let key = rsa();
    let vk = key.verification_key();
    let token = sign(&key, None, &Map::new(), b"{}").unwrap();
    for alg in ["none", "HS256", "PS256", "ES256", "RS512"] {
        let forged = replace_part(&token, 0, format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, key.kid()).as_bytes());
        assert_eq!(verify(&forged, [vk]), Err(Invalid), "{alg}");
    }
    let unsigned = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
    assert_eq!(verify(&unsigned, [vk]), Err(Invalid));
    let crit = replace_part(&token, 0, format!(r#"{{"alg":"RS256","kid":"{}","crit":["exp"]}}"#, key.kid()).as_bytes());
    assert_eq!(verify(&crit, [vk]), Err(Invalid));
}

#[test]
fn keys_are_chosen_by_kid_and_a_token_without_one_tries_each() {
    let (a, b) = (ec().with_kid("a"), ec().with_kid("b"));
    let set = [a.verification_key().clone(), b.verification_key().clone()];
    let token = sign(&b, None, &Map::new(), b"{}").unwrap();
    assert_eq!(verify(&token, &set).unwrap().kid, "b");
    assert_eq!(verify(&token, &set[..1]), Err(Invalid), "a's key does not verify b's token");
    let renamed = replace_part(&token, 0, br#"{"alg":"ES256","kid":"a"}"#);
    assert_eq!(verify(&renamed, &set), Err(Invalid));
    // Without a kid the header changes the signing input, so sign a fresh token without one.
    let mut no_kid = b.with_kid("");
    no_kid = no_kid.with_alg(Alg::ES256).unwrap();
    let token = sign(&no_kid, None, &Map::new(), b"{}").unwrap();
    let stripped = {
        let header = B64.encode(r#"{"alg":"ES256"}"#);
        let signing_input = format!("{header}.{}", B64.encode("{}"));
        let sig = no_kid.sign(signing_input.as_bytes()).unwrap();
        format!("{signing_input}.{}", B64.encode(sig))
    };
    assert!(verify(&token, [no_kid.verification_key()]).is_ok());
    let mut anonymous = no_kid.verification_key().clone();
    anonymous.kid = "whatever".into();
    assert!(verify(&stripped, [&set[0], &anonymous]).is_ok(), "no kid: every key is tried");
}

#[test]
fn jwks_round_trip_and_carry_certificates() {
    for key in keys() {
        let mut vk = key.verification_key().clone();
        vk.x5c = vec![vec![1, 2, 3], vec![4, 5]];
        let jwk = vk.to_jwk();
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["x5c"], json!(["AQID", "BAU="]));
        assert_eq!(jwk["x5t#S256"], B64.encode(crate::sha256(&[1, 2, 3])));
        assert!(jwk.get("d").is_none());
        assert_eq!(VerificationKey::from_jwk(&jwk).unwrap(), vk);
    }
    let set = JwkSet { keys: keys().iter().map(|k| k.verification_key().clone()).collect() };
    let parsed = JwkSet::parse(set.to_json().to_string().as_bytes()).unwrap();
    assert_eq!(parsed, set);
}

#[test]
fn the_thumbprint_is_rfc_7638s() {
    // RFC 7638 section 3.1's example key and thumbprint.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
    });
    let key = VerificationKey::from_jwk(&jwk).unwrap();
    assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_eq!(key.kid, "2011-04-29");
}

#[test]
fn unusable_jwks_are_refused_and_skipped_in_sets() {
    let ec_key = ec().verification_key().to_jwk();
    let mut enc = ec_key.clone();
    enc["use"] = "enc".into();
    let mut private = ec_key.clone();
    private["d"] = "AAAA".into();
    let mut wrong_alg = ec_key.clone();
    wrong_alg["alg"] = "RS256".into();
    for bad in
        [enc.clone(), private, wrong_alg, json!({"kty": "oct", "k": "AAAA"}), json!({"kty": "EC", "crv": "P-384"})]
    {
        assert_eq!(VerificationKey::from_jwk(&bad), Err(Invalid), "{bad}");
    }
    let set = json!({ "keys": [enc, ec_key, {"kty": "oct", "k": "AAAA"}] });
    assert_eq!(JwkSet::parse(set.to_string().as_bytes()).unwrap().keys.len(), 1);
    assert_eq!(JwkSet::parse(br#"{"keys":[]}"#), Err(Invalid));
    assert_eq!(JwkSet::parse(b"not json"), Err(Invalid));
}

#[test]
fn signing_keys_never_print_their_material() {
    let key = rsa();
    let printed = format!("{key:?}");
    assert!(printed.contains("RS256") && printed.len() < 120, "{printed}");
}

#[test]
fn rfc_8037s_ed25519_example_verifies() {
    // RFC 8037 appendix A.2 (public key) and A.4 (the JWS of "Example of Ed25519 signing").
    let key = VerificationKey::from_jwk(&json!({
        "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }))
    .unwrap();
    let token = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    assert_eq!(verify(token, [&key]).unwrap().payload, b"Example of Ed25519 signing");
    assert_eq!(key.thumbprint(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
}
