//! Admin endpoints under `/{prefix}/` (default `/openig/`):
//!
//! | path | answer |
//! |---|---|
//! | `ping` | 200, empty (liveness) |
//! | `health/live`, `health/ready` | 200 `{"status":"UP"}` |
//! | `api/info` | version and build as JSON; loopback only in production mode |
//! | `metrics/prometheus`, `metrics/prometheus/0.0.4` | counters, Prometheus text format |

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_core::{Body, Context, Request, Response};
use http::{header, HeaderValue, Method, StatusCode};

use crate::admin_config::RunMode;
use crate::metrics::Metrics;

/// The admin endpoints of one gateway.
pub struct Admin {
    base: String,
    run_mode: RunMode,
    metrics: Arc<Metrics>,
    info: Bytes,
}

impl Admin {
    /// Admin endpoints under `/{prefix}/`.
    pub fn new(prefix: &str, run_mode: RunMode, metrics: Arc<Metrics>) -> Self {
        let info = serde_json::json!({
            "name": "Gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("GATEHOUSE_REVISION").unwrap_or("unknown"),
            "build": option_env!("GATEHOUSE_BUILD_PROFILE").unwrap_or("unknown"),
        });
        Admin { base: format!("/{prefix}"), run_mode, metrics, info: Bytes::from(info.to_string()) }
    }

    /// The rest of the path after the admin prefix, if `path` is an admin path.
    pub fn sub_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(&self.base)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// Answers an admin request; `sub` is the path after the prefix.
    pub fn handle(&self, cx: &Context, req: &Request, sub: &str) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = status(StatusCode::METHOD_NOT_ALLOWED);
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        match sub {
            "ping" => status(StatusCode::OK),
            "health/live" | "health/ready" => json(Bytes::from_static(b"{\"status\":\"UP\"}")),
            "api/info" => {
                if self.run_mode == RunMode::Production && !cx.client.remote_addr.ip().is_loopback() {
                    return status(StatusCode::FORBIDDEN);
                }
                json(self.info.clone())
            }
            "metrics/prometheus" | "metrics/prometheus/0.0.4" => {
                let mut r = Response::new(Body::from(self.metrics.render()));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
                r
            }
            _ => status(StatusCode::NOT_FOUND),
        }
    }
}

fn status(s: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = s;
    r
}

fn json(body: Bytes) -> Response {
    let mut r = Response::new(Body::full(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
