//! Strict configuration: typos are load errors with a suggestion, IG's comment idioms load,
//! nothing in a file can crash the gateway, and routes that read the body do not make other
//! routes buffer theirs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::origin::{write_pattern_file, Origin};
use support::{curl, eventually, get, request, Gateway, TempInstance};

fn check(t: &TempInstance) -> (i32, String) {
    support::check(&t.dir)
}

fn page(condition: &str, entity: &str) -> String {
    format!(
        r#"{{ "condition": "{condition}",
  "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }}"#
    )
}

const TYPO_ROUTE: &str = r#"{
  "conditon": "${find(request.uri.path, '^/admin')}",
  "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "admin page" } }
}"#;

#[test]
fn a_misspelt_condition_fails_the_check_with_position_and_suggestion() {
    let t = TempInstance::new();
    t.route("admin.json", TYPO_ROUTE);
    let (code, out) = check(&t);
    assert_eq!(code, 1, "{out}");
    let file = t.path("config/routes/admin.json");
    assert!(
        out.contains(&format!("{}:2:3: unknown key 'conditon'", file.display()))
            && out.contains("did you mean 'condition'?"),
        "{out}"
    );
    assert!(!out.contains("configuration OK"), "{out}");
}

#[test]
fn a_misspelt_condition_on_reload_keeps_the_previous_route_serving() {
    let t = TempInstance::new();
    t.route("admin.json", &page("${find(request.uri.path, '^/admin')}", "admin page"));
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/admin").body, "admin page");
    assert_eq!(get(gw.port(), "/anything").status, 404);
    t.route("admin.json", TYPO_ROUTE);
    gw.wait_for_log("unknown key 'conditon'");
    gw.wait_for_log("keeping the previous version of the route");
    assert_eq!(get(gw.port(), "/anything").status, 404, "the typo did not widen the route");
    assert_eq!(get(gw.port(), "/admin").body, "admin page");
}

#[test]
fn misspelt_properties_and_decorators_are_errors_with_suggestions() {
    let cases = [
        (
            r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entitty": "x" } } }"#,
            "unknown property 'entitty' of StaticResponseHandler; did you mean 'entity'?",
        ),
        (
            r#"{ "heap": [ { "name": "h", "type": "StaticResponseHandler", "captur": "all", "config": { "status": 200 } } ], "handler": "h" }"#,
            "unknown key 'captur' on 'h': it is neither a property nor a decorator in scope; did you mean 'capture'?",
        ),
        (
            r#"{ "handelr": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#,
            "a route needs a 'handler'",
        ),
        (
            r#"{ "condition": "${find(request.uri.path)}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#,
            "invalid expression: find() takes 2 arguments, not 1",
        ),
    ];
    for (route, expected) in cases {
        let t = TempInstance::new();
        t.route("r.json", route);
        let (code, out) = check(&t);
        assert_eq!(code, 1, "{route}\n{out}");
        assert!(out.contains(expected), "expected {expected:?} for {route}\n{out}");
    }
}

#[test]
fn ig_comment_idioms_load_silently_everywhere() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "_note": "admin", "comment": "one connector",
             "connectors": [ { "port": 0, "host": "127.0.0.1", "_tls": "later" } ] }"#,
    );
    t.route(
        "r.json",
        r#"{ "comment": "a commented route", "_condition": "${false}",
             "heap": [ { "name": "h", "type": "StaticResponseHandler", "comment": "the page", "_capture": "all",
                         "config": { "status": 200, "entity": "ok", "_headers": { "X": [ "y" ] }, "comment": "c" } } ],
             "handler": "h" }"#,
    );
    let (code, out) = check(&t);
    assert_eq!(code, 0, "{out}");
    assert!(!out.to_lowercase().contains("warn"), "idioms are silent: {out}");
    let gw = Gateway::start(&t.dir);
    let r = get(gw.port(), "/");
    assert_eq!((r.status, r.body.as_str(), r.header("X")), (200, "ok", None));
}

#[test]
fn unimplemented_ig_properties_warn_unless_ignoring_them_weakens_security() {
    let t = TempInstance::new();
    t.write(
        "config/admin.json",
        r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ], "streamingEnabled": true }"#,
    );
    let (code, out) = check(&t);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("'streamingEnabled' of admin.json is not supported by Gatehouse and is ignored"), "{out}");

    // Ignoring these would protect less than the file says: errors unless false.
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "handler": { "type": "Router", "config": { "openApiValidation": { "enabled": true } } } }"#,
    );
    let (code, out) = check(&t);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("'openApiValidation' of Router is not supported by Gatehouse"), "{out}");
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "heap": [ { "name": "trust", "type": "SecretsTrustManager", "config": { "verificationSecretId": "ca", "checkRevocation": true } } ],
             "handler": { "type": "Router" } }"#,
    );
    let (code, out) = check(&t);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("'checkRevocation' of SecretsTrustManager is not supported by Gatehouse"), "{out}");
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "heap": [ { "name": "trust", "type": "SecretsTrustManager", "config": { "verificationSecretId": "ca", "checkRevocation": false } } ],
             "handler": { "type": "Router" } }"#,
    );
    let (_, out) = check(&t);
    assert!(!out.contains("checkRevocation"), "false asks for nothing: {out}");
}

const SELF_ROUTER: &str = r#"{ "handler": { "type": "Router" } }"#;

#[test]
fn a_route_holding_a_router_over_its_own_directory_is_an_error_not_a_crash() {
    let t = TempInstance::new();
    t.route("loop.json", SELF_ROUTER);
    let (code, out) = check(&t);
    assert_eq!(code, 1, "{out}");
    let file = t.path("config/routes/loop.json");
    assert!(
        out.contains(&format!("{}:1:14: this Router would load its own routes directory", file.display())),
        "{out}"
    );
}

#[test]
fn a_self_loading_router_dropped_into_a_running_gateway_is_reported_and_the_rest_serves() {
    let t = TempInstance::new();
    t.route("ok.json", &page("${request.uri.path == '/ok'}", "ok"));
    let gw = Gateway::start(&t.dir);
    t.route("loop.json", SELF_ROUTER);
    gw.wait_for_log("this Router would load its own routes directory");
    assert_eq!(get(gw.port(), "/ok").body, "ok", "the gateway is alive and serving");
}

#[test]
fn deep_nesting_in_json_objects_expressions_and_tokens_is_a_load_error() {
    let deep_json = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut heap =
        vec![r#"{ "name": "h0", "type": "StaticResponseHandler", "config": { "status": 200 } }"#.to_string()];
    for i in 1..200 {
        heap.push(format!(
            r#"{{ "name": "h{i}", "type": "Chain", "config": {{ "filters": [], "handler": "h{}" }} }}"#,
            i - 1
        ));
    }
    let cases = [
        (deep_json, "JSON nested too deeply"),
        (format!(r#"{{ "heap": [ {} ], "handler": "h199" }}"#, heap.join(",")), "objects nested more than 64 deep"),
        (
            format!(
                r#"{{ "condition": "${{{}true{}}}", "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200 }} }} }}"#,
                "(".repeat(1_000),
                ")".repeat(1_000)
            ),
            "expression nested too deeply",
        ),
        (
            format!(
                r#"{{ "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{}x{}" }} }} }}"#,
                "&{a|".repeat(10_000),
                "}".repeat(10_000)
            ),
            "config tokens nested more than 32 deep",
        ),
    ];
    for (route, expected) in cases {
        let t = TempInstance::new();
        t.route("deep.json", &route);
        let (code, out) = check(&t);
        assert_eq!(code, 1, "{expected}: {}", &out[..out.len().min(2000)]);
        assert!(out.contains("deep.json:") && out.contains(expected), "{expected}: {}", &out[..out.len().min(2000)]);
    }
}

#[test]
fn key_match_finds_header_and_cookie_names_in_routes() {
    let t = TempInstance::new();
    t.route(
        "10-cookie.json",
        &page(
            "${not empty keyMatch(request.cookies, '^SESS.*')}",
            "session ${request.cookies[keyMatch(request.cookies, '^SESS.*')][0].value}",
        ),
    );
    t.route(
        "20-header.json",
        &page(
            "${not empty keyMatch(request.headers, '^X-Tenant-.*')}",
            "tenant header ${keyMatch(request.headers, '^X-Tenant-.*')}",
        ),
    );
    let gw = Gateway::start(&t.dir);
    let url = gw.url("/x");
    assert_eq!(curl(&["-H", "Cookie: theme=dark; SESSION_ID=abc123", &url]), "session abc123");
    assert_eq!(curl(&["-H", "X-Tenant-Id: 7", &url]), "tenant header X-Tenant-Id");
    let none = get(gw.port(), "/x");
    assert_eq!(none.status, 404, "{}", none.body);
}

#[test]
fn a_large_upload_streams_past_a_route_whose_condition_reads_the_form() {
    let origin = Origin::start();
    let t = TempInstance::new();
    t.route("10-form.json", &page("${request.uri.path == '/form' and request.form['a'][0] == 'b'}", "form matched"));
    t.route(
        "20-proxy.json",
        &format!(r#"{{ "baseURI": "{}", "handler": {{ "type": "ReverseProxyHandler", "config": {{ "soTimeout": "60 seconds" }} }} }}"#, origin.url()),
    );
    let gw = Gateway::start(&t.dir);

    let size: u64 = 50 << 20;
    let upload = t.path("upload.bin");
    let expected = write_pattern_file(&upload, size);
    // Declared as a form, so only the path test keeps the gateway from buffering it.
    let out = curl(&[
        "--max-time",
        "120",
        "-H",
        "Expect:",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "-T",
        &upload.display().to_string(),
        &gw.url("/upload"),
    ]);
    assert_eq!(
        out,
        format!("len={size} sum={expected}"),
        "the upload streamed to the origin (a buffered one gets 413)"
    );

    let form =
        request(gw.port(), "POST", "/form", &["Content-Type: application/x-www-form-urlencoded"], "a=b").unwrap();
    assert_eq!((form.status, form.body.as_str()), (200, "form matched"));
    eventually("the origin saw the upload", || origin.complete() >= 1);
}
