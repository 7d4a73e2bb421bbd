//! Fuzz targets: one function per parser of untrusted or configured input. Each takes any
//! bytes and must return without panicking, overflowing the stack or looping; what it finds
//! is thrown away. `tests/smoke.rs` runs each over seeds and bounded random mutations in the
//! test suite; `fuzz/` runs them under libFuzzer for long, coverage-guided runs
//! (`scripts/fuzz.sh`).

use std::sync::OnceLock;

use gatehouse_core::{credentials, Body, Context, Request};
use gatehouse_expr::{Expression, ParseEnv, Scope};
use gatehouse_jose::jwe::{self, Enc};
use gatehouse_jose::jwk::JwkSet;
use gatehouse_jose::{jws, VerificationKey};

/// A fuzz target: any bytes in, nothing out, never a panic.
pub type Target = fn(&[u8]);

/// The targets by name, as `scripts/fuzz.sh` and the smoke test call them.
pub const TARGETS: &[(&str, Target)] = &[
    ("config_json", config_json),
    ("expression", expression),
    ("session_cookie", session_cookie),
    ("jws_token", jws_token),
    ("cookie_header", cookie_header),
    ("authorization_header", authorization_header),
    ("cms_file", cms_file),
    ("http1_request", http1_request),
    ("http1_response", http1_response),
];

/// The lean HTTP/1.1 path's request parser: a request it does not take must leave every byte
/// for hyper, and one it takes must use some.
pub fn http1_request(data: &[u8]) {
    let (served, left) = gatehouse_server::parse_http1(data);
    if served {
        assert!(left < data.len(), "a request was taken without using a byte");
    } else {
        assert_eq!(left, data.len(), "a request handed to hyper lost bytes");
    }
}

/// The lean upstream leg's answer parser and body reader (length, chunked with trailers,
/// until close), on an upstream's bytes; it asserts itself that a length-framed body never
/// yields more than its length.
pub fn http1_response(data: &[u8]) {
    let _ = gatehouse_http::proxy::parse_http1_answer(data);
}

/// The configuration JSON reader (routes, config.json, admin.json), then config tokens.
pub fn config_json(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(mut node) = gatehouse_config::json::parse(&text) {
        let _ = node.to_json();
        let props = serde_json::Map::new();
        let src = gatehouse_config::tokens::TokenSource { properties: &[&props] };
        let _ = gatehouse_config::tokens::resolve(&mut node, &src, &std::sync::Arc::from("fuzz"));
    }
}

/// The expression parser, and the evaluator on a request with headers, cookies and a form.
pub fn expression(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(expr) = Expression::parse(&text, &ParseEnv::default()) else { return };
    let mut cx = Context::detached();
    cx.attributes.insert("list".into(), serde_json::json!(["a", "b"]));
    cx.attributes.insert("map".into(), serde_json::json!({ "k": { "deep": 1 } }));
    cx.set_context("oauth2", serde_json::json!({ "accessToken": { "info": { "sub": "Job" } } }));
    if let Ok(req) = http::Request::builder()
        .method("POST")
        .uri("http://gw.example.com:8080/a/b%20c?x=1&y=2&x=3")
        .header("Host", "gw.example.com:8080")
        .header("Cookie", "IG=abc; theme=\"dark\"")
        .header("X-Multi", "1")
        .header("X-Multi", "2")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from("user=sam+carter&x=9"))
    {
        let req: Request = req;
        let _ = expr.eval(&Scope::request(&cx, &req)).to_json();
        let _ = expr.eval_condition(&cx, &req);
    }
}

fn session_keys() -> &'static [(Enc, Vec<u8>)] {
    static KEYS: OnceLock<Vec<(Enc, Vec<u8>)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [Enc::A128CbcHs256, Enc::A192CbcHs384, Enc::A256CbcHs512, Enc::A128Gcm, Enc::A256Gcm]
            .into_iter()
            .map(|e| (e, (0..e.key_len() as u8).collect()))
            .collect()
    })
}

/// A `JwtSession` cookie value: JWE decryption with every method's key, then the claims.
pub fn session_cookie(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let keys: Vec<&[u8]> = session_keys().iter().map(|(_, k)| k.as_slice()).collect();
    if let Ok(plain) = jwe::decrypt(&text, &keys) {
        let _ = serde_json::from_slice::<serde_json::Value>(&plain);
    }
}

/// A bearer token (JWS) checked against a JWK set, and the set itself when the bytes parse
/// as one.
pub fn jws_token(data: &[u8]) {
    static KEYS: OnceLock<Vec<VerificationKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        let set = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},{"kty":"OKP","crv":"Ed25519","kid":"b","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
        JwkSet::parse(set.as_bytes()).map(|s| s.keys).unwrap_or_default()
    });
    let text = String::from_utf8_lossy(data);
    let _ = jws::peek_header(&text);
    let _ = jws::verify(&text, keys);
    let _ = JwkSet::parse(data);
}

/// `Cookie` headers.
pub fn cookie_header(data: &[u8]) {
    let mut headers = http::HeaderMap::new();
    for part in data.split(|b| *b == b'\n') {
        if let Ok(v) = http::HeaderValue::from_bytes(part) {
            headers.append(http::header::COOKIE, v);
        }
    }
    let _ = credentials::cookies(&headers).count();
    let _ = credentials::cookie(&headers, "IG");
}

/// `Authorization` headers.
pub fn authorization_header(data: &[u8]) {
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(data) {
        headers.insert(http::header::AUTHORIZATION, v);
    }
    let _ = credentials::authorization(&headers);
    let _ = credentials::parse_authorization(&String::from_utf8_lossy(data));
}

/// The agent's file certificate from the example (a real RSA key), loaded once.
fn file_identity() -> Option<&'static gatehouse_secrets::TlsIdentity> {
    static IDENTITY: OnceLock<Option<std::sync::Arc<gatehouse_secrets::TlsIdentity>>> = OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let pfx =
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/agent-server/agent/identitymanager-Files.pfx");
            gatehouse_secrets::store::keystore::read_pkcs12_identities(std::path::Path::new(pfx), "secret")
                .ok()
                .and_then(|ids| ids.into_iter().next())
        })
        .as_deref()
}

/// `gatehouse agent decrypt` on any file: the BER/DER and PEM readers, the recipient match and
/// key unwrapping, the streamed AES-CBC. Files the agent decrypts come from anywhere.
pub fn cms_file(data: &[u8]) {
    if let Some(identity) = file_identity() {
        let mut out = Vec::new();
        let _ = gatehouse_agent::cms::decrypt(identity, data, &mut out);
    }
}
