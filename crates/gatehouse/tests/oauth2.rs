//! Agent/server protection, server side, as a user runs it: the example instance
//! (`examples/agent-server`) with the reference's XML lines and a signing `.pfx`, curl for
//! the token endpoint, Python's authlib and PyJWT as independent clients, and openssl to check
//! the published certificate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::path::Path;
use std::process::Command;

use support::tls::sh;
use support::{curl, eventually, Gateway, TempInstance};

use support::examples::AGENT_SERVER as EXAMPLE;

/// A copy of the example instance on free ports (HTTP first, then HTTPS).
fn example() -> TempInstance {
    support::examples::agent_server()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `(status, body, headers)` of a POST to the token endpoint.
fn token_request(gw: &Gateway, args: &[&str]) -> (u16, serde_json::Value, String) {
    let mut all = vec!["-s", "-i", "-X", "POST"];
    all.extend(args);
    let url = gw.url("/connect/token");
    all.push(&url);
    let out = curl(&all);
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, json(body), head.to_string())
}

fn claims(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    json(&String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap())
}

fn api(gw: &Gateway, token: Option<&str>) -> (String, String) {
    let bearer = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut args = vec!["-s", "-o", "/dev/stderr", "-w", "%{http_code}", "-D", "-"];
    if let Some(b) = &bearer {
        args.extend(["-H", b.as_str()]);
    }
    let url = gw.url("/api/agents");
    args.push(&url);
    let out = Command::new("curl").args(&args).output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_reference_clients_get_tokens_by_form_post_and_basic() {
    let t = example();
    let gw = Gateway::start(&t.dir);
    let (status, body, head) = token_request(
        &gw,
        &["-d", "client_id=Job@localhost&client_secret=secret&scope=usercube_api&grant_type=client_credentials"],
    );
    assert_eq!(status, 200, "{body}");
    assert!(head.to_ascii_lowercase().contains("cache-control: no-store"), "{head}");
    assert_eq!(
        (body["token_type"].as_str(), body["expires_in"].as_u64(), body["scope"].as_str()),
        (Some("Bearer"), Some(3600), Some("usercube_api"))
    );
    let token = body["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(
        (c["sub"].as_str(), c["client_id"].as_str(), c["profile"].as_str()),
        (Some("Job"), Some("Job"), Some("Administrator"))
    );
    assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 3600);
    for claim in ["iss", "aud", "nbf", "jti", "scope"] {
        assert!(c.get(claim).is_some(), "{claim}: {c}");
    }

    let (status, body, _) = token_request(&gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]);
    assert_eq!(status, 200, "{body}");

    let (status, body, _) = token_request(
        &gw,
        &["-d", "client_id=RoleOfficerByCategory@localhost&client_secret=secret&scope=usercube_api&grant_type=client_credentials"],
    );
    assert_eq!(status, 200, "{body}");
    let context = &claims(body["access_token"].as_str().unwrap())["context"];
    assert_eq!(
        (context["id"].as_i64(), context["Category"].as_str(), context["D0"].as_str()),
        (Some(-2), Some("IT Administration"), Some("ORG0003"))
    );
}

#[test]
fn wrong_secrets_unknown_clients_and_bad_requests_get_rfc_6749_errors() {
    let t = example();
    let gw = Gateway::start(&t.dir);
    for args in [
        &["-d", "client_id=Job@localhost&client_secret=wrong&grant_type=client_credentials"][..],
        &["-d", "client_id=Nobody&client_secret=secret&grant_type=client_credentials"],
        &["-u", "Job:wrong", "-d", "grant_type=client_credentials"],
        &["-d", "grant_type=client_credentials"],
    ] {
        let (status, body, head) = token_request(&gw, args);
        assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "{args:?}");
        assert!(head.to_ascii_lowercase().contains("www-authenticate: basic realm="), "{head}");
    }
    let cases: [(&[&str], &str); 4] = [
        (&["-d", "client_id=Job&client_secret=secret&grant_type=password"], "unsupported_grant_type"),
        (&["-d", "client_id=Job&client_secret=secret&grant_type=client_credentials&scope=admin"], "invalid_scope"),
        (
            &["-u", "Job:secret", "-d", "client_id=Job&client_secret=secret&grant_type=client_credentials"],
            "invalid_request",
        ),
        (&["-d", "client_id=Job&client_secret=secret"], "invalid_request"),
    ];
    for (args, error) in cases {
        let (status, body, _) = token_request(&gw, args);
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{args:?}");
    }
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    assert!(metrics.contains("gatehouse_tokens_refused_total{reason=\"invalid_client\"} 4"), "{metrics}");
    assert!(!gw.logs().contains("wrong"), "a secret is never logged");
}

#[test]
fn an_expired_client_is_refused() {
    let t = example();
    let xml = std::fs::read_to_string(t.path("server/clients.xml")).unwrap();
    t.write(
        "server/clients.xml",
        &format!("{xml}<OpenIdClient Identifier=\"Old\" HashedSecret=\"K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=\" DisplayName_L1=\"old\" Profile=\"Administrator\" ExpirationDate=\"2020-01-01\" />\n"),
    );
    let gw = Gateway::start(&t.dir);
    let (status, body, _) = token_request(&gw, &["-u", "Old:secret", "-d", "grant_type=client_credentials"]);
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
}

#[test]
fn authlib_uses_discovery_and_pyjwt_verifies_from_the_jwks() {
    let t = example();
    let gw = Gateway::start(&t.dir);
    for method in ["client_secret_basic", "client_secret_post"] {
        let out = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oauth2_client.py"))
            .args([&gw.url(""), "Job", "secret", method])
            .output()
            .unwrap();
        assert!(out.status.success(), "{method}: {}", String::from_utf8_lossy(&out.stderr));
        let result = json(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(result["claims"]["profile"], "Administrator", "{result}");
        assert_eq!(result["expires_in"], 3600);
    }
}

#[test]
fn the_published_certificate_is_the_pfx_one() {
    let t = example();
    let gw = Gateway::start(&t.dir);
    let jwks = json(&curl(&[&gw.url("/.well-known/openid-configuration/jwks")]));
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["alg"].as_str(), key["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let der_b64 = key["x5c"][0].as_str().unwrap();
    std::fs::write(t.path("x5c.b64"), der_b64).unwrap();
    let script = "base64 -d x5c.b64 > x5c.der
        openssl x509 -inform DER -in x5c.der -noout -pubkey > from-jwks.pem
        openssl pkcs12 -in server/identitymanager.pfx -passin pass:secret -nokeys 2>/dev/null | openssl x509 -noout -pubkey > from-pfx.pem
        cmp from-jwks.pem from-pfx.pem
        openssl dgst -sha256 -binary x5c.der | base64 | tr '+/' '-_' | tr -d '=' > thumb.txt";
    sh(&t.dir, script);
    let thumb = std::fs::read_to_string(t.path("thumb.txt")).unwrap();
    assert_eq!(key["x5t#S256"].as_str(), Some(thumb.trim()));
    assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
}

#[test]
fn the_protected_api_admits_only_valid_tokens_of_the_right_profile() {
    let t = example();
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_CLOCK", "2031-05-01T12:00:00Z")]);
    let token_of = |client: &str| {
        let (status, body, _) =
            token_request(&gw, &["-u", &format!("{client}:secret"), "-d", "grant_type=client_credentials"]);
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_string()
    };
    let job = token_of("Job");
    let (head, body) = api(&gw, Some(&job));
    assert!(head.ends_with("200"), "{head}");
    assert_eq!(json(&body)["client"], "Job");

    let (head, _) = api(&gw, None);
    assert!(head.contains("www-authenticate: Bearer realm=\"identitymanager\"") && head.ends_with("401"), "{head}");

    let mut tampered = job.clone();
    let at = tampered.len() / 2;
    tampered.replace_range(at..at + 1, if &job[at..at + 1] == "A" { "B" } else { "A" });
    let (head, _) = api(&gw, Some(&tampered));
    assert!(head.contains("error=\"invalid_token\"") && head.ends_with("401"), "{head}");

    let (head, _) = api(&gw, Some(&token_of("RoleOfficerByCategory")));
    assert!(head.contains("error=\"insufficient_scope\"") && head.ends_with("403"), "{head}");

    // Past its hour (and the verifier's minute of skew) the token is expired.
    curl(&["-X", "POST", &gw.url("/openig/api/clock?advance=62m")]);
    let (head, _) = api(&gw, Some(&job));
    assert!(head.contains("error=\"invalid_token\"") && head.ends_with("401"), "{head}");

    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    for line in [
        "gatehouse_token_verifications_total{outcome=\"valid\"} 1",
        "gatehouse_token_verifications_total{outcome=\"missing\"} 1",
        "gatehouse_token_verifications_total{outcome=\"insufficient_scope\"} 1",
        "gatehouse_token_verifications_total{outcome=\"invalid_token\"} 2",
        "gatehouse_tokens_issued_total 2",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
}

#[test]
fn new_openid_secret_prints_the_reference_line() {
    let out = Command::new(support::BIN).args(["new-openid-secret", "--client-secret", "secret"]).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "Shared secret for 'secret' is 'K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols='\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: the secret has 6 characters"));
    let out = Command::new(support::BIN).arg("new-openid-secret").output().unwrap();
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = line.split('\'').nth(1).unwrap();
    assert_eq!(secret.len(), 32, "{line}");
    let hashed = line.split('\'').nth(3).unwrap();
    let expected = Command::new("sh")
        .arg("-c")
        .arg(format!("printf %s '{secret}' | openssl dgst -binary -sha256 | openssl base64"))
        .output()
        .unwrap();
    assert_eq!(hashed, String::from_utf8_lossy(&expected.stdout).trim(), "openssl agrees");
}

#[test]
fn a_broken_clients_file_keeps_the_previous_registry_and_a_fixed_one_is_picked_up() {
    let t = example();
    let gw = Gateway::start(&t.dir);
    let clients = t.path("server/clients.xml");
    let good = std::fs::read_to_string(&clients).unwrap();
    std::fs::write(&clients, format!("{good}<OpenIdClient Identifier=\"Job\" HashedSecret=\"x\" />")).unwrap();
    gw.wait_for_log("keeping the previous OpenID client registry");
    assert!(gw.logs().contains("clients.xml:3:"), "{}", gw.logs());
    let (status, _, _) = token_request(&gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]);
    assert_eq!(status, 200);
    let hashed = gatehouse_hash("n3w-S3cret-for-the-Agent");
    std::fs::write(&clients, good.replacen("K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=", &hashed, 1)).unwrap();
    eventually("the new secret works", || {
        token_request(&gw, &["-u", "Job:n3w-S3cret-for-the-Agent", "-d", "grant_type=client_credentials"]).0 == 200
    });
    assert_eq!(token_request(&gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]).0, 401);
}

fn gatehouse_hash(secret: &str) -> String {
    let out = Command::new(support::BIN).args(["new-openid-secret", "--client-secret", secret]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split('\'').nth(3).unwrap().to_string()
}

/// A keystore with EC signing keys made by keytool, and its password in a base64 store.
fn keytool(dir: &Path, args: &str) {
    sh(dir, &format!("keytool {args} -keystore signing.p12 -storetype PKCS12 -storepass password 2>/dev/null"));
}

#[test]
fn signing_keys_rotate_without_a_failed_request() {
    let t = TempInstance::new();
    let secrets = t.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    keytool(&secrets, "-genkeypair -alias key-b -keyalg EC -groupname secp256r1 -dname CN=b");
    std::fs::copy(format!("{EXAMPLE}/server/clients.xml"), t.path("clients.xml")).unwrap();
    t.write(
        "config/config.json",
        &format!(
            r#"{{ "heap": [
                 {{ "name": "Keys", "type": "KeyStoreSecretStore", "config": {{ "file": "{}/signing.p12", "storeType": "PKCS12",
                    "storePasswordSecretId": "store.pass", "autoRefresh": true,
                    "secretsProvider": {{ "type": "Base64EncodedSecretStore", "config": {{ "secrets": {{ "store.pass": "cGFzc3dvcmQ=" }} }} }},
                    "mappings": [ {{ "secretId": "signing", "aliasesMatching": [ "key-.*" ] }} ] }} }},
                 {{ "name": "Tokens", "type": "TokenService", "config": {{ "clients": "clients.xml", "signingSecretId": "signing", "secretsProvider": "Keys" }} }} ],
               "handler": {{ "type": "Router" }} }}"#,
            secrets.display()
        ),
    );
    t.route("10-token.json", r#"{ "condition": "${request.uri.path == '/connect/token' or request.uri.path.startsWith('/.well-known/')}", "handler": "Tokens" }"#);
    t.route(
        "20-api.json",
        r#"{ "condition": "${find(request.uri.path, '^/api/')}", "handler": { "type": "Chain", "config": {
             "filters": [ { "type": "OAuth2ResourceServerFilter", "config": { "tokenService": "Tokens", "scopes": [ "usercube_api" ], "requireHttps": false } } ],
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "ok" } } } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let kids = || -> Vec<String> {
        let jwks = json(&curl(&[&gw.url("/.well-known/openid-configuration/jwks")]));
        jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
    };
    let token = || {
        token_request(&gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]).1["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let kid_of = |t: &str| {
        use base64::Engine as _;
        json(
            &String::from_utf8(
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.split('.').next().unwrap()).unwrap(),
            )
            .unwrap(),
        )["kid"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let old = token();
    let old_kid = kid_of(&old);
    assert_eq!(kids(), vec![old_kid.clone()]);

    // Requests go on with the old token while a new key is added (it sorts first: active).
    let port = gw.port();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (stop, old) = (stop.clone(), old.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for _ in 0..100_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let auth = format!("Authorization: Bearer {old}");
                match support::request(port, "GET", "/api/x", &[&auth], "") {
                    Ok(r) if r.status == 200 => {}
                    other => failures.push(format!("{other:?}")),
                }
            }
            failures
        })
    };
    keytool(&secrets, "-genkeypair -alias key-a -keyalg EC -groupname secp256r1 -dname CN=a");
    eventually("the new key is published", || kids().len() == 2);
    let new = token();
    assert_ne!(kid_of(&new), old_kid, "the new key signs");
    // The old key leaves the keystore: still published, so its tokens stay valid.
    keytool(&secrets, "-delete -alias key-b");
    eventually("the keystore change is seen", || gw.logs().contains("signing key removed"));
    assert!(kids().contains(&old_kid));
    assert_eq!(
        support::request(port, "GET", "/api/x", &[&format!("Authorization: Bearer {new}")], "").unwrap().status,
        200
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let failures = load.join().unwrap();
    assert!(failures.is_empty(), "{} failed requests: {:?}", failures.len(), failures.first());
}

#[test]
fn another_gateway_verifies_the_tokens_from_the_jwks_url_or_the_certificate() {
    let t = example();
    let issuer_gw = Gateway::start(&t.dir);
    let issuer = issuer_gw.url("");
    let (_, body, _) = token_request(&issuer_gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]);
    let token = body["access_token"].as_str().unwrap().to_string();

    let rs = TempInstance::new();
    let cert = std::fs::read_to_string(format!("{EXAMPLE}/server/identitymanager.cer.pem")).unwrap();
    rs.write("secrets/server.cert.pem", &cert);
    let chain = |resolver: &str| {
        format!(
            r#"{{ "type": "Chain", "config": {{ "filters": [ {{ "type": "OAuth2ResourceServerFilter", "config": {{
                 "scopes": [ "usercube_api" ], "requireHttps": false, "accessTokenResolver": {resolver} }} }} ],
                 "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "${{contexts.oauth2.accessToken.info.sub}}" }} }} }} }}"#
        )
    };
    let remote = format!(
        r#"{{ "type": "StatelessAccessTokenResolver", "config": {{ "issuer": "{issuer}", "verificationSecretId": "any",
             "secretsProvider": {{ "type": "JwkSetSecretStore", "config": {{ "jwkUrl": "{issuer}/.well-known/openid-configuration/jwks" }} }} }} }}"#
    );
    let local = format!(
        r#"{{ "type": "StatelessAccessTokenResolver", "config": {{ "issuer": "{issuer}", "verificationSecretId": "server.cert",
             "secretsProvider": {{ "type": "FileSystemSecretStore", "config": {{ "directory": "{}", "suffix": ".pem", "format": "PLAIN",
               "mappings": [ {{ "secretId": "server.cert", "format": {{ "type": "PemPropertyFormat" }} }} ] }} }} }} }}"#,
        rs.path("secrets").display()
    );
    rs.route(
        "a-remote.json",
        &format!(r#"{{ "condition": "${{request.uri.path == '/remote'}}", "handler": {} }}"#, chain(&remote)),
    );
    rs.route(
        "b-local.json",
        &format!(r#"{{ "condition": "${{request.uri.path == '/local'}}", "handler": {} }}"#, chain(&local)),
    );
    let other_audience =
        chain(&local).replace(r#""requireHttps": false,"#, r#""requireHttps": false, "audience": "other-api","#);
    assert!(other_audience.contains("other-api"));
    rs.route(
        "c-aud.json",
        &format!(r#"{{ "condition": "${{request.uri.path == '/aud'}}", "handler": {other_audience} }}"#),
    );
    let rs_gw = Gateway::start(&rs.dir);
    for path in ["/remote", "/local"] {
        let ok = support::request(rs_gw.port(), "GET", path, &[&format!("Authorization: Bearer {token}")], "").unwrap();
        assert_eq!((ok.status, ok.body.as_str()), (200, "Job"), "{path}: {}", rs_gw.logs());
        // The payload names another client; the signature is the original's.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = parts[1].replacen("Sm9i", "Sm9j", 1);
        assert_ne!(parts[1], token.split('.').nth(1).unwrap(), "the forgery changed something");
        let forged = parts.join(".");
        let bad =
            support::request(rs_gw.port(), "GET", path, &[&format!("Authorization: Bearer {forged}")], "").unwrap();
        assert_eq!(bad.status, 401, "{path}");
    }
    let r = support::request(rs_gw.port(), "GET", "/aud", &[&format!("Authorization: Bearer {token}")], "").unwrap();
    assert_eq!(r.status, 401, "a token for usercube_api is not one for other-api: {}", rs_gw.logs());
    // A token from another issuer is refused even with a good signature.
    let other = TempInstance::new();
    let cfg = std::fs::read_to_string(t.path("config/config.json")).unwrap();
    sh(&other.dir, &format!("cp -r {EXAMPLE}/server ."));
    other.write("config/config.json", &cfg);
    other.route("t.json", r#"{ "handler": "IdentityManagerTokens" }"#);
    let other_gw = Gateway::start(&other.dir);
    let (_, body, _) = token_request(&other_gw, &["-u", "Job:secret", "-d", "grant_type=client_credentials"]);
    let foreign = body["access_token"].as_str().unwrap();
    let r =
        support::request(rs_gw.port(), "GET", "/local", &[&format!("Authorization: Bearer {foreign}")], "").unwrap();
    assert_eq!(r.status, 401, "same key, other issuer");
}
