//! OpenTelemetry traces over OTLP/HTTP (the JSON encoding of the collector's protocol): one
//! server span per exchange, with its route and upstream as attributes, batched and posted to
//! `{endpoint}` by a task of the background runtime. Spans are recorded where the access log
//! line is (when the response body is done) and never wait: when the exporter falls behind,
//! spans are dropped and counted.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node};
use gatehouse_core::counters::Counter;
use gatehouse_core::trace::{hex, TraceContext};
use http_body_util::Full;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// Spans dropped because the exporter fell behind or its collector was unreachable.
pub(crate) static SPANS_DROPPED: Counter = Counter::new(
    "gatehouse_trace_spans_dropped_total",
    "Trace spans dropped (the exporter behind, or the collector unreachable).",
);
/// Spans the collector accepted.
pub(crate) static SPANS_EXPORTED: Counter =
    Counter::new("gatehouse_trace_spans_exported_total", "Trace spans the OTLP collector accepted.");

/// The most spans one request to the collector carries, and how long the first waits.
const BATCH: usize = 512;
const LINGER: Duration = Duration::from_millis(500);
const QUEUE: usize = 8192;

/// admin.json's `openTelemetry`.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    endpoint: http::Uri,
    resource: Vec<(String, String)>,
}

/// Reads `openTelemetry`: `{ "enabled": true, "exporter": { "type": "otlp", "endpoint":
/// "http://collector:4318/v1/traces" }, "serviceName": "gatehouse", "resourceAttributes": {...} }`;
/// `None` when disabled.
pub(crate) fn config(cx: &BuildCtx<'_>, node: &Node) -> Result<Option<TelemetryConfig>, ConfigError> {
    let c = cx.config(node)?;
    let enabled = c.get("enabled").map(|n| cx.bool(n)).transpose()?.unwrap_or(true);
    let exporter = c.require("exporter")?;
    let e = cx.config(exporter)?;
    if let Some(t) = e.get("type") {
        let kind = cx.string(t)?;
        if !kind.eq_ignore_ascii_case("otlp") {
            return Err(cx.err(t, format!("exporter type '{kind}' is not supported; Gatehouse exports OTLP")));
        }
    }
    let endpoint_node = e.require("endpoint")?;
    let text = cx.string(endpoint_node)?;
    let endpoint: http::Uri =
        text.parse().map_err(|_| cx.err(endpoint_node, format!("endpoint '{text}' is not a URL")))?;
    if endpoint.scheme_str() != Some("http") || endpoint.authority().is_none() {
        return Err(cx.err(endpoint_node, "endpoint must be an http:// URL (OTLP/HTTP, JSON encoding)"));
    }
    e.finish()?;
    let mut resource = vec![(
        "service.name".to_string(),
        c.get("serviceName").map(|n| cx.string(n)).transpose()?.unwrap_or_else(|| "gatehouse".into()),
    )];
    if let Some(attrs) = c.get("resourceAttributes") {
        let entries =
            attrs.entries().ok_or_else(|| cx.err(attrs, "resourceAttributes must be an object of strings"))?;
        for (key, value) in entries {
            resource.retain(|(k, _)| k != &key.name);
            resource.push((key.name.clone(), cx.string(value)?));
        }
    }
    c.finish()?;
    Ok(enabled.then_some(TelemetryConfig { endpoint, resource }))
}

/// One finished exchange.
pub(crate) struct Span {
    pub trace: TraceContext,
    pub name: String,
    pub start_unix_nanos: u128,
    pub end_unix_nanos: u128,
    pub attributes: Vec<(&'static str, Value)>,
    pub error: bool,
}

/// The exporter's queue.
pub struct Exporter {
    tx: tokio::sync::mpsc::Sender<Span>,
}

impl Exporter {
    /// Starts the export task on the current runtime; it ends, after a last batch, when the
    /// exporter is dropped.
    pub fn start(config: TelemetryConfig) -> (Arc<Exporter>, tokio::task::JoinHandle<()>) {
        let (tx, rx) = tokio::sync::mpsc::channel(QUEUE);
        let task = tokio::spawn(run(config, rx));
        (Arc::new(Exporter { tx }), task)
    }

    /// Queues `span`, or drops it when the queue is full.
    pub(crate) fn record(&self, span: Span) {
        if self.tx.try_send(span).is_err() {
            SPANS_DROPPED.inc();
        }
    }

    /// A new trace context for an exchange whose request carried `traceparent`.
    pub fn start_trace(traceparent: Option<&str>) -> TraceContext {
        TraceContext::start(traceparent, |buf| {
            if aws_lc_rs::rand::fill(buf).is_err() {
                // No randomness: ids from a process counter, unique enough to link spans.
                static FALLBACK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0x5a5a_0000);
                let n = FALLBACK.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes();
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = n[i % 8] ^ (i as u8);
                }
            }
        })
    }
}

async fn run(config: TelemetryConfig, mut rx: tokio::sync::mpsc::Receiver<Span>) {
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut batch = Vec::with_capacity(BATCH);
    let mut failures_logged = false;
    loop {
        let Some(first) = rx.recv().await else { break };
        batch.push(first);
        let deadline = tokio::time::sleep(LINGER);
        tokio::pin!(deadline);
        let mut closed = false;
        while batch.len() < BATCH {
            tokio::select! {
                s = rx.recv() => match s {
                    Some(s) => batch.push(s),
                    None => { closed = true; break }
                },
                _ = &mut deadline => break,
            }
        }
        let sent = post(&client, &config, &batch).await;
        match sent {
            Ok(()) => {
                SPANS_EXPORTED.add(batch.len() as u64);
                failures_logged = false;
            }
            Err(e) => {
                SPANS_DROPPED.add(batch.len() as u64);
                if !failures_logged {
                    tracing::warn!(
                        "OTLP export to {} failed: {e}; spans are dropped until it answers",
                        config.endpoint
                    );
                    failures_logged = true;
                }
            }
        }
        batch.clear();
        if closed {
            break;
        }
    }
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    config: &TelemetryConfig,
    spans: &[Span],
) -> Result<(), String> {
    let body = export_request(&config.resource, spans).to_string();
    let req = http::Request::post(config.endpoint.clone())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("the collector answered {}", resp.status()))
    }
}

fn attribute(key: &str, value: &Value) -> Value {
    let v = match value {
        Value::Number(n) if n.is_i64() => json!({ "intValue": n.to_string() }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": v })
}

/// An `ExportTraceServiceRequest` in OTLP's JSON encoding (ids in hex, times as strings).
fn export_request(resource: &[(String, String)], spans: &[Span]) -> Value {
    let resource: Vec<Value> = resource.iter().map(|(k, v)| attribute(k, &Value::String(v.clone()))).collect();
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut span = json!({
                "traceId": hex(&s.trace.trace_id),
                "spanId": hex(&s.trace.span_id),
                "flags": s.trace.flags,
                "name": s.name,
                "kind": 2,
                "startTimeUnixNano": s.start_unix_nanos.to_string(),
                "endTimeUnixNano": s.end_unix_nanos.to_string(),
                "attributes": s.attributes.iter().map(|(k, v)| attribute(k, v)).collect::<Vec<_>>(),
                "status": { "code": if s.error { 2 } else { 0 } },
            });
            if let Some(parent) = s.trace.parent_span_id {
                span["parentSpanId"] = Value::String(hex(&parent));
            }
            span
        })
        .collect();
    json!({ "resourceSpans": [ {
        "resource": { "attributes": resource },
        "scopeSpans": [ { "scope": { "name": "gatehouse", "version": env!("CARGO_PKG_VERSION") }, "spans": spans } ]
    } ] })
}
