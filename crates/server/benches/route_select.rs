//! Route selection: a Router over 100 route files, each with a path condition, answering
//! through the matched route's StaticResponseHandler (selection plus dispatch).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use gatehouse_config::{defaults_heap, Loader, Mode, Node, Object, Registry};
use gatehouse_core::{Body, Context, Handler};

fn router(dir: &std::path::Path) -> Arc<dyn Handler> {
    let mut registry = Registry::new();
    gatehouse_http::register(&mut registry);
    gatehouse_server::register(&mut registry);
    let loader = Arc::new(Loader::new(registry, dir.to_path_buf(), Mode::Check, gatehouse_core::Clock::system()));
    let heap = defaults_heap(&loader).unwrap();
    let decl = serde_json::json!({ "type": "Router", "config": { "directory": dir.display().to_string(), "scanInterval": "disabled" } });
    match heap.resolve(&Node::from_json(&decl)).unwrap() {
        Object::Handler(h) => h,
        _ => unreachable!("a Router is a handler"),
    }
}

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-routes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..100 {
        let route = serde_json::json!({
            "name": format!("route-{i:03}"),
            "condition": format!("${{request.uri.path == '/app/{i:03}'}}"),
            "handler": { "type": "StaticResponseHandler", "config": { "status": 200, "entity": "ok" } }
        });
        std::fs::write(dir.join(format!("route-{i:03}.json")), route.to_string()).unwrap();
    }
    let router = router(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let mut group = c.benchmark_group("route_select_100");
    for (name, path) in [("first", "/app/000"), ("middle", "/app/050"), ("last", "/app/099"), ("no_match", "/nothing")]
    {
        let uri: http::Uri = format!("http://gw.example.com{path}").parse().unwrap();
        group.bench_function(name, |b| {
            b.iter(|| {
                let req = http::Request::builder().uri(uri.clone()).body(Body::empty()).unwrap();
                let mut cx = Context::detached();
                let resp = rt.block_on(router.handle(&mut cx, req)).unwrap();
                black_box(resp.status())
            })
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
