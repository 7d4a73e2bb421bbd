//! Client-side TLS: the guide's client-side route verbatim against an independent HTTPS
//! origin (Python's ssl module), truststores from keytool and openssl, the system roots,
//! client certificates to upstreams (mutual TLS), live truststore reloads and WebSockets over
//! TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::path::Path;

use support::tls::{guide_file, sh, with_secrets, HttpsOrigin};
use support::{curl, Gateway, TempInstance};

const CLIENT_SIDE: &str = include_str!("fixtures/guide/client-side-https.json");

/// The sample application's certificate, and the guide's truststore holding it.
fn origin_and_truststore(secrets: &Path) -> HttpsOrigin {
    sh(
        secrets,
        "mkdir -p tls && openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=app.example.com \
                 -keyout tls/sampleapp-key.pem -out tls/sampleapp-cert.pem 2>/dev/null",
    );
    sh(secrets, "echo yes | keytool -importcert -alias ig-sampleapp -file tls/sampleapp-cert.pem \
                 -keystore reverseproxy-truststore.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1
                 keytool -list -keystore reverseproxy-truststore.p12 -storetype pkcs12 -storepass password | grep -q ig-sampleapp");
    HttpsOrigin::start(&secrets.join("tls/sampleapp-cert.pem"), &secrets.join("tls/sampleapp-key.pem"), None)
}

#[test]
fn guide_client_side_https_trusts_the_sample_app_through_a_keystore_truststore() {
    let (inst, secrets) = with_secrets(TempInstance::new());
    let origin = origin_and_truststore(&secrets);
    let route = guide_file(CLIENT_SIDE, &secrets)
        .replace("https://app.example.com:8444", &format!("https://127.0.0.1:{}", origin.port));
    inst.route("client-side-https.json", &route);
    let g = Gateway::start(&inst.dir);

    let out = curl(&["-i", &g.url("/home/client-side-https?x=1")]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.ends_with("origin path=/home/client-side-https?x=1 client=none\n"), "{out}");
    // The capture decorator logs the request to the HTTPS origin.
    g.wait_for_log(&format!("GET https://127.0.0.1:{}/home/client-side-https", origin.port));
}

#[test]
fn a_truststore_without_the_origins_certificate_gives_502_and_the_system_roots_do_not_trust_it() {
    let (inst, secrets) = with_secrets(TempInstance::new());
    let origin = origin_and_truststore(&secrets);
    // Replace the truststore with one that holds another certificate under the same alias.
    sh(
        &secrets,
        "rm reverseproxy-truststore.p12
                 openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=someone.else \
                   -keyout other-key.pem -out other-cert.pem 2>/dev/null
                 keytool -importcert -noprompt -alias ig-sampleapp -file other-cert.pem \
                   -keystore reverseproxy-truststore.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1",
    );
    let base = format!("https://127.0.0.1:{}", origin.port);
    inst.route("a-untrusted.json", &guide_file(CLIENT_SIDE, &secrets).replace("https://app.example.com:8444", &base));
    // No tls at all: the system roots, which do not know a self-signed certificate.
    inst.route(
        "b-system.json",
        &format!(
            r#"{{ "condition": "${{request.uri.path == '/system'}}",
        "baseURI": "{base}", "handler": "ReverseProxyHandler" }}"#
        ),
    );
    let g = Gateway::start(&inst.dir);
    let status = |p: &str| curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &g.url(p)]);
    assert_eq!(status("/home/client-side-https"), "502");
    assert_eq!(status("/system"), "502");
}

#[test]
fn system_and_env_secret_store_is_the_default_provider() {
    let (inst, secrets) = with_secrets(TempInstance::new());
    let origin = origin_and_truststore(&secrets);
    // The guide's step 5: the keystore password in KEYSTORE_SECRET_ID, base64 encoded, read
    // by the default SecretsService because the route names no password store.
    let route = format!(
        r#"{{ "baseURI": "https://127.0.0.1:{port}",
          "heap": [ {{ "name": "Trust", "type": "KeyStoreSecretStore", "config": {{
              "file": "{dir}/reverseproxy-truststore.p12", "storePasswordSecretId": "keystore.secret.id",
              "mappings": [ {{ "secretId": "trust.manager.secret.id", "aliases": [ "ig-sampleapp" ] }} ] }} }} ],
          "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{
              "hostnameVerifier": "ALLOW_ALL",
              "trustManager": {{ "type": "SecretsTrustManager", "config": {{
                  "verificationSecretId": "trust.manager.secret.id", "secretsProvider": "Trust" }} }} }} }} }} }} }}"#,
        port = origin.port,
        dir = secrets.display()
    );
    inst.route("env.json", &route);
    let g = Gateway::start_with(&inst.dir, &[("KEYSTORE_SECRET_ID", "cGFzc3dvcmQ=")]);
    assert_eq!(curl(&[&g.url("/env")]), "origin path=/env client=none\n");

    // Without the variable the route fails to load, naming the secret and the store.
    let inst2 = TempInstance::new();
    inst2.route("env.json", &route);
    let g2 = Gateway::start(&inst2.dir);
    g2.wait_for_log("secret 'keystore.secret.id' not found in SecretsService (SystemAndEnvSecretStore)");
}

#[test]
fn mutual_tls_to_an_upstream_with_an_openssl_pkcs12_client_identity() {
    let (inst, secrets) = with_secrets(TempInstance::new());
    let origin_keys = secrets.join("origin");
    std::fs::create_dir_all(&origin_keys).unwrap();
    // The client identity: a key and certificate exported by openssl in the legacy
    // (RC2/3DES) format; the origin trusts that certificate as its client CA.
    sh(
        &secrets,
        "openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=gatehouse-client \
                    -keyout client-key.pem -out client-cert.pem 2>/dev/null
                  openssl pkcs12 -export -legacy -in client-cert.pem -inkey client-key.pem -name client \
                    -out client.p12 -passout pass:changeit
                  openssl pkcs12 -export -in client-cert.pem -inkey client-key.pem -name client \
                    -out client-modern.p12 -passout pass:changeit
                  openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=localhost \
                    -addext subjectAltName=IP:127.0.0.1 -keyout origin/key.pem -out origin/cert.pem 2>/dev/null",
    );
    let origin = HttpsOrigin::start(
        &origin_keys.join("cert.pem"),
        &origin_keys.join("key.pem"),
        Some(&secrets.join("client-cert.pem")),
    );
    // `p12`: the client identity's keystore, or none.
    let route = |p12: Option<&str>| {
        let key_manager = if p12.is_some() {
            r#""keyManager": { "type": "SecretsKeyManager", "config": { "signingSecretId": "client.id", "secretsProvider": "ClientStore" } },"#
        } else {
            ""
        };
        format!(
            r#"{{ "baseURI": "https://127.0.0.1:{port}",
              "heap": [
                {{ "name": "Passwords", "type": "Base64EncodedSecretStore", "config": {{ "secrets": {{ "p12.pass": "Y2hhbmdlaXQ=" }} }} }},
                {{ "name": "ClientStore", "type": "KeyStoreSecretStore", "config": {{ "file": "{dir}/{p12}",
                   "storePasswordSecretId": "p12.pass", "secretsProvider": "Passwords",
                   "mappings": [ {{ "secretId": "client.id", "aliases": [ "client" ] }} ] }} }},
                {{ "name": "OriginCa", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}/origin", "format": "PLAIN",
                   "suffix": ".pem", "mappings": [ {{ "secretId": "cert", "format": "PemPropertyFormat" }} ] }} }} ],
              "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{ {key_manager}
                  "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "cert", "secretsProvider": "OriginCa" }} }} }} }} }} }} }}"#,
            port = origin.port,
            dir = secrets.display(),
            p12 = p12.unwrap_or("client.p12"),
        )
    };
    inst.route("mtls.json", &route(Some("client.p12")));
    let g = Gateway::start(&inst.dir);
    // The certificate names 127.0.0.1, so the default STRICT hostname check passes.
    assert_eq!(curl(&[&g.url("/mtls")]), "origin path=/mtls client=gatehouse-client\n", "{}", g.logs());

    let inst2 = TempInstance::new();
    inst2.route("no-client-cert.json", &route(None));
    let g2 = Gateway::start(&inst2.dir);
    assert_eq!(curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &g2.url("/x")]), "502");

    // The same identity exported by openssl's modern default (AES-256, PBKDF2).
    let inst3 = TempInstance::new();
    inst3.route("modern.json", &route(Some("client-modern.p12")));
    let g3 = Gateway::start(&inst3.dir);
    assert_eq!(curl(&[&g3.url("/modern")]), "origin path=/modern client=gatehouse-client\n");
}

#[test]
fn trust_stores_follow_auto_refresh_on_both_sides() {
    let (inst, secrets) = with_secrets(TempInstance::new());
    // Upstream side: a route trusts the truststore's certificate; the origin has another one.
    sh(&secrets, "openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=first -keyout first-key.pem -out first.pem 2>/dev/null
                  openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=second -keyout second-key.pem -out second.pem 2>/dev/null
                  keytool -importcert -noprompt -alias upstream -file first.pem -keystore trust.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1
                  echo -n password > trust.pass");
    let origin = HttpsOrigin::start(&secrets.join("second.pem"), &secrets.join("second-key.pem"), None);
    inst.route(
        "refresh.json",
        &format!(
            r#"{{ "baseURI": "https://127.0.0.1:{port}",
              "heap": [
                {{ "name": "Passwords", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN" }} }},
                {{ "name": "Trust", "type": "KeyStoreSecretStore", "config": {{ "file": "{dir}/trust.p12", "autoRefresh": true,
                   "storePasswordSecretId": "trust.pass", "secretsProvider": "Passwords",
                   "mappings": [ {{ "secretId": "upstream", "aliases": [ "upstream" ] }} ] }} }} ],
              "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{
                  "hostnameVerifier": "ALLOW_ALL",
                  "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "upstream", "secretsProvider": "Trust" }} }} }} }} }} }} }}"#,
            port = origin.port,
            dir = secrets.display()
        ),
    );
    let g = Gateway::start(&inst.dir);
    let status = || curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &g.url("/r")]);
    assert_eq!(status(), "502", "the origin's certificate is not trusted yet");
    sh(&secrets, "keytool -importcert -noprompt -alias upstream -file second.pem -keystore trust.new.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1
                  mv trust.new.p12 trust.p12");
    support::eventually("the new upstream certificate is trusted", || status() == "200");
}

#[test]
fn websockets_pass_through_tls_on_both_legs() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    // The gateway's certificate and the upstream's, both for 127.0.0.1.
    sh(&secrets, "for who in gateway upstream; do
                    openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=$who -addext subjectAltName=IP:127.0.0.1 \
                      -keyout $who-key.pem -out $who.pem 2>/dev/null
                    cat $who-key.pem $who.pem > $who.id.pem
                  done");
    let mut upstream = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws_echo.py"))
        .arg(secrets.join("upstream.pem"))
        .arg(secrets.join("upstream-key.pem"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with websockets");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(upstream.stdout.take().unwrap()), &mut line).unwrap();
    let ws_port: u16 = line.trim().parse().unwrap();
    let store = format!(
        r#"{{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{}", "format": "PLAIN", "suffix": ".pem",
             "mappings": [ {{ "secretId": "gateway.id", "format": "PemPropertyFormat" }}, {{ "secretId": "upstream", "format": "PemPropertyFormat" }} ] }} }}"#,
        secrets.display()
    );
    inst.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1", "tls": {{ "type": "ServerTlsOptions", "config": {{
                 "keyManager": {{ "type": "SecretsKeyManager", "config": {{ "signingSecretId": "gateway.id", "secretsProvider": "Pems" }} }} }} }} }} ],
               "heap": [ {store} ] }}"#
        ),
    );
    inst.route(
        "wss.json",
        &format!(
            r#"{{ "baseURI": "https://127.0.0.1:{ws_port}", "heap": [ {store} ],
               "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{
                 "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "upstream", "secretsProvider": "Pems" }} }} }} }} }} }} }}"#
        ),
    );
    let g = Gateway::start(&inst.dir);
    let out = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws_client.py"))
        .arg(format!("wss://127.0.0.1:{}/chat", g.port()))
        .args(["hello", "over TLS twice"])
        .env("WS_CA", secrets.join("gateway.pem"))
        .output()
        .unwrap();
    let _ = upstream.kill();
    let _ = upstream.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "hello\nover TLS twice\nbig ok\n",
        "stderr: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        g.logs()
    );
}
