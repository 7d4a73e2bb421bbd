//! The read-only operations console at `/{prefix}/console`: one page, its script and style
//! (shipped inside the binary, no build step), and `console/data`, a JSON snapshot the page
//! polls: routes with their conditions, hit counts and latency percentiles, recent server
//! errors, reload history, certificates and their expiry, and every counter the feature
//! crates report (token service, relay, sessions).
//!
//! Served to loopback clients (not to requests a proxy forwarded from elsewhere); others only
//! with the credential of admin.json's `console` (HTTP Basic), and not at all without one.
//! Nothing here changes the gateway.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node};
use gatehouse_core::credentials::{self, hash_matches, parse_hashed, sha256, Credentials};
use gatehouse_core::histogram::Buckets;
use gatehouse_core::{certificates, recent, route_stats, Body, Clock, Context, Request, Response};
use http::{header, HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use crate::metrics::Metrics;

const PAGE: &str = include_str!("console/page.html");
const SCRIPT: &str = include_str!("console/app.js");
const STYLE: &str = include_str!("console/app.css");

/// admin.json's `console`: `{ "username": "ops", "passwordHash": "<base64 SHA-256>" }` (or
/// `"password"`), the credential a non-loopback client must send; `"enabled": false` turns
/// the console off.
#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    enabled: bool,
    /// The SHA-256 of the username and of the password.
    credential: Option<([u8; 32], [u8; 32])>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true, credential: None }
    }
}

/// Reads admin.json's `console`.
pub fn config(cx: &BuildCtx<'_>, node: &Node) -> Result<ConsoleConfig, ConfigError> {
    let c = cx.config(node)?;
    let enabled = c.get("enabled").map(|n| cx.bool(n)).transpose()?.unwrap_or(true);
    let username = c.get("username").map(|n| cx.string(n)).transpose()?;
    let hash = match (c.get("password"), c.get("passwordHash")) {
        (Some(_), Some(n)) => return Err(cx.err(n, "console: give password or passwordHash, not both")),
        (Some(n), None) => Some(sha256(cx.string(n)?.as_bytes())),
        (None, Some(n)) => Some(parse_hashed(&cx.string(n)?).ok_or_else(|| {
            cx.err(n, "console passwordHash must be the base64 of a SHA-256 (gatehouse new-openid-secret prints one)")
        })?),
        (None, None) => None,
    };
    c.finish()?;
    let credential = match (username, hash) {
        (Some(u), Some(h)) if !u.is_empty() && !u.contains(':') => Some((sha256(u.as_bytes()), h)),
        (None, None) => None,
        _ => return Err(cx.err(node, "console needs both a username (without ':') and a password or passwordHash")),
    };
    Ok(ConsoleConfig { enabled, credential })
}

/// Whether the client is on this host: a loopback peer that is not a proxy forwarding someone
/// else (a reverse proxy on the same host would otherwise make every client loopback).
fn local(cx: &Context, req: &Request) -> bool {
    cx.client.remote_addr.ip().is_loopback() && req.extensions().get::<crate::edge::Relayed>().is_none()
}

/// The console of one gateway.
pub(crate) struct Console {
    config: ConsoleConfig,
    metrics: Arc<Metrics>,
    clock: Clock,
    started: u64,
    run_mode: &'static str,
}

impl Console {
    pub(crate) fn new(config: ConsoleConfig, metrics: Arc<Metrics>, clock: Clock, run_mode: &'static str) -> Self {
        let started = clock.unix_millis();
        Console { config, metrics, clock, started, run_mode }
    }

    /// Answers `console` and `console/*` (`sub` is the path after the prefix).
    pub(crate) fn serve(&self, cx: &Context, req: &Request, sub: &str) -> Response {
        if !self.config.enabled {
            return status(StatusCode::NOT_FOUND);
        }
        if !local(cx, req) && !self.authorized(req) {
            return match self.config.credential {
                Some(_) => {
                    let mut r = status(StatusCode::UNAUTHORIZED);
                    r.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"Gatehouse console\""),
                    );
                    r
                }
                None => status(StatusCode::FORBIDDEN),
            };
        }
        match sub {
            "console" => {
                // The page's links are absolute: the console is reached with or without the
                // prefix (on an admin connector), and never needs a trailing slash.
                let base = req.uri().path().strip_suffix("console").unwrap_or("/");
                let page = PAGE.replace("{{base}}", &html_escape(base));
                asset(Bytes::from(page), "text/html; charset=utf-8")
            }
            "console/app.js" => asset(Bytes::from_static(SCRIPT.as_bytes()), "text/javascript; charset=utf-8"),
            "console/app.css" => asset(Bytes::from_static(STYLE.as_bytes()), "text/css; charset=utf-8"),
            "console/data" => asset(Bytes::from(self.data().to_string()), "application/json"),
            _ => status(StatusCode::NOT_FOUND),
        }
    }

    fn authorized(&self, req: &Request) -> bool {
        let Some((user_hash, password_hash)) = &self.config.credential else { return false };
        let Some(Credentials::Basic { user, password }) = credentials::authorization(req.headers()) else {
            return false;
        };
        // Both compared, in constant time, whichever is wrong.
        hash_matches(user.as_bytes(), user_hash) & hash_matches(password.as_bytes(), password_hash)
    }

    /// The snapshot the page shows.
    fn data(&self) -> Value {
        let now = self.clock.unix_millis();
        let rendered = self.metrics.render();
        let figures = figures(&rendered);
        let routes: Vec<Value> = route_stats::views().into_iter().map(route).collect();
        let errors: Vec<Value> = recent::errors()
            .into_iter()
            .map(|e| json!({ "at": e.at, "route": e.route, "status": e.status, "method": e.method, "path": e.path, "requestId": e.request_id }))
            .collect();
        let reloads: Vec<Value> = recent::reloads()
            .into_iter()
            .map(
                |r| json!({ "at": r.at, "file": r.file, "route": r.route, "outcome": r.outcome, "message": r.message }),
            )
            .collect();
        let certificates: Vec<Value> = certificates::in_use()
            .into_iter()
            .map(|c| {
                json!({
                    "secretId": c.secret_id, "subject": c.subject, "issuer": c.issuer, "names": c.names,
                    "notBefore": c.not_before.saturating_mul(1000), "notAfter": c.not_after.saturating_mul(1000),
                    "daysLeft": c.not_after.saturating_mul(1000).saturating_sub(now as i64).div_euclid(86_400_000),
                })
            })
            .collect();
        json!({
            "gateway": {
                "version": env!("CARGO_PKG_VERSION"),
                "revision": option_env!("GATEHOUSE_REVISION").unwrap_or("unknown"),
                "mode": self.run_mode,
                "started": self.started,
                "now": now,
            },
            "latencyBounds": Buckets::bounds(),
            "routes": routes,
            "errors": errors,
            "reloads": reloads,
            "certificates": certificates,
            "figures": figures,
        })
    }
}

fn route(r: route_stats::RouteView) -> Value {
    let requests: u64 = r.classes.iter().sum();
    let ms = |q| Buckets::quantile(&r.latency, q).map(|s| (s * 1e6).round() / 1e3);
    json!({
        "name": r.name, "file": r.file, "condition": r.condition, "loaded": r.loaded, "requests": requests,
        "classes": { "1xx": r.classes[0], "2xx": r.classes[1], "3xx": r.classes[2], "4xx": r.classes[3], "5xx": r.classes[4] },
        "p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "latency": r.latency,
    })
}

/// Every sample of the Prometheus text but the histograms' buckets and the per-route series
/// (the routes list has those): `{ "name", "labels": {..}, "value" }`.
fn figures(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels(rest.strip_suffix('}')?)?),
                None => (series, Map::new()),
            };
            if name.ends_with("_bucket") || name.starts_with("gatehouse_route_request") {
                return None;
            }
            Some(json!({ "name": name, "labels": labels, "value": value }))
        })
        .collect()
}

/// `k="v",k2="v\"2"` as a map.
fn labels(text: &str) -> Option<Map<String, Value>> {
    let mut out = Map::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.insert(key.trim_start_matches(',').to_string(), Value::from(value));
        rest = after.get(end + 1..)?.trim_start_matches(',');
    }
    Some(out)
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&#39;")
}

fn asset(body: Bytes, content_type: &'static str) -> Response {
    let mut r = Response::new(Body::full(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; frame-ancestors 'none'",
        ),
    );
    r
}

fn status(s: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = s;
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn samples_become_figures_without_buckets_or_route_series() {
        let text =
            "# HELP a A.\n# TYPE a counter\na 3\nb{kind=\"x\\\"y\",state=\"q\"} 2.5\nh_bucket{le=\"1\"} 1\nh_count 4\n\
                    gatehouse_route_requests_total{route=\"r\",class=\"2xx\"} 9\n";
        let f = figures(text);
        assert_eq!(
            f,
            vec![
                json!({ "name": "a", "labels": {}, "value": 3.0 }),
                json!({ "name": "b", "labels": { "kind": "x\"y", "state": "q" }, "value": 2.5 }),
                json!({ "name": "h_count", "labels": {}, "value": 4.0 }),
            ]
        );
    }

    #[test]
    fn the_base_path_is_escaped_into_the_page() {
        assert_eq!(html_escape("/a\"<b>/"), "/a&quot;&lt;b&gt;/");
    }
}
