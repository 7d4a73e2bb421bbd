//! The operations console as a person sees it: Debian's Chromium, headless, loads
//! `/openig/console` from a running gateway (HTTPS connector, proxied routes, a failing
//! upstream, a broken and a reloaded route) and the rendered page must show the routes with
//! their conditions, counts and percentiles, the server error, the reload history and the
//! certificate's expiry. Then who may see it: loopback, or others with admin.json's credential.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};

use support::origin::Origin;
use support::tls::{guide_file, guide_pem, with_secrets, IG_SUBJECT};
use support::{eventually, get, Gateway, TempInstance};

const ADMIN_PEM: &str = include_str!("fixtures/guide/admin-https-pem.json");

/// Chromium, headless, on `url`: the DOM after the page's script ran (`--dump-dom`), and a
/// screenshot written to `png`.
fn chromium(url: &str, png: &Path) -> String {
    let run = |extra: &[&str]| {
        let out = Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"])
            .args(["--no-first-run", "--virtual-time-budget=6000", "--window-size=1280,1900"])
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .output()
            .expect("chromium is installed (scripts/test-deps.sh)");
        assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = run(&["--dump-dom"]);
    run(&[&format!("--screenshot={}", png.display())]);
    dom
}

/// The text a person reads in `html` (tags dropped, entities for &, <, > and ' decoded).
fn visible_text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out.replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&quot;", "\"");
    out.replace("&amp;", "&").split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn chromium_shows_routes_errors_reloads_and_certificates() {
    let origin = Origin::start();
    let (inst, secrets) = with_secrets(TempInstance::bare());
    guide_pem(&secrets, IG_SUBJECT, "ig.example.com", "key.manager.secret.id");
    inst.write("config/admin.json", &guide_file(ADMIN_PEM, &secrets));
    let app = |path: &str| {
        format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/{path}/')}}", "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#,
            origin.url()
        )
    };
    inst.route("app.json", &app("status"));
    inst.route(
        "down.json",
        r#"{ "condition": "${find(request.uri.path, '^/down')}", "baseURI": "http://127.0.0.1:1", "handler": "ReverseProxyHandler" }"#,
    );
    inst.route("broken.json", r#"{ "handler": { "type": "NoSuchHandler" } }"#);
    // A messaging relay, whose figures the console shows (no callback URL: nothing to call).
    inst.route(
        "relay.json",
        r#"{ "condition": "${find(request.uri.path, '^/hermod/')}", "handler": { "type": "MessagingRelay",
             "config": { "clients": [ { "clientId": "prime1", "key": "079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045" } ] } } }"#,
    );
    let gw = Gateway::start(&inst.dir);
    let port = gw.ports[0];
    for _ in 0..4 {
        assert_eq!(get(port, "/status/200").status, 200);
    }
    assert_eq!(get(port, "/status/404").status, 404);
    assert_eq!(get(port, "/down/orders?token=do-not-show").status, 502);
    let api_key =
        "X-Api-Key: cHJpbWUxOjA3OWI2YTY0ZDc1YjRlOTU4NWJkMGMyNGYzNmE3ZGViYTBhZDAzNDk4ZWNmNGQ2OWI1NzY2ZjI0ZmEwMmUwNDU=";
    let body = r#"{ "commandHeader": { "lifespan": 600, "timeout": 600, "externalId": "c" }, "signCommand": {} }"#;
    for _ in 0..2 {
        let posted = support::request(port, "POST", "/hermod/rest/command/sign", &[api_key], body).unwrap();
        assert_eq!(posted.status, 200, "{}", posted.body);
    }
    // A change to a route is a reload, and the console lists it.
    inst.route("app.json", &app("api"));
    eventually("the reload is in the console's data", || get(port, "/openig/console/data").body.contains("reloaded"));

    let png = inst.path("console.png");
    let dom = chromium(&format!("http://127.0.0.1:{port}/openig/console"), &png);
    let text = visible_text(&dom);
    let shows = |what: &str| assert!(text.contains(what), "the console does not show {what:?}:\n{text}");
    // The page rendered its data (not the loading state).
    shows("live");
    // Routes with their conditions, counts and percentiles.
    shows("app");
    shows("find(request.uri.path, '^/api/')");
    shows("down");
    shows("find(request.uri.path, '^/down')");
    assert!(text.contains(" p99 "), "{text}");
    assert!(dom.contains("<svg"), "the latency and traffic charts are drawn");
    // The server error, by path, without the query.
    shows("GET /down/orders");
    shows("502");
    assert!(!text.contains("do-not-show"), "a query string reached the console: {text}");
    // The reload history: loaded, failed (with file, line, column and reason) and reloaded.
    shows("reloaded");
    shows("failed");
    shows("broken.json");
    shows("NoSuchHandler");
    // The connector's certificate and its expiry (the guide's command: 3650 days).
    shows("CN=ig.example.com");
    shows("key.manager.secret.id");
    let days = text
        .split(" days")
        .next()
        .and_then(|t| t.rsplit(' ').next())
        .and_then(|d| d.replace(',', "").parse::<u32>().ok());
    assert!(matches!(days, Some(3640..=3650)), "days left: {days:?} in {text}");
    // The relay's figures: two commands queued, in their boxes, drawn as a bar by state.
    shows("relay_commands_total {state=queued, type=sign} 2");
    shows("relay_commands_in_boxes");
    assert!(dom.contains("class=\"hbars\""), "the commands-by-state bars are drawn");
    // Summary tiles.
    shows("Requests");
    shows("Server errors");
    // The screenshot is a real picture of the page.
    let shot = std::fs::read(&png).unwrap();
    assert!(shot.starts_with(b"\x89PNG") && shot.len() > 20_000, "screenshot of {} bytes", shot.len());
    if let Ok(keep) = std::env::var("GATEHOUSE_CONSOLE_SCREENSHOT") {
        std::fs::write(keep, &shot).unwrap();
    }
}

/// This machine's address on its default route (not loopback): a client connecting from it
/// is "from elsewhere" for the gateway.
fn outside_address() -> IpAddr {
    let probe = UdpSocket::bind("0.0.0.0:0").unwrap();
    probe.connect("192.0.2.1:9").or_else(|_| probe.connect("10.255.255.255:9")).unwrap();
    let ip = probe.local_addr().unwrap().ip();
    assert!(!ip.is_loopback() && !ip.is_unspecified(), "this machine needs a non-loopback address: {ip}");
    ip
}

/// `GET path` to `ip:port`, with an `Authorization` header when given; the status.
fn status_from(ip: IpAddr, port: u16, path: &str, authorization: Option<&str>) -> (u16, String) {
    let mut s = TcpStream::connect((ip, port)).unwrap();
    let auth = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn the_console_is_for_loopback_and_for_others_only_with_the_admin_credential() {
    let ip = outside_address();
    // Without a credential: loopback only.
    let t = TempInstance::bare();
    t.write("config/admin.json", r#"{ "connectors": [ { "port": 0 } ] }"#);
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/openig/console").status, 200);
    let (status, _) = status_from(ip, gw.port(), "/openig/console", None);
    assert_eq!(status, 403, "from {ip} without a configured credential");
    assert_eq!(status_from(ip, gw.port(), "/openig/console/data", None).0, 403);
    // A proxy on this host forwarding someone else is not a local client.
    for forwarded in ["X-Forwarded-For: 203.0.113.9", "Forwarded: for=203.0.113.9", "X-Real-IP: 203.0.113.9"] {
        let r = support::request(gw.port(), "GET", "/openig/console", &[forwarded], "").unwrap();
        assert_eq!(r.status, 403, "{forwarded}");
    }
    drop(gw);

    // With one (its hash, as `gatehouse new-openid-secret` prints it).
    let secret = "Zq8vN3pLk2Wc7RtY5bHx1MdJ4sFg6Ea9";
    let out = Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["new-openid-secret", "--client-secret", secret])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let hash = printed.rsplit('\'').nth(1).filter(|h| h.len() == 44).unwrap_or_else(|| panic!("{printed}")).to_string();
    let t = TempInstance::bare();
    t.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0 }} ], "console": {{ "username": "ops", "passwordHash": "{hash}" }} }}"#
        ),
    );
    let mut gw = Gateway::start(&t.dir);
    let (status, head) = status_from(ip, gw.port(), "/openig/console", None);
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("www-authenticate: basic realm=\"gatehouse console\""), "{head}");
    assert_eq!(status_from(ip, gw.port(), "/openig/console", Some(&basic("ops", "wrong"))).0, 401);
    assert_eq!(status_from(ip, gw.port(), "/openig/console", Some(&basic("root", secret))).0, 401);
    let (status, page) = status_from(ip, gw.port(), "/openig/console", Some(&basic("ops", secret)));
    assert_eq!(status, 200);
    assert!(page.contains("src=\"/openig/console/app.js\""), "{page}");
    assert!(page.to_ascii_lowercase().contains("content-security-policy: default-src 'none'"), "{page}");
    assert_eq!(status_from(ip, gw.port(), "/openig/console/data", Some(&basic("ops", secret))).0, 200);
    // Loopback needs nothing; the console only reads.
    assert_eq!(get(gw.port(), "/openig/console/data").status, 200);
    let post = support::request(gw.port(), "POST", "/openig/console/data", &[], "").unwrap();
    assert_eq!(post.status, 405);
    gw.terminate();
    gw.wait_for_log("INFO stopped");
    let logs = gw.logs();
    assert!(!logs.contains(secret) && !logs.contains(&hash), "{logs}");

    // On an admin connector the console is at its root and under the prefix, its links follow.
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ], "adminConnector": { "port": 0, "host": "127.0.0.1" } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let admin = gw.ports[1];
    assert!(get(admin, "/console").body.contains("src=\"/console/app.js\""));
    assert!(get(admin, "/openig/console").body.contains("src=\"/openig/console/app.js\""));
    for path in ["/console/app.js", "/console/app.css", "/openig/console/app.js", "/console/data"] {
        assert_eq!(get(admin, path).status, 200, "{path}");
    }
    assert_eq!(get(gw.ports[0], "/openig/console").status, 404, "the main connector leaves /openig/* to the routes");
    drop(gw);

    // Turned off.
    let t = TempInstance::bare();
    t.write("config/admin.json", r#"{ "connectors": [ { "port": 0 } ], "console": { "enabled": false } }"#);
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/openig/console").status, 404);
}

#[test]
fn a_console_credential_without_its_other_half_names_the_line() {
    let t = TempInstance::bare();
    t.write("config/admin.json", "{ \"connectors\": [ { \"port\": 0 } ],\n  \"console\": { \"username\": \"ops\" } }");
    let (code, out) = support::check(&t.dir);
    assert_ne!(code, 0);
    assert!(out.contains("admin.json:2:") && out.contains("console needs both a username"), "{out}");
}
