//! The metrics endpoint after a mixed workload: every name documented in docs/operations.md
//! "Metrics" is there, and the request, route, upstream and reload families count what the
//! workload did.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use support::origin::Origin;
use support::{eventually, get, Gateway, TempInstance};

/// The names in the documentation's table, in its order.
fn documented() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/operations.md")).unwrap();
    let table = doc.split("## Metrics").nth(1).unwrap().split("\n## ").next().unwrap();
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `gatehouse_"))
        .map(|l| format!("gatehouse_{}", l.split('`').next().unwrap()))
        .collect()
}

/// The value of the sample `series` (`name{labels}` exactly as rendered), if present.
fn sample(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn every_documented_metric_is_scraped_and_counts_a_mixed_workload() {
    let origin = Origin::start();
    let t = TempInstance::new();
    t.route(
        "app.json",
        &format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/status/')}}", "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#,
            origin.url()
        ),
    );
    t.route(
        "down.json",
        r#"{ "condition": "${find(request.uri.path, '^/down')}", "baseURI": "http://127.0.0.1:1", "handler": "ReverseProxyHandler" }"#,
    );
    t.route("broken.json", r#"{ "handler": { "type": "NoSuchHandler" } }"#);
    let gw = Gateway::start(&t.dir);
    for _ in 0..3 {
        assert_eq!(get(gw.port(), "/status/200").status, 200);
    }
    assert_eq!(get(gw.port(), "/status/404").status, 404);
    assert_eq!(get(gw.port(), "/down/x").status, 502);
    assert_eq!(get(gw.port(), "/nowhere").status, 404);

    // An exchange is counted when its body is done, a moment after the client has it all.
    let mut scrape = String::new();
    eventually("the six exchanges are counted", || {
        scrape = get(gw.port(), "/openig/metrics/prometheus").body;
        let class = |c: &str| sample(&scrape, &format!("gatehouse_responses_total{{class=\"{c}\"}}"));
        // Earlier scrapes of this loop count as 2xx too.
        class("2xx") >= Some(3.0) && (class("4xx"), class("5xx")) == (Some(2.0), Some(1.0))
    });
    let names = documented();
    assert!(names.len() >= 25, "the table was not found: {names:?}");
    for name in &names {
        assert!(scrape.contains(&format!("# TYPE {name} ")), "{name} is documented but not scraped:\n{scrape}");
    }
    // And nothing scraped is left out of the documentation.
    for line in scrape.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = line.split(' ').next().unwrap();
        assert!(names.iter().any(|n| n == name), "{name} is scraped but not documented");
    }

    let app =
        |class: &str| sample(&scrape, &format!("gatehouse_route_requests_total{{route=\"app\",class=\"{class}\"}}"));
    assert_eq!((app("2xx"), app("4xx"), app("5xx")), (Some(3.0), Some(1.0), Some(0.0)), "{scrape}");
    assert_eq!(sample(&scrape, "gatehouse_route_requests_total{route=\"down\",class=\"5xx\"}"), Some(1.0), "{scrape}");
    assert_eq!(sample(&scrape, "gatehouse_route_request_duration_seconds_count{route=\"app\"}"), Some(4.0));
    assert_eq!(
        sample(&scrape, "gatehouse_route_request_duration_seconds_bucket{route=\"app\",le=\"+Inf\"}"),
        Some(4.0)
    );
    assert_eq!(sample(&scrape, "gatehouse_upstream_errors_total{kind=\"connect\"}"), Some(1.0), "{scrape}");
    assert_eq!(sample(&scrape, "gatehouse_route_loads_total{outcome=\"loaded\"}"), Some(2.0), "{scrape}");
    assert_eq!(sample(&scrape, "gatehouse_route_loads_total{outcome=\"failed\"}"), Some(1.0), "{scrape}");
    // The scrape itself is still in flight.
    assert_eq!(sample(&scrape, "gatehouse_exchanges_in_flight"), Some(1.0), "{scrape}");
}
