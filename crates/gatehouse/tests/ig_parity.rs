//! IG parity on real configurations: files in the shapes public IG and OpenIG deployments
//! use (comments, IG's reader's leniency, legacy and newer property names, decorators where
//! IG accepts them) load and behave as IG documents.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::tls::{sh, HttpsOrigin};
use support::{curl, get, request, Gateway, TempInstance};

const RELAY_P12: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/relay/secrets/relay.p12");

#[test]
fn a_config_json_written_the_way_ig_reads_it_loads() {
    let t = TempInstance::new();
    std::fs::create_dir_all(t.path("secrets")).unwrap();
    std::fs::copy(RELAY_P12, t.path("secrets/relay.p12")).unwrap();
    // Comments of both kinds, single quotes, IG's commented-out keys, config.json decorators,
    // monitor, IG 7's secrets block, a duplicate key and a no-break space after the document.
    t.write(
        "config/config.json",
        "// the gateway\n{\n  /* IG 7 */ 'secrets': { \"stores\": [ { \"type\": \"Base64EncodedSecretStore\",\n    \"config\": { \"secrets\": { \"ks.pw\": \"Y2hhbmdlaXQ=\" } } } ] },\n  \"_heap\": [ \"left over\" ],\n  \"comment\": \"the main config\",\n  \"monitor\": true,\n  \"capture\": \"all\",\n  \"heap\": [ { \"name\": \"Keys\", \"type\": \"KeyStoreSecretStore\", \"config\": {\n      \"file\": \"${openig.instanceDirectory}/secrets/relay.p12\", \"storeType\": \"PKCS12\", \"storePassword\": \"ks.pw\",\n      \"mappings\": [ { \"secretId\": \"tls\", \"aliases\": [ \"relay\" ] } ] } } ],\n  \"handler\": { \"type\": \"Router\", \"config\": { \"scanInterval\": \"disabled\" } },\n  \"handler\": { \"type\": \"Router\", \"config\": { \"scanInterval\": \"1 second\" } }\n}\u{a0}\n",
    );
    t.write("conf/motd.txt", "hello from a file");
    t.write("conf/app.properties", "# IG's readProperties\ngreeting = bonjour\n");
    t.route(
        "parity.json",
        "{\n  'name': 'parity', // a comment after a value\n  \"_captureEntity\": true,\n  \"condition\": \"${find(request.uri.path, '^/ig/')\n     and matches(request.uri.path, '^((?!funds-confirmation).)*$')}\",\n  \"handler\": { \"type\": \"Chain\", \"config\": { \"comment\": \"IG accepts this here\", \"timer\": true,\n    \"filters\": [ { \"type\": \"HeaderFilter\", \"config\": { \"messageType\": \"RESPONSE\", \"replace\": { \"X-Version\": [ \"new\" ] } } } ],\n    \"handler\": { \"type\": \"DispatchHandler\", \"config\": { \"bindings\": [ {\n      \"name\": \"page\", \"comment\": \"bindings take names and decorators\", \"capture\": \"response\",\n      \"handler\": { \"type\": \"StaticResponseHandler\", \"config\": { \"status\": 200,\n        \"headers\": { \"X-Version\": [ \"old\", \"older\" ] },\n        \"entity\": \"${boolean('TRUE')}|${escapeJson('a\\\"b')}|${read('conf/motd.txt')}|${readProperties('conf/app.properties').greeting}|${request.queryParams.getFirst('q')}\" } } } ] } } } }\n}\n",
    );
    let (code, out) = support::check(&t.dir);
    assert_eq!(code, 0, "{out}");
    let gw = Gateway::start(&t.dir);
    let r = get(gw.port(), "/ig/page?q=first&q=second");
    assert_eq!(r.status, 200, "{}", gw.logs());
    assert_eq!(r.body, "true|a\\\"b|hello from a file|bonjour|first");
    assert_eq!(r.header("x-version"), Some("new"), "replace removes both old values");
    assert_eq!(get(gw.port(), "/ig/funds-confirmation").status, 404, "the look-ahead excludes it");
    let config = t.path("config/config.json");
    gw.wait_for_log(&format!("{}:12:3: duplicate key 'handler'", config.display()));
    gw.wait_for_log("'monitor' of config.json is not supported by Gatehouse and is ignored");
    gw.wait_for_log("page <<< 200 OK"); // the binding's capture
    gw.wait_for_log("config.json >>> GET"); // config.json's
    gw.wait_for_log("Chain took");
}

#[test]
fn legacy_and_newer_property_names_load() {
    let t = TempInstance::new();
    std::fs::create_dir_all(t.path("other")).unwrap();
    t.write(
        "config/config.json",
        r#"{ "heap": [ { "name": "Capture", "type": "CaptureDecorator",
                       "config": { "captureEntity": true, "captureExchange": true, "logSink": { "type": "ConsoleLogSink", "config": { "level": "INFO" } } } },
                     { "name": "timer", "type": "TimerDecorator", "config": { "timeUnit": "us" } } ],
             "handler": { "type": "Router", "config": { "routes": { "directory": "${openig.instanceDirectory}/other" }, "failOnRouteError": true } } }"#,
    );
    t.write(
        "other/r.json",
        r#"{ "timer": true, "Capture": "all", "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "from the legacy directory" } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(get(gw.port(), "/").body, "from the legacy directory");
    gw.wait_for_log(" us");
    gw.wait_for_log("'failOnRouteError' of Router is not supported");
}

#[test]
fn trust_all_and_the_renamed_trust_manager_property_reach_a_self_signed_origin() {
    let t = TempInstance::new();
    let secrets = t.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    sh(
        &secrets,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out origin.pem -days 30 -subj /CN=origin \
         -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE 2>/dev/null",
    );
    let origin = HttpsOrigin::start(&secrets.join("origin.pem"), &secrets.join("key.pem"), None);
    t.route(
        "all.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/all')}}", "baseURI": "https://127.0.0.1:{port}",
                 "handler": {{ "type": "ClientHandler", "config": {{ "disableRetries": true, "trustManager": {{ "type": "TrustAllManager" }} }} }} }}"#,
            port = origin.port
        ),
    );
    t.route(
        "pinned.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/pinned')}}", "baseURI": "https://127.0.0.1:{port}",
                 "heap": [ {{ "name": "Pems", "type": "FileSystemSecretStore", "config": {{ "directory": "{dir}", "format": "PLAIN",
                   "suffix": ".pem", "mappings": [ {{ "secretId": "origin", "format": "PemPropertyFormat" }} ] }} }} ],
                 "handler": {{ "type": "ReverseProxyHandler", "config": {{ "tls": {{ "type": "ClientTlsOptions", "config": {{
                   "trustManager": {{ "type": "SecretsTrustManager", "config": {{ "certificateVerificationSecretId": "origin", "secretsProvider": "Pems" }} }} }} }} }} }} }}"#,
            port = origin.port,
            dir = secrets.display()
        ),
    );
    let gw = Gateway::start(&t.dir);
    assert_eq!(curl(&[&gw.url("/all")]), "origin path=/all client=none\n", "{}", gw.logs());
    assert_eq!(curl(&[&gw.url("/pinned")]), "origin path=/pinned client=none\n", "{}", gw.logs());
    gw.wait_for_log("TrustAllManager: upstream certificates are NOT verified");
}

#[test]
fn a_regex_from_a_token_that_does_not_resolve_is_a_load_error_naming_it() {
    let t = TempInstance::new();
    t.route(
        "r.json",
        r#"{ "condition": "${matches(request.uri.path, '&{api.pattern}')}", "handler": { "type": "StaticResponseHandler", "config": { "status": 200 } } }"#,
    );
    let (code, out) = support::check(&t.dir);
    assert_eq!(code, 1);
    assert!(out.contains("r.json:1:16: config token '&{api.pattern}' has no value"), "{out}");
    let gw = Gateway::start(&t.dir);
    assert_eq!(request(gw.port(), "GET", "/api/x", &[], "").unwrap().status, 404, "the gateway runs without the route");
}

#[test]
fn check_lists_every_error_of_a_file_and_says_plainly_that_groovy_is_not_supported() {
    let t = TempInstance::new();
    t.route(
        "legacy.json",
        r#"{ "condition": "${request.uri.path ==}",
  "heap": [ { "name": "x", "type": "HeaderFiltr" } ],
  "handler": { "type": "Chain", "config": { "filters": [
    { "type": "ScriptableFilter", "config": { "type": "application/x-groovy", "file": "Auth.groovy" } },
    { "type": "HeaderFilter", "config": { "messageType": "REQUEST", "ad": {} } } ],
    "handler": { "type": "StaticResponseHndler" } } } }"#,
    );
    let (code, out) = support::check(&t.dir);
    assert_eq!(code, 1);
    let file = t.path("config/routes/legacy.json").display().to_string();
    let expected = [
        format!("{file}:1:38: invalid expression"),
        format!("{file}:2:36: unknown type 'HeaderFiltr'; did you mean 'HeaderFilter'?"),
        format!("{file}:4:15: type 'ScriptableFilter' is not supported: Groovy scripts are not supported by Gatehouse"),
        format!("{file}:5:69: unknown property 'ad' of HeaderFilter; did you mean 'add'?"),
        format!("{file}:6:26: unknown type 'StaticResponseHndler'; did you mean 'StaticResponseHandler'?"),
    ];
    let mut at = 0;
    for e in &expected {
        let found = out[at..].find(e.as_str()).unwrap_or_else(|| panic!("missing, or out of order: {e}\n{out}"));
        at += found + e.len();
    }
    assert!(out.contains("5 error(s)"), "{out}");
}

#[test]
fn the_most_used_missing_types_behave_as_ig_documents() {
    let origin = support::origin::Origin::start();
    let t = TempInstance::new();
    t.write(
        "config/config.json",
        r#"{ "heap": [ { "name": "SecretsService", "type": "Base64EncodedSecretStore", "config": { "secrets": { "svc.pw": "czNjcmV0IQ==" } } } ],
             "handler": { "type": "Router", "config": { "scanInterval": "disabled" } } }"#,
    );
    let page = r#"{ "type": "StaticResponseHandler", "config": { "status": 200,
        "entity": "${request.method} ${request.uri.path} q=${request.uri.query} flag=${request.headers['X-Added'][0]} user=${request.form['user'][0]} type=${request.headers['Content-Type'][0]}" } }"#;
    t.route(
        "rewrite.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/rewrite')}}",
                 "handler": {{ "type": "Chain", "config": {{ "filters": [
                   {{ "type": "UriPathRewriteFilter", "config": {{ "mappings": {{ "/rewrite/old": "/new", "/rewrite": "/" }},
                      "failureHandler": {{ "type": "StatusHandler", "config": {{ "status": 418 }} }} }} }},
                   {{ "type": "ChainOfFilters", "config": {{ "filters": [
                     {{ "type": "ConditionalFilter", "config": {{ "condition": "${{request.headers['X-Flag'][0] == 'on'}}",
                        "delegate": {{ "type": "HeaderFilter", "config": {{ "messageType": "REQUEST", "add": {{ "X-Added": [ "yes" ] }} }} }} }} }} ] }} }} ],
                   "handler": {page} }} }} }}"#
        ),
    );
    t.route(
        "static.json",
        &format!(
            r#"{{ "condition": "${{request.uri.path == '/static'}}",
                 "handler": {{ "type": "Chain", "config": {{ "filters": [
                   {{ "type": "StaticRequestFilter", "config": {{ "method": "POST", "uri": "http://app.example.com/login",
                      "form": {{ "user": [ "${{request.queryParams.getFirst('u')}}" ] }} }} }} ],
                   "handler": {page} }} }} }}"#
        ),
    );
    t.route(
        "teapot.json",
        r#"{ "condition": "${request.uri.path == '/teapot'}", "handler": { "type": "StatusHandler", "config": { "status": 418 } } }"#,
    );
    t.route(
        "out.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/headers')}}", "baseURI": "{}",
                 "handler": {{ "type": "Chain", "config": {{ "filters": [
                   {{ "type": "HttpBasicAuthenticationClientFilter", "config": {{ "username": "svc", "passwordSecretId": "svc.pw", "secretsProvider": "SecretsService" }} }} ],
                   "handler": "ForgeRockClientHandler" }} }} }}"#,
            origin.url()
        ),
    );
    let gw = Gateway::start(&t.dir);
    let body = |path: &str, extra: &[&str]| request(gw.port(), "GET", path, extra, "").unwrap();
    assert_eq!(body("/rewrite/old/x?a=1", &[]).body, "GET /new/x q=a=1 flag= user= type=");
    assert_eq!(body("/rewrite/other", &["X-Flag: on"]).body, "GET /other q= flag=yes user= type=");
    assert_eq!(body("/rewrites", &[]).status, 418, "no mapping (whole segments only): the failure handler");
    assert_eq!(
        body("/static?u=sam%20carter", &[]).body,
        "POST /login q= flag= user=sam carter type=application/x-www-form-urlencoded"
    );
    assert_eq!(body("/teapot", &[]).status, 418);
    let seen = body("/headers", &[]);
    assert_eq!(seen.status, 200, "{}", gw.logs());
    // base64("svc:s3cret!")
    assert!(seen.body.contains("Basic c3ZjOnMzY3JldCE="), "{}", seen.body);
    let tx = seen.body.to_ascii_lowercase();
    assert!(tx.contains("x-forgerock-transactionid"), "{}", seen.body);
}

#[test]
fn throttling_limits_each_partition_and_mapped_policies_choose_the_rate() {
    let t = TempInstance::new();
    t.route(
        "fixed.json",
        r#"{ "condition": "${request.uri.path == '/fixed'}",
             "handler": { "type": "Chain", "config": { "filters": [ { "type": "ThrottlingFilter", "config": {
               "requestGroupingPolicy": "${request.headers['X-User'][0]}", "rate": { "numberOfRequests": 2, "duration": "10 seconds" } } } ],
               "handler": { "type": "StatusHandler", "config": { "status": 200 } } } } }"#,
    );
    t.route(
        "mapped.json",
        r#"{ "condition": "${request.uri.path == '/mapped'}",
             "handler": { "type": "Chain", "config": { "filters": [ { "type": "ThrottlingFilter", "config": {
               "requestGroupingPolicy": "${request.headers['X-User'][0]}",
               "throttlingRatePolicy": { "type": "MappedThrottlingPolicy", "config": {
                 "throttlingRateMapper": "${request.headers['X-Tier'][0]}",
                 "throttlingRatesMapping": { "gold": { "numberOfRequests": 3, "duration": "1 minute" } },
                 "defaultRate": { "numberOfRequests": 1, "duration": "1 minute" } } } } } ],
               "handler": { "type": "StatusHandler", "config": { "status": 200 } } } } }"#,
    );
    let gw = Gateway::start_with(&t.dir, &[("GATEHOUSE_TEST_CLOCK", "2030-01-01T00:00:00Z")]);
    let call = |path: &str, extra: &[&str]| request(gw.port(), "GET", path, extra, "").unwrap();
    assert_eq!(call("/fixed", &["X-User: a"]).status, 200);
    assert_eq!(call("/fixed", &["X-User: a"]).status, 200);
    let refused = call("/fixed", &["X-User: a"]);
    assert_eq!((refused.status, refused.header("retry-after")), (429, Some("5")), "one token comes back every 5 s");
    assert_eq!(call("/fixed", &["X-User: b"]).status, 200, "another partition has its own bucket");
    curl(&["-X", "POST", &gw.url("/openig/api/clock?advance=5s")]);
    assert_eq!(call("/fixed", &["X-User: a"]).status, 200);
    assert_eq!(call("/fixed", &["X-User: a"]).status, 429);

    let gold = ["X-User: g", "X-Tier: gold"];
    assert_eq!(
        (call("/mapped", &gold).status, call("/mapped", &gold).status, call("/mapped", &gold).status),
        (200, 200, 200)
    );
    assert_eq!(call("/mapped", &gold).status, 429);
    assert_eq!(
        (call("/mapped", &["X-User: s"]).status, call("/mapped", &["X-User: s"]).status),
        (200, 429),
        "the default rate"
    );
}

#[test]
fn cors_answers_preflights_and_decorates_responses_for_accepted_origins_only() {
    let t = TempInstance::new();
    t.route(
        "api.json",
        r#"{ "handler": { "type": "Chain", "config": { "filters": [ { "type": "CorsFilter", "config": { "policies": [ {
               "acceptedOrigins": [ "https://app.example.com" ], "acceptedMethods": [ "GET", "PUT" ],
               "acceptedHeaders": [ "Authorization", "X-Requested-With" ], "exposedHeaders": [ "X-Total" ],
               "maxAge": "10 minutes", "allowCredentials": true } ] } } ],
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "headers": { "X-Total": [ "3" ] }, "entity": "data" } } } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let pre = request(
        gw.port(),
        "OPTIONS",
        "/items",
        &[
            "Origin: https://app.example.com",
            "Access-Control-Request-Method: PUT",
            "Access-Control-Request-Headers: authorization",
        ],
        "",
    )
    .unwrap();
    assert_eq!(pre.status, 200);
    assert_eq!(pre.header("access-control-allow-origin"), Some("https://app.example.com"));
    assert_eq!(pre.header("access-control-allow-methods"), Some("PUT"));
    assert_eq!(pre.header("access-control-allow-headers"), Some("authorization"));
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(pre.body, "", "a preflight is answered by the gateway");
    let actual = request(gw.port(), "GET", "/items", &["Origin: https://APP.example.com"], "").unwrap();
    assert_eq!((actual.status, actual.body.as_str()), (200, "data"));
    assert_eq!(actual.header("access-control-expose-headers"), Some("X-Total"));
    let denied = ["Access-Control-Request-Method: DELETE", "Origin: https://app.example.com"];
    assert_eq!(request(gw.port(), "OPTIONS", "/items", &denied, "").unwrap().status, 403);
    assert_eq!(request(gw.port(), "GET", "/items", &["Origin: https://evil.example"], "").unwrap().status, 403);
    let plain = request(gw.port(), "GET", "/items", &[], "").unwrap();
    assert_eq!((plain.status, plain.header("access-control-allow-origin")), (200, None), "no Origin: not CORS");
}

#[test]
fn cookie_filter_keeps_managed_cookies_in_the_session_and_drops_suppressed_ones() {
    let t = TempInstance::new();
    t.route(
        "app.json",
        r#"{ "handler": { "type": "Chain", "config": { "filters": [ { "type": "CookieFilter", "config": {
               "managed": [ "SESSIONID" ], "suppressed": [ "TRACK" ], "defaultAction": "RELAY" } } ],
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200,
               "headers": { "Set-Cookie": [ "SESSIONID=abc; Path=/; HttpOnly", "TRACK=1", "PREF=dark" ] },
               "entity": "upstream saw: ${request.headers['Cookie'][0]}" } } } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let first = request(gw.port(), "GET", "/", &["Cookie: SESSIONID=forged; TRACK=x; PREF=light"], "").unwrap();
    assert_eq!(first.body, "upstream saw: PREF=light", "the browser cannot send managed or suppressed cookies");
    let set: Vec<&str> =
        first.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie")).map(|(_, v)| v.as_str()).collect();
    assert!(set.contains(&"PREF=dark"), "{set:?}");
    assert!(!set.iter().any(|c| c.starts_with("SESSIONID=") || c.starts_with("TRACK=")), "{set:?}");
    // The gateway's own session cookie carries the user's managed cookies along.
    let session: Vec<String> =
        set.iter().filter(|c| !c.starts_with("PREF=")).map(|c| c.split(';').next().unwrap().to_string()).collect();
    assert_eq!(session.len(), 1, "{set:?}");
    let cookie = format!("Cookie: {}; PREF=dark", session[0]);
    let second = request(gw.port(), "GET", "/", &[&cookie], "").unwrap();
    // (The gateway's own session cookie is relayed to this in-process handler; a
    // ReverseProxyHandler removes it before the upstream.)
    assert!(second.body.ends_with("PREF=dark; SESSIONID=abc"), "{}", second.body);
}

#[test]
fn jwt_builder_signs_a_template_that_pyjwt_verifies() {
    let t = TempInstance::new();
    std::fs::create_dir_all(t.path("secrets")).unwrap();
    std::fs::copy(RELAY_P12, t.path("secrets/relay.p12")).unwrap();
    t.route(
        "jwt.json",
        r#"{ "heap": [ { "name": "Keys", "type": "KeyStoreSecretStore", "config": {
               "file": "${openig.instanceDirectory}/secrets/relay.p12", "storeType": "PKCS12", "storePasswordSecretId": "ks.pw",
               "secretsProvider": { "type": "Base64EncodedSecretStore", "config": { "secrets": { "ks.pw": "Y2hhbmdlaXQ=" } } },
               "mappings": [ { "secretId": "jwt.signing", "aliases": [ "relay" ] } ] } } ],
             "handler": { "type": "Chain", "config": { "filters": [
               { "type": "JwtBuilderFilter", "config": { "secretsProvider": "Keys",
                 "template": { "sub": "${request.headers['X-User'][0]}", "iss": "gatehouse", "aud": [ "app" ], "groups": { "admin": "${request.headers['X-Admin'][0] == 'yes'}" } },
                 "signature": { "secretId": "jwt.signing", "algorithm": "PS256" } } },
               { "type": "HeaderFilter", "config": { "messageType": "REQUEST", "add": { "X-Jwt": [ "${contexts.jwtBuilder.value}" ] } } } ],
             "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "${request.headers['X-Jwt'][0]}" } } } } }"#,
    );
    let gw = Gateway::start(&t.dir);
    let token = request(gw.port(), "GET", "/", &["X-User: sam", "X-Admin: yes"], "").unwrap().body;
    let cert = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/relay/secrets/relay-cert.pem");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import jwt,sys; from cryptography import x509; \
             k=x509.load_pem_x509_certificate(open(sys.argv[2],'rb').read()).public_key(); \
             c=jwt.decode(sys.argv[1], k, algorithms=['PS256'], audience='app'); print(c['sub'], c['iss'], c['groups']['admin'])",
        )
        .arg(&token)
        .arg(cert)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "sam gatehouse True",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn http2_prior_knowledge_with_protocol_version_http2_loads_and_speaks_h2c() {
    let origin = support::origin::Origin::start();
    let t = TempInstance::new();
    t.route(
        "h2.json",
        &format!(
            r#"{{ "baseURI": "{}", "handler": {{ "type": "ReverseProxyHandler",
                 "config": {{ "protocolVersion": "HTTP/2", "http2PriorKnowledge": true }} }} }}"#,
            origin.url()
        ),
    );
    let (code, out) = support::check(&t.dir);
    assert_eq!(code, 0, "{out}");
    let gw = Gateway::start(&t.dir);
    let seen = get(gw.port(), "/headers");
    assert_eq!(seen.status, 200);
    assert!(seen.body.contains("HTTP/2"), "the origin was reached over h2c: {}", seen.body);
}

#[test]
fn check_lists_every_unknown_property_of_an_object_and_points_at_a_misspelt_required_one() {
    let t = TempInstance::new();
    t.route(
        "typos.json",
        r#"{ "handler": { "type": "Chain", "config": { "filters": [
  { "type": "HeaderFilter", "config": { "mesageType": "REQUEST" } },
  { "type": "HeaderFilter", "config": { "messageType": "REQUEST", "ad": {}, "remvoe": [] } } ],
  "handler": { "type": "StatusHandler", "config": { "status": 200 } } } } }"#,
    );
    let (code, out) = support::check(&t.dir);
    assert_eq!(code, 1);
    let file = t.path("config/routes/typos.json").display().to_string();
    assert!(
        out.contains(&format!("{file}:2:41: HeaderFilter needs 'messageType'; is 'mesageType' a misspelling of it?")),
        "{out}"
    );
    assert!(out.contains(&format!("{file}:3:67: unknown property 'ad' of HeaderFilter; did you mean 'add'?")), "{out}");
    assert!(
        out.contains(&format!("{file}:3:77: unknown property 'remvoe' of HeaderFilter; did you mean 'remove'?")),
        "{out}"
    );
    assert!(out.contains("3 error(s)"), "{out}");
}
