//! `gatehouse check`: every error names its file, line and column; exit 1 on any error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::process::Command;

use support::{TempInstance, BIN};

fn check(t: &TempInstance) -> (i32, String, String) {
    let out = Command::new(BIN).arg("check").arg(&t.dir).env("RUST_LOG", "warn").output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_instance_checks_ok() {
    let t = TempInstance::new();
    t.route("ok.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#);
    let (code, out, err) = check(&t);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("configuration OK"), "{out}");
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let t = TempInstance::new();
    t.route("bad.json", "{\n  \"handler\": {\n    \"type\" \"StaticResponseHandler\"\n  }\n}");
    let (code, _, err) = check(&t);
    assert_eq!(code, 1);
    let file = t.path("config/routes/bad.json");
    assert!(err.contains(&format!("{}:3:12: expected ':' after the key", file.display())), "{err}");
}

#[test]
fn semantic_errors_name_file_line_and_column() {
    let cases = [
        (
            r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "statuss": 1 } } }"#,
            "1:76: unknown property 'statuss' of StaticResponseHandler",
        ),
        (r#"{ "handler": { "type": "NoSuchHandler" } }"#, "1:24: unknown type 'NoSuchHandler'"),
        (r#"{ "handler": "NotInHeap" }"#, "1:14: no heap object named 'NotInHeap'"),
        (r#"{ "condition": "${request.uri.path ==}", "handler": "ReverseProxyHandler" }"#, "1:38: invalid expression"),
        (
            r#"{ "condition": "${nosuch(1)}", "handler": "ReverseProxyHandler" }"#,
            "1:19: invalid expression: unknown function 'nosuch'",
        ),
        (
            r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": "&{no.such.token}" } } }"#,
            "1:71: config token '&{no.such.token}' has no value",
        ),
        (
            r#"{ "heap": [ { "name": "a", "type": "Chain", "config": { "handler": "b" } }, { "name": "b", "type": "Chain", "config": { "handler": "a" } } ], "handler": "a" }"#,
            "circular reference",
        ),
        (
            r#"{ "handler": { "type": "HeaderFilter", "config": { "messageType": "REQUEST" } } }"#,
            "1:14: expected a handler, found a filter",
        ),
        (
            r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } }, "condition": "${find(x, '(')}" }"#,
            "invalid regular expression",
        ),
    ];
    for (route, expected) in cases {
        let t = TempInstance::new();
        t.route("r.json", route);
        let (code, _, err) = check(&t);
        assert_eq!(code, 1, "{route}\n{err}");
        assert!(
            err.contains(&format!("r.json:{expected}")) || (err.contains("r.json:") && err.contains(expected)),
            "expected {expected:?} for {route}\n{err}"
        );
    }
}

#[test]
fn admin_and_config_errors_fail_the_check() {
    let t = TempInstance::new();
    t.write("config/admin.json", "{ \"connectors\": [ { \"port\": 99999 } ] }");
    let (code, _, err) = check(&t);
    assert_eq!(code, 1);
    assert!(err.contains("admin.json:1:29: invalid port 99999"), "{err}");

    let t = TempInstance::new();
    t.write(
        "config/config.json",
        "{ \"handler\": { \"type\": \"Router\", \"config\": { \"scanInterval\": \"often\" } } }",
    );
    let (code, _, err) = check(&t);
    assert_eq!(code, 1);
    assert!(err.contains("config.json:1:62: invalid duration 'often'"), "{err}");
}

#[test]
fn every_broken_route_is_reported_not_just_the_first() {
    let t = TempInstance::new();
    t.route("a.json", "{");
    t.route("b.json", "[]");
    t.route("c.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#);
    let (code, _, err) = check(&t);
    assert_eq!(code, 1);
    assert!(err.contains("a.json:1:2:") && err.contains("b.json:1:1: a route must be a JSON object"), "{err}");
    assert!(err.contains("2 error(s)"), "{err}");
}
