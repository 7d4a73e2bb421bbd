//! JwtSession cookie costs: encrypt+encode and decode+decrypt of a typical session.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_jose::jwe::{decrypt, encrypt, Enc};

fn bench(c: &mut Criterion) {
    let session =
        br#"{"authUsername":"Sam Carter","roles":["user","admin"],"csrf":"Zm9vYmFyYmF6cXV4","exp":1800000000}"#;
    for enc in [Enc::A256CbcHs512, Enc::A256Gcm] {
        let key: Vec<u8> = (0..enc.key_len() as u8).collect();
        let token = encrypt(enc, &key, session, false).unwrap();
        c.bench_function(&format!("{}/encrypt+encode", enc.name()), |b| {
            b.iter(|| encrypt(enc, black_box(&key), black_box(session), false).unwrap())
        });
        c.bench_function(&format!("{}/decode+decrypt", enc.name()), |b| {
            b.iter(|| decrypt(black_box(&token), &[&key]).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
