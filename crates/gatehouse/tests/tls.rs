//! Server and client TLS as the reference guide sets them up: keystores and PEM files made
//! by the guide's `keytool` and `openssl` commands, its admin.json and route files verbatim
//! (paths and ports aside), checked with `openssl s_client`, curl and a Python HTTPS origin.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;

use support::tls::{guide_file, guide_pem, handshake_with, served_subject, sh, HttpsOrigin};
use support::{curl, eventually, Gateway, TempInstance};

const ADMIN_KEYSTORE: &str = include_str!("fixtures/guide/admin-https-keystore.json");
const ADMIN_PEM: &str = include_str!("fixtures/guide/admin-https-pem.json");
const ADMIN_SNI: &str = include_str!("fixtures/guide/admin-https-sni.json");
const CLIENT_SIDE: &str = include_str!("fixtures/guide/client-side-https.json");

/// The subject of the guide's certificate for ig.example.com, as `openssl -nameopt compat` shows it.
const IG_SUBJECT: &str = "/CN=ig.example.com/OU=example/O=com/L=fr/ST=fr/C=fr";

/// A route that shows what the gateway knows about the connection.
const ECHO_ROUTE: &str = r#"{
  "handler": { "type": "StaticResponseHandler", "config": { "status": 200,
    "headers": { "Content-Type": [ "text/plain" ] },
    "entity": "secure=${contexts.client.isSecure} sni=${contexts.client.serverName}" } }
}"#;

/// The guide's keytool command for the server keystore, and its password file.
fn guide_keystore(secrets: &Path, cn: &str, file: &str) {
    sh(
        secrets,
        &format!(
            "keytool -genkey -alias https-connector-key -keyalg RSA -keystore {}/{file} \
             -storepass password -keypass password -dname \"CN={cn},O=Example Corp,C=FR\" 2>/dev/null
             echo -n 'password' > keystore.pass",
            secrets.display()
        ),
    );
}

/// An instance with an empty `secrets/` directory.
fn with_secrets(inst: TempInstance) -> (TempInstance, std::path::PathBuf) {
    let secrets = inst.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    (inst, secrets)
}

/// The HTTP status of `GET /` over TLS, as client `who` (its `{who}-cert.pem` and
/// `{who}-key.pem` in `secrets`) or with no client certificate; `000` when the handshake fails.
fn status_as(port: u16, secrets: &Path, who: Option<&str>) -> String {
    let mut args =
        vec!["-k".to_string(), "-s".into(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}".into()];
    if let Some(who) = who {
        for (flag, file) in [("--cert", format!("{who}-cert.pem")), ("--key", format!("{who}-key.pem"))] {
            args.push(flag.into());
            args.push(secrets.join(file).display().to_string());
        }
    }
    args.push(https(port, "/"));
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn https(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

#[test]
fn guide_pkcs12_keystore_serves_https_next_to_http() {
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_keystore(&secrets, "ig.example.com", "IG-keystore");
    inst.write("config/admin.json", &guide_file(ADMIN_KEYSTORE, &secrets));
    inst.route("echo.json", ECHO_ROUTE);
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
