//! ReverseProxyHandler against a real origin on loopback: semantics, streaming, WebSocket,
//! timeouts, limits and request smuggling defenses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::origin::{checksum, write_pattern_file, Origin};
use support::scripted::Scripted;
use support::{curl, eventually, get, request, Gateway, TempInstance};

/// A gateway whose only route proxies everything to `origin`, with extra handler config.
fn proxy_to(origin: &str, handler_config: &str) -> (TempInstance, Gateway) {
    let t = TempInstance::new();
    t.route(
        "proxy.json",
        &format!(r#"{{ "baseURI": "{origin}", "handler": {{ "type": "ReverseProxyHandler", "config": {{ {handler_config} }} }} }}"#),
    );
    let gw = Gateway::start(&t.dir);
    (t, gw)
}

/// As [`proxy_to`], with one gateway unit: every client connection shares one upstream pool.
fn proxy_on_one_unit_to(origin: &str, handler_config: &str) -> (TempInstance, Gateway) {
    let t = TempInstance::new();
    t.write("config/admin.json", r#"{ "gatewayUnits": 1, "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#);
    t.route(
        "proxy.json",
        &format!(r#"{{ "baseURI": "{origin}", "handler": {{ "type": "ReverseProxyHandler", "config": {{ {handler_config} }} }} }}"#),
    );
    let gw = Gateway::start(&t.dir);
    (t, gw)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[test]
fn method_path_query_headers_status_and_body_round_trip() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let r = request(
        gw.port(),
        "PUT",
        "/headers/b%20c?x=1&y=%2F",
        &["X-Custom: kept", "Content-Type: text/plain"],
        "payload",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let seen = json(&r.body);
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["path"], "/headers/b%20c");
    assert_eq!(seen["query"], "x=1&y=%2F");
    assert_eq!(seen["len"], 7);
    assert_eq!(seen["headers"]["x-custom"][0], "kept");
    assert_eq!(seen["headers"]["host"][0], origin.addr.to_string(), "Host is the upstream's");
    assert_eq!(get(gw.port(), "/status/418").status, 418);
    assert_eq!(get(gw.port(), "/status/204").status, 204);
}

#[test]
fn hop_by_hop_headers_are_stripped_both_ways() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let r = request(
        gw.port(),
        "GET",
        "/headers",
        &[
            "Connection: keep-alive, X-Private",
            "X-Private: 1",
            "Keep-Alive: timeout=5",
            "Proxy-Authorization: Basic eDp5",
            "TE: trailers, deflate",
            "Upgrade: h2c",
        ],
        "",
    )
    .unwrap();
    let seen = json(&r.body);
    let h = seen["headers"].as_object().unwrap();
    for gone in ["x-private", "keep-alive", "proxy-authorization", "upgrade"] {
        assert!(!h.contains_key(gone), "{gone} reached the origin: {h:?}");
    }
    assert_eq!(h["te"][0], "trailers", "only TE: trailers is passed on");
    assert!(h.get("connection").is_none_or(|c| !c.to_string().contains("X-Private")), "{h:?}");
    assert_eq!(r.header("x-origin-public"), Some("visible"));
    assert_eq!(r.header("x-origin-private"), None, "a header the origin's Connection names is hop-by-hop");
}

#[test]
fn an_answer_s_fields_pass_on_in_order_without_hop_by_hop_fields_and_filters_still_see_them() {
    let origin = Scripted::start();
    let t = TempInstance::new();
    // A plain proxy route (its answer's fields go out as the upstream sent them, as bytes),
    // and one whose filter removes a field of the answer (the fields go through its map).
    t.route("a-plain.json", &format!(r#"{{ "condition": "${{request.uri.path == '/fields'}}", "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#, origin.url()));
    t.route(
        "b-filtered.json",
        &format!(
            r#"{{ "baseURI": "{}", "handler": {{ "type": "Chain", "config": {{
                "filters": [ {{ "type": "HeaderFilter", "config": {{ "messageType": "RESPONSE", "remove": [ "X-Mixed-Case" ] }} }} ],
                "handler": "ReverseProxyHandler" }} }} }}"#,
            origin.url()
        ),
    );
    let gw = Gateway::start(&t.dir);
    let r = get(gw.port(), "/fields");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    let fields: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(
        fields,
        [
            ("server", "scripted"),
            ("set-cookie", "a=1"),
            ("x-mixed-case", "v"),
            ("set-cookie", "b=2"),
            ("date", "Mon, 30 Nov 2026 10:00:00 GMT"),
            ("content-length", "2"),
            ("connection", "close"),
        ],
        "the upstream's fields in its order, names in lower case, no Keep-Alive, one Date, the gateway's framing"
    );
    // To HEAD, the upstream's length describes the body not sent, and is passed on.
    let head = request(gw.port(), "HEAD", "/fields", &[], "").unwrap();
    assert_eq!(head.header("content-length"), Some("100"));
    assert_eq!(head.body, "");
    // Through a filter the same answer loses the field the filter removes, and nothing else.
    let r = get(gw.port(), "/fields-filtered");
    assert_eq!(r.body, "ok");
    assert_eq!(r.header("x-mixed-case"), None);
    assert_eq!(r.header("server"), Some("scripted"));
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "set-cookie").count(), 2);
    assert_eq!(r.header("keep-alive"), None);
    assert_eq!(r.headers.iter().filter(|(n, _)| n == "date").count(), 1);
}

#[test]
fn a_filter_around_the_router_still_sees_the_answer_s_fields() {
    // config.json's root is a chain whose filter reads the answers: the router's plain proxy
    // route must hand them over in a header map, not as bytes the filter cannot see.
    let origin = Scripted::start();
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "handler": { "type": "Chain", "config": {
            "filters": [ { "type": "HeaderFilter", "config": { "messageType": "RESPONSE", "remove": [ "X-Mixed-Case" ] } } ],
            "handler": { "type": "Router", "config": { "directory": "${openig.configDirectory}/routes" } } } } }"#,
    );
    t.route("plain.json", &format!(r#"{{ "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#, origin.url()));
    let gw = Gateway::start(&t.dir);
    let r = get(gw.port(), "/fields");
    assert_eq!(r.body, "ok");
    assert_eq!(r.header("x-mixed-case"), None, "{:?}", r.headers);
    assert_eq!(r.header("server"), Some("scripted"));
}

#[test]
fn forwarded_headers_are_added_and_host_can_be_preserved() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let seen = json(&request(gw.port(), "GET", "/headers", &["X-Forwarded-For: 203.0.113.7"], "").unwrap().body);
    assert_eq!(seen["headers"]["x-forwarded-for"][0], "203.0.113.7, 127.0.0.1");
    assert_eq!(seen["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(seen["headers"]["x-forwarded-host"][0], format!("127.0.0.1:{}", gw.port()));

    let (_t2, gw2) = proxy_to(&origin.url(), r#""preserveHost": true, "forwardedHeaders": false"#);
    let seen = json(&get(gw2.port(), "/headers").body);
    assert_eq!(seen["headers"]["host"][0], format!("127.0.0.1:{}", gw2.port()));
    assert!(seen["headers"].get("x-forwarded-for").is_none());
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn large_bodies_stream_both_ways_with_flat_memory() {
    // 256 MiB each way by default; GATEHOUSE_TEST_STREAM_MIB=1024 for the full-size check.
    let mib: u64 = std::env::var("GATEHOUSE_TEST_STREAM_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let size = mib << 20;
    let origin = Origin::start();
    let (t, gw) = proxy_to(&origin.url(), r#""soTimeout": "30 seconds""#);
    let before = vm_hwm_kib(gw.child.id());

    // Upload: a file of the pattern, checksummed here and by the origin as it streams in.
    let upload = t.path("upload.bin");
    let expected = write_pattern_file(&upload, size);
    // -T streams the file (--data-binary would load it into curl's memory first).
    let out = curl(&["--max-time", "300", "-H", "Expect:", "-T", &upload.display().to_string(), &gw.url("/upload")]);
    assert_eq!(out, format!("len={size} sum={expected}"));

    // Download: the origin streams the pattern; checksum what curl received.
    let download = t.path("download.bin");
    let status = Command::new("curl")
        .args(["-sS", "--max-time", "300", "-o"])
        .arg(&download)
        .arg(gw.url(&format!("/download?n={size}")))
        .status()
        .unwrap();
    assert!(status.success());
    let mut got = 0u64;
    let mut off = 0u64;
    let mut f = std::fs::File::open(&download).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got = checksum(off, &buf[..n], got);
        off += n as u64;
    }
    assert_eq!((off, got), (size, expected), "the download arrived whole");

    let after = vm_hwm_kib(gw.child.id());
    eprintln!("gateway peak RSS: {before} KiB before, {after} KiB after {mib} MiB each way");
    assert!(after < before + 64 * 1024, "memory grew with the body: {before} KiB -> {after} KiB");
}

#[test]
fn websocket_echo_passes_through() {
    let mut server = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws_echo.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with the websockets package (scripts/test-deps.sh installs it)");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut line).unwrap();
    let ws_port: u16 = line.trim().parse().unwrap();
    let (_t, gw) = proxy_to(&format!("http://127.0.0.1:{ws_port}"), "");
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ws_client.py"))
        .arg(format!("ws://127.0.0.1:{}/chat", gw.port()))
        .args(["hello", "through the gateway"])
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout, "hello\nthrough the gateway\nbig ok\n", "stderr: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_stalled_origin_gives_504_and_a_stalled_body_is_cut() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""soTimeout": "300 ms""#);
    let r = get(gw.port(), "/hang");
    assert_eq!(r.status, 504);
    assert_eq!(r.body, "Gateway Timeout\n");
    // A body that stops mid-way: the client gets what came, then the connection ends.
    let r = request(gw.port(), "GET", "/stall-body", &[], "");
    match r {
        Ok(resp) => assert!(resp.body.contains("first chunk") || resp.body.is_empty(), "{resp:?}"),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    gw.wait_for_log("the response body ended early");
    assert!(gw.logs().contains("no data within the idle timeout"), "{}", gw.logs());
}

#[test]
fn a_client_that_goes_away_cancels_the_upstream_request() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""soTimeout": "60 seconds""#);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    eventually("the origin has the request", || origin.hanging() == 1);
    assert_eq!(origin.canceled(), 0);
    drop(s);
    eventually("the upstream request is canceled", || origin.canceled() == 1);
}

#[test]
fn connections_per_upstream_are_limited() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""connections": 1, "queueTimeout": "200 ms", "soTimeout": "60 seconds""#);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    eventually("the first exchange holds the only connection", || origin.hanging() == 1);
    let r = get(gw.port(), "/status/200");
    assert_eq!(r.status, 503);
    drop(s);
    eventually("the slot is free again", || get(gw.port(), "/status/200").status == 200);
}

/// Sends raw bytes on a new connection and returns everything read until it closes.
fn raw_exchange(port: u16, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends raw bytes and returns the status line of the answer.
fn raw(port: u16, bytes: &[u8]) -> String {
    raw_exchange(port, bytes).lines().next().unwrap_or("").to_string()
}

#[test]
fn request_smuggling_attempts_get_400_and_never_reach_the_origin() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let attempts: [&[u8]; 6] = [
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"GET /headers HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
        b"GET /headers HTTP/1.1\r\nHost: x\r\nX\x00A: b\r\n\r\n",
        b"GET /headers HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    ];
    for attempt in attempts {
        let line = raw(gw.port(), attempt);
        assert!(line.starts_with("HTTP/1.1 400"), "{:?} -> {line}", String::from_utf8_lossy(attempt));
    }
    assert_eq!(origin.complete(), 0, "no smuggling attempt reached the origin as a request");
    assert_eq!(get(gw.port(), "/upload").status, 200);
    assert_eq!(origin.complete(), 1);
}

/// RFC 9112 section 6.1 lets a server reject Content-Length with Transfer-Encoding, or
/// process the message by Transfer-Encoding alone and then close the connection. hyper does
/// the second, before the gateway sees the headers: the smuggled request behind the body is
/// never read, so it never reaches the origin.
#[test]
fn content_length_with_transfer_encoding_never_smuggles_a_second_request() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let text = raw_exchange(
        gw.port(),
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /headers/smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("len=0 sum=0"), "framed by Transfer-Encoding: {text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "one response, then the connection closed: {text}");
    assert!(!text.contains("smuggled"), "{text}");
    assert_eq!(origin.complete(), 1, "only the chunked request reached the origin");
}

#[test]
fn oversized_request_heads_get_431() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let big = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(9000));
    assert!(raw(gw.port(), big.as_bytes()).starts_with("HTTP/1.1 431"));
}

#[test]
fn expect_100_continue_works() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let out = Command::new("curl")
        .args(["-sS", "-v", "--expect100-timeout", "20", "-H", "Expect: 100-continue", "--data-binary", "hello"])
        .arg(gw.url("/upload"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HTTP/1.1 100 Continue"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("len=5 "));
}

#[test]
fn trailers_are_kept() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    let text =
        raw_exchange(gw.port(), b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n")
            .to_ascii_lowercase();
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert!(text.contains("hello ") && text.contains("trailers"), "{text}");
    assert!(text.contains("\r\n0\r\nx-checksum: abc123\r\n"), "{text}");
}

#[test]
fn http2_works_downstream_and_upstream() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""protocolVersion": "HTTP/2""#);
    let out = curl(&["-i", "--http2-prior-knowledge", &gw.url("/headers?h2")]);
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    let body = out.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(json(body)["version"], "HTTP/2.0", "the upstream leg is HTTP/2 too");
}

#[test]
fn total_timeout_cuts_an_exchange_that_keeps_going() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""soTimeout": "60 seconds", "totalTimeout": "300 ms""#);
    let r = request(gw.port(), "GET", "/stall-body", &[], "");
    if let Ok(resp) = r {
        assert!(!resp.body.contains("never"), "{resp:?}");
    }
    gw.wait_for_log("the exchange exceeded totalTimeout");
    // A quick exchange is unaffected.
    assert_eq!(get(gw.port(), "/status/200").status, 200);
}

#[test]
fn pooled_connections_the_upstream_closed_are_not_reused() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), "");
    // Keep-alive on the client side, so requests follow each other closely.
    for i in 0..40 {
        let path = if i % 2 == 0 { "/close" } else { "/status/200" };
        let r = get(gw.port(), path);
        assert_eq!(r.status, 200, "request {i} to {path}: {r:?}");
    }
    assert_eq!(origin.complete(), 40);
}

#[test]
fn huge_timeouts_are_clamped_not_a_crash() {
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""soTimeout": "99999999999 days", "totalTimeout": 18446744073709551615"#);
    assert_eq!(get(gw.port(), "/status/200").status, 200);
    let size = curl(&["-o", "/dev/null", "-w", "%{size_download}", &gw.url("/download?n=100000")]);
    assert_eq!(size, "100000");
}

#[test]
fn a_streamed_body_reaches_the_client_as_it_comes_not_when_it_ends() {
    // The origin sends its head and one chunk, then nothing for as long as the gateway waits
    // (a minute here): the client must see the head and the chunk meanwhile.
    let origin = Origin::start();
    let (_t, gw) = proxy_to(&origin.url(), r#""soTimeout": "1 minute""#);
    let mut s = TcpStream::connect(("127.0.0.1", gw.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /stall-body HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("first chunk") {
        let n = s.read(&mut chunk).expect("the first chunk arrives while the origin stalls");
        assert!(n > 0, "closed before the first chunk: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&seen));
}

#[test]
fn a_pooled_connection_the_upstream_closed_while_idle_is_not_used() {
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&origin.url(), "");
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", &gw.url("/then-close")]), "200");
    eventually("the origin closed its idle connection", || origin.closed() == 1);
    // A POST is never sent twice, so it must not go out on the connection the origin closed.
    // (No body: one that arrives after its head takes hyper's legs, with hyper's own pool.)
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", &gw.url("/after")]), "200");
    assert_eq!(origin.seen(), ["GET /then-close", "POST /after"]);
    assert_eq!(origin.connections(), 2);
}

#[test]
fn a_request_the_upstream_dropped_on_a_pooled_connection_is_retried_only_if_idempotent() {
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&origin.url(), "");
    // One client connection (curl reuses it across --next), so one pooled upstream connection.
    let status = ["-o", "/dev/null", "-w", "%{http_code} "];
    let (warm, get, warm2, post) =
        (gw.url("/warm"), gw.url("/drop-once-get"), gw.url("/warm-again"), gw.url("/drop-once-post"));
    let mut args: Vec<&str> = status.to_vec();
    args.extend([warm.as_str(), "--next"]);
    args.extend(status);
    args.extend([get.as_str(), "--next"]);
    args.extend(status);
    args.extend([warm2.as_str(), "--next", "-X", "POST"]);
    args.extend(status);
    args.push(post.as_str());
    assert_eq!(curl(&args), "200 200 200 502 ");
    assert_eq!(
        origin.seen(),
        ["GET /warm", "GET /drop-once-get", "GET /drop-once-get", "GET /warm-again", "POST /drop-once-post"],
        "the GET went again on a new connection, the POST did not"
    );
}

#[test]
fn answers_of_every_head_size_read_one_after_another_on_one_connection_arrive_intact() {
    // The lean leg reads each answer into what is left of an earlier answer's buffer while
    // that answer may still be on its way to the client; heads larger than the buffer make
    // it grow (and such a buffer is not kept). Each answer must keep its own header and body.
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&origin.url(), "");
    let pads = [0usize, 700, 3000, 6000, 10, 5000, 20, 900, 1500, 0, 8000, 30, 40, 2500, 60];
    let urls: Vec<String> = pads.iter().map(|n| gw.url(&format!("/pad/{n}"))).collect();
    let mut args = Vec::new();
    for (i, url) in urls.iter().enumerate() {
        if i > 0 {
            args.push("--next");
        }
        args.extend(["-s", "-D", "-", url.as_str()]);
    }
    let out = curl(&args);
    let answers: Vec<&str> = out.split("HTTP/1.1 200").skip(1).collect();
    assert_eq!(answers.len(), pads.len(), "{out}");
    for (answer, n) in answers.iter().zip(pads) {
        let pad = answer.lines().find_map(|l| l.strip_prefix("x-pad: ")).map_or(0, |p| p.trim_end().len());
        assert_eq!(pad, n, "the X-Pad header of /pad/{n}");
        assert!(answer.ends_with(&format!("\r\n\r\n/pad/{n}")), "the body of /pad/{n}: {answer}");
    }
    assert_eq!(origin.connections(), 1, "one upstream connection carried every exchange");
}

#[test]
fn an_answer_to_head_has_no_body_whatever_its_length_says() {
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&origin.url(), "");
    let out = curl(&["-I", &gw.url("/head"), "--next", "-o", "/dev/null", "-w", "%{http_code}", &gw.url("/next")]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.to_ascii_lowercase().contains("content-length: 100"), "{out}");
    assert!(out.ends_with("200"), "the connection went on to the next request: {out}");
    assert_eq!(origin.seen(), ["HEAD /head", "GET /next"]);
    assert_eq!(origin.connections(), 1, "the upstream connection was reused after the HEAD");
}

/// The checksum ([`checksum`]) and length of a file.
fn file_checksum(path: &std::path::Path) -> (u64, u64) {
    let data = std::fs::read(path).unwrap();
    (data.len() as u64, checksum(0, &data, 0))
}

#[test]
fn bodies_of_every_size_cross_the_upstream_leg_intact() {
    // Around the sizes where the legs change how they carry a body: one write with the head
    // (16 KiB), the lean server path (64 KiB), one read buffer, memory spooling (1 MiB).
    let origin = Origin::start();
    let (t, gw) = proxy_to(&origin.url(), "");
    for size in [1u64, 4095, 16 * 1024, 16 * 1024 + 1, 64 * 1024 + 1, 200_000, 1 << 20] {
        let upload = t.path("upload.bin");
        let expected = write_pattern_file(&upload, size);
        let out = curl(&["-H", "Expect:", "--data-binary", &format!("@{}", upload.display()), &gw.url("/upload")]);
        assert_eq!(out, format!("len={size} sum={expected}"), "upload of {size} bytes");
        let download = t.path("download.bin");
        let _ = curl(&["-o", &download.display().to_string(), &gw.url(&format!("/download?n={size}"))]);
        assert_eq!(file_checksum(&download), (size, expected), "download of {size} bytes");
    }
}

#[test]
fn disable_reuse_connection_opens_a_connection_per_exchange() {
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&origin.url(), r#""disableReuseConnection": true"#);
    let out = curl(&["-o", "/dev/null", "-w", "%{http_code} ", &gw.url("/a"), "-o", "/dev/null", &gw.url("/b")]);
    assert_eq!(out, "200 200 ");
    assert_eq!(origin.seen(), ["GET /a", "GET /b"]);
    assert_eq!(origin.connections(), 2, "no upstream connection was kept for the second request");
}

#[test]
fn an_upstream_named_by_host_name_is_resolved_and_each_address_tried() {
    // `localhost` may resolve to ::1 first, where nothing listens: the next address serves.
    let origin = Scripted::start();
    let (_t, gw) = proxy_on_one_unit_to(&format!("http://localhost:{}", origin.addr.port()), "");
    assert_eq!(curl(&["-o", "/dev/null", "-w", "%{http_code}", &gw.url("/named")]), "200");
    assert_eq!(origin.seen(), ["GET /named"]);
}
