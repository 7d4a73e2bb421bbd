//! Routes, conditions, handlers and filters, through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::{curl, get, request, Gateway, TempInstance};

fn static_route(name: &str, condition: &str, entity: &str) -> String {
    format!(
        r#"{{ "name": "{name}", "condition": "{condition}",
             "handler": {{ "type": "StaticResponseHandler", "config": {{ "status": 200, "entity": "{entity}" }} }} }}"#
    )
}

#[test]
fn routes_are_tried_in_the_order_of_their_names_not_their_files() {
    let t = TempInstance::new();
    t.route("a.json", &static_route("20-second", "${true}", "second"));
    t.route("b.json", &static_route("10-first", "${request.uri.path == '/first'}", "first"));
    t.route(
        "c.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "named by its file" } },
                           "condition": "${request.uri.path == '/c'}" }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/first").body, "first");
    assert_eq!(get(gw.port(), "/other").body, "second");
    // "20-second" sorts before "c" (the file name is the default name), so it wins.
    assert_eq!(get(gw.port(), "/c").body, "second");
}

#[test]
fn unmatched_requests_get_the_default_handler() {
    let t = TempInstance::new();
    t.route("app.json", &static_route("app", "${request.uri.path == '/app'}", "app"));
    let gw = Gateway::start(&t.dir);
    let welcome = get(gw.port(), "/");
    assert_eq!(welcome.status, 200);
    assert!(welcome.body.contains("Welcome to Gatehouse"));
    assert_eq!(request(gw.port(), "POST", "/", &[], "").unwrap().status, 405);
    assert_eq!(get(gw.port(), "/missing").status, 404);
    assert_eq!(get(gw.port(), "/app").body, "app");
}

#[test]
fn conditions_that_are_null_or_not_boolean_do_not_match() {
    let t = TempInstance::new();
    t.route("01.json", &static_route("01", "${request.headers['X-Missing'][0] == 'x' or nothing}", "null"));
    t.route("02.json", &static_route("02", "${'true'}", "string"));
    t.route("03.json", &static_route("03", "${request.uri.path.length() > 9999}", "false"));
    t.route("04.json", &static_route("04", "${find(request.uri.path, '^/z')}", "z"));
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/zebra").body, "z");
    assert_eq!(get(gw.port(), "/q").status, 404);
}

#[test]
fn static_responses_evaluate_templates_per_request() {
    let t = TempInstance::new();
    t.route(
        "t.json",
        r#"{
  "condition": "${request.uri.path == '/hello'}",
  "handler": { "type": "StaticResponseHandler", "config": {
      "status": 201,
      "headers": {
        "Content-Type": [ "text/plain; charset=UTF-8" ],
        "X-Echo": [ "${request.headers['X-In'][0]}", "${request.uri.query}", "${attributes.none}" ],
        "X-Path": [ "path=${request.uri.path}" ]
      },
      "entity": [ "Hello ${request.queryParams['name'][0]}", "method ${request.method}, ${1 + 2} items" ] } }
}"#,
    );
    let gw = Gateway::start(&t.dir);
    let out = curl(&["-i", "-H", "X-In: from-client", &gw.url("/hello?name=Sam")]);
    assert!(out.starts_with("HTTP/1.1 201"), "{out}");
    assert!(out.contains("x-echo: from-client\r\n"), "{out}");
    assert!(out.contains("x-echo: name=Sam\r\n"), "{out}");
    assert_eq!(out.matches("x-echo:").count(), 2, "a null value adds no header: {out}");
    assert!(out.contains("x-path: path=/hello\r\n"), "{out}");
    assert!(out.ends_with("Hello Sam\nmethod GET, 3 items"), "{out}");
}

#[test]
fn chain_assignment_and_header_filters_shape_the_exchange() {
    let t = TempInstance::new();
    t.route(
        "chain.json",
        r#"{
  "properties": { "greeting": "Bonjour" },
  "heap": [ { "name": "Answer", "type": "StaticResponseHandler", "config": {
      "status": 200, "entity": "${greeting}, ${attributes.user} (${request.headers['X-Added'][0]}, ${empty request.headers['X-Secret']})" } } ],
  "handler": { "type": "Chain", "config": {
      "filters": [
        { "type": "AssignmentFilter", "config": {
            "onRequest": [
              { "target": "${attributes.user}", "value": "${toUpperCase(request.form['user'][0])}" },
              { "condition": "${false}", "target": "${attributes.user}", "value": "never" } ],
            "onResponse": [ { "target": "${response.headers['X-Status']}", "value": "${response.status.code}" } ] } },
        { "type": "HeaderFilter", "config": { "messageType": "REQUEST", "remove": [ "X-Secret" ], "add": { "X-Added": [ "yes" ] } } },
        { "type": "HeaderFilter", "config": { "messageType": "RESPONSE", "add": { "X-Route": [ "chain" ] } } } ],
      "handler": "Answer" } }
}"#,
    );
    let gw = Gateway::start(&t.dir);
    let r = request(
        gw.port(),
        "POST",
        "/x",
        &["X-Secret: s", "Content-Type: application/x-www-form-urlencoded"],
        "user=sam",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "Bonjour, SAM (yes, true)");
    assert_eq!(r.header("X-Status"), Some("200"));
    assert_eq!(r.header("X-Route"), Some("chain"));
}

#[test]
fn dispatch_handler_uses_the_first_matching_binding_and_404s_otherwise() {
    let t = TempInstance::new();
    t.route(
        "d.json",
        r#"{ "handler": { "type": "DispatchHandler", "config": { "bindings": [
            { "condition": "${request.uri.path == '/a'}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "A" } } },
            { "condition": "${request.uri.path == '/a' or request.uri.path == '/b'}",
              "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "B" } } } ] } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/a").body, "A");
    assert_eq!(get(gw.port(), "/b").body, "B");
    assert_eq!(get(gw.port(), "/c").status, 404);
}

#[test]
fn config_tokens_resolve_from_properties_then_environment_then_default() {
    let t = TempInstance::new();
    t.route(
        "tok.json",
        r#"{ "properties": { "app": { "word": "from-properties" } },
             "condition": "${request.uri.path == '&{gatehouse.test.path|/tokens}'}",
             "handler": { "type": "StaticResponseHandler", "config": {
                "status": { "$int": "&{gatehouse.test.status|202}" },
                "entity": "&{app.word} &{gatehouse.test.env} &{gatehouse.test.missing|fallback}" } } }"#,
    );
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_ENV", "from-env"), ("GATEHOUSE_TEST_STATUS", "203")]);
    let r = get(gw.port(), "/tokens");
    assert_eq!(r.status, 203);
    assert_eq!(r.body, "from-properties from-env fallback");
}

#[test]
fn capture_logs_the_exchange_with_secrets_redacted() {
    let t = TempInstance::new();
    t.route(
        "cap.json",
        r#"{ "capture": "all", "handler": { "type": "StaticResponseHandler", "config": {
              "status": 200, "headers": { "Set-Cookie": [ "sid=server-secret" ] }, "entity": "ok" } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let r =
        request(gw.port(), "GET", "/captured", &["Cookie: sid=client-secret", "Authorization: Bearer tok-secret"], "")
            .unwrap();
    assert_eq!(r.status, 200);
    gw.wait_for_log("<<< 200 OK");
    let logs = gw.logs();
    assert!(logs.contains(">>> GET http://127.0.0.1"), "{logs}");
    assert!(logs.contains("cookie: [redacted]"), "{logs}");
    assert!(logs.contains("set-cookie: [redacted]"), "{logs}");
    for secret in ["client-secret", "tok-secret", "server-secret"] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs:\n{logs}");
    }
}

#[test]
fn unknown_decorator_keys_warn_with_file_and_key() {
    let t = TempInstance::new();
    t.route(
        "w.json",
        r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } }, "mystery-key": 1 }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/").status, 200);
    gw.wait_for_log("unknown key 'mystery-key'");
    assert!(gw.logs().contains("w.json:1:"), "{}", gw.logs());
}

#[test]
fn heap_objects_shadow_defaults_and_inline_objects_work() {
    let t = TempInstance::new();
    // Declaring "ReverseProxyHandler" in the route heap shadows the default object.
    t.route(
        "shadow.json",
        r#"{ "heap": [ { "name": "ReverseProxyHandler", "type": "StaticResponseHandler", "config": { "status": 200, "entity": "shadowed" } } ],
             "handler": "ReverseProxyHandler" }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/").body, "shadowed");
}

#[test]
fn admin_endpoints_answer_under_the_prefix() {
    let t = TempInstance::new();
    t.write("config/admin.json", r#"{ "prefix": "admin", "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#);
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/admin/ping").status, 200);
    let info: serde_json::Value = serde_json::from_str(&get(gw.port(), "/admin/api/info").body).unwrap();
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(get(gw.port(), "/openig/ping").status, 404, "the prefix is configurable");
    let metrics = get(gw.port(), "/admin/metrics/prometheus").body;
    assert!(metrics.contains("gatehouse_responses_total{class=\"2xx\"}"), "{metrics}");
}

#[test]
fn config_json_properties_resolve_their_own_tokens_for_routes() {
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "properties": { "who": "&{gatehouse.test.who|the default}" },
             "handler": { "type": "Router", "config": { "scanInterval": "disabled" } } }"#,
    );
    t.route("who.json", r#"{ "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "&{who} / ${who}" } } }"#);
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_WHO", "from the environment")]);
    assert_eq!(get(gw.port(), "/").body, "from the environment / from the environment");
}
