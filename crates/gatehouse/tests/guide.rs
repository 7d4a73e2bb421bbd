//! The reference guide's "Encrypt JWT sessions" and "Share JWT sessions between multiple
//! instances" examples, run as the guide shows: one keystore made by `keytool -genseckey`, the
//! keystore password in `KEYSTORE_SECRET_ID`, and the route files verbatim except for the
//! secrets path and the ports. Instance 1 dispatches to instances 2 and 3, which read the
//! session instance 1 created.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::path::Path;

use support::tls::sh;
use support::{curl, Gateway, TempInstance};

const INSTANCE1: &str = include_str!("fixtures/guide/instance1-loadbalancer.json");
const INSTANCE2: &str = include_str!("fixtures/guide/instance2-retrieve-session-username.json");
const INSTANCE3: &str = include_str!("fixtures/guide/instance3-retrieve-session-username.json");
const ENV: &[(&str, &str)] = &[("KEYSTORE_SECRET_ID", "cGFzc3dvcmQ=")];

/// The guide's keystore with the session key, in `dir`.
fn guide_session_keystore(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    sh(
        dir,
        "keytool -genseckey -alias symmetric-key -keystore jwtsessionkeystore.pkcs12 -storepass password \
         -storetype pkcs12 -keyalg HmacSHA512 -keysize 512",
    );
}

fn with_secrets(route: &str, secrets: &Path) -> String {
    route.replace("/path/to/secrets", &secrets.display().to_string())
}

#[test]
fn the_guides_three_instances_share_the_jwt_session() {
    let (i1, i2, i3) = (TempInstance::new(), TempInstance::new(), TempInstance::new());
    let secrets = i1.path("secrets");
    guide_session_keystore(&secrets);
    i2.route("instance2-retrieve-session-username.json", &with_secrets(INSTANCE2, &secrets));
    i3.route("instance3-retrieve-session-username.json", &with_secrets(INSTANCE3, &secrets));
    let (g2, g3) = (Gateway::start_with(&i2.dir, ENV), Gateway::start_with(&i3.dir, ENV));
    let route = with_secrets(INSTANCE1, &secrets)
        .replace("http://ig.example.com:8002", &format!("http://127.0.0.1:{}", g2.port()))
        .replace("http://ig.example.com:8003", &format!("http://127.0.0.1:{}", g3.port()));
    i1.route("instance1-loadbalancer.json", &route);
    let g1 = Gateway::start_with(&i1.dir, ENV);
    assert!(g1.stdout_line.contains("started in"), "{}", g1.stdout_line);

    let login = curl(&["-i", &g1.url("/log-in-and-generate-session")]);
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(login.contains("content-type: text/html; charset=UTF-8"), "{login}");
    assert!(login.ends_with("<html><body>Sam Carter logged IN. (JWT session generated)</body></html>"), "{login}");
    let set_cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no Set-Cookie: {login}"))
        .trim_end();
    let (cookie, attributes) = set_cookie.split_once(';').unwrap();
    assert!(cookie.starts_with("IG=") && cookie.len() > 100, "{set_cookie}");
    // The guide prints IG's `Path=/; Domain=.example.com; HttpOnly`; Gatehouse adds its
    // SameSite=Lax default (docs/security.md), and `Secure` only over HTTPS.
    assert_eq!(attributes, " Path=/; Domain=.example.com; HttpOnly; SameSite=Lax");

    let page = |text: &str, n: u8| format!("<html>\n  <body>\n    {text}! (instance{n})\n  </body>\n</html>");
    let hello = |n| page("Hello, Sam Carter !", n);
    assert_eq!(curl(&["-b", cookie, &g1.url("/webapp/browsing?one")]), hello(2));
    assert_eq!(curl(&["-b", cookie, &g1.url("/webapp/browsing")]), hello(2), "an empty query goes to instance 2");
    assert_eq!(curl(&["-b", cookie, &g1.url("/webapp/browsing?two")]), hello(3));
    // Without the cookie, the guide's "not defined" text.
    let undefined = |n| page("Session.authUsername is not defined", n);
    assert_eq!(curl(&[&g1.url("/webapp/browsing?one")]), undefined(2));
    assert_eq!(curl(&[&g1.url("/webapp/browsing?two")]), undefined(3));
    assert!(curl(&["-i", &g1.url("/webapp/other")]).starts_with("HTTP/1.1 404"));
    // Reading the session writes no cookie.
    let read = curl(&["-i", "-b", cookie, &g1.url("/webapp/browsing?one")]);
    assert!(!read.to_ascii_lowercase().contains("set-cookie"), "{read}");

    // A tampered cookie is no session: 200 and the "not defined" page, never a 5xx.
    let mut tampered = cookie.to_string();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(curl(&["-b", &tampered, &g1.url("/webapp/browsing?one")]), undefined(2));
    let truncated = &cookie[..cookie.len() - 10];
    assert_eq!(curl(&["-b", truncated, &g1.url("/webapp/browsing?two")]), undefined(3));

    // The proxied request reached instance 2 with its path, query and cookie, through instance 1.
    g2.wait_for_log(">>> GET http://127.0.0.1");
    assert!(g2.logs().contains("/webapp/browsing?one"), "{}", g2.logs());
    assert!(g2.logs().contains("x-forwarded-for: 127.0.0.1"), "{}", g2.logs());
    assert!(!g1.logs().contains(&cookie[3..40]), "capture must not log the session cookie");
}

#[test]
fn the_guides_jwt_session_encrypt_route_answers_on_its_path_only() {
    let t = TempInstance::new();
    let secrets = t.path("secrets");
    guide_session_keystore(&secrets);
    t.route(
        "jwt-session-encrypt.json",
        &with_secrets(include_str!("fixtures/guide/jwt-session-encrypt.json"), &secrets),
    );
    let gw = Gateway::start_with(&t.dir, ENV);
    let out = curl(&["-i", &gw.url("/jwt-session-encrypt")]);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("content-type: text/plain; charset=UTF-8\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nHello world!"), "{out}");
    assert!(curl(&["-i", &gw.url("/jwt-session-encrypt/more")]).starts_with("HTTP/1.1 404"));
}

#[test]
fn a_closed_upstream_port_gives_502_fast() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let t = TempInstance::new();
    t.route("down.json", &format!(r#"{{ "baseURI": "http://127.0.0.1:{port}", "handler": "ReverseProxyHandler" }}"#));
    let gw = Gateway::start(&t.dir);
    let started = std::time::Instant::now();
    let out = curl(&["-i", &gw.url("/x")]);
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
    assert!(out.ends_with("Bad Gateway\n"), "a short generic body: {out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
}
