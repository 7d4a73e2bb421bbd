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

fn report(t: &TempInstance) -> (i32, String) {
    let out = Command::new(BIN).args(["check", "--report"]).arg(&t.dir).env("RUST_LOG", "off").output().unwrap();
    (out.status.code().unwrap(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_migration_report_names_each_unsupported_item_with_its_place_and_alternative() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "streamingEnabled": true,
  "vertx": { "maxHeaderSize": 16384 },
  "connectors": [ { "port": 0 } ] }"#,
    );
    t.route(
        "10-scripted.json",
        r#"{ "handler": { "type": "Chain", "config": {
    "filters": [ { "type": "ScriptableFilter", "config": { "type": "application/x-groovy", "file": "a.groovy" } } ],
    "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } } } }"#,
    );
    t.route(
        "20-login.json",
        r#"{ "handler": { "type": "Chain", "config": {
    "filters": [ { "type": "AuthorizationCodeOAuth2ClientFilter", "config": {} } ],
    "handler": { "type": "ScriptableHandler", "config": {} } } } }"#,
    );
    t.route("30-ok.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#);
    t.route("40-custom.json", r#"{ "handler": { "type": "com.example.MyHandler" } }"#);
    t.route(
        "50-typo.json",
        r#"{ "handler": { "type": "StaticResponseHandler",
    "config": { "stauts": 200 } } }"#,
    );
    t.route(
        "60-typo.json",
        r#"{ "handler": { "type": "StaticResponseHandler",
    "config": { "status": 200, "entty": "x" } } }"#,
    );
    let (code, out) = report(&t);
    assert_eq!(code, 1, "{out}");
    let section = |title: &str| {
        let start = out.find(title).unwrap_or_else(|| panic!("no section {title:?} in:\n{out}"));
        out[start..].split("\n\n").next().unwrap().to_string()
    };
    let types = section("Object types Gatehouse does not support");
    assert!(types.contains("AuthorizationCodeOAuth2ClientFilter (1x) at config/routes/20-login.json:2:"), "{types}");
    assert!(types.contains("ClientCredentialsOAuth2ClientFilter"), "the alternative: {types}");
    assert!(types.contains("ScriptableFilter (1x) at config/routes/10-scripted.json:2:"), "{types}");
    assert!(types.contains("ScriptableHandler (1x) at config/routes/20-login.json:3:"), "{types}");
    assert!(types.contains("Groovy scripts are not supported"), "{types}");
    let unknown = section("Unknown object types");
    assert!(unknown.contains("com.example.MyHandler (1x) at config/routes/40-custom.json:1:"), "{unknown}");
    let props = section("Properties Gatehouse does not support");
    assert!(props.contains("StaticResponseHandler.stauts (1x) at config/routes/50-typo.json:2:"), "{props}");
    assert!(props.contains("did you mean 'status'?"), "{props}");
    assert!(props.contains("StaticResponseHandler.entty (1x) at config/routes/60-typo.json:2:"), "{props}");
    assert!(props.contains("did you mean 'entity'?"), "{props}");
    let ignored = section("Properties accepted and ignored");
    assert!(ignored.contains("admin.json.streamingEnabled (1x) at config/admin.json:1:"), "{ignored}");
    assert!(ignored.contains("admin.json.vertx (1x) at config/admin.json:2:"), "{ignored}");
    assert!(out.contains("Summary: 1 of 6 route file(s) load as they are."), "{out}");
    // One screen.
    assert!(out.lines().count() <= 40, "{out}");
}

#[test]
fn the_reference_guides_examples_need_nothing_gatehouse_lacks() {
    let t = TempInstance::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/guide");
    t.write("config/admin.json", &std::fs::read_to_string(format!("{fixtures}/admin-https-keystore.json")).unwrap());
    for route in [
        "client-side-https.json",
        "instance1-loadbalancer.json",
        "instance2-retrieve-session-username.json",
        "instance3-retrieve-session-username.json",
        "jwt-session-encrypt.json",
    ] {
        t.route(route, &std::fs::read_to_string(format!("{fixtures}/{route}")).unwrap());
    }
    let (_, out) = report(&t);
    for title in ["does not support", "Unknown object types", "accepted and ignored"] {
        assert!(!out.contains(title), "{title}:\n{out}");
    }
    assert!(out.contains("unsupported type(s), 0 unknown"), "{out}");
    assert!(out.contains("Summary:"), "{out}");
}
