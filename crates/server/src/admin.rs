//! Admin endpoints under `/{prefix}/` (default `/openig/`):
//!
//! | path | answer |
//! |---|---|
//! | `ping` | 200, empty (liveness) |
//! | `health/live`, `health/ready` | 200 `{"status":"UP"}`; `ready` adds the registered checks (`checks`) |
//! | `api/info` | version and build as JSON; loopback only in production mode |
//! | `metrics/prometheus`, `metrics/prometheus/0.0.4` | counters, Prometheus text format |
//! | `api/clock` | the gateway's time; `POST ?advance=30m` moves a test clock (loopback only) |
//! | `console`, `console/data` | the operations console and its JSON (see `console.rs`) |
//!
//! `apiProtectionFilter` and `metricsProtectionFilter` (admin.json, IG's names) run in front
//! of `api/*` and `metrics/*`; without the first, production answers `api/*` to loopback
//! clients only. With an `adminConnector`, the endpoints are served there (with or without
//! the prefix) and the main connectors pass `/{prefix}/*` to the routes like any path.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_core::{Body, BoxFuture, Chain, Clock, Context, Filter, Handler, Request, Response};
use http::{header, HeaderValue, Method, StatusCode};

use crate::admin_config::RunMode;
use crate::console::{Console, ConsoleConfig};
use crate::metrics::Metrics;

/// The admin endpoints of one gateway, behind their protection filters.
pub struct Admin {
    core: Arc<Core>,
    /// `apiProtectionFilter` in front of `api/*`.
    api: Option<Chain>,
    /// `metricsProtectionFilter` in front of `metrics/*`.
    metrics: Option<Chain>,
    /// Whether the endpoints live on their own connector (`adminConnector`), not on the
    /// main connectors.
    separate: bool,
}

/// The endpoints themselves.
struct Core {
    base: String,
    run_mode: RunMode,
    metrics: Arc<Metrics>,
    info: Bytes,
    clock: Clock,
    /// Whether `api/*` has its own protection filter (then it replaces the loopback rule).
    api_protected: bool,
    console: Console,
}

/// What protects the admin endpoints (admin.json).
#[derive(Clone, Default)]
pub struct Protection {
    /// `apiProtectionFilter`.
    pub api: Option<Arc<dyn Filter>>,
    /// `metricsProtectionFilter`.
    pub metrics: Option<Arc<dyn Filter>>,
    /// Whether there is an `adminConnector`.
    pub separate: bool,
    /// admin.json's `console`: who may see the console from elsewhere than loopback.
    pub console: ConsoleConfig,
}

impl Admin {
    /// Admin endpoints under `/{prefix}/` (and at the root of the admin connector).
    pub fn new(prefix: &str, run_mode: RunMode, metrics: Arc<Metrics>, clock: Clock, protection: Protection) -> Self {
        let info = serde_json::json!({
            "name": "Gatehouse",
            "version": env!("CARGO_PKG_VERSION"),
            "revision": option_env!("GATEHOUSE_REVISION").unwrap_or("unknown"),
            "build": option_env!("GATEHOUSE_BUILD_PROFILE").unwrap_or("unknown"),
        });
        let core = Arc::new(Core {
            base: format!("/{prefix}"),
            run_mode,
            metrics: metrics.clone(),
            info: Bytes::from(info.to_string()),
            clock: clock.clone(),
            api_protected: protection.api.is_some(),
            console: Console::new(
                protection.console.clone(),
                metrics,
                clock,
                if run_mode == RunMode::Production { "production" } else { "development" },
            ),
        });
        let chain = |filter: Option<Arc<dyn Filter>>| {
            filter.map(|f| Chain::new(vec![f], Arc::new(Endpoints(core.clone())) as Arc<dyn Handler>))
        };
        Admin { api: chain(protection.api), metrics: chain(protection.metrics), core, separate: protection.separate }
    }

    /// The rest of the path after the admin prefix, when a main connector serves `path` as an
    /// admin path (never, when there is an admin connector).
    pub fn sub_path<'p>(&self, path: &'p str) -> Option<&'p str> {
        if self.separate {
            return None;
        }
        self.core.prefixed(path)
    }

    /// Answers an admin request whose path is `sub` below the admin base, through its
    /// protection filter when it has one.
    pub async fn serve(&self, cx: &mut Context, req: Request, sub: &str) -> Response {
        let chain = if sub.starts_with("api/") {
            self.api.as_ref()
        } else if sub.starts_with("metrics/") {
            self.metrics.as_ref()
        } else {
            None
        };
        match chain {
            Some(chain) => match chain.handle(cx, req).await {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::warn!(request_id = %cx.request_id, "admin protection filter failed: {e}");
                    status(StatusCode::INTERNAL_SERVER_ERROR)
                }
            },
            None => self.core.handle(cx, &req, sub),
        }
    }

    /// The path below the admin connector's root: with or without the prefix.
    pub fn sub_on_admin_connector<'p>(&self, path: &'p str) -> &'p str {
        self.core.prefixed(path).unwrap_or_else(|| path.trim_start_matches('/'))
    }
}

/// The endpoints as a handler, behind a protection filter.
struct Endpoints(Arc<Core>);

impl Handler for Endpoints {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, gatehouse_core::Result<Response>> {
        let path = req.uri().path();
        let sub = self.0.prefixed(path).unwrap_or_else(|| path.trim_start_matches('/')).to_string();
        Box::pin(std::future::ready(Ok(self.0.handle(cx, &req, &sub))))
    }
}

impl Core {
    /// The rest of `path` after `/{prefix}`, if it is under it.
    fn prefixed<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(&self.base)?;
        if rest.is_empty() {
            Some("")
        } else {
            rest.strip_prefix('/')
        }
    }

    /// Answers an admin request; `sub` is the path after the prefix.
    fn handle(&self, cx: &Context, req: &Request, sub: &str) -> Response {
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
            s if s == "console" || s.starts_with("console/") => self.console.serve(cx, req, sub),
            "health/live" => json(Bytes::from_static(b"{\"status\":\"UP\"}")),
            "health/ready" => {
                // What feature crates report (the relay's callback URLs) comes as details.
                let checks = gatehouse_core::counters::health_checks();
                if checks.is_empty() {
                    return json(Bytes::from_static(b"{\"status\":\"UP\"}"));
                }
                let details: serde_json::Map<String, serde_json::Value> =
                    checks.into_iter().map(|(name, up)| (name, (if up { "UP" } else { "DOWN" }).into())).collect();
                json(Bytes::from(serde_json::json!({ "status": "UP", "checks": details }).to_string()))
            }
            "api/info" => {
                // Without an apiProtectionFilter, production answers loopback clients only.
                if !self.api_protected
                    && self.run_mode == RunMode::Production
                    && !cx.client.remote_addr.ip().is_loopback()
                {
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

impl Core {
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
