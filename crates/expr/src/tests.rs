//! Unit tests of the expression language against IG's semantics.

use gatehouse_core::{Body, Context, Request, Response};
use serde_json::json;

use crate::{Expression, LValue, ParseEnv, Scope, Target, Value};

fn request(uri: &str) -> Request {
    http::Request::builder()
        .method("POST")
        .uri(uri)
        .header("Host", "ig.example.com:8080")
        .header("X-Multi", "a")
        .header("X-Multi", "b")
        .header("Cookie", "IG=abc; theme=\"dark\"")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Body::from("user=sam+carter&x=1"))
        .unwrap()
}

fn eval_with(src: &str, cx: &Context, req: &Request) -> serde_json::Value {
    let e = Expression::parse(src, &ParseEnv::default()).unwrap();
    e.eval(&Scope::request(cx, req)).to_json()
}

fn eval(src: &str) -> serde_json::Value {
    let mut cx = Context::detached();
    cx.attributes.insert("n".into(), json!(5));
    cx.attributes.insert("list".into(), json!(["x", "y"]));
    cx.attributes.insert("m".into(), json!({"k": {"deep": true}}));
    cx.session.data_mut().insert("authUsername".into(), json!("Sam Carter"));
    eval_with(src, &cx, &request("http://ig.example.com:8080/webapp/browsing%20x?one&q=a%20b"))
}

#[test]
fn request_uri_properties_follow_ig() {
    assert_eq!(eval("${request.uri.path}"), json!("/webapp/browsing x"));
    assert_eq!(eval("${request.uri.rawPath}"), json!("/webapp/browsing%20x"));
    assert_eq!(eval("${request.uri.query}"), json!("one&q=a b"));
    assert_eq!(eval("${request.uri.rawQuery}"), json!("one&q=a%20b"));
    assert_eq!(eval("${request.uri.host}"), json!("ig.example.com"));
    assert_eq!(eval("${request.uri.port}"), json!(8080));
    assert_eq!(eval("${request.uri.scheme}"), json!("http"));
    assert_eq!(eval("${request.uri.fragment}"), json!(null));
    assert_eq!(eval("${request.method}"), json!("POST"));
}

#[test]
fn headers_are_case_insensitive_lists() {
    assert_eq!(eval("${request.headers['host'][0]}"), json!("ig.example.com:8080"));
    assert_eq!(eval("${request.headers['X-Multi']}"), json!(["a", "b"]));
    assert_eq!(eval("${request.headers['X-Multi'][1]}"), json!("b"));
    assert_eq!(eval("${request.headers['Missing'][0]}"), json!(null));
    assert_eq!(eval("${request.headers['Host'][0].split(':')[0]}"), json!("ig.example.com"));
}

#[test]
fn cookies_and_form_parameters_are_lists() {
    assert_eq!(eval("${request.cookies['IG'][0].value}"), json!("abc"));
    assert_eq!(eval("${request.cookies['theme'][0].value}"), json!("dark"));
    assert_eq!(eval("${request.form['user'][0]}"), json!("sam carter"));
    assert_eq!(eval("${request.form['q'][0]}"), json!("a b"));
    assert_eq!(eval("${request.queryParams['user']}"), json!(null));
    assert_eq!(eval("${request.entity.string}"), json!("user=sam+carter&x=1"));
}

#[test]
fn key_match_finds_header_and_cookie_names() {
    assert_eq!(eval("${keyMatch(request.headers, '^X-M.*')}"), json!("X-Multi"));
    assert_eq!(eval("${keyMatch(request.headers, '^x-m.*')}"), json!("x-multi"));
    assert_eq!(eval("${request.headers[keyMatch(request.headers, '^X-M.*')][1]}"), json!("b"));
    assert_eq!(eval("${keyMatch(request.cookies, '^th.*')}"), json!("theme"));
    assert_eq!(eval("${request.cookies[keyMatch(request.cookies, '^th.*')][0].value}"), json!("dark"));
    assert_eq!(eval("${keyMatch(request.cookies, '^SESS.*')}"), json!(null));
    assert_eq!(eval("${keyMatch(attributes.m, 'k')}"), json!("k"));
}

#[test]
fn operators_and_coercions_follow_el() {
    assert_eq!(eval("${1 + 2 * 3}"), json!(7));
    assert_eq!(eval("${7 / 2}"), json!(3.5));
    assert_eq!(eval("${7 div 2}"), json!(3.5));
    assert_eq!(eval("${7 % 4} ${7 mod 4}"), json!("3 3"));
    assert_eq!(eval("${'5' + 1}"), json!(6));
    assert_eq!(eval("${'a' + 'b'}"), json!(null), "+ is arithmetic only, as in IG");
    assert_eq!(eval("${attributes.n == '5'}"), json!(true));
    assert_eq!(eval("${attributes.n gt 4 and attributes.n le 5}"), json!(true));
    assert_eq!(eval("${attributes.n < 3 || !(1 == 1)}"), json!(false));
    assert_eq!(eval("${not empty attributes.list && empty attributes.none}"), json!(true));
    assert_eq!(eval("${empty ''}"), json!(true));
    assert_eq!(eval("${null == null}"), json!(true));
    assert_eq!(eval("${attributes.missing < 3}"), json!(false));
    assert_eq!(eval("${-attributes.n}"), json!(-5));
    assert_eq!(eval("${1.5 * 2}"), json!(3.0));
    assert_eq!(eval("${true ? 'y' : 'n'}"), json!("y"));
    assert_eq!(eval("${'abc' eq \"abc\"}"), json!(true));
}

#[test]
fn templates_concatenate_and_null_is_empty_text() {
    assert_eq!(eval("Hello ${session.authUsername}!"), json!("Hello Sam Carter!"));
    assert_eq!(eval("[${attributes.nothing}]"), json!("[]"));
    assert_eq!(eval("${attributes.n}${attributes.n}"), json!("55"));
    assert_eq!(eval("plain"), json!("plain"));
    assert_eq!(eval("cost: \\${x}"), json!("cost: ${x}"));
    assert_eq!(eval("${'}'}"), json!("}"));
}

#[test]
fn the_guides_session_entity_renders() {
    let src = "${session.authUsername != null?'Hello, '.concat(session.authUsername).concat(' !'):'Session.authUsername is not defined'}! (instance2)";
    assert_eq!(eval(src), json!("Hello, Sam Carter !! (instance2)"));
    let cx = Context::detached();
    assert_eq!(eval_with(src, &cx, &request("http://h/")), json!("Session.authUsername is not defined! (instance2)"));
}

#[test]
fn the_guides_dispatch_conditions_hold() {
    let one = "${find(request.uri.path, '/webapp/browsing') and (contains(request.uri.query, 'one') or empty(request.uri.query))}";
    assert_eq!(eval(one), json!(true));
    let cx = Context::detached();
    assert_eq!(eval_with(one, &cx, &request("http://h/webapp/browsing")), json!(true));
    assert_eq!(eval_with(one, &cx, &request("http://h/webapp/browsing?two")), json!(false));
    assert_eq!(
        eval_with("${request.uri.path == '/jwt-session-encrypt'}", &cx, &request("http://h/jwt-session-encrypt")),
        json!(true)
    );
}

#[test]
fn functions_follow_ig_semantics() {
    assert_eq!(eval("${matches('abcdef', 'cd')}"), json!(true), "matches finds anywhere");
    assert_eq!(eval("${matchesWithRegex('abcdef', 'cd')}"), json!(false));
    assert_eq!(eval("${find(null, 'x')}"), json!(false));
    assert_eq!(eval("${matchingGroups('user=sam', 'u(s)er=(\\\\w+)')}"), json!(["user=sam", "s", "sam"]));
    assert_eq!(eval("${keyMatch(attributes, 'l.st')}"), json!("list"));
    assert_eq!(eval("${split('a,b,,', ',')}"), json!(["a", "b"]), "trailing empties dropped");
    assert_eq!(eval("${join(split('a b c', ' '), '-')}"), json!("a-b-c"));
    assert_eq!(eval("${array('a', 'b')[1]}"), json!("b"));
    assert_eq!(eval("${contains(attributes.list, 'y')}"), json!(true));
    assert_eq!(eval("${contains('haystack', 'st')}"), json!(true));
    assert_eq!(eval("${toString(42)}"), json!("42"));
    assert_eq!(eval("${toLowerCase('AbC')}${toUpperCase('x')}${trim('  t ')}"), json!("abcXt"));
    assert_eq!(eval("${decodeBase64('cGFzc3dvcmQ=')}"), json!("password"));
    assert_eq!(eval("${encodeBase64('password')}"), json!("cGFzc3dvcmQ="));
    assert_eq!(eval("${decodeBase64('not base64!')}"), json!(null));
    assert_eq!(eval("${urlEncode('a b&c/é')}"), json!("a+b%26c%2F%C3%A9"), "form encoding");
    assert_eq!(eval("${urlDecode('a+b%26c')}"), json!("a b&c"));
    assert_eq!(eval("${indexOf('hello', 'll')}"), json!(2));
    assert_eq!(eval("${length('héllo')} ${length(attributes.list)} ${length(null)}"), json!("5 2 0"));
    assert_eq!(eval("${integer('42') + 1}"), json!(43));
    assert_eq!(eval("${integer('x')}"), json!(null));
    assert_eq!(eval("${bool('TRUE')}"), json!(true));
}

#[test]
fn string_methods_work_like_java() {
    assert_eq!(eval("${'Hello'.concat(', ').concat('you')}"), json!("Hello, you"));
    assert_eq!(eval("${'Hello'.length()}"), json!(5));
    assert_eq!(eval("${'Hello'.toLowerCase().toUpperCase()}"), json!("HELLO"));
    assert_eq!(eval("${request.uri.path.startsWith('/webapp')}"), json!(true));
    assert_eq!(eval("${'abc'.endsWith('bc') && 'abc'.contains('b')}"), json!(true));
    assert_eq!(eval("${'abcdef'.substring(2)}${'abcdef'.substring(0, 2)}"), json!("cdefab"));
    assert_eq!(eval("${'abc'.substring(5)}"), json!(null));
    assert_eq!(eval("${'a:b'.split(':')[1]}"), json!("b"));
    assert_eq!(eval("${'ABC'.equalsIgnoreCase('abc')}"), json!(true));
    assert_eq!(eval("${'abc'.matches('b')}"), json!(false), "String.matches is a full match");
    assert_eq!(eval("${attributes.none.length()}"), json!(null), "method on null is an error, so null");
    assert_eq!(eval("${attributes.list.size()}"), json!(2));
}

#[test]
fn maps_nest_and_index() {
    assert_eq!(eval("${attributes.m.k.deep}"), json!(true));
    assert_eq!(eval("${attributes['m']['k']['deep']}"), json!(true));
    assert_eq!(eval("${attributes.list[0]}"), json!("x"));
    assert_eq!(eval("${attributes.list[9]}"), json!(null));
    assert_eq!(eval("${contexts.client.remoteAddress}"), json!("127.0.0.1"));
    assert_eq!(eval("${contexts.attributes.attributes.n}"), json!(5));
    assert_eq!(eval("${env['PATH'] != null}"), json!(true));
    assert_eq!(eval("${system['file.separator']}"), json!("/"));
}

#[test]
fn conditions_hold_only_for_boolean_true() {
    let cx = Context::detached();
    let req = request("http://h/");
    for (src, expected) in
        [("${true}", true), ("${'true'}", false), ("${null}", false), ("${1}", false), ("${nope}", false)]
    {
        let e = Expression::parse(src, &ParseEnv::default()).unwrap();
        assert_eq!(e.eval_bool(&Scope::request(&cx, &req)), expected, "{src}");
    }
}

#[test]
fn syntax_errors_have_offsets() {
    let err = Expression::parse("abc ${request.uri.path ==}", &ParseEnv::default()).unwrap_err();
    assert_eq!(err.offset, 25);
    let err = Expression::parse("${unknownFunction(1)}", &ParseEnv::default()).unwrap_err();
    assert!(err.message.contains("unknown function"), "{err}");
    let err = Expression::parse("${find(x, '(')}", &ParseEnv::default()).unwrap_err();
    assert!(err.message.contains("invalid regular expression"), "{err}");
    assert!(Expression::parse("${'open", &ParseEnv::default()).is_err());
    assert!(Expression::parse("${a.b", &ParseEnv::default()).is_err());
}

#[test]
fn calls_with_the_wrong_number_of_arguments_fail_to_parse() {
    let env = ParseEnv::default();
    for (src, message) in [
        ("${find(request.uri.path)}", "find() takes 2 arguments, not 1"),
        ("${toString(1, 2)}", "toString() takes 1 argument, not 2"),
        ("${matches()}", "matches() takes 2 arguments, not 0"),
        ("${request.uri.path.substring()}", "substring() takes 1 to 2 arguments, not 0"),
        ("${request.uri.path.startsWith('a', 'b', 'c')}", "startsWith() takes 1 argument, not 3"),
        ("${request.uri.path.trim(1)}", "trim() takes 0 arguments, not 1"),
    ] {
        let err = Expression::parse(src, &env).unwrap_err();
        assert_eq!(err.message, message, "{src}");
    }
    assert!(Expression::parse("${array()}", &env).is_ok());
    assert!(Expression::parse("${array('a', 'b', 'c')}", &env).is_ok());
    assert!(Expression::parse("${request.uri.path.substring(1, 2)}", &env).is_ok());
}

#[test]
fn nesting_is_bounded_so_no_expression_can_overflow_the_stack() {
    let env = ParseEnv::default();
    let parens = format!("${{{}1{}}}", "(".repeat(10_000), ")".repeat(10_000));
    let nots = format!("${{{}true}}", "!".repeat(10_000));
    let chain = format!("${{1{}}}", " + 1".repeat(1_000));
    let props = format!("${{attributes{}}}", ".a".repeat(1_000));
    let calls = format!("${{{}'x'{}}}", "toString(".repeat(1_000), ")".repeat(1_000));
    for src in [parens, nots, chain, props, calls] {
        let err = Expression::parse(&src, &env).unwrap_err();
        assert!(err.message.contains("too deeply") || err.message.contains("too long"), "{}", err.message);
    }
    let long = format!("${{{}}}", vec!["1"; 10_000].join(" + "));
    assert!(Expression::parse(&long, &env).unwrap_err().message.contains("too long"));
    // Real expressions stay well inside the bounds.
    let ok = format!("${{{}1{}}}", "(".repeat(20), ")".repeat(20));
    assert!(Expression::parse(&ok, &env).is_ok());
    assert!(Expression::parse(&format!("${{1{}}}", " + 1".repeat(200)), &env).is_ok());
}

#[test]
fn entity_use_is_detected_at_parse_time() {
    let env = ParseEnv::default();
    assert!(Expression::parse("${request.entity.json.a}", &env).unwrap().needs_request_entity());
    assert!(Expression::parse("${request.form['x']}", &env).unwrap().needs_request_entity());
    assert!(!Expression::parse("${request.uri.path}", &env).unwrap().needs_request_entity());
    assert!(Expression::parse("${response.entity.string}", &env).unwrap().needs_response_entity());
}

#[test]
fn properties_fold_into_constants() {
    let mut props = serde_json::Map::new();
    props.insert("backend".into(), json!("http://app:8081"));
    let env = ParseEnv { constants: Some(&props), files: None };
    let e = Expression::parse("${backend}/x", &env).unwrap();
    let cx = Context::detached();
    let req = request("http://h/");
    assert_eq!(e.eval(&Scope::request(&cx, &req)).to_json(), json!("http://app:8081/x"));
    assert!(e.warnings().is_empty());
    assert_eq!(Expression::parse("${nope}", &ParseEnv::default()).unwrap().warnings().len(), 1);
}

#[test]
fn assignments_write_attributes_session_and_headers() {
    let env = ParseEnv::default();
    let mut cx = Context::detached();
    let mut req = request("http://h/");
    let assign = |src: &str, value: serde_json::Value, cx: &mut Context, req: &mut Request| {
        let lv = LValue::parse(src, &env).unwrap();
        let keys = lv.resolve(&Scope::request(cx, req)).unwrap();
        lv.assign(&keys, value, Target { cx, request: Some(req), response: None });
    };
    assign("${session.authUsername}", json!("Sam Carter"), &mut cx, &mut req);
    assert_eq!(cx.session.data()["authUsername"], json!("Sam Carter"));
    assert!(cx.session.is_dirty());
    assign("${attributes.obj}", json!({}), &mut cx, &mut req);
    assign("${attributes.obj.inner}", json!(1), &mut cx, &mut req);
    assert_eq!(cx.attributes["obj"], json!({"inner": 1}));
    assign("${attributes.absent.inner}", json!(1), &mut cx, &mut req);
    assert!(!cx.attributes.contains_key("absent"), "parent maps must exist, as in IG");
    assign("${attributes[request.method]}", json!("m"), &mut cx, &mut req);
    assert_eq!(cx.attributes["POST"], json!("m"));
    assign("${request.headers['X-Multi']}", json!("only"), &mut cx, &mut req);
    assert_eq!(req.headers().get_all("x-multi").iter().count(), 1);
    assign("${request.method}", json!("PUT"), &mut cx, &mut req);
    assert_eq!(req.method(), "PUT");
    assert!(LValue::parse("${request.uri.path.foo}", &env).is_err());
    assert!(LValue::parse("${1 + 1}", &env).is_err());
    assert!(LValue::parse("text ${session.x}", &env).is_err());
}

#[test]
fn response_scope_reads_status() {
    let cx = Context::detached();
    let resp: Response = http::Response::builder().status(404).header("X-A", "1").body(Body::empty()).unwrap();
    let env = ParseEnv::default();
    let e = Expression::parse("${response.status.code == 404 and not response.status.isSuccessful()}", &env).unwrap();
    assert!(e.eval_bool(&Scope::response(&cx, None, &resp)));
    let e = Expression::parse("${response.headers['x-a'][0]}", &env).unwrap();
    assert!(matches!(e.eval(&Scope::response(&cx, None, &resp)), Value::Str(s) if s == "1"));
}

#[test]
fn json_entities_are_readable_once_buffered() {
    let cx = Context::detached();
    let req = http::Request::builder()
        .uri("http://h/api")
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"user": {"name": "sam", "roles": ["a", "b"]}, "n": 2}"#))
        .unwrap();
    assert_eq!(eval_with("${request.entity.json.user.name}", &cx, &req), json!("sam"));
    assert_eq!(eval_with("${request.entity.json.user.roles[1]}", &cx, &req), json!("b"));
    assert_eq!(eval_with("${request.entity.json.n * 2}", &cx, &req), json!(4));
    let not_json = http::Request::builder().uri("http://h/").body(Body::from("not json")).unwrap();
    assert_eq!(eval_with("${request.entity.json.user}", &cx, &not_json), json!(null));
}

#[test]
fn the_principal_and_feature_contexts_are_readable_without_new_match_arms() {
    let mut cx = Context::detached();
    let req = request("http://ig.example.com:8080/api");
    assert_eq!(eval_with("${contexts.principal}", &cx, &req), json!(null));
    assert_eq!(eval_with("${contexts.oauth2.accessToken.info.sub}", &cx, &req), json!(null));
    let mut attributes = serde_json::Map::new();
    attributes.insert("profile".into(), json!("Administrator"));
    cx.principal = Some(gatehouse_core::Principal { name: "Job".into(), method: "oauth2", attributes });
    cx.set_context("oauth2", json!({ "accessToken": { "info": { "sub": "Job", "scope": ["usercube_api"] } } }));
    assert_eq!(eval_with("${contexts.principal.name}", &cx, &req), json!("Job"));
    assert_eq!(eval_with("${contexts.principal.method}", &cx, &req), json!("oauth2"));
    assert_eq!(eval_with("${contexts.principal.attributes.profile}", &cx, &req), json!("Administrator"));
    assert_eq!(eval_with("${contexts.oauth2.accessToken.info.sub}", &cx, &req), json!("Job"));
    assert_eq!(eval_with("${contexts.oauth2.accessToken.info.scope[0]}", &cx, &req), json!("usercube_api"));
    assert_eq!(eval_with("${contexts.client.remoteAddress}", &cx, &req), json!("127.0.0.1"));
}

#[test]
fn ig_parity_functions_and_get_first() {
    assert_eq!(eval("${boolean('TRUE')}"), json!(true));
    assert_eq!(eval("${boolean('no')}"), json!(false));
    assert_eq!(eval("${escapeJson('say \"hi\" c:\\\\x')}"), json!("say \\\"hi\\\" c:\\\\x"));
    assert_eq!(eval("${request.queryParams.getFirst('q')}"), json!("a b"));
    assert_eq!(eval("${request.form.getFirst('user')}"), json!("sam carter"));
    assert_eq!(eval("${request.queryParams.getFirst('nope')}"), json!(null));
    // Look-around, through the backtracking engine only where it is needed.
    assert_eq!(eval("${matches(request.uri.path, '^((?!funds-confirmation).)*$')}"), json!(true));
    assert_eq!(eval("${matches('/x/funds-confirmation', '^((?!funds-confirmation).)*$')}"), json!(false));
    assert_eq!(eval("${'/api/v2/x'.replaceAll('(?<=/api/)v\\\\d+', 'latest')}"), json!("/api/latest/x"));
}

#[test]
fn read_and_read_properties_read_files_under_the_instance_once_at_parse() {
    let dir = std::env::temp_dir().join(format!("gatehouse-expr-read-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("conf")).unwrap();
    std::fs::write(dir.join("conf/secret.txt"), "s3cret").unwrap();
    std::fs::write(dir.join("conf/app.properties"), "# comment\nurl=http://app:8081\nname : App\n").unwrap();
    let env = ParseEnv { constants: None, files: Some(&dir) };
    let parse = |src: &str| Expression::parse(src, &env);
    let cx = Context::detached();
    let value = |src: &str| parse(src).unwrap().eval(&Scope::detached(&cx)).to_json();
    assert_eq!(value("${read('conf/secret.txt')}"), json!("s3cret"));
    assert_eq!(value("${readProperties('conf/app.properties')['url']}"), json!("http://app:8081"));
    assert_eq!(value("${readProperties('conf/app.properties').name}"), json!("App"));
    std::fs::remove_file(dir.join("conf/secret.txt")).unwrap();
    let err = parse("${read('conf/secret.txt')}").unwrap_err();
    assert!(err.message.contains("cannot read 'conf/secret.txt'"), "{}", err.message);
    assert!(parse("${read('../../etc/passwd')}").unwrap_err().message.contains("outside the instance directory"));
    assert!(parse("${read(request.uri.path)}").unwrap_err().message.contains("string literal"));
    assert!(Expression::parse("${read('x')}", &ParseEnv::default())
        .unwrap_err()
        .message
        .contains("configuration files"));
    let _ = std::fs::remove_dir_all(&dir);
}
