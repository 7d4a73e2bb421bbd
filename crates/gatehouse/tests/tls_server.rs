//! Server-side TLS as the reference guide sets it up: keystores and PEM files made by the
//! guide's `keytool` and `openssl` commands, its admin.json files verbatim (paths and ports
//! aside), checked with `openssl s_client` and curl; SNI, protocols and suites, client
//! certificates (mutual TLS) and live reloads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::tls::{
    guide_file, guide_keystore, guide_pem, handshake_with, https, served_subject, sh, status_as, with_secrets,
    ECHO_ROUTE, IG_SUBJECT,
};
use support::{curl, eventually, Gateway, TempInstance};

const ADMIN_KEYSTORE: &str = include_str!("fixtures/guide/admin-https-keystore.json");
const ADMIN_PEM: &str = include_str!("fixtures/guide/admin-https-pem.json");
const ADMIN_SNI: &str = include_str!("fixtures/guide/admin-https-sni.json");
#[test]
fn guide_pkcs12_keystore_serves_https_next_to_http() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_keystore(&secrets, "ig.example.com", "IG-keystore");
    inst.write("config/admin.json", &guide_file(ADMIN_KEYSTORE, &secrets));
    inst.route("echo.json", ECHO_ROUTE);
    inst.route(
        "a-uri.json",
        r#"{ "condition": "${request.uri.path == '/uri'}", "handler": { "type": "StaticResponseHandler",
             "config": { "status": 200, "entity": "${request.uri.scheme}://${request.uri.host}:${request.uri.port}" } } }"#,
    );
    let g = Gateway::start(&inst.dir);
    assert_eq!(g.ports.len(), 2, "{}", g.stdout_line);
    let (http_port, https_port) = (g.ports[0], g.ports[1]);

    assert_eq!(served_subject(https_port, Some("ig.example.com")).unwrap(), "/C=FR/O=Example Corp/CN=ig.example.com");
    let body = curl(&[
        "-k",
        "--resolve",
        &format!("ig.example.com:{https_port}:127.0.0.1"),
        &format!("https://ig.example.com:{https_port}/"),
    ]);
    assert_eq!(body, "secure=true sni=ig.example.com");
    assert_eq!(curl(&[&format!("http://127.0.0.1:{http_port}/")]), "secure=false sni=");
    // The request URI a route sees: the connection's scheme, the Host's authority.
    let uri = curl(&[
        "-k",
        "--resolve",
        &format!("ig.example.com:{https_port}:127.0.0.1"),
        &format!("https://ig.example.com:{https_port}/uri"),
    ]);
    assert_eq!(uri, format!("https://ig.example.com:{https_port}"));
    assert_eq!(curl(&[&format!("http://127.0.0.1:{http_port}/uri")]), format!("http://127.0.0.1:{http_port}"));
    // HTTP/2 is negotiated by ALPN.
    let h2 = curl(&[
        "-k",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        "--http2",
        &https(https_port, "/"),
    ]);
    assert_eq!(h2, "2 200");
    // The server's preference decides: SHA-256 suites first, although OpenSSL asks for AES-256 first.
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{https_port}")])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Cipher is TLS_AES_128_GCM_SHA256"));
    // No protocol below TLS 1.2.
    assert!(handshake_with(https_port, "-tls1_2"));
    assert!(handshake_with(https_port, "-tls1_3"));
    assert!(!handshake_with(https_port, "-tls1_1"), "TLS 1.1 must be refused");
}

#[test]
fn guide_pem_file_with_pem_property_format() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, IG_SUBJECT, "ig.example.com", "key.manager.secret.id");
    inst.write("config/admin.json", &guide_file(ADMIN_PEM, &secrets));
    inst.route("echo.json", ECHO_ROUTE);
    let g = Gateway::start(&inst.dir);
    let port = g.ports[1];
    assert_eq!(served_subject(port, Some("ig.example.com")).unwrap(), IG_SUBJECT);
    let out = curl(&["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}", &https(port, "/")]);
    assert_eq!(out, "200");
}

#[test]
fn guide_sni_serves_exact_wildcard_and_default_certificates() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, IG_SUBJECT, "ig.example.com", "key.manager.secret.id");
    guide_pem(
        &secrets,
        "/CN=*.example.com/OU=example/O=com/L=fr/ST=fr/C=fr",
        "wildcard.example.com",
        "wildcard.secret.id",
    );
    guide_pem(
        &secrets,
        "/CN=un.mapped.com/OU=example/O=com/L=fr/ST=fr/C=fr",
        "default.example.com",
        "default.secret.id",
    );
    inst.write("config/admin.json", &guide_file(ADMIN_SNI, &secrets));
    inst.route("echo.json", ECHO_ROUTE);
    let g = Gateway::start(&inst.dir);
    let port = g.ports[1];

    let subject = |name| served_subject(port, name).unwrap();
    assert_eq!(subject(Some("ig.example.com")), IG_SUBJECT);
    assert_eq!(subject(Some("other.example.com")), "/CN=*.example.com/OU=example/O=com/L=fr/ST=fr/C=fr");
    assert_eq!(subject(Some("unmapped.site.com")), "/CN=un.mapped.com/OU=example/O=com/L=fr/ST=fr/C=fr");
    // A wildcard covers one label only; no SNI at all gets the default; names are case-blind.
    assert_eq!(subject(Some("a.b.example.com")), "/CN=un.mapped.com/OU=example/O=com/L=fr/ST=fr/C=fr");
    assert_eq!(subject(None), "/CN=un.mapped.com/OU=example/O=com/L=fr/ST=fr/C=fr");
    assert_eq!(subject(Some("IG.Example.COM")), IG_SUBJECT);

    let body = curl(&[
        "-k",
        "--resolve",
        &format!("other.example.com:{port}:127.0.0.1"),
        &format!("https://other.example.com:{port}/"),
    ]);
    assert_eq!(body, "secure=true sni=other.example.com");
}

#[test]
fn mutual_tls_from_clients_required_and_requested() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, "/CN=ig.example.com", "ig.example.com", "server.id");
    // Client CA truststore made by openssl (no Java "trusted" attribute) from the client cert.
    sh(&secrets, "openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /C=FR/O=Example/CN=alice \
                    -keyout alice-key.pem -out alice-cert.pem 2>/dev/null
                  openssl pkcs12 -export -nokeys -in alice-cert.pem -caname alice -out clients.p12 -passout pass:password
                  echo -n password > clients.pass");
    let admin = |mode: &str| {
        format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1", "tls": "Tls" }} ],
              "heap": [
                {{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN", "suffix": ".pem",
                   "mappings": [ {{ "secretId": "server.id", "format": {{ "type": "PemPropertyFormat" }} }} ] }} }},
                {{ "name": "Passwords", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN" }} }},
                {{ "name": "Clients", "type": "KeyStoreSecretStore", "config": {{ "file": "{dir}/clients.p12",
                   "storePasswordSecretId": "clients.pass", "secretsProvider": "Passwords",
                   "mappings": [ {{ "secretId": "clients", "aliases": [ "alice" ] }} ] }} }},
                {{ "name": "Tls", "type": "ServerTlsOptions", "config": {{
                   "keyManager": {{ "type": "SecretsKeyManager", "config": {{ "signingSecretId": "server.id", "secretsProvider": "Pems" }} }},
                   "clientAuth": "{mode}",
                   "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "clients", "secretsProvider": "Clients" }} }} }} }} ] }}"#,
            dir = secrets.display()
        )
    };
    let with_cert = |port: u16| status_as(port, &secrets, Some("alice"));
    let without_cert = |port: u16| status_as(port, &secrets, None);

    inst.write("config/admin.json", &admin("REQUIRED"));
    inst.route("echo.json", ECHO_ROUTE);
    inst.route(
        "00-whoami.json",
        r#"{ "condition": "${request.uri.path == '/whoami'}", "handler": { "type": "StaticResponseHandler",
             "config": { "status": 200, "entity":
               "${contexts.client.certificates[0].subjectDN.name} issued by ${contexts.client.certificates[0].issuerX500Principal.name}; sni=${contexts.client.serverName}" } } }"#,
    );
    let g = Gateway::start(&inst.dir);
    assert_eq!(with_cert(g.port()), "200");
    // Routes see the client's certificate, with Java's property names.
    let (cert, key) = (secrets.join("alice-cert.pem"), secrets.join("alice-key.pem"));
    let who =
        curl(&["-k", "--cert", cert.to_str().unwrap(), "--key", key.to_str().unwrap(), &https(g.port(), "/whoami")]);
    assert_eq!(who, "CN=alice, O=Example, C=FR issued by CN=alice,O=Example,C=FR; sni=");
    assert_eq!(without_cert(g.port()), "000", "no certificate, no connection");
    let metrics = curl(&[
        "-k",
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        &https(g.port(), "/openig/metrics/prometheus"),
    ]);
    let counter = |name: &str| -> u64 {
        metrics.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
    };
    assert!(counter("gatehouse_tls_handshakes_failed_total ") >= 1, "{metrics}");
    assert!(counter("gatehouse_tls_handshakes_total ") >= 2, "{metrics}");
    let mut g = g;
    assert_eq!(g.terminate(), Some(0));

    inst.write("config/admin.json", &admin("REQUEST"));
    let g = Gateway::start(&inst.dir);
    assert_eq!(with_cert(g.port()), "200");
    assert_eq!(without_cert(g.port()), "200");
}

#[test]
fn auto_refresh_serves_a_replaced_keystore_without_a_restart() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_keystore(&secrets, "first.example.com", "IG-keystore");
    let admin = guide_file(ADMIN_KEYSTORE, &secrets).replace(
        r#""secretsProvider": "SecretsPasswords","#,
        r#""secretsProvider": "SecretsPasswords", "autoRefresh": { "enabled": true },"#,
    );
    assert!(admin.contains("autoRefresh"));
    inst.write("config/admin.json", &admin);
    let g = Gateway::start(&inst.dir);
    let port = g.ports[1];
    assert_eq!(served_subject(port, Some("ig.example.com")).unwrap(), "/C=FR/O=Example Corp/CN=first.example.com");

    // A broken replacement is reported and the old certificate keeps serving.
    std::fs::write(secrets.join("IG-keystore"), b"not a keystore").unwrap();
    g.wait_for_log("keeping the previous keystore content");
    assert_eq!(served_subject(port, Some("ig.example.com")).unwrap(), "/C=FR/O=Example Corp/CN=first.example.com");

    // A new keystore, moved into place as deployment tools do.
    guide_keystore(&secrets, "second.example.com", "IG-keystore.new");
    std::fs::rename(secrets.join("IG-keystore.new"), secrets.join("IG-keystore")).unwrap();
    eventually("the new certificate is served", || {
        served_subject(port, Some("ig.example.com")).as_deref() == Some("/C=FR/O=Example Corp/CN=second.example.com")
    });
}

#[test]
fn a_wrong_keystore_password_fails_the_start_naming_store_and_secret_but_never_the_value() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_keystore(&secrets, "ig.example.com", "IG-keystore");
    std::fs::write(secrets.join("keystore.pass"), "Sup3rS3cretValue").unwrap();
    inst.write("config/admin.json", &guide_file(ADMIN_KEYSTORE, &secrets));
    let err = Gateway::try_start(&inst.dir, &[]).err().expect("the start fails");
    assert!(err.contains("ServerIdentityStore (KeyStoreSecretStore"), "{err}");
    assert!(err.contains("'keystore.pass'"), "{err}");
    assert!(err.contains("wrong password"), "{err}");
    assert!(err.contains("admin.json:"), "the error has a position: {err}");
    assert!(!err.contains("Sup3rS3cretValue"), "the password leaked: {err}");

    // A JKS keystore is refused with the command that converts it.
    inst.write(
        "config/admin.json",
        &guide_file(ADMIN_KEYSTORE, &secrets)
            .replace(r#""storePasswordSecretId""#, r#""storeType": "JKS", "storePasswordSecretId""#),
    );
    let err = Gateway::try_start(&inst.dir, &[]).err().expect("the start fails");
    assert!(err.contains("JKS keystores are not supported; convert with: keytool -importkeystore"), "{err}");

    // `gatehouse check` reports the same, and so does a missing alias.
    std::fs::write(secrets.join("keystore.pass"), "password").unwrap();
    inst.write(
        "config/admin.json",
        &guide_file(ADMIN_KEYSTORE, &secrets).replace("\"https-connector-key\"", "\"nope\""),
    );
    let out = std::process::Command::new(support::BIN).arg("check").arg(&inst.dir).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("no alias 'nope' for secret 'key.manager.secret.id' (the keystore has: https-connector-key)"),
        "{text}"
    );
}

#[test]
fn protocols_and_cipher_suites_narrow_what_the_connector_offers() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, "/CN=ig.example.com", "ig.example.com", "server.id");
    let admin = |extra: &str| {
        format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1", "tls": "Tls" }} ],
              "heap": [
                {{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN", "suffix": ".pem",
                   "mappings": [ {{ "secretId": "server.id", "format": "PemPropertyFormat" }} ] }} }},
                {{ "name": "Tls", "type": "ServerTlsOptions", "config": {{ {extra}
                   "keyManager": {{ "type": "SecretsKeyManager", "config": {{ "signingSecretId": "server.id", "secretsProvider": "Pems" }} }} }} }} ] }}"#,
            dir = secrets.display()
        )
    };
    inst.route("echo.json", ECHO_ROUTE);
    inst.write("config/admin.json", &admin(r#""sslEnabledProtocols": [ "TLSv1.3" ],"#));
    let mut g = Gateway::start(&inst.dir);
    assert!(handshake_with(g.port(), "-tls1_3"));
    assert!(!handshake_with(g.port(), "-tls1_2"), "TLS 1.2 was switched off");
    assert_eq!(g.terminate(), Some(0));

    inst.write(
        "config/admin.json",
        &admin(
            r#""sslEnabledProtocols": [ "TLSv1.2" ], "sslCipherSuites": [ "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" ],"#,
        ),
    );
    let mut g = Gateway::start(&inst.dir);
    let out = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{}", g.port()), "-tls1_2"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cipher is ECDHE-RSA-AES256-GCM-SHA384"), "{text}");
    assert_eq!(g.terminate(), Some(0));

    for (extra, expected) in [
        (
            r#""sslEnabledProtocols": [ "TLSv1.1" ],"#,
            "'TLSv1.1' is not supported: Gatehouse speaks TLSv1.2 and TLSv1.3 only",
        ),
        (
            r#""sslCipherSuites": [ "TLS_RSA_WITH_RC4_128_MD5" ],"#,
            "unknown or unsupported cipher suite 'TLS_RSA_WITH_RC4_128_MD5'; supported: TLS_AES_128_GCM_SHA256, ",
        ),
        (r#""clientAuth": "REQUIRED","#, "clientAuth REQUEST or REQUIRED needs a trustManager"),
    ] {
        inst.write("config/admin.json", &admin(extra));
        let err = Gateway::try_start(&inst.dir, &[]).err().expect("the start fails");
        assert!(err.contains(expected), "{err}");
        assert!(err.contains("admin.json:"), "{err}");
    }
}

#[test]
fn client_certificate_trust_follows_auto_refresh() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, "/CN=ig.example.com", "ig.example.com", "server.id");
    sh(&secrets, "for who in alice bob; do
                    openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=$who -keyout $who-key.pem -out $who-cert.pem 2>/dev/null
                  done
                  keytool -importcert -noprompt -alias clients -file alice-cert.pem -keystore clients.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1
                  echo -n password > clients.pass");
    inst.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1", "tls": "Tls" }} ],
              "heap": [
                {{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN", "suffix": ".pem",
                   "mappings": [ {{ "secretId": "server.id", "format": "PemPropertyFormat" }} ] }} }},
                {{ "name": "Passwords", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN" }} }},
                {{ "name": "Clients", "type": "KeyStoreSecretStore", "config": {{ "file": "{dir}/clients.p12", "autoRefresh": true,
                   "storePasswordSecretId": "clients.pass", "secretsProvider": "Passwords",
                   "mappings": [ {{ "secretId": "clients", "aliases": [ "clients" ] }} ] }} }},
                {{ "name": "Tls", "type": "ServerTlsOptions", "config": {{ "clientAuth": "REQUIRED",
                   "keyManager": {{ "type": "SecretsKeyManager", "config": {{ "signingSecretId": "server.id", "secretsProvider": "Pems" }} }},
                   "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "clients", "secretsProvider": "Clients" }} }} }} }} ] }}"#,
            dir = secrets.display()
        ),
    );
    inst.route("echo.json", ECHO_ROUTE);
    let g = Gateway::start(&inst.dir);
    let as_client = |who: &str| status_as(g.port(), &secrets, Some(who));
    assert_eq!(as_client("alice"), "200");
    assert_eq!(as_client("bob"), "000");
    sh(&secrets, "keytool -importcert -noprompt -alias clients -file bob-cert.pem -keystore clients.new.p12 -storetype pkcs12 -storepass password >/dev/null 2>&1
                  mv clients.new.p12 clients.p12");
    support::eventually("bob is trusted instead of alice", || as_client("bob") == "200");
    assert_eq!(as_client("alice"), "000");
}
