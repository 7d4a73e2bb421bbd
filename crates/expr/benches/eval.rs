//! Expression evaluation: the conditions and templates of the reference guide.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_core::{Body, Context};
use gatehouse_expr::{Expression, ParseEnv, Scope};

const GUIDE_CONDITION: &str =
    "${find(request.uri.path, '/webapp/browsing') and (contains(request.uri.query, 'one') or empty(request.uri.query))}";
const GUIDE_ENTITY: &str = "${session.authUsername != null?'Hello, '.concat(session.authUsername).concat(' !'):'Session.authUsername is not defined'}! (instance2)";

fn bench(c: &mut Criterion) {
    let req = http::Request::builder()
        .uri("http://ig.example.com:8001/webapp/browsing?one")
        .header("Host", "ig.example.com:8001")
        .header("User-Agent", "bench")
        .body(Body::empty())
        .unwrap();
    let mut cx = Context::detached();
    cx.session.data_mut().insert("authUsername".into(), serde_json::json!("Sam Carter"));
    let env = ParseEnv::default();
    let cases = [
        ("path_equals", "${request.uri.path == '/webapp/browsing'}"),
        ("guide_dispatch_condition", GUIDE_CONDITION),
        ("header_index_split", "${request.headers['Host'][0].split(':')[0] == 'ig.example.com'}"),
        ("guide_entity_template", GUIDE_ENTITY),
        ("template_two_parts", "Hello ${session.authUsername} from ${contexts.client.remoteAddress}"),
    ];
    let mut group = c.benchmark_group("eval");
    for (name, src) in cases {
        let expr = Expression::parse(src, &env).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let scope = Scope::request(&cx, &req);
                black_box(expr.eval(&scope).is_null())
            })
        });
    }
    group.finish();
    c.bench_function("parse/guide_entity_template", |b| {
        b.iter(|| Expression::parse(black_box(GUIDE_ENTITY), &env).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
