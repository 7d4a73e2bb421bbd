//! JWS costs beside the crypto library's raw rate for the same key: what the token service
//! and the resource-server filter add on top of the signature itself.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_jose::jws::{sign, verify};
use gatehouse_jose::SigningKey;
use serde_json::Map;

const CLAIMS: &[u8] = br#"{"iss":"https://server.example.com","sub":"Job","client_id":"Job","aud":"usercube_api","iat":1800000000,"nbf":1800000000,"exp":1800003600,"jti":"5f2a9c1e8d","scope":"usercube_api","profile":"Administrator"}"#;

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa_der = rsa.as_der().unwrap();
    let ec_der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_der.as_ref()).unwrap();

    c.bench_function("raw/RSA-2048 PKCS1 SHA-256 sign", |b| {
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        b.iter(|| rsa.sign(&RSA_PKCS1_SHA256, &rng, black_box(CLAIMS), &mut sig).unwrap())
    });
    c.bench_function("raw/P-256 ECDSA sign", |b| b.iter(|| ec.sign(&rng, black_box(CLAIMS)).unwrap()));
    let _ = ec.public_key();

    for (name, der) in [("RS256", rsa_der.as_ref()), ("ES256", ec_der.as_ref())] {
        let key = SigningKey::from_der(der, Vec::new()).unwrap();
        let token = sign(&key, Some("at+jwt"), &Map::new(), CLAIMS).unwrap();
        c.bench_function(&format!("jws/{name} sign"), |b| {
            b.iter(|| sign(&key, Some("at+jwt"), &Map::new(), black_box(CLAIMS)).unwrap())
        });
        c.bench_function(&format!("jws/{name} verify"), |b| {
            b.iter(|| verify(black_box(&token), [key.verification_key()]).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
