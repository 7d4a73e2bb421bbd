//! The messaging relay as an identity manager and a device use it: the product's API with
//! `X-Api-Key`, a device opening its box from the `uri` and answering, a callback receiver
//! (a real process), timeouts on a pinned clock, bad input, and `kill -9` durability.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::collections::HashSet;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use support::{curl, eventually, request, Gateway, TempInstance};

/// The reference's client and key: `X-Api-Key: base64(prime1:079b...e045)`.
const API_KEY: &str =
    "cHJpbWUxOjA3OWI2YTY0ZDc1YjRlOTU4NWJkMGMyNGYzNmE3ZGViYTBhZDAzNDk4ZWNmNGQ2OWI1NzY2ZjI0ZmEwMmUwNDU=";
const KEY: &str = "079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045";

struct Receiver {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Receiver {
    fn start(dir: &std::path::Path, fail_first: u32) -> Receiver {
        Receiver::start_with(dir, fail_first, &[])
    }

    /// A receiver over HTTPS with the PEM `cert` and `key`.
    fn start_tls(dir: &std::path::Path, cert: &std::path::Path, key: &std::path::Path) -> Receiver {
        Receiver::start_with(dir, 0, &[("RECEIVER_TLS_CERT", cert), ("RECEIVER_TLS_KEY", key)])
    }

    fn start_with(dir: &std::path::Path, fail_first: u32, env: &[(&str, &std::path::Path)]) -> Receiver {
        let log = dir.join("callbacks.jsonl");
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/relay_receiver.py"))
            .arg(&log)
            .arg(fail_first.to_string())
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Receiver { child, port: line.trim().parse().unwrap(), log }
    }

    fn callbacks(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn relay_instance(receiver: &Receiver, extra: &str) -> TempInstance {
    let t = TempInstance::new();
    t.route(
        "relay.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/hermod/')}}",
                 "handler": {{ "type": "MessagingRelay", "config": {{ {extra}
                   "clients": [ {{ "clientId": "prime1", "key": "{KEY}", "callbackUrl": "http://127.0.0.1:{}/idm-operator/ws/hermod", "callbackBasicAuth": "hermod:s3cret" }},
                                {{ "clientId": "other", "key": "other-key" }} ] }} }} }}"#,
            receiver.port
        ),
    );
    t
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn post_command(gw: &Gateway, kind: &str, header: &str) -> (u16, serde_json::Value) {
    let body = format!(r#"{{ "commandHeader": {header}, "provCommand": {{ "template": "employee", "n": 1 }} }}"#);
    let r = request(
        gw.port(),
        "POST",
        &format!("/hermod/rest/command/{kind}"),
        &[&format!("X-Api-Key: {API_KEY}"), "Content-Type: application/json"],
        &body,
    )
    .unwrap();
    let value = if r.body.is_empty() { serde_json::Value::Null } else { json(&r.body) };
    (r.status, value)
}

/// The device's view of a `uri`: the box URL inside `url=`.
fn box_path(uri: &str) -> String {
    let url = uri.split("url=").nth(1).unwrap();
    let decoded = percent_decode(url);
    let path_start = decoded.find("/hermod/box/").unwrap();
    decoded[path_start..].to_string()
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[test]
fn a_provision_command_goes_from_server_to_device_and_back_by_callback() {
    let t = TempInstance::bare();
    let receiver = Receiver::start(&t.dir, 0);
    let t = relay_instance(&receiver, "");
    let gw = Gateway::start(&t.dir);
    let (status, answer) =
        post_command(&gw, "provision", r#"{ "lifespan": 1500, "timeout": 1500, "externalId": "my-id" }"#);
    assert_eq!(status, 200, "{answer}");
    let id = answer["commandId"].as_str().unwrap().to_string();
    let dest = &answer["destinations"][0];
    assert_eq!(dest["to"], "@tmp");
    let uri = dest["uri"].as_str().unwrap();
    assert!(uri.starts_with("com.nexusgroup.plugout:///?url=http%3A%2F%2F127%2E0%2E0%2E1%3A"), "{uri}");
    let boxed = box_path(uri);
    assert!(boxed.ends_with(dest["bid"].as_str().unwrap()));

    // The device opens the box and answers.
    let opened = json(&curl(&[&gw.url(&boxed)]));
    assert_eq!(
        (opened["type"].as_str(), opened["command"]["provCommand"]["template"].as_str()),
        (Some("provision"), Some("employee"))
    );
    let r = request(
        gw.port(),
        "POST",
        &boxed,
        &["Content-Type: application/json"],
        r#"{ "status": "ok", "certificates": 2 }"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");

    eventually("the callback arrives", || !receiver.callbacks().is_empty());
    let cb = &receiver.callbacks()[0];
    assert_eq!(cb["path"], "/idm-operator/ws/hermod/callback/provision");
    assert_eq!(cb["auth"], "Basic aGVybW9kOnMzY3JldA==", "callbackBasicAuth");
    assert_eq!(cb["key"], id.as_str(), "idempotent by commandId");
    assert_eq!(
        (cb["body"]["commandId"].as_str(), cb["body"]["externalId"].as_str(), cb["body"]["state"].as_str()),
        (Some(id.as_str()), Some("my-id"), Some("answered"))
    );
    assert_eq!(cb["body"]["result"]["certificates"], 2);

    // The server polls the outcome.
    let status =
        request(gw.port(), "GET", &format!("/hermod/rest/command/{id}"), &[&format!("X-Api-Key: {API_KEY}")], "")
            .unwrap();
    let outcome = json(&status.body);
    assert_eq!((outcome["state"].as_str(), outcome["result"]["status"].as_str()), (Some("answered"), Some("ok")));
    // Once answered, the box is closed to devices.
    assert_eq!(request(gw.port(), "GET", &boxed, &[], "").unwrap().status, 410);
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    for line in [
        "gatehouse_relay_commands_total{type=\"provision\",state=\"answered\"} 1",
        "gatehouse_relay_callback_alive{client=\"prime1\"} 1",
        "gatehouse_relay_delivery_seconds_count 1",
        "gatehouse_relay_callback_attempts_total 1",
        "gatehouse_relay_callback_failures_total 0",
    ] {
        assert!(metrics.contains(line), "{line}\n{metrics}");
    }
    // Box depth: the gauge follows the worker's pass (at least every 250 ms).
    eventually("the box depth is back to 0", || {
        curl(&[&gw.url("/openig/metrics/prometheus")]).contains("gatehouse_relay_commands_in_boxes 0")
    });
    assert_eq!(request(gw.port(), "GET", "/hermod/rest/alive", &[], "").unwrap().status, 200);
    let health = json(&curl(&[&gw.url("/openig/health/ready")]));
    assert_eq!(health["checks"]["relay.callback.prime1"], "UP", "{health}");
}

#[test]
fn an_existing_application_yml_is_read_as_it_is() {
    let t = TempInstance::bare();
    let receiver = Receiver::start(&t.dir, 0);
    let t = TempInstance::new();
    // The replaced product's file, kebab-case spelling, copied unchanged.
    std::fs::write(
        t.path("config/application.yml"),
        format!(
            "server:\n  port: 20400\n  ssl:\n    key-store: classpath:keystore.p12\n    key-store-password: changeit\n    \
             key-store-type: PKCS12\npublic-url: https://relay.example.com:20400/hermod/box\nallowed-clients:\n  \
             - client-id: prime1\n    key: {KEY}\n    callback-url: http://127.0.0.1:{}/idm-operator/ws/hermod/\n    \
             callbackBasicAuth: hermod:s3cret\n",
            receiver.port
        ),
    )
    .unwrap();
    t.route(
        "relay.json",
        r#"{ "condition": "${find(request.uri.path, '^/hermod/')}",
             "handler": { "type": "MessagingRelay", "config": { "hermodConfig": "config/application.yml" } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let (status, answer) = post_command(&gw, "sign", r#"{ "lifespan": 60, "timeout": 60, "externalId": "yml" }"#);
    assert_eq!(status, 200, "{answer}");
    let bid = answer["destinations"][0]["bid"].as_str().unwrap().to_string();
    let uri = answer["destinations"][0]["uri"].as_str().unwrap();
    assert_eq!(
        percent_decode(uri.trim_start_matches("com.nexusgroup.plugout:///?url=")),
        format!("https://relay.example.com:20400/hermod/box/{bid}"),
        "the uri carries the file's public-url"
    );
    assert_eq!(request(gw.port(), "GET", &format!("/hermod/box/{bid}"), &[], "").unwrap().status, 200);
    let r = request(gw.port(), "POST", &format!("/hermod/box/{bid}"), &[], r#"{ "signed": true }"#).unwrap();
    assert_eq!(r.status, 200);
    eventually("the callback arrives", || !receiver.callbacks().is_empty());
    let cb = &receiver.callbacks()[0];
    assert_eq!(cb["path"], "/idm-operator/ws/hermod/callback/sign", "callback-url with its trailing slash");
    assert_eq!(cb["auth"], "Basic aGVybW9kOnMzY3JldA==");
    // The product's util/generateclient page, for loopback clients, needs no key.
    let page = request(gw.port(), "GET", "/hermod/rest/util/generateclient/prime9", &[], "").unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("clientId: prime9") && page.body.contains("# X-Api-Key: "), "{}", page.body);
    assert!(!gw.logs().contains(KEY), "keys never reach the logs");
}

#[test]
fn callbacks_go_over_https_with_the_configured_trust() {
    let t = TempInstance::new();
    let secrets = t.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    support::tls::sh(
        &secrets,
        "openssl req -newkey rsa:2048 -nodes -x509 -days 30 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
         -keyout callback-key.pem -out callback.pem 2>/dev/null",
    );
    let receiver = Receiver::start_tls(&t.dir, &secrets.join("callback.pem"), &secrets.join("callback-key.pem"));
    let client = |name: &str| {
        format!(
            r#"{{ "clientId": "{name}", "key": "{KEY}", "callbackUrl": "https://127.0.0.1:{}/idm-operator/ws/hermod" }}"#,
            receiver.port
        )
    };
    // One relay trusts the receiver's certificate; the other uses the default trust and must not.
    t.route(
        "relay.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/hermod/')}}",
                 "heap": [ {{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{}", "format": "PLAIN",
                   "suffix": ".pem", "mappings": [ {{ "secretId": "callback", "format": "PemPropertyFormat" }} ] }} }} ],
                 "handler": {{ "type": "MessagingRelay", "config": {{
                   "tls": {{ "type": "ClientTlsOptions", "config": {{ "trustManager": {{ "type": "SecretsTrustManager",
                     "config": {{ "verificationSecretId": "callback", "secretsProvider": "Pems" }} }} }} }},
                   "clients": [ {} ] }} }} }}"#,
            secrets.display(),
            client("prime1")
        ),
    );
    t.route(
        "untrusting.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/other/')}}",
                 "handler": {{ "type": "MessagingRelay", "config": {{ "basePath": "/other/rest", "publicUrl": "https://r/other/box", "store": "other.db",
                   "clients": [ {} ] }} }} }}"#,
            client("prime2")
        ),
    );
    let gw = Gateway::start(&t.dir);
    eventually("the alive checks ran", || {
        let health = serde_json::from_str::<serde_json::Value>(&curl(&[&gw.url("/openig/health/ready")])).unwrap();
        health["checks"]["relay.callback.prime1"] == "UP" && health["checks"]["relay.callback.prime2"] == "DOWN"
    });
    let (status, answer) = post_command(&gw, "ping", r#"{ "lifespan": 60, "timeout": 60, "externalId": "tls" }"#);
    assert_eq!(status, 200, "{answer}");
    let boxed = box_path(answer["destinations"][0]["uri"].as_str().unwrap());
    assert_eq!(request(gw.port(), "GET", &boxed, &[], "").unwrap().status, 200);
    assert_eq!(request(gw.port(), "POST", &boxed, &[], r#"{ "pong": true }"#).unwrap().status, 200);
    eventually("the callback arrives over HTTPS", || !receiver.callbacks().is_empty());
    assert_eq!(receiver.callbacks()[0]["body"]["externalId"], "tls");
}

#[test]
fn session_start_timeout_timeout_and_lifespan_fire_from_the_clock() {
    let t = TempInstance::bare();
    let receiver = Receiver::start(&t.dir, 0);
    let t = relay_instance(&receiver, "");
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_CLOCK", "2031-05-01T12:00:00Z")]);
    let advance = |by: &str| curl(&["-X", "POST", &gw.url(&format!("/openig/api/clock?advance={by}"))]);
    let header = r#"{ "lifespan": 120, "timeout": 60, "sessionStartTimeout": 5, "externalId": "t" }"#;
    let (_, ignored) = post_command(&gw, "sign", header);
    let (_, opened) = post_command(&gw, "authenticate", header);
    let ignored_box = box_path(ignored["destinations"][0]["uri"].as_str().unwrap());
    let opened_box = box_path(opened["destinations"][0]["uri"].as_str().unwrap());
    assert_eq!(request(gw.port(), "GET", &opened_box, &[], "").unwrap().status, 200);

    advance("6s");
    eventually("the ignored command failed at session start", || {
        receiver.callbacks().iter().any(|c| c["body"]["state"] == "failed_session_start")
    });
    assert_eq!(request(gw.port(), "GET", &ignored_box, &[], "").unwrap().status, 410, "it left its box");
    assert_eq!(request(gw.port(), "GET", &opened_box, &[], "").unwrap().status, 200, "the started one is still there");

    advance("55s");
    eventually("the started command timed out", || {
        receiver.callbacks().iter().any(|c| c["body"]["state"] == "failed_timeout")
    });
    let r = request(gw.port(), "POST", &opened_box, &[], "{}").unwrap();
    assert_eq!(r.status, 410, "the device can no longer answer");
    let id = opened["commandId"].as_str().unwrap();
    let polled =
        request(gw.port(), "GET", &format!("/hermod/rest/command/{id}"), &[&format!("X-Api-Key: {API_KEY}")], "")
            .unwrap();
    assert_eq!(json(&polled.body)["state"], "failed_timeout", "the server can still read the outcome");

    advance("60s");
    eventually("the lifespan removed it", || {
        request(gw.port(), "GET", &format!("/hermod/rest/command/{id}"), &[&format!("X-Api-Key: {API_KEY}")], "")
            .unwrap()
            .status
            == 404
    });
    let paths: Vec<String> = receiver.callbacks().iter().map(|c| c["path"].as_str().unwrap().to_string()).collect();
    assert!(
        paths.contains(&"/idm-operator/ws/hermod/callback/sign".to_string())
            && paths.contains(&"/idm-operator/ws/hermod/callback/authenticate".to_string()),
        "{paths:?}"
    );
}

#[test]
fn bad_input_is_refused_and_nothing_crosses_clients() {
    let t = TempInstance::bare();
    let receiver = Receiver::start(&t.dir, 0);
    let t = relay_instance(&receiver, r#""maxPayloadSize": 2000,"#);
    let gw = Gateway::start(&t.dir);
    let ok = r#"{ "lifespan": 100, "timeout": 50 }"#;
    let post = |key: Option<&str>, kind: &str, body: &str| {
        let mut h = vec!["Content-Type: application/json".to_string()];
        if let Some(k) = key {
            h.push(format!("X-Api-Key: {k}"));
        }
        let refs: Vec<&str> = h.iter().map(String::as_str).collect();
        request(gw.port(), "POST", &format!("/hermod/rest/command/{kind}"), &refs, body).unwrap()
    };
    let body = format!(r#"{{ "commandHeader": {ok}, "pingCommand": {{}} }}"#);
    use base64::Engine as _;
    let wrong = base64::engine::general_purpose::STANDARD.encode(format!("prime1:{}", "0".repeat(64)));
    assert_eq!(post(None, "ping", &body).status, 401);
    assert_eq!(post(Some(&wrong), "ping", &body).status, 401);
    // Authorization: Basic with the same value works too.
    let basic =
        request(gw.port(), "POST", "/hermod/rest/command/ping", &[&format!("Authorization: Basic {API_KEY}")], &body)
            .unwrap();
    assert_eq!(basic.status, 200);
    let mine = json(&post(Some(API_KEY), "ping", &body).body)["commandId"].as_str().unwrap().to_string();
    let other = base64::engine::general_purpose::STANDARD.encode("other:other-key");
    let r = request(gw.port(), "GET", &format!("/hermod/rest/command/{mine}"), &[&format!("X-Api-Key: {other}")], "")
        .unwrap();
    assert_eq!(r.status, 404, "another client's command does not exist for it");
    let r =
        request(gw.port(), "DELETE", &format!("/hermod/rest/command/{mine}"), &[&format!("X-Api-Key: {other}")], "")
            .unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(request(gw.port(), "GET", "/hermod/box/no-such-box", &[], "").unwrap().status, 404);
    assert_eq!(
        post(Some(API_KEY), "ping", &format!(r#"{{ "commandHeader": {ok}, "x": "{}" }}"#, "a".repeat(3000))).status,
        413
    );
    for (body, field) in [
        ("not json", ""),
        (r#"{ "pingCommand": {} }"#, "commandHeader"),
        (r#"{ "commandHeader": { "timeout": 50 }, "c": {} }"#, "commandHeader.lifespan"),
        (r#"{ "commandHeader": { "lifespan": "soon", "timeout": 50 }, "c": {} }"#, "commandHeader.lifespan"),
        (r#"{ "commandHeader": { "lifespan": 10, "timeout": 50 }, "c": {} }"#, "commandHeader.timeout"),
        (
            r#"{ "commandHeader": { "lifespan": 100, "timeout": 50, "sessionStartTimeout": 50 }, "c": {} }"#,
            "commandHeader.sessionStartTimeout",
        ),
        (r#"{ "commandHeader": { "lifespan": 100, "timeout": 50 } }"#, ""),
    ] {
        let r = post(Some(API_KEY), "ping", body);
        assert_eq!(r.status, 400, "{body}");
        assert_eq!(json(&r.body)["field"], field, "{body}: {}", r.body);
    }
    assert_eq!(post(Some(API_KEY), "unknown-type", &body).status, 404);
    // Cancel: the command leaves its box; a second cancel is a conflict.
    let r =
        request(gw.port(), "DELETE", &format!("/hermod/rest/command/{mine}"), &[&format!("X-Api-Key: {API_KEY}")], "")
            .unwrap();
    assert_eq!((r.status, json(&r.body)["state"].as_str()), (200, Some("cancelled")));
    assert_eq!(
        request(gw.port(), "DELETE", &format!("/hermod/rest/command/{mine}"), &[&format!("X-Api-Key: {API_KEY}")], "")
            .unwrap()
            .status,
        409
    );
    assert!(!gw.logs().contains(KEY), "keys never reach the logs");
}

#[test]
fn accepted_commands_survive_kill_minus_nine_and_every_callback_arrives() {
    let t = TempInstance::bare();
    // The receiver refuses its first 50 callbacks: they are retried.
    let receiver = Receiver::start(&t.dir, 50);
    let t = relay_instance(&receiver, r#""callbackRetry": { "initialDelay": "100 ms", "maxDelay": "500 ms" },"#);
    let mut gw = Gateway::start(&t.dir);
    let mut boxes = Vec::new();
    // The session-start timeout is far from the default 10 s: on a loaded machine, posting,
    // restarting and opening 1,000 boxes one by one may take longer, and a box whose command
    // timed out is rightly gone (410); this test is about what survives kill -9.
    for i in 0..1000 {
        let (status, answer) = post_command(
            &gw,
            "provision",
            &format!(r#"{{ "lifespan": 3600, "timeout": 3600, "sessionStartTimeout": 3000, "externalId": "c{i}" }}"#),
        );
        assert_eq!(status, 200);
        boxes.push(box_path(answer["destinations"][0]["uri"].as_str().unwrap()));
    }
    // kill -9: no chance to flush anything.
    Command::new("kill").args(["-9", &gw.child.id().to_string()]).status().unwrap();
    let _ = gw.child.wait();
    let _ = std::fs::remove_file(t.path("gatehouse.pid"));
    let gw = Gateway::start_with(&t.dir, &[("IG_PID_FILE_MODE", "override")]);
    for b in &boxes {
        let opened = request(gw.port(), "GET", b, &[], "").unwrap();
        assert_eq!(opened.status, 200, "{b}: every accepted command is still there");
        assert_eq!(request(gw.port(), "POST", b, &[], r#"{ "ok": true }"#).unwrap().status, 200);
    }
    let started = std::time::Instant::now();
    loop {
        let ids: HashSet<String> =
            receiver.callbacks().iter().map(|c| c["body"]["commandId"].as_str().unwrap().to_string()).collect();
        if ids.len() == 1000 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{} distinct callbacks of 1000 after 60 s\n{}",
            ids.len(),
            gw.logs().lines().rev().take(20).collect::<Vec<_>>().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ext: HashSet<String> =
        receiver.callbacks().iter().map(|c| c["body"]["externalId"].as_str().unwrap().to_string()).collect();
    assert_eq!(ext.len(), 1000, "each to its own command");
}

#[test]
fn generate_client_prints_an_entry_with_a_fresh_key() {
    let out = Command::new(support::BIN).args(["relay", "generate-client", "prime2"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("- clientId: prime2"), "{text}");
    let key = text.lines().find_map(|l| l.trim().strip_prefix("key: ")).unwrap();
    assert!(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()));
    let api_key = text.lines().find_map(|l| l.strip_prefix("# X-Api-Key: ")).unwrap();
    use base64::Engine as _;
    assert_eq!(
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(api_key).unwrap()).unwrap(),
        format!("prime2:{key}")
    );
}

#[test]
fn two_gateways_on_one_postgresql_share_commands_and_send_each_callback_once() {
    let dir = TempInstance::bare();
    let receiver = Receiver::start(&dir.dir, 0);
    let schema = format!("e2e_{}", std::process::id());
    let pg = std::env::var("GATEHOUSE_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres password=postgres dbname=postgres".into());
    let store = format!(r#""store": {{ "postgresql": "{pg}", "schema": "{schema}" }},"#);
    let (ta, tb) = (relay_instance(&receiver, &store), relay_instance(&receiver, &store));
    let (a, b) = (Gateway::start(&ta.dir), Gateway::start(&tb.dir));
    let (status, answer) =
        post_command(&a, "provision", r#"{ "lifespan": 600, "timeout": 300, "externalId": "shared" }"#);
    assert_eq!(status, 200, "{answer}");
    let boxed = box_path(answer["destinations"][0]["uri"].as_str().unwrap());
    // The device reaches the other instance.
    let opened = request(b.port(), "GET", &format!("{boxed}?wait=5"), &[], "").unwrap();
    assert_eq!(opened.status, 200, "{opened:?}");
    assert_eq!(request(b.port(), "POST", &boxed, &[], r#"{ "done": true }"#).unwrap().status, 200);
    eventually("the callback arrives", || receiver.callbacks().len() == 1);
    // Both instances keep working their timers and callbacks: still one callback.
    for _ in 0..10 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert_eq!(receiver.callbacks().len(), 1, "a callback is sent by one instance only");
    }
    let id = answer["commandId"].as_str().unwrap();
    let seen = request(a.port(), "GET", &format!("/hermod/rest/command/{id}"), &[&format!("X-Api-Key: {API_KEY}")], "")
        .unwrap();
    assert_eq!(json(&seen.body)["state"], "answered", "instance A reads what B stored");
}

#[test]
fn the_example_instance_runs_the_exchange_over_https() {
    let dir = TempInstance::bare();
    let receiver = Receiver::start(&dir.dir, 0);
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/relay");
    let t = TempInstance::bare();
    support::tls::sh(&t.dir, &format!("cp -r {example}/config {example}/secrets ."));
    let admin = std::fs::read_to_string(t.path("config/admin.json")).unwrap().replace("\"port\": 20400", "\"port\": 0");
    t.write("config/admin.json", &admin);
    let gw = Gateway::start(&t.dir);
    let route = std::fs::read_to_string(t.path("config/routes/relay.json"))
        .unwrap()
        .replace("127.0.0.1:8090", &format!("127.0.0.1:{}", receiver.port))
        .replace("https://127.0.0.1:20400", &format!("https://127.0.0.1:{}", gw.port()));
    t.route("relay.json", &route);
    gw.wait_for_log("route reloaded");
    let base = format!("https://127.0.0.1:{}", gw.port());
    let ca = t.path("secrets/relay-cert.pem").display().to_string();
    let posted = json(&curl(&[
        "--cacert",
        &ca,
        "-H",
        &format!("X-Api-Key: {API_KEY}"),
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{ "commandHeader": { "lifespan": 1500, "timeout": 1500, "externalId": "my-id" }, "provCommand": { "template": "employee" } }"#,
        &format!("{base}/hermod/rest/command/provision"),
    ]));
    let boxed = box_path(posted["destinations"][0]["uri"].as_str().unwrap());
    assert!(posted["destinations"][0]["uri"].as_str().unwrap().contains("https%3A%2F%2F127"), "{posted}");
    let opened = json(&curl(&["--cacert", &ca, &format!("{base}{boxed}")]));
    assert_eq!(opened["command"]["provCommand"]["template"], "employee");
    let answered = json(&curl(&[
        "--cacert",
        &ca,
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{ "status": "ok" }"#,
        &format!("{base}{boxed}"),
    ]));
    assert_eq!(answered["state"], "answered");
    eventually("the callback arrives", || receiver.callbacks().len() == 1);
    assert_eq!(receiver.callbacks()[0]["body"]["result"]["status"], "ok");
}

#[test]
fn a_stop_right_after_a_callback_does_not_send_it_again_after_the_restart() {
    let t = TempInstance::bare();
    let pid_file = t.path("gateway.pid.for-receiver");
    let receiver = Receiver::start_with(&t.dir, 0, &[("RECEIVER_TERM_PID_FILE", &pid_file)]);
    let t = relay_instance(&receiver, "");
    let clock = [("GATEHOUSE_TEST_CLOCK", "2031-05-01T12:00:00Z")];
    let exchange = |gw: &Gateway, header: &str| {
        let (status, posted) = post_command(gw, "provision", header);
        assert_eq!(status, 200, "{posted}");
        let path = box_path(posted["destinations"][0]["uri"].as_str().unwrap());
        assert_eq!(request(gw.port(), "GET", &path, &[], "").unwrap().status, 200);
        assert_eq!(request(gw.port(), "POST", &path, &[], r#"{"ok":true}"#).unwrap().status, 200);
        posted["commandId"].as_str().unwrap().to_string()
    };
    let header = r#"{ "lifespan": 3600, "timeout": 3600, "externalId": "s" }"#;
    let delivered_to = |id: &str| receiver.callbacks().iter().filter(|c| c["body"]["commandId"] == id).count();

    let mut gw = Gateway::start_with(&t.dir, &clock);
    std::fs::write(&pid_file, gw.child.id().to_string()).unwrap();
    let first = exchange(&gw, header);
    // The receiver answers the callback and at once stops the gateway (SIGTERM): the stop
    // lets the delivery finish and writes its mark, gathered with others in a running gateway.
    gw.wait_for_log("INFO stopped");
    gw.terminate();
    assert_eq!(delivered_to(&first), 1);

    let gw = Gateway::start_with(&t.dir, &clock);
    // Past the callback's lease: an unmarked callback would be due again now.
    curl(&["-X", "POST", &gw.url("/openig/api/clock?advance=5m")]);
    // Two more commands through the worker's passes; the first's callback would have been
    // claimed and sent before theirs.
    let second = exchange(&gw, header);
    eventually("the second callback arrives", || delivered_to(&second) == 1);
    let third = exchange(&gw, header);
    eventually("the third callback arrives", || delivered_to(&third) == 1);
    assert_eq!(delivered_to(&first), 1, "{:?}", receiver.callbacks());
}

#[test]
fn command_content_and_answers_reach_the_other_side_as_they_were_sent() {
    // The relay keeps a command's content and a device's answer as JSON text: numbers that no
    // 64-bit type holds and the server's order of fields arrive as sent.
    let t = TempInstance::bare();
    let receiver = Receiver::start(&t.dir, 0);
    let t = relay_instance(&receiver, "");
    let gw = Gateway::start(&t.dir);
    let body = r#"{ "commandHeader": { "lifespan": 60, "timeout": 30 }, "signCommand": { "z": 1, "serial": 123456789012345678901234567890, "ratio": 0.10000000000000000555, "text": "a \"quoted\" \u00e9" } }"#;
    let r = request(
        gw.port(),
        "POST",
        "/hermod/rest/command/sign",
        &[&format!("X-Api-Key: {API_KEY}"), "Content-Type: application/json"],
        body,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let boxed = box_path(json(&r.body)["destinations"][0]["uri"].as_str().unwrap());
    let opened = curl(&[&gw.url(&boxed)]);
    assert!(
        opened.contains(r#"{ "z": 1, "serial": 123456789012345678901234567890, "ratio": 0.10000000000000000555, "text": "a \"quoted\" \u00e9" }"#),
        "{opened}"
    );
    assert_eq!(json(&opened)["externalId"], serde_json::Value::Null);
    let r = request(
        gw.port(),
        "POST",
        &boxed,
        &["Content-Type: application/json"],
        r#"{ "serial": 98765432109876543210987654321 }"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    eventually("the callback arrives", || !receiver.callbacks().is_empty());
    // The receiver logs what it parsed (Python keeps integers exact).
    let logged = std::fs::read_to_string(&receiver.log).unwrap();
    assert!(logged.contains(r#""result": {"serial": 98765432109876543210987654321}"#), "{logged}");
    // A body that is not one JSON value is still refused, naming what is wrong.
    let r = request(gw.port(), "POST", &boxed, &["Content-Type: application/json"], r#"{ "a": 1 } trailing"#).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
}
