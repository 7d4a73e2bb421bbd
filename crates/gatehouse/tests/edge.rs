//! Harden the edge: each attack a penetration test of the gateway found, replayed against
//! the real binary with raw sockets and curl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::origin::Origin;
use support::{curl, eventually, get, parse_response, request, Gateway, TempInstance};

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// A 403 for `/admin...` in front of a proxied catch-all.
fn guarded_origin(origin: &Origin, admin: &str) -> (TempInstance, Gateway) {
    let t = TempInstance::new();
    t.write("config/admin.json", admin);
    t.route(
        "10-deny.json",
        r#"{ "condition": "${find(request.uri.path, '^/admin')}",
             "handler": { "type": "StaticResponseHandler", "config": { "status": 403, "entity": "denied" } } }"#,
    );
    t.route("20-proxy.json", &format!(r#"{{ "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#, origin.url()));
    let gw = Gateway::start(&t.dir);
    (t, gw)
}

const ADMIN: &str = r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#;

/// A gateway whose one route answers 200 with `entity` (an expression) to every request.
fn answering(entity: &str) -> (TempInstance, Gateway) {
    let t = TempInstance::new();
    t.write("config/admin.json", ADMIN);
    let route = format!(
        r#"{{ "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }}"#
    );
    t.route("all.json", &route);
    let gw = Gateway::start(&t.dir);
    (t, gw)
}

#[test]
fn path_rules_cannot_be_bypassed_and_the_upstream_gets_the_path_routes_decided_on() {
    let origin = Origin::start();
    let (_t, gw) = guarded_origin(&origin, ADMIN);
    for attack in ["/admin/", "/public/../admin/", "//admin/", "/./admin/", "/public/%2e%2e/admin/", "/%61dmin/"] {
        let r = request(gw.port(), "GET", attack, &[], "").unwrap();
        assert_eq!((r.status, r.body.as_str()), (403, "denied"), "{attack}");
    }
    for refused in ["/x\\..\\admin", "/x%5c..%5cadmin", "/../admin", "/admin%2Fx", "/a%00"] {
        let r = request(gw.port(), "GET", refused, &[], "").unwrap();
        assert_eq!(r.status, 400, "{refused}");
    }
    let seen = json(&request(gw.port(), "GET", "/headers/./a//b/../c?q=%2e", &[], "").unwrap().body);
    assert_eq!(seen["path"], "/headers/a/c", "the upstream serves the normalized path");
    assert_eq!(seen["query"], "q=%2e", "the query is not touched");
}

fn connector(extra: &str) -> String {
    format!(r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1" {extra} }} ] }}"#)
}

/// Reads until the gateway closes the connection (bounded); the time it took.
fn closed_within(mut s: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("the gateway kept the connection open past {limit:?}: {e}"),
        }
    }
}

#[test]
fn connections_that_send_nothing_or_stall_are_closed() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "requestHeaderTimeout": "1 second", "idleTimeout": "1 second""#));
    let gw = Gateway::start(&t.dir);
    let connect = || TcpStream::connect(("127.0.0.1", gw.port())).unwrap();

    let silent = connect();
    closed_within(silent, Duration::from_secs(20));

    let mut preface = connect();
    preface.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
    closed_within(preface, Duration::from_secs(20));

    let mut one_byte = connect();
    one_byte.write_all(b"G").unwrap();
    closed_within(one_byte, Duration::from_secs(20));

    // An idle keep-alive connection after one exchange is closed too.
    let mut kept = connect();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    closed_within(kept, Duration::from_secs(20));
    assert_eq!(get(gw.port(), "/").status, 200, "the gateway still serves");
}

#[test]
fn a_head_that_stops_halfway_is_closed_after_the_header_timeout_even_with_a_long_idle_timeout() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "requestHeaderTimeout": "1 second", "idleTimeout": "1 minute""#));
    let gw = Gateway::start(&t.dir);
    for partial in [&b"GET / HTTP/1.1\r\nHost: x\r\n"[..], b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTT"] {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
        s.write_all(partial).unwrap();
        // Bytes moved, so the idle timeout (a minute) is not what closes it.
        let took = closed_within(s, Duration::from_secs(20));
        assert!(took < Duration::from_secs(20), "{took:?}");
    }
    assert_eq!(get(gw.port(), "/").status, 200, "the gateway still serves");
}

#[test]
fn a_body_that_trickles_is_cut_off_with_408() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "requestBodyTimeout": "1 second""#));
    t.route(
        "form.json",
        r#"{ "condition": "${request.form['a'][0] == 'b'}",
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "form" } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\na=").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
}

#[test]
fn a_connector_at_max_connections_closes_new_ones_and_counts_them() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "maxConnections": 3"#));
    let gw = Gateway::start(&t.dir);
    let held: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(("127.0.0.1", gw.port())).unwrap()).collect();
    // The fourth gets no answer: the gateway closes it at once (bounded retries: the three
    // above may still sit in the backlog for a moment).
    eventually("a connection over the limit is closed unanswered", || {
        let mut extra = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
        let _ = extra.write_all(b"GET /openig/ping HTTP/1.1\r\nHost: x\r\n\r\n");
        extra.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 64];
        // One read: closed (FIN), or reset (RST: the request was already in when it closed).
        match extra.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    });
    drop(held);
    eventually("the gateway serves again", || {
        request(gw.port(), "GET", "/openig/ping", &[], "").is_ok_and(|r| r.status == 200)
    });
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    let refused: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_connections_refused_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(refused >= 1, "{metrics}");
}

#[test]
fn a_client_cannot_strip_headers_the_gateway_adds() {
    let origin = Origin::start();
    let t = TempInstance::new();
    t.route(
        "proxy.json",
        &format!(
            r#"{{ "baseURI": "{}", "handler": {{ "type": "Chain", "config": {{ "filters": [
                 {{ "type": "HeaderFilter", "config": {{ "messageType": "REQUEST", "remove": [ "X-Auth-User" ],
                    "add": {{ "X-Auth-User": [ "alice" ], "Authorization": [ "Bearer service-token" ] }} }} }} ],
                 "handler": "ReverseProxyHandler" }} }} }}"#,
            origin.url()
        ),
    );
    let gw = Gateway::start(&t.dir);
    let r = request(gw.port(), "GET", "/headers", &["Connection: keep-alive, X-Auth-User, Authorization"], "").unwrap();
    let seen = json(&r.body);
    assert_eq!(seen["headers"]["x-auth-user"], serde_json::json!(["alice"]), "{seen}");
    assert_eq!(seen["headers"]["authorization"], serde_json::json!(["Bearer service-token"]), "{seen}");
}

#[test]
fn forwarding_headers_come_from_the_gateway_never_the_client() {
    let origin = Origin::start();
    let (_t, gw) = guarded_origin(&origin, ADMIN);
    let forged = [
        "-H",
        "X-Forwarded-Host: evil.example",
        "-H",
        "Forwarded: for=6.6.6.6;host=evil.example",
        "-H",
        "X-Real-IP: 6.6.6.6",
        "-H",
        "X-Forwarded-Port: 6666",
        "-H",
        "X-Forwarded-Proto: https",
    ];
    let served = format!("127.0.0.1:{}", gw.port());
    for http in ["--http1.1", "--http2-prior-knowledge"] {
        let mut args = vec![http];
        args.extend(forged);
        let url = gw.url("/headers");
        args.push(&url);
        let seen = json(&curl(&args));
        let h = &seen["headers"];
        assert_eq!(h["x-forwarded-host"], serde_json::json!([served]), "{http}: {seen}");
        assert_eq!(h["x-forwarded-port"], serde_json::json!([gw.port().to_string()]), "{http}: {seen}");
        assert_eq!(h["x-forwarded-proto"], serde_json::json!(["http"]), "{http}: {seen}");
        assert!(h.get("forwarded").is_none() && h.get("x-real-ip").is_none(), "{http}: {seen}");
    }
    // HTTP/1.0 without Host: the connector's address.
    let r = request(gw.port(), "GET", "/headers", &[], "").unwrap();
    assert!(json(&r.body)["headers"]["x-forwarded-host"][0].as_str().unwrap().starts_with("127.0.0.1:"));
}

#[test]
fn an_aborted_exchange_is_logged_499_and_leaves_no_exchange_in_flight() {
    let origin = Origin::start();
    let (t, gw) = guarded_origin(&origin, ADMIN);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    eventually("the upstream got the request", || origin.hanging() == 1);
    drop(s);
    let log = t.path("logs/access.log");
    eventually("a 499 line", || {
        std::fs::read_to_string(&log).unwrap_or_default().contains("\"GET /hang HTTP/1.1\" 499 0")
    });
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    assert!(metrics.contains("gatehouse_exchanges_in_flight 1\n"), "only the metrics request itself: {metrics}");
    eventually("the upstream request was canceled", || origin.canceled() == 1);
}

#[test]
fn connect_and_trace_are_refused_and_a_too_long_uri_is_414() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "maxUriLength": 100"#));
    t.route(
        "all.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "ok" } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(request(gw.port(), "TRACE", "/", &[], "").unwrap().status, 405);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n").unwrap();
    let mut head = [0u8; 12];
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 405");
    let long = format!("/{}", "a".repeat(200));
    assert_eq!(request(gw.port(), "GET", &long, &[], "").unwrap().status, 414);
    assert_eq!(request(gw.port(), "GET", "/short", &[], "").unwrap().status, 200);
}

#[test]
fn out_of_descriptors_the_gateway_logs_once_a_second_and_recovers_when_silent_sockets_are_closed() {
    let t = TempInstance::new();
    t.write("config/admin.json", &connector(r#", "requestHeaderTimeout": "2 seconds""#));
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!("ulimit -n 64 && exec {} start {}", support::BIN, t.dir.display()));
    let gw = Gateway::spawn(cmd).unwrap();
    let started = Instant::now();
    // Twice the descriptors the gateway has, each sending nothing.
    let silent: Vec<TcpStream> = (0..128).filter_map(|_| TcpStream::connect(("127.0.0.1", gw.port())).ok()).collect();
    gw.wait_for_log("accept failed");
    // The silent ones are closed after requestHeaderTimeout; then everyone is served again.
    eventually("the gateway serves again", || {
        request(gw.port(), "GET", "/openig/ping", &[], "").is_ok_and(|r| r.status == 200)
    });
    let logged = gw.logs().matches("accept failed").count() as u64;
    let seconds = started.elapsed().as_secs() + 1;
    assert!(logged <= seconds + 1, "{logged} accept errors logged in {seconds} s:\n{}", gw.logs());
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_accept_failures_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(failures >= logged, "{metrics}");
    drop(silent);
}

#[test]
fn without_base_uri_the_client_cannot_pick_the_upstream_unless_the_route_opts_in() {
    let origin = Origin::start();
    let origin_host = origin.url().trim_start_matches("http://").to_string();
    let t = TempInstance::new();
    t.route("open.json", r#"{ "handler": "ReverseProxyHandler" }"#);
    let gw = Gateway::start(&t.dir);
    let with_host = |host: &str, path: &str| {
        support::raw_request(gw.port(), &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"))
            .unwrap()
    };
    for host in [origin_host.as_str(), "127.0.0.1:1", "10.0.0.1:22"] {
        assert_eq!(with_host(host, "/headers").status, 421, "{host}: the same answer whatever the target");
    }
    assert_eq!(origin.complete(), 0);

    let t = TempInstance::new();
    t.route(
        "open.json",
        r#"{ "handler": { "type": "ReverseProxyHandler", "config": { "allowClientChosenUpstream": true } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert!(gw.logs().contains("allowClientChosenUpstream"), "the opt-in is a warning: {}", gw.logs());
    let with_host = |host: &str, path: &str| {
        support::raw_request(gw.port(), &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"))
            .unwrap()
    };
    assert_eq!(with_host(&origin_host, "/headers").status, 200);
    // Pointed at itself, the request comes back once and is refused, not looped.
    let r = with_host(&format!("127.0.0.1:{}", gw.port()), "/x");
    assert_eq!(r.status, 508, "{r:?}");
    let log = t.path("logs/access.log");
    eventually("two lines for the looped request", || {
        std::fs::read_to_string(&log).unwrap_or_default().matches("GET /x").count() == 2
    });
}

#[test]
fn slow_uploads_do_not_hold_upstream_connection_slots() {
    let origin = Origin::start();
    let t = TempInstance::new();
    t.route(
        "proxy.json",
        &format!(
            r#"{{ "baseURI": "{}", "handler": {{ "type": "ReverseProxyHandler", "config": {{ "connections": 2, "queueTimeout": "2 seconds" }} }} }}"#,
            origin.url()
        ),
    );
    let gw = Gateway::start(&t.dir);
    let trickling: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
            s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789").unwrap();
            s
        })
        .collect();
    let r = request(gw.port(), "GET", "/headers", &[], "").unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(origin.complete(), 1, "no upload reached the upstream before its body was complete");
    drop(trickling);
}

/// An upstream that answers every request `101` to protocol `anything` and then reports
/// whatever bytes reach it over the "upgraded" connection.
fn switching_origin() -> (u16, std::sync::mpsc::Receiver<String>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut buf = [0u8; 4096];
                let mut head = Vec::new();
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tx.send(format!("HEAD {}", String::from_utf8_lossy(&head)));
                let _ = s
                    .write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: anything\r\n\r\n");
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let _ = tx.send(format!("TUNNEL {}", String::from_utf8_lossy(&buf[..n])));
                }
            });
        }
    });
    (port, rx)
}

#[test]
fn upgrades_pass_only_for_the_protocol_asked_and_allowed() {
    let (port, seen) = switching_origin();
    let t = TempInstance::new();
    t.route(
        "10-deny.json",
        r#"{ "condition": "${find(request.uri.path, '^/admin')}",
             "handler": { "type": "StaticResponseHandler", "config": { "status": 403 } } }"#,
    );
    t.route(
        "20-proxy.json",
        &format!(r#"{{ "baseURI": "http://127.0.0.1:{port}", "handler": "ReverseProxyHandler" }}"#),
    );
    let gw = Gateway::start(&t.dir);

    // h2c is not WebSocket: the Upgrade is not forwarded, and the 101 is refused.
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 502");
    let origin_head = seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(!origin_head.to_ascii_lowercase().contains("upgrade: h2c"), "{origin_head}");
    // What follows on the client's connection is HTTP again, not a tunnel past the deny route.
    let _ = s.write_all(b"GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!seen.recv_timeout(Duration::from_secs(1)).is_ok_and(|m| m.contains("/admin/secret")));

    // A WebSocket upgrade answered with another protocol is refused too.
    let r = request(
        gw.port(),
        "GET",
        "/chat",
        &[
            "Connection: Upgrade",
            "Upgrade: websocket",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 502);
}

fn session_login(t: &TempInstance, session: &str) {
    t.write("config/config.json", &format!(r#"{{ "session": {session}, "handler": {{ "type": "Router" }} }}"#));
    t.route(
        "login.json",
        r#"{ "condition": "${request.uri.path == '/login'}",
             "handler": { "type": "Chain", "config": { "filters": [
               { "type": "AssignmentFilter", "config": { "onRequest": [ { "target": "${session.user}", "value": "${request.uri.query}" } ] } } ],
               "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "hello ${session.user}" } } } } }"#,
    );
    t.route(
        "whoami.json",
        r#"{ "condition": "${request.uri.path == '/whoami'}",
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "user=${session.user}" } } }"#,
    );
}

fn cookie_of(response: &str) -> String {
    let line = response.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap_or_else(|| panic!("{response}"));
    line.split(';').next().unwrap().to_string()
}

#[test]
fn a_session_flood_evicts_the_least_recently_used_and_new_users_still_get_sessions() {
    let t = TempInstance::new();
    session_login(&t, r#"{ "type": "InMemorySession", "config": { "maxSessions": 50 } }"#);
    let gw = Gateway::start(&t.dir);
    let first = cookie_of(&curl(&["-i", &gw.url("/login?first")]));
    let kept = cookie_of(&curl(&["-i", &gw.url("/login?kept")]));
    for i in 0..100 {
        if i % 10 == 0 {
            // The user who keeps coming back stays among the most recently used.
            assert_eq!(curl(&["-b", &kept, &gw.url("/whoami")]), "user=kept");
        }
        let cookie = cookie_of(&curl(&["-i", &gw.url(&format!("/login?u{i}"))]));
        assert_eq!(curl(&["-b", &cookie, &gw.url("/whoami")]), format!("user=u{i}"), "a new user gets a session");
    }
    assert_eq!(curl(&["-b", &first, &gw.url("/whoami")]), "user=", "the idle one was evicted");
    assert_eq!(curl(&["-b", &kept, &gw.url("/whoami")]), "user=kept");
    let metrics = curl(&[&gw.url("/openig/metrics/prometheus")]);
    let evicted: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_sessions_evicted_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(evicted >= 50, "{metrics}");
    assert_eq!(gw.logs().matches("InMemorySession: 50 live sessions").count(), 1, "one warning, not one per session");
}

#[test]
fn the_gateways_session_cookie_stays_at_the_gateway_and_other_cookies_pass() {
    let origin = Origin::start();
    let t = TempInstance::new();
    session_login(&t, r#"{ "type": "InMemorySession" }"#);
    t.route("proxy.json", &format!(r#"{{ "condition": "${{request.uri.path == '/headers'}}", "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#, origin.url()));
    let gw = Gateway::start(&t.dir);
    let session = cookie_of(&curl(&["-i", &gw.url("/login?sam")]));
    assert!(session.starts_with("IG_SESSIONID="), "{session}");
    let seen = json(&curl(&["-b", &format!("theme=dark; {session}; lang=fr"), &gw.url("/headers")]));
    assert_eq!(seen["headers"]["cookie"], serde_json::json!(["theme=dark; lang=fr"]), "{seen}");
}

#[test]
fn session_cookies_are_secure_on_https_and_same_site_lax_by_default() {
    let t = TempInstance::bare();
    let secrets = t.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    support::tls::guide_pem(&secrets, support::tls::IG_SUBJECT, "ig.example.com", "key.manager.secret.id");
    t.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1" }},
                 {{ "port": 0, "host": "127.0.0.1", "tls": {{ "type": "ServerTlsOptions", "config": {{
                   "keyManager": {{ "type": "SecretsKeyManager", "config": {{ "signingSecretId": "key.manager.secret.id",
                     "secretsProvider": {{ "type": "FileSystemSecretStore", "config": {{ "directory": "{}", "suffix": ".pem", "format": "PLAIN",
                       "mappings": [ {{ "secretId": "key.manager.secret.id", "format": {{ "type": "PemPropertyFormat" }} }} ] }} }} }} }} }} }} }} ] }}"#,
            secrets.display()
        ),
    );
    session_login(&t, r#"{ "type": "InMemorySession" }"#);
    let gw = Gateway::start(&t.dir);
    let plain = curl(&["-i", &format!("http://127.0.0.1:{}/login?a", gw.ports[0])]);
    assert!(plain.contains("; Path=/; HttpOnly; SameSite=Lax"), "{plain}");
    let tls = curl(&["-i", "-k", &format!("https://127.0.0.1:{}/login?a", gw.ports[1])]);
    assert!(tls.contains("; Path=/; Secure; HttpOnly; SameSite=Lax"), "{tls}");
}

#[test]
fn static_responses_are_typed_and_nosniff_and_the_welcome_page_has_no_version() {
    let t = TempInstance::new();
    t.route("a-html.json", r#"{ "condition": "${request.uri.path == '/html'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "<p>${request.uri.query}</p>" } } }"#);
    t.route("b-json.json", r#"{ "condition": "${request.uri.path == '/json'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "{\"a\": 1}" } } }"#);
    t.route("c-text.json", r#"{ "condition": "${request.uri.path == '/text'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "plain" } } }"#);
    t.route("d-own.json", r#"{ "condition": "${request.uri.path == '/own'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "headers": { "Content-Type": [ "image/svg+xml" ] }, "entity": "<svg/>" } } }"#);
    let gw = Gateway::start(&t.dir);
    for (path, ty) in [
        ("/html", "text/html; charset=utf-8"),
        ("/json", "application/json"),
        ("/text", "text/plain; charset=utf-8"),
        ("/own", "image/svg+xml"),
    ] {
        let r = get(gw.port(), path);
        assert_eq!(r.header("content-type"), Some(ty), "{path}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "{path}");
    }
    let welcome = get(gw.port(), "/");
    assert!(
        welcome.body.contains("Welcome to Gatehouse") && !welcome.body.contains(env!("CARGO_PKG_VERSION")),
        "{}",
        welcome.body
    );
}

const TOKEN_GUARD: &str = r#"{ "type": "SwitchFilter", "config": { "onRequest": [ {
    "condition": "${request.headers['Authorization'][0] != 'Bearer ops-token'}",
    "handler": { "type": "StaticResponseHandler", "config": { "status": 401, "entity": "credentials needed" } } } ] } }"#;

#[test]
fn admin_endpoints_move_to_their_own_connector_and_obey_protection_filters() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1" }} ],
                 "adminConnector": {{ "port": 0, "host": "127.0.0.1" }},
                 "metricsProtectionFilter": {TOKEN_GUARD} }}"#
        ),
    );
    t.route("all.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "route ${request.uri.path}" } } }"#);
    let gw = Gateway::start(&t.dir);
    let (main, admin) = (gw.ports[0], gw.ports[1]);
    // On the main connector /openig/* is an ordinary path: a route may serve (or protect) it.
    assert_eq!(get(main, "/openig/metrics/prometheus").body, "route /openig/metrics/prometheus");
    // On the admin connector, with or without the prefix.
    assert_eq!(get(admin, "/ping").status, 200);
    assert_eq!(get(admin, "/openig/ping").status, 200);
    assert_eq!(get(admin, "/somewhere").status, 404, "the admin connector serves no route");
    let denied = get(admin, "/metrics/prometheus");
    assert_eq!((denied.status, denied.body.as_str()), (401, "credentials needed"));
    let allowed = request(admin, "GET", "/metrics/prometheus", &["Authorization: Bearer ops-token"], "").unwrap();
    assert_eq!(allowed.status, 200);
    assert!(allowed.body.contains("gatehouse_responses_total"), "{}", allowed.body);
}

#[test]
fn an_api_protection_filter_replaces_the_loopback_rule() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1" }} ], "apiProtectionFilter": {TOKEN_GUARD} }}"#
        ),
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/openig/api/info").status, 401, "even from loopback");
    let r = request(gw.port(), "GET", "/openig/api/info", &["Authorization: Bearer ops-token"], "").unwrap();
    assert_eq!(r.status, 200);
    assert!(r.body.contains("Gatehouse"));
    assert_eq!(get(gw.port(), "/openig/metrics/prometheus").status, 200, "metrics stay open without their own filter");
}

/// Reads `n` responses with Content-Length bodies from `s`: their bodies, in order.
fn read_responses(s: &mut TcpStream, n: usize) -> Vec<String> {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (mut raw, mut bodies) = (Vec::new(), Vec::new());
    let mut chunk = [0u8; 4096];
    while bodies.len() < n {
        let got = s.read(&mut chunk).unwrap();
        assert!(got > 0, "closed after {} responses: {}", bodies.len(), String::from_utf8_lossy(&raw));
        raw.extend_from_slice(&chunk[..got]);
        while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = parse_response(&raw[..end + 4]).unwrap();
            let len: usize = head.header("content-length").unwrap().parse().unwrap();
            if raw.len() < end + 4 + len {
                break;
            }
            assert!(raw.starts_with(b"HTTP/1.1 200"), "{head:?}");
            bodies.push(String::from_utf8_lossy(&raw[end + 4..end + 4 + len]).into_owned());
            raw.drain(..end + 4 + len);
        }
    }
    bodies
}

#[test]
fn the_request_uri_takes_its_authority_from_host_and_a_bad_host_is_refused() {
    let (_t, gw) = answering(r#"${request.uri.host} ${request.uri.port} ${request.uri.path}"#);
    let exchange = |raw: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let ok = |raw: &str, body: &str| {
        let out = exchange(raw);
        assert!(out.starts_with("HTTP/1.1 200") && out.ends_with(body), "{raw:?}: {out}");
    };
    ok("GET /a HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n", "example.com 8080 /a");
    ok("GET /b?q=1 HTTP/1.1\r\nX-A: 1\r\nHost: h\r\nConnection: close\r\n\r\n", "h -1 /b");
    // An absolute-form target: the Host still names the authority (as before the lean path).
    ok("GET http://other:1/c HTTP/1.1\r\nHost: h:2\r\nConnection: close\r\n\r\n", "h 2 /c");
    for bad in [
        "GET /a HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n",
        "GET /a HTTP/1.1\r\nHost: h\r\nHost: h\r\nConnection: close\r\n\r\n",
        "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n",
    ] {
        let out = exchange(bad);
        assert!(out.starts_with("HTTP/1.1 400"), "{bad:?}: {out}");
    }
}

#[test]
fn requests_one_after_another_share_the_read_buffer_and_each_sees_only_its_own_bytes() {
    // A connection reads its next request into what is left of the last one's buffer while
    // the last one's bytes are still referenced (its access log line): every request must
    // see its own target, headers and body, whatever sizes come in whatever order (small
    // ones sharing a buffer, one that outgrows it, small ones after).
    let (_t, gw) = answering(r#"${request.uri.path} ${request.headers['X-N'][0]} ${request.entity.string}"#);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    for i in 0..40usize {
        let pad = "p".repeat(match i % 10 {
            3 => 700,
            7 => 3000,
            n => n * 13,
        });
        let body = format!("body-{i}");
        s.write_all(
            format!(
                "POST /r{i} HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\nX-N: n{i}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .unwrap();
        assert_eq!(read_responses(&mut s, 1), [format!("/r{i} n{i} {body}")], "request {i}");
    }
}

#[test]
fn pipelined_requests_large_heads_and_heads_split_across_writes_are_answered_in_order() {
    let (_t, gw) = answering(r#"${request.method} ${request.uri.path} ${request.entity.string}"#);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    // Three requests in one write, the last with a body, then a head larger than the first
    // read's buffer (4 KiB of cookie) in one write.
    s.write_all(
        b"GET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\nPOST /three HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    )
    .unwrap();
    assert_eq!(read_responses(&mut s, 3), ["GET /one ", "GET /two ", "POST /three hello"]);
    let cookie = "a".repeat(4096);
    s.write_all(format!("GET /big HTTP/1.1\r\nHost: x\r\nCookie: c={cookie}\r\n\r\n").as_bytes()).unwrap();
    assert_eq!(read_responses(&mut s, 1), ["GET /big "]);
    // A head split across writes, then a body sent after its head: served all the same, and the
    // connection keeps serving after. (The pauses only make it likely that the gateway reads
    // the halves apart; the answers are the same if it does not.)
    s.write_all(b"GET /sp").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"lit HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, 1), ["GET /split "]);
    // A head in four pieces (one ending inside a field name, one after the last CR), its
    // body with the last: twice on the same connection.
    for n in 0..2 {
        for piece in [&b"POST /pieces HTTP/1.1\r\nHo"[..], b"st: x\r\nContent-Length: 3\r\n", b"\r", b"\nabc"] {
            s.write_all(piece).unwrap();
            s.flush().unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(read_responses(&mut s, 1), ["POST /pieces abc"], "round {n}");
    }
    s.write_all(b"POST /late HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(b"body").unwrap();
    assert_eq!(read_responses(&mut s, 1), ["POST /late body"]);
    s.write_all(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_responses(&mut s, 1), ["GET /after "]);
}
