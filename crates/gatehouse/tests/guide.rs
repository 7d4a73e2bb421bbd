//! The reference guide's "Share JWT sessions between multiple instances" example, run as
//! the guide shows with its route files verbatim except for ports and the `session`
//! object (sessions come with JwtSession): instance 1 dispatches to instances 2 and 3.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use support::{curl, Gateway, TempInstance};

const INSTANCE1: &str = include_str!("fixtures/guide/instance1-loadbalancer.json");
const INSTANCE2: &str = include_str!("fixtures/guide/instance2-retrieve-session-username.json");
const INSTANCE3: &str = include_str!("fixtures/guide/instance3-retrieve-session-username.json");

#[test]
fn the_guides_three_instances_dispatch_as_the_guide_shows() {
    let (i2, i3) = (TempInstance::new(), TempInstance::new());
    i2.route("instance2-retrieve-session-username.json", INSTANCE2);
    i3.route("instance3-retrieve-session-username.json", INSTANCE3);
    let (g2, g3) = (Gateway::start(&i2.dir), Gateway::start(&i3.dir));
    let i1 = TempInstance::new();
    let route =
        INSTANCE1.replace("INSTANCE2_PORT", &g2.port().to_string()).replace("INSTANCE3_PORT", &g3.port().to_string());
    i1.route("instance1-loadbalancer.json", &route);
    let g1 = Gateway::start(&i1.dir);
    assert!(g1.stdout_line.contains("started in"), "{}", g1.stdout_line);

    let login = curl(&["-i", &g1.url("/log-in-and-generate-session")]);
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    assert!(login.contains("content-type: text/html; charset=UTF-8"), "{login}");
    assert!(login.ends_with("<html><body>Sam Carter logged IN. (JWT session generated)</body></html>"), "{login}");

    let expected =
        |n: u8| format!("<html>\n  <body>\n    Session.authUsername is not defined! (instance{n})\n  </body>\n</html>");
    assert_eq!(curl(&[&g1.url("/webapp/browsing?one")]), expected(2));
    assert_eq!(curl(&[&g1.url("/webapp/browsing")]), expected(2), "an empty query goes to instance 2");
    assert_eq!(curl(&[&g1.url("/webapp/browsing?two")]), expected(3));
    assert!(curl(&["-i", &g1.url("/webapp/other")]).starts_with("HTTP/1.1 404"));

    // The proxied request reached instance 2 with its path and query, through instance 1.
    g2.wait_for_log(">>> GET http://127.0.0.1");
    assert!(g2.logs().contains("/webapp/browsing?one"), "{}", g2.logs());
    assert!(g2.logs().contains("x-forwarded-for: 127.0.0.1"), "{}", g2.logs());
}

#[test]
fn the_guides_jwt_session_encrypt_route_answers_on_its_path_only() {
    let t = TempInstance::new();
    t.route("jwt-session-encrypt.json", include_str!("fixtures/guide/jwt-session-encrypt.json"));
    let gw = Gateway::start(&t.dir);
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
