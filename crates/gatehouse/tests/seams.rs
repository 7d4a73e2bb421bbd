//! The seams the token service and the relay stand on, seen from outside: a pinned clock
//! decides expiry (tests move it instead of sleeping), heap objects' background work starts
//! with their configuration and stops with it, and `check` starts nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::process::Command;

use support::{curl, Gateway, TempInstance, BIN};

fn session_route(t: &TempInstance, session: &str) {
    t.route(
        "login.json",
        &format!(
            r#"{{ "condition": "${{request.uri.path == '/login'}}", "session": {session},
               "handler": {{ "type": "Chain", "config": {{ "filters": [
                 {{ "type": "AssignmentFilter", "config": {{ "onRequest": [ {{ "target": "${{session.user}}", "value": "sam" }} ] }} }} ],
                 "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "hello" }} }} }} }} }}"#
        ),
    );
    t.route(
        "whoami.json",
        &format!(
            r#"{{ "condition": "${{request.uri.path == '/whoami'}}", "session": {session},
               "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "user=${{session.user}}" }} }} }}"#
        ),
    );
}

fn cookie_of(response: &str) -> String {
    let line = response.lines().find_map(|l| l.strip_prefix("set-cookie: ")).unwrap_or_else(|| panic!("{response}"));
    line.split(';').next().unwrap().to_string()
}

fn advance(gw: &Gateway, by: &str) -> String {
    curl(&["-X", "POST", &gw.url(&format!("/openig/api/clock?advance={by}"))])
}

#[test]
fn a_pinned_clock_expires_sessions_when_the_test_moves_it() {
    for (session, name) in [
        (
            r#"{ "type": "JwtSession", "config": { "sessionTimeout": "30 minutes", "authenticatedEncryptionSecretId": "k",
                 "secretsProvider": { "type": "Base64EncodedSecretStore", "config": { "secrets": {
                   "k": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" } } } } }"#,
            "IG",
        ),
        (r#"{ "type": "InMemorySession", "config": { "sessionTimeout": "30 minutes" } }"#, "IG_SESSIONID"),
    ] {
        let t = TempInstance::new();
        // One session object for both routes (an InMemorySession per route would not share).
        let mut decl: serde_json::Value = serde_json::from_str(session).unwrap();
        decl["name"] = "Sessions".into();
        t.write(
            "config/config.json",
            &serde_json::json!({ "heap": [decl], "handler": { "type": "Router" } }).to_string(),
        );
        session_route(&t, r#""Sessions""#);
        let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_CLOCK", "2031-05-01T12:00:00Z")]);
        let clock: serde_json::Value = serde_json::from_str(&curl(&[&gw.url("/openig/api/clock")])).unwrap();
        let now = clock["now"].as_u64().unwrap();
        assert!((1_935_403_200..1_935_403_260).contains(&now), "pinned: {clock}");
        assert_eq!(clock["adjustable"], true);

        let login = curl(&["-i", &gw.url("/login")]);
        assert!(login.contains("set-cookie"), "{login}\n{}", gw.logs());
        let cookie = cookie_of(&login);
        assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
        assert_eq!(curl(&["-b", &cookie, &gw.url("/whoami")]), "user=sam", "{name} {login}\n{}", gw.logs());
        advance(&gw, "20m");
        assert_eq!(curl(&["-b", &cookie, &gw.url("/whoami")]), "user=sam", "{name}: still valid after 20 minutes");
        let moved: serde_json::Value = serde_json::from_str(&advance(&gw, "31m")).unwrap();
        assert!(moved["now"].as_u64().unwrap() >= now + 51 * 60);
        assert_eq!(curl(&["-b", &cookie, &gw.url("/whoami")]), "user=", "{name}: expired on the pinned clock");
    }
}

#[test]
fn the_system_clock_cannot_be_moved() {
    let t = TempInstance::new();
    let gw = Gateway::start(&t.dir);
    let out = curl(&["-i", "-X", "POST", &gw.url("/openig/api/clock?advance=1h")]);
    assert!(out.starts_with("HTTP/1.1 409"), "{out}");
    let clock: serde_json::Value = serde_json::from_str(&curl(&[&gw.url("/openig/api/clock")])).unwrap();
    assert_eq!(clock["adjustable"], false);
}

const REFRESHING_ROUTE: &str = r#"{
  "heap": [ { "name": "Keys", "type": "FileSystemSecretStore",
              "config": { "directory": "${openig.instanceDirectory}/secrets", "format": "PLAIN", "autoRefresh": true } } ],
  "condition": "${request.uri.path == '/refreshing'}",
  "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "ok" } }
}"#;

#[test]
fn background_work_starts_with_its_route_and_stops_when_the_route_goes() {
    let t = TempInstance::new();
    t.write("secrets/a", "x");
    t.route("refreshing.json", REFRESHING_ROUTE);
    let gw = Gateway::start(&t.dir);
    // Standard error is read by a thread of its own: wait until it has both lines.
    gw.wait_for_log("started autoRefresh of 'Keys'");
    gw.wait_for_log("started in");
    let started = gw.logs();
    let line = gw.stdout_line.clone();
    assert!(started.contains("started autoRefresh of 'Keys'"), "{started}");
    assert!(!line.is_empty());
    // Started before the connectors accepted: the line comes before the started line's log.
    let service_at = started.find("started autoRefresh of 'Keys'").unwrap();
    let ready_at = started.find("started in").unwrap_or(usize::MAX);
    assert!(service_at < ready_at, "{started}");

    t.remove("config/routes/refreshing.json");
    gw.wait_for_log("stopped autoRefresh of 'Keys'");
    assert_eq!(curl(&["-s", "-o", "/dev/null", "-w", "%{http_code}", &gw.url("/refreshing")]), "404");
}

#[test]
fn a_replaced_route_starts_its_new_services_before_the_old_ones_stop() {
    let t = TempInstance::new();
    t.write("secrets/a", "x");
    t.route("refreshing.json", REFRESHING_ROUTE);
    let gw = Gateway::start(&t.dir);
    gw.wait_for_log("started autoRefresh of 'Keys'");
    t.route("refreshing.json", &REFRESHING_ROUTE.replace("\"ok\"", "\"v2\""));
    gw.wait_for_log("stopped autoRefresh of 'Keys'");
    let logs = gw.logs();
    assert_eq!(logs.matches("started autoRefresh of 'Keys'").count(), 2, "{logs}");
    let second_start = logs.rfind("started autoRefresh of 'Keys'").unwrap();
    assert!(second_start < logs.find("stopped autoRefresh of 'Keys'").unwrap(), "{logs}");
    assert_eq!(curl(&[&gw.url("/refreshing")]), "v2");
}

#[test]
fn check_starts_no_background_work() {
    let t = TempInstance::new();
    t.write("secrets/a", "x");
    t.route("refreshing.json", REFRESHING_ROUTE);
    let out = Command::new(BIN).arg("check").arg(&t.dir).env("RUST_LOG", "info").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    // At info level, so a started service would show.
    assert!(!text.contains("started autoRefresh"), "{text}");
}

#[test]
fn the_instance_gets_a_data_directory() {
    let t = TempInstance::new();
    let _gw = Gateway::start(&t.dir);
    assert!(t.path("data").is_dir());
}
