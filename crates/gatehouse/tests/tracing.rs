//! OpenTelemetry: a client's `traceparent` is continued, the upstream request names the
//! gateway's span as its parent, and the span reaches an OTLP/HTTP receiver with the route and
//! the upstream as attributes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use support::origin::Origin;
use support::{curl, eventually, Gateway, TempInstance};

/// The receiver the relay tests use for callbacks (Python's http.server), as an OTLP/HTTP
/// collector: it records each POST (path and JSON body) as a line of `log`.
struct Receiver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Receiver {
    fn start(dir: &Path) -> Receiver {
        let log = dir.join("otlp.jsonl");
        let mut child = Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/relay_receiver.py"))
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        Receiver { child, port: line.trim().parse().unwrap(), log }
    }

    /// The export requests received so far.
    fn exports(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .inspect(|r| assert_eq!(r["path"], "/v1/traces"))
            .map(|r| r["body"].clone())
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn attr<'a>(span: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

#[test]
fn spans_continue_the_clients_trace_and_reach_the_otlp_receiver() {
    let origin = Origin::start();
    let t = TempInstance::new();
    let receiver = Receiver::start(&t.dir);
    let port = receiver.port;
    t.write(
        "config/admin.json",
        &format!(
            r#"{{ "connectors": [ {{ "port": 0, "host": "127.0.0.1" }} ],
                 "openTelemetry": {{ "exporter": {{ "type": "otlp", "endpoint": "http://127.0.0.1:{port}/v1/traces" }},
                                    "serviceName": "edge-gateway" }} }}"#
        ),
    );
    t.route("api.json", &format!(r#"{{ "baseURI": "{}", "handler": "ReverseProxyHandler" }}"#, origin.url()));
    let gw = Gateway::start(&t.dir);
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let echoed = curl(&["-s", "-H", &format!("traceparent: {parent}"), &gw.url("/headers")]);
    let headers: serde_json::Value = serde_json::from_str(&echoed).unwrap();
    let upstream = headers["headers"]["traceparent"][0].as_str().unwrap_or_else(|| panic!("{echoed}")).to_string();
    // Same trace, a new parent: the gateway's span.
    assert!(upstream.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{upstream}");
    let span_id = upstream.split('-').nth(2).unwrap().to_string();
    assert_ne!(span_id, "00f067aa0ba902b7");
    // Without a traceparent, a new trace starts.
    let fresh: serde_json::Value = serde_json::from_str(&curl(&["-s", &gw.url("/headers")])).unwrap();
    let fresh = fresh["headers"]["traceparent"][0].as_str().unwrap().to_string();
    assert!(!fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736") && fresh.ends_with("-01"), "{fresh}");

    eventually("both spans are exported", || {
        receiver
            .exports()
            .iter()
            .map(|r| r["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
            >= 2
    });
    let all = receiver.exports();
    let resource = &all[0]["resourceSpans"][0]["resource"]["attributes"][0];
    assert_eq!(
        (resource["key"].as_str(), resource["value"]["stringValue"].as_str()),
        (Some("service.name"), Some("edge-gateway"))
    );
    let spans: Vec<&serde_json::Value> =
        all.iter().flat_map(|r| r["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap()).collect();
    let ours = spans.iter().find(|s| s["spanId"] == span_id.as_str()).unwrap_or_else(|| panic!("{spans:?}"));
    assert_eq!(ours["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(ours["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(ours["kind"], 2);
    assert_eq!(ours["name"], "GET api");
    assert_eq!(attr(ours, "http.route").unwrap()["stringValue"], "api");
    assert_eq!(attr(ours, "http.response.status_code").unwrap()["intValue"], "200");
    let origin_authority = origin.url().trim_start_matches("http://").to_string();
    assert_eq!(attr(ours, "gatehouse.upstream").unwrap()["stringValue"], origin_authority.as_str());
    let (start, end): (u128, u128) = (
        ours["startTimeUnixNano"].as_str().unwrap().parse().unwrap(),
        ours["endTimeUnixNano"].as_str().unwrap().parse().unwrap(),
    );
    assert!(start > 0 && end >= start, "{ours}");
    let metrics = curl(&["-s", &gw.url("/openig/metrics/prometheus")]);
    assert!(metrics.contains("gatehouse_trace_spans_exported_total "), "{metrics}");
}
