//! Client-credential grants on one core, beside the crypto library's raw signing rate for
//! the same key: client authentication (SHA-256 of the secret, constant-time compare),
//! scopes, claims, JSON and the JWS signature, for RSA-2048 and P-256. And token
//! verification as the resource-server filter does it (JWS verify, claims parsed) beside the
//! raw verify rate.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_jose::SigningKey;
use gatehouse_oauth2::grant::{authorize, claims, sign, Policy};
use gatehouse_oauth2::registry::Sources;

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gatehouse-grant-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml = dir.join("clients.xml");
    std::fs::write(&xml, r#"<OpenIdClient Identifier="Job" HashedSecret="K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=" DisplayName_L1="Jobs" Profile="Administrator" />"#).unwrap();
    let (registry, _) = Sources { paths: vec![xml], appsettings: None }.load().unwrap();
    let scopes = vec!["usercube_api".to_string()];
    let policy = Policy { registry: &registry, domains: &[], scopes: &scopes };
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::AUTHORIZATION, "Basic Sm9iOnNlY3JldA==".parse().unwrap());
    let form = vec![
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("scope".to_string(), "usercube_api".to_string()),
    ];
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);

    let rng = SystemRandom::new();
    let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let rsa_der = rsa.as_der().unwrap();
    let ec_der = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, ec_der.as_ref()).unwrap();
    // The raw rate: the signature alone over a token-sized input.
    let input = vec![b'x'; 400];
    c.bench_function("raw/RSA-2048 sign", |b| {
        let mut sig = vec![0u8; rsa.public_modulus_len()];
        b.iter(|| rsa.sign(&RSA_PKCS1_SHA256, &rng, black_box(&input), &mut sig).unwrap())
    });
    c.bench_function("raw/P-256 sign", |b| b.iter(|| ec.sign(&rng, black_box(&input)).unwrap()));
    let mut rsa_sig = vec![0u8; rsa.public_modulus_len()];
    rsa.sign(&RSA_PKCS1_SHA256, &rng, &input, &mut rsa_sig).unwrap();
    let rsa_public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref().to_vec());
    c.bench_function("raw/RSA-2048 verify", |b| b.iter(|| rsa_public.verify(black_box(&input), &rsa_sig).unwrap()));
    let ec_sig = ec.sign(&rng, &input).unwrap();
    let ec_public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ec.public_key().as_ref().to_vec());
    c.bench_function("raw/P-256 verify", |b| b.iter(|| ec_public.verify(black_box(&input), ec_sig.as_ref()).unwrap()));
    for (name, der) in [("RS256", rsa_der.as_ref()), ("ES256", ec_der.as_ref())] {
        let key = SigningKey::from_der(der, Vec::new()).unwrap();
        c.bench_function(&format!("grant/{name}"), |b| {
            b.iter(|| {
                let (client, granted) = authorize(&policy, black_box(&headers), black_box(&form), now).unwrap();
                let cl = claims("https://im.example.com", &granted, &client, &granted, 1_800_000_000, 3600).unwrap();
                sign(&key, &cl).unwrap()
            })
        });
        let (client, granted) = authorize(&policy, &headers, &form, now).unwrap();
        let token =
            sign(&key, &claims("https://im.example.com", &granted, &client, &granted, 1_800_000_000, 3600).unwrap())
                .unwrap();
        let keys = [key.verification_key().clone()];
        c.bench_function(&format!("verify/{name} (JWS + claims)"), |b| {
            b.iter(|| {
                let v = gatehouse_jose::jws::verify(black_box(&token), keys.iter()).unwrap();
                serde_json::from_slice::<serde_json::Value>(&v.payload).unwrap()
            })
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
