//! JWS against independent libraries, both ways: Python's jwcrypto and PyJWT verify what
//! Gatehouse signs (with Gatehouse's JWK set and with openssl's PEM), and Gatehouse verifies
//! what PyJWT signs (with jwcrypto's JWK and with its own). Keys come from `openssl genpkey`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use gatehouse_jose::jwk::JwkSet;
use gatehouse_jose::jws::{sign, verify, Alg};
use gatehouse_jose::{SigningKey, VerificationKey};
use serde_json::{json, Map, Value};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/interop.py");

struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> Dir {
    let dir = std::env::temp_dir().join(format!("gatehouse-jose-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Dir(dir)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test-deps.sh installs it)"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A private key made by openssl (PKCS#8 PEM) and its public PEM.
fn openssl_key(dir: &Path, name: &str, args: &[&str]) -> (PathBuf, PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    run(Command::new("openssl").arg("genpkey").args(args).arg("-out").arg(&private));
    run(Command::new("openssl").args(["pkey", "-pubout", "-in"]).arg(&private).arg("-out").arg(&public));
    (private, public)
}

fn pem_der(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

fn python(args: &[&str]) -> String {
    run(Command::new("python3").arg(SCRIPT).args(args))
}

const KEYS: [(&str, &[&str], Alg); 4] = [
    ("rsa", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], Alg::RS256),
    ("rsa-pss", &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"], Alg::PS256),
    ("ec", &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], Alg::ES256),
    ("ed25519", &["-algorithm", "ED25519"], Alg::EdDSA),
];

#[test]
fn jwcrypto_and_pyjwt_verify_what_gatehouse_signs() {
    let dir = temp_dir("sign");
    for (name, args, alg) in KEYS {
        let (private, public) = openssl_key(&dir.0, name, args);
        let key = SigningKey::from_der(&pem_der(&private), Vec::new()).unwrap().with_alg(alg).unwrap();
        let jwks = dir.0.join(format!("{name}.jwks.json"));
        std::fs::write(&jwks, JwkSet { keys: vec![key.verification_key().clone()] }.to_json().to_string()).unwrap();
        let claims = json!({ "sub": "Job", "client_id": "Job", "scope": "usercube_api", "exp": 1_900_000_000 });
        let token = sign(&key, Some("at+jwt"), &Map::new(), claims.to_string().as_bytes()).unwrap();
        let out = python(&["verify", &token, jwks.to_str().unwrap(), public.to_str().unwrap(), alg.name()]);
        let payload: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(payload, claims, "{name}");
    }
}

#[test]
fn gatehouse_verifies_what_pyjwt_signs_with_jwcryptos_jwk() {
    let dir = temp_dir("verify");
    for (name, args, alg) in KEYS {
        let (private, _) = openssl_key(&dir.0, name, args);
        let claims = json!({ "sub": "agent", "n": 42 });
        let out = python(&["sign", private.to_str().unwrap(), alg.name(), "python-key", &claims.to_string()]);
        let mut lines = out.lines();
        let token = lines.next().unwrap();
        let mut their_jwk: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        their_jwk["alg"] = alg.name().into();
        let theirs = VerificationKey::from_jwk(&their_jwk).unwrap_or_else(|_| panic!("{name}: {their_jwk}"));
        let verified = verify(token, [&theirs]).unwrap_or_else(|_| panic!("{name}: {token}"));
        assert_eq!(serde_json::from_slice::<Value>(&verified.payload).unwrap(), claims);

        // The same key read by Gatehouse from openssl's file verifies it too.
        let ours = SigningKey::from_der(&pem_der(&private), Vec::new()).unwrap().with_alg(alg).unwrap();
        let mut vk = ours.verification_key().clone();
        vk.kid = "python-key".into();
        assert!(verify(token, [&vk]).is_ok(), "{name}");
        assert_eq!(vk.thumbprint(), theirs.thumbprint(), "{name}: one key, one thumbprint");

        // One changed byte of the payload is refused.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","n":42}"#);
        parts[1] = &forged;
        assert!(verify(&parts.join("."), [&theirs]).is_err(), "{name}");
    }
}
