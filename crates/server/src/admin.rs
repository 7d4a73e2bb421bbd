//! Admin endpoints under `/{prefix}/` (default `/openig/`):
//!
//! | path | answer |
//! |---|---|
//! | `ping` | 200, empty (liveness) |
//! | `health/live`, `health/ready` | 200 `{"status":"UP"}` |
//! | `api/info` | version and build as JSON; loopback only in production mode |
//! | `metrics/prometheus`, `metrics/prometheus/0.0.4` | counters, Prometheus text format |
//! | `api/clock` | the gateway's time; `POST ?advance=30m` moves a test clock (loopback only) |

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_core::{Body, Clock, Context, Request, Response};
use http::{header, HeaderValue, Method, StatusCode};

use crate::admin_config::RunMode;
use crate::metrics::Metrics;

/// The admin endpoints of one gateway.
pub struct Admin {
    base: String,
    run_mode: RunMode,
    metrics: Arc<Metrics>,
    info: Bytes,
    clock: Clock,
}

impl Admin {
    /// Admin endpoints under `/{prefix}/`.
    pub fn new(prefix: &str, run_mode: RunMode, metrics: Arc<Metrics>, clock: Clock) -> Self {
        let info = serde_json::json!({
            "name": "Gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("GATEHOUSE_REVISION").unwrap_or("unknown"),
            "build": option_env!("GATEHOUSE_BUILD_PROFILE").unwrap_or("unknown"),
        });
        Admin { base: format!("/{prefix}"), run_mode, metrics, info: Bytes::from(info.to_string()), clock }
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
        if sub == "api/clock" {
            return self.clock(cx, req);
        }
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

impl Admin {
    /// `api/clock`: the time the gateway reads. A gateway started with a test clock
    /// (`GATEHOUSE_TEST_CLOCK`) moves it on `POST ?advance=<duration>`, so that tests see
    /// expiry without waiting; loopback clients only, and never the system clock.
    fn clock(&self, cx: &Context, req: &Request) -> Response {
        if !cx.client.remote_addr.ip().is_loopback() {
            return status(StatusCode::FORBIDDEN);
        }
        if req.method() == Method::POST {
            let advance = req
                .uri()
                .query()
                .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "advance"))
                .and_then(|(_, v)| gatehouse_config::parse_duration(&v).ok().flatten());
            let Some(by) = advance else { return status(StatusCode::BAD_REQUEST) };
            if !self.clock.advance(by) {
                return status(StatusCode::CONFLICT);
            }
        } else if req.method() != Method::GET {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let body = serde_json::json!({ "now": self.clock.unix_secs(), "adjustable": self.clock.is_adjustable() });
        json(Bytes::from(body.to_string()))
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
