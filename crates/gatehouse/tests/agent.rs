//! The agent side of agent/server protection, as a user runs it: the server instance of
//! `examples/agent-server` over HTTPS and the agent instance beside it (`agent/`, with the
//! reference's two appsettings files), local calls through the agent, the `gatehouse agent`
//! tools, and CMS files that `openssl cms` opens in both directions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Barrier};

use support::tls::sh;
use support::{curl, Gateway, TempInstance};

use support::examples::AGENT_SERVER as EXAMPLE;
const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// The example's server on free ports (HTTP, then HTTPS), optionally with a pinned clock.
fn server(env: &[(&str, &str)]) -> (TempInstance, Gateway) {
    let t = support::examples::agent_server();
    let g = Gateway::start_with(&t.dir, env);
    assert_eq!(g.ports.len(), 2, "an HTTP and an HTTPS connector");
    (t, g)
}

/// A copy of the example's agent directory pointed at the server's HTTPS port.
fn agent_dir(https: u16) -> TempInstance {
    let t = TempInstance::bare();
    sh(&t.dir, &format!("cp -r {EXAMPLE}/agent/. ."));
    for f in ["appsettings.json", "config/routes/api.json"] {
        let text = std::fs::read_to_string(t.path(f)).unwrap().replace("localhost:8443", &format!("localhost:{https}"));
        t.write(f, &text);
    }
    let admin = std::fs::read_to_string(t.path("config/admin.json")).unwrap().replace("\"port\": 8081", "\"port\": 0");
    t.write("config/admin.json", &admin);
    t
}

/// `gatehouse agent ARGS` in `dir`, trusting the example's server certificate.
fn agent_cli(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("agent")
        .arg("-C")
        .arg(dir)
        .arg("--cacert")
        .arg(dir.join("secrets/server-tls.pem"))
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// The value of a metric line (`name{labels} value`) on a gateway's metrics page.
fn metric(g: &Gateway, line_start: &str) -> u64 {
    let page = curl(&[&g.url("/openig/metrics/prometheus")]);
    page.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_thousand_concurrent_local_calls_through_the_agent_cost_one_token_request() {
    let (_s, server) = server(&[]);
    let a = agent_dir(server.ports[1]);
    let agent = Gateway::start(&a.dir);
    let port = agent.port();
    let barrier = Arc::new(Barrier::new(1000));
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                support::request(port, "GET", &format!("/api/jobs/{i}"), &[], "").map(|r| (r.status, r.body))
            })
        })
        .collect();
    let mut ok = 0;
    for (i, c) in calls.into_iter().enumerate() {
        let (status, body) = c.join().unwrap().unwrap();
        assert_eq!(status, 200, "call {i}: {body}");
        assert!(
            body.contains(&format!("\"path\": \"/api/jobs/{i}\"")) && body.contains("\"client\": \"Job\""),
            "{body}"
        );
        assert!(body.contains("\"profile\": \"Administrator\""), "{body}");
        ok += 1;
    }
    assert_eq!(ok, 1000);
    assert_eq!(metric(&agent, "gatehouse_client_token_requests_total{outcome=\"obtained\"}"), 1, "{}", agent.logs());
    assert_eq!(metric(&server, "gatehouse_tokens_issued_total"), 1);
}

#[test]
fn a_token_the_server_refuses_is_refreshed_once_and_the_request_replayed() {
    // The server's clock is pinned and moved past the token's expiry; the agent's is not, so
    // only the server's 401 tells the agent that its cached token is no good.
    let (_s, server) = server(&[("GATEHOUSE_TEST_CLOCK", "2030-01-01T00:00:00Z")]);
    let a = agent_dir(server.ports[1]);
    let agent = Gateway::start(&a.dir);
    let post = || {
        support::request(agent.port(), "POST", "/api/upload", &["Content-Type: text/plain"], "a body to replay")
            .unwrap()
    };
    assert_eq!(post().status, 200);
    curl(&["-X", "POST", &server.url("/openig/api/clock?advance=2h")]);
    let again = post();
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(metric(&agent, "gatehouse_client_token_requests_total{outcome=\"obtained\"}"), 2);
    assert_eq!(metric(&server, "gatehouse_tokens_issued_total"), 2);
    assert_eq!(post().status, 200, "the new token is cached");
    assert_eq!(metric(&server, "gatehouse_tokens_issued_total"), 2);
}

#[test]
fn the_agent_tools_get_verify_cache_and_use_tokens_with_clear_errors() {
    let (_s, server) = server(&[]);
    let a = agent_dir(server.ports[1]);
    let out = agent_cli(&a.dir, &["token"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "a compact JWS: {token}");
    // Verified by an independent library against the server's certificate.
    let check = Command::new("python3")
        .arg("-c")
        .arg(
            "import jwt,sys; from cryptography import x509; \
             k=x509.load_pem_x509_certificate(open(sys.argv[2],'rb').read()).public_key(); \
             c=jwt.decode(sys.argv[1], k, algorithms=['RS256'], audience='usercube_api'); print(c['client_id'], c['profile'])",
        )
        .arg(&token)
        .arg(a.path("identitymanager.cer.pem"))
        .output()
        .unwrap();
    assert_eq!(text(&check.stdout).trim(), "Job Administrator", "{}", text(&check.stderr));
    // Cached encrypted (EncryptFile is true), owner-only, and openssl opens it.
    let cached = a.path("tmp/token-Job.jwt.cms");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&cached).unwrap().permissions().mode() & 0o777, 0o600);
    }
    sh(
        &a.dir,
        "openssl pkcs12 -in identitymanager-Files.pfx -passin pass:secret -nodes -out files-key.pem 2>/dev/null",
    );
    let opened = Command::new("openssl")
        .args(["cms", "-decrypt", "-inform", "DER", "-inkey"])
        .arg(a.path("files-key.pem"))
        .arg("-in")
        .arg(&cached)
        .output()
        .unwrap();
    assert_eq!(text(&opened.stdout), token, "{}", text(&opened.stderr));
    let again = agent_cli(&a.dir, &["token"]);
    assert_eq!(text(&again.stdout).trim(), token, "the cached token is used while it is valid");
    assert_eq!(metric(&server, "gatehouse_tokens_issued_total"), 1);

    let call = agent_cli(&a.dir, &["call", "/api/agents"]);
    assert!(call.status.success(), "{}", text(&call.stderr));
    assert!(text(&call.stdout).contains("\"client\": \"Job\""), "{}", text(&call.stdout));
    let missing = agent_cli(&a.dir, &["call", "/nothing-here"]);
    assert_eq!(missing.status.code(), Some(22), "an HTTP error exits 22 as curl -f: {}", text(&missing.stderr));

    // A client the agent has no secret for, and a certificate that did not sign the token.
    let nope = agent_cli(&a.dir, &["token", "--client", "Nope"]);
    assert!(!nope.status.success());
    assert!(text(&nope.stderr).contains("OpenId.OpenIdClients.Nope"), "{}", text(&nope.stderr));
    std::fs::remove_file(&cached).unwrap();
    std::fs::copy(a.path("secrets/server-tls.pem"), a.path("identitymanager.cer.pem")).unwrap();
    let wrong = agent_cli(&a.dir, &["token"]);
    assert_eq!(wrong.status.code(), Some(1));
    let err = text(&wrong.stderr);
    assert!(err.contains("does not match the server's certificate") && err.lines().count() == 1, "{err}");
    assert!(text(&wrong.stdout).is_empty(), "a token that does not verify is never printed");

    // A wrong .pfx password: one line, naming the file, without the password.
    let settings = std::fs::read_to_string(a.path("appsettings.json"))
        .unwrap()
        .replace("\"Password\": \"secret\"", "\"Password\": \"hunter22\"");
    a.write("appsettings.json", &settings);
    std::fs::write(a.path("plain.txt"), "x").unwrap();
    let bad = agent_cli(&a.dir, &["encrypt", "plain.txt"]);
    let err = text(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("wrong password") && err.contains("identitymanager-Files.pfx"),
        "{err}"
    );
    assert!(!err.contains("hunter22") && err.lines().count() == 1, "{err}");

    // A file certificate without its private key.
    sh(&a.dir, "openssl pkcs12 -export -nokeys -in identitymanager.cer.pem -out certonly.pfx -passout pass:secret");
    let settings = std::fs::read_to_string(a.path("appsettings.json"))
        .unwrap()
        .replace("\"Password\": \"hunter22\"", "\"Password\": \"secret\"")
        .replace("./identitymanager-Files.pfx", "./certonly.pfx");
    a.write("appsettings.json", &settings);
    let nokey = agent_cli(&a.dir, &["encrypt", "plain.txt"]);
    let err = text(&nokey.stderr);
    assert!(
        !nokey.status.success() && err.contains("certonly.pfx holds no private key") && err.lines().count() == 1,
        "{err}"
    );

    // A server that cannot be reached: curl's exit code 7.
    drop(server);
    let down = agent_cli(&a.dir, &["call", "/api/x"]);
    assert_eq!(down.status.code(), Some(7), "curl's exit code for an unreachable server");
    let err = text(&down.stderr);
    assert!(err.starts_with("error: cannot reach https://localhost:") && err.lines().count() == 1, "{err}");
}

#[test]
fn without_the_servers_certificate_the_agent_verifies_tokens_against_its_jwk_set() {
    let (_s, server) = server(&[]);
    let a = agent_dir(server.ports[1]);
    let settings = std::fs::read_to_string(a.path("appsettings.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&settings).unwrap();
    json.as_object_mut().unwrap().remove("IdentityServer");
    a.write("appsettings.json", &json.to_string());
    let out = agent_cli(&a.dir, &["token", "--claims"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("\"client_id\": \"Job\""), "{}", text(&out.stdout));
}

#[test]
fn the_deprecated_client_properties_and_client_secret_post_get_tokens_too() {
    let (_s, server) = server(&[]);
    let https = server.ports[1];
    for (name, auth) in [
        (
            "deprecated",
            r#""clientId": "Job", "clientSecretId": "Job", "secretsProvider": "AgentSecrets", "endpointHandler": "ServerClient""#,
        ),
        (
            "post",
            r#""secretsProvider": "AgentSecrets", "endpointHandler": { "type": "Chain", "config": { "handler": "ServerClient",
               "filters": [ { "type": "ClientSecretPostAuthenticationFilter", "config": { "clientId": "Job", "clientSecretId": "Job", "secretsProvider": "AgentSecrets" } } ] } }"#,
        ),
    ] {
        let a = agent_dir(https);
        a.write(
            "config/routes/api.json",
            &format!(
                r#"{{ "condition": "${{find(request.uri.path, '^/api/')}}", "baseURI": "https://localhost:{https}",
                   "handler": {{ "type": "Chain", "config": {{
                     "filters": [ {{ "type": "ClientCredentialsOAuth2ClientFilter", "config": {{
                       "tokenEndpoint": "https://localhost:{https}/connect/token", "scopes": [ "usercube_api" ], {auth} }} }} ],
                     "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{
                       "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "verificationSecretId": "server-tls", "secretsProvider": "ServerCa" }} }} }} }} }} }} }} }} }}"#
            ),
        );
        let agent = Gateway::start(&a.dir);
        let r = support::request(agent.port(), "GET", "/api/x", &[], "").unwrap();
        assert_eq!(r.status, 200, "{name}: {} {}", r.body, agent.logs());
        assert!(r.body.contains("\"client\": \"Job\""), "{name}: {}", r.body);
    }
    // A wrong secret: the job gets 500, the log says why, and the secret is in neither.
    let a = agent_dir(https);
    a.write("appsettings.agent.json", r#"{ "OpenId": { "OpenIdClients": { "Job": "not-the-secret" } } }"#);
    let agent = Gateway::start(&a.dir);
    let r = support::request(agent.port(), "GET", "/api/x", &[], "").unwrap();
    assert_eq!(r.status, 500);
    assert!(!r.body.contains("not-the-secret"));
    agent.wait_for_log("invalid_client");
    assert!(!agent.logs().contains("not-the-secret"));
}

#[test]
fn files_encrypted_by_the_agent_open_with_openssl_and_the_other_way_round() {
    let t = TempInstance::bare();
    let init = Command::new(BIN).args(["agent", "init"]).arg(t.path("a")).output().unwrap();
    assert!(init.status.success(), "{}", text(&init.stderr));
    let dir = t.path("a");
    // The printed line carries the hash of the clear secret written for the agent.
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("appsettings.agent.json")).unwrap()).unwrap();
    let secret = settings["OpenId"]["OpenIdClients"]["Job"].as_str().unwrap().to_string();
    let hashed = Command::new("bash")
        .arg("-c")
        .arg("printf %s \"$1\" | openssl dgst -binary -sha256 | openssl base64")
        .arg("-")
        .arg(&secret)
        .output()
        .unwrap();
    let line = text(&init.stdout);
    assert!(line.contains(&format!("HashedSecret=\"{}\"", text(&hashed.stdout).trim())), "{line}");
    assert!(line.contains("<OpenIdClient Identifier=\"Job\"") && line.contains("Profile=\"Administrator\""), "{line}");
    let password =
        serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(dir.join("appsettings.json")).unwrap())
            .unwrap()["EncryptionCertificate"]["Password"]
            .as_str()
            .unwrap()
            .to_string();
    sh(
        &dir,
        &format!(
            "openssl pkcs12 -in identitymanager-Files.pfx -passin pass:{password} -nodes -out key.pem 2>/dev/null
             head -c 3000001 /dev/urandom > data.bin"
        ),
    );
    let cli = |args: &[&str]| {
        Command::new(BIN).arg("agent").arg("-C").arg(&dir).args(args).current_dir(&dir).output().unwrap()
    };
    // The agent encrypts (DER, RSA-OAEP; PEM, PKCS#1 v1.5); openssl decrypts.
    for (args, inform, out) in [
        (&["encrypt", "data.bin"][..], "DER", "data.bin.cms"),
        (&["encrypt", "--pem", "--pkcs1", "data.bin"][..], "PEM", "data.bin.pem"),
    ] {
        let o = cli(args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        sh(
            &dir,
            &format!(
                "openssl cms -decrypt -inform {inform} -in {out} -inkey key.pem -out back.bin && cmp data.bin back.bin"
            ),
        );
    }
    // openssl encrypts (-aes256: PKCS#1 v1.5; OAEP with SHA-256; streamed BER in PEM); the agent decrypts.
    for (n, opts) in [
        (1, "-outform DER key.pem"),
        (2, "-outform DER -recip key.pem -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 -keyopt rsa_mgf1_md:sha256"),
        (3, "-stream -outform PEM key.pem"),
    ] {
        sh(&dir, &format!("openssl cms -encrypt -aes256 -binary -in data.bin -out o{n}.cms {opts}"));
        let o = cli(&["decrypt", &format!("o{n}.cms"), "-o", &format!("o{n}.out")]);
        assert!(o.status.success(), "{n}: {}", text(&o.stderr));
        sh(&dir, &format!("cmp data.bin o{n}.out"));
    }
    // A tampered file fails with a clear message and leaves no output behind.
    let mut bytes = std::fs::read(dir.join("data.bin.cms")).unwrap();
    let n = bytes.len();
    bytes[n - 17] ^= 0x01; // the padding block's last byte, through CBC
    std::fs::write(dir.join("tampered.cms"), &bytes).unwrap();
    let o = cli(&["decrypt", "tampered.cms", "-o", "tampered.out"]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("damaged or tampered"), "{}", text(&o.stderr));
    assert!(!dir.join("tampered.out").exists() && !dir.join("tampered.out.part").exists());
    let parts = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".part"));
    assert_eq!(parts.count(), 0, "no partial file is left behind");
    let o = cli(&["decrypt", "key.pem"]);
    assert!(text(&o.stderr).contains("not a CMS enveloped-data file"), "{}", text(&o.stderr));
    // Another agent's file certificate cannot open it.
    let other = Command::new(BIN).args(["agent", "init"]).arg(t.path("b")).output().unwrap();
    assert!(other.status.success());
    let o = Command::new(BIN)
        .args(["agent", "-C"])
        .arg(t.path("b"))
        .arg("decrypt")
        .arg(dir.join("data.bin.cms"))
        .output()
        .unwrap();
    assert!(text(&o.stderr).contains("not encrypted to this file certificate"), "{}", text(&o.stderr));
}

#[test]
fn an_agent_instance_writes_its_closed_log_files_encrypted() {
    let (_s, server) = server(&[]);
    let a = agent_dir(server.ports[1]);
    std::fs::create_dir_all(a.path("logs")).unwrap();
    std::fs::write(a.path("logs/access.log"), "a line from a run that was killed\n").unwrap();
    let mut agent = Gateway::start(&a.dir);
    let logs = || {
        let mut names: Vec<String> = std::fs::read_dir(a.path("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let first = logs();
    assert_eq!(first.len(), 2, "the leftover file is encrypted at start, a new live one opened: {first:?}");
    assert!(first.iter().any(|n| n.starts_with("access-") && n.ends_with(".log.cms")), "{first:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(a.path("logs/access.log")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the live file is owner-only");
    }
    assert_eq!(support::request(agent.port(), "GET", "/api/logged-call", &[], "").unwrap().status, 200);
    agent.terminate();
    let after = logs();
    assert!(!after.iter().any(|n| n == "access.log"), "no plain log after a clean stop: {after:?}");
    let encrypted: Vec<&String> = after.iter().filter(|n| n.ends_with(".log.cms")).collect();
    assert_eq!(encrypted.len(), 2, "{after:?}");
    // The agent reads them back, and so does openssl with the file certificate's key.
    let files: Vec<String> = encrypted.iter().map(|n| a.path(&format!("logs/{n}")).display().to_string()).collect();
    let mut args = vec!["decrypt"];
    args.extend(files.iter().map(String::as_str));
    let out = agent_cli(&a.dir, &args);
    let plain = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(plain.contains("a line from a run that was killed"), "{plain}");
    assert!(plain.contains("\"GET /api/logged-call HTTP/1.1\" 200"), "{plain}");
    sh(&a.dir, "openssl pkcs12 -in identitymanager-Files.pfx -passin pass:secret -nodes -out k.pem 2>/dev/null");
    for f in &files {
        sh(&a.dir, &format!("openssl cms -decrypt -inform DER -inkey k.pem -in {f} > /dev/null"));
    }
}

#[test]
fn the_cached_token_is_replaced_shortly_before_it_expires() {
    // The agent's clock is pinned and moved; the server's is the system's, so its tokens stay
    // valid there: only the agent's own expiry bookkeeping asks for the new token.
    let (_s, server) = server(&[]);
    let a = agent_dir(server.ports[1]);
    let agent = Gateway::start_with(&a.dir, &[("GATEHOUSE_TEST_CLOCK", "2030-01-01T00:00:00Z")]);
    let call = || support::request(agent.port(), "GET", "/api/x", &[], "").unwrap().status;
    let obtained = || metric(&agent, "gatehouse_client_token_requests_total{outcome=\"obtained\"}");
    assert_eq!(call(), 200);
    let advance = |by: &str| curl(&["-X", "POST", &agent.url(&format!("/openig/api/clock?advance={by}"))]);
    advance("59m");
    assert_eq!((call(), obtained()), (200, 1), "a token with an hour's lifetime is kept for 59 minutes");
    advance("31s");
    assert_eq!((call(), obtained()), (200, 2), "and replaced within its last 30 seconds");
    assert_eq!(metric(&server, "gatehouse_tokens_issued_total"), 2);
}

#[test]
fn a_server_that_is_down_gets_one_token_request_per_wave_of_callers() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let a = agent_dir(dead);
    let agent = Gateway::start(&a.dir);
    let port = agent.port();
    let barrier = Arc::new(Barrier::new(300));
    let calls: Vec<_> = (0..300)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Connected first, so that the 300 requests leave together.
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                barrier.wait();
                s.write_all(b"GET /api/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut raw = Vec::new();
                s.read_to_end(&mut raw).unwrap();
                support::parse_response(&raw).unwrap()
            })
        })
        .collect();
    for c in calls {
        let r = c.join().unwrap();
        assert_eq!(r.status, 500);
        assert!(!r.body.contains("secret"), "{}", r.body);
    }
    let failed = metric(&agent, "gatehouse_client_token_requests_total{outcome=\"failed\"}");
    // A refused connection fails at once, so callers that arrive after a failure start another
    // wave (2 here, typically); what matters is that waiting callers share a failure.
    assert!((1..30).contains(&failed), "300 callers caused {failed} token requests; they should share failures");
    // A later caller tries again rather than inheriting an old failure.
    assert_eq!(support::request(port, "GET", "/api/x", &[], "").unwrap().status, 500);
    assert_eq!(metric(&agent, "gatehouse_client_token_requests_total{outcome=\"failed\"}"), failed + 1);
}
