//! The edge: where a hyper request becomes an exchange and an exchange becomes a hyper
//! response. It decides once what every route then relies on (`request.rs`: the normalized
//! path, the refused methods and sizes, the headers a client may not set), and maps errors
//! to a status here and only here; bodies never carry internals.

mod request;

pub(crate) use request::Relayed;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gatehouse_core::{
    find_session, AnswerFields, Body, ClientInfo, Clock, Context, Error, Handler, Request, RequestId, Response,
    SessionManager, Side,
};
use http::{header, HeaderValue, StatusCode};

use crate::access_log::{AccessLog, InFlight, LoggedBody, Record};
use crate::admin::Admin;
use crate::admin_config::Connector;
use crate::metrics::Metrics;

/// Serves every exchange of a gateway.
pub struct Edge {
    root: Arc<dyn Handler>,
    /// The gateway's session, opened here around `root` rather than by a handler of its own.
    session: Option<Arc<dyn SessionManager>>,
    admin: Admin,
    metrics: Arc<Metrics>,
    access_log: AccessLog,
    id_prefix: u32,
    next_id: AtomicU64,
    clock: Clock,
    /// The root is a router, which lets an answer's fields pass as bytes only for routes
    /// that allow it (any other root may read them).
    routes_fields: bool,
}

impl Edge {
    /// An edge in front of `root`, within `session`'s sessions.
    pub fn new(
        root: Arc<dyn Handler>,
        session: Option<Arc<dyn SessionManager>>,
        admin: Admin,
        metrics: Arc<Metrics>,
        access_log: AccessLog,
        clock: Clock,
    ) -> Self {
        // A per-process prefix keeps ids unique across restarts and instances.
        let id_prefix = (clock.now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            ^ std::process::id().rotate_left(16);
        let routes_fields = root.as_any().is_some_and(|root| root.is::<crate::router::Router>());
        Edge { root, session, admin, metrics, access_log, id_prefix, next_id: AtomicU64::new(1), clock, routes_fields }
    }

    /// The gateway's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves one request from the connection described by `client`, accepted by `connector`.
    pub async fn serve<B: Into<Body>>(
        &self,
        req: hyper::Request<B>,
        client: &Arc<ClientInfo>,
        connector: &Connector,
    ) -> hyper::Response<LoggedBody> {
        self.exchange(req, client, connector, false).await.0
    }

    /// [`Edge::serve`], for a connection whose writer takes an upstream answer's fields as
    /// bytes when `fields_allowed`: they come back beside the response (whose map then holds
    /// only the fields added after the proxy) when the route let the proxy send them so.
    pub(crate) async fn exchange<B: Into<Body>>(
        &self,
        req: hyper::Request<B>,
        client: &Arc<ClientInfo>,
        connector: &Connector,
        fields_allowed: bool,
    ) -> (hyper::Response<LoggedBody>, Option<AnswerFields>) {
        let id = RequestId::new(self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed));
        let (mut parts, body) = req.into_parts();
        let started = self.clock.instant();
        let record = Record {
            remote: client.remote_addr.ip(),
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            status: 0,
            route: None,
            route_stats: None,
            trace: None,
            upstream: None,
            user: None,
            id,
            started,
            clock: self.clock.clone(),
        };
        // Dropped unanswered (the client left), it logs 499 and keeps the gauge exact.
        let mut in_flight = InFlight::new(record, self.access_log.clone());
        let mut cx = Context::started_at(id, client.clone(), self.clock.clone(), started);
        if self.access_log.traced() {
            let incoming = parts.headers.get("traceparent").and_then(|v| v.to_str().ok());
            cx.trace = Some(crate::otlp::Exporter::start_trace(incoming));
        }
        let resp = match request::target(&parts, client, connector) {
            Err(refusal) => {
                tracing::debug!(request_id = %cx.request_id, status = refusal.status.as_u16(), "refused: {}", refusal.reason);
                let mut resp = plain(refusal.status);
                if refusal.status == StatusCode::METHOD_NOT_ALLOWED {
                    resp.headers_mut().insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
                }
                resp
            }
            // A transfer coding other than plain `chunked` (`gzip, chunked`) would be lost
            // when the body is re-framed upstream; refuse it, as nginx does, and close.
            Ok(_) if !request::plain_chunked(&parts.headers) => {
                tracing::debug!(request_id = %cx.request_id, "bad request: unsupported Transfer-Encoding");
                let mut resp = plain(StatusCode::BAD_REQUEST);
                resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                resp
            }
            Ok(_) if self.looped(&parts.headers) => {
                tracing::warn!(request_id = %cx.request_id, "refused: the request came back from this gateway (a route proxies to the gateway itself)");
                plain(StatusCode::LOOP_DETECTED)
            }
            Ok(uri) => {
                let relayed = request::scrub_headers(&mut parts.headers, connector);
                cx.original_uri = Some(uri.clone());
                parts.uri = uri;
                let body = read_timeout(body.into(), connector.request_body_timeout);
                let mut req = Request::from_parts(parts, body);
                let admin_sub = if connector.admin {
                    Some(self.admin.sub_on_admin_connector(req.uri().path()).to_string())
                } else {
                    self.admin.sub_path(req.uri().path()).map(str::to_string)
                };
                match admin_sub {
                    Some(sub) => {
                        if relayed {
                            req.extensions_mut().insert(request::Relayed);
                        }
                        // Boxed: the admin endpoints' state is not carried by every exchange.
                        Box::pin(self.admin.serve(&mut cx, req, &sub)).await
                    }
                    None => {
                        if let Some(manager) = &self.session {
                            cx.session = find_session(manager, &mut cx, req.headers());
                        }
                        cx.answer_fields_allowed = fields_allowed && self.routes_fields;
                        let result = match (self.root.handle(&mut cx, req).await, &self.session) {
                            (Ok(mut resp), Some(manager)) => {
                                let session = std::mem::take(&mut cx.session);
                                manager.save(session, resp.headers_mut(), cx.client.secure).map(|()| resp)
                            }
                            (result, _) => result,
                        };
                        match result {
                            Ok(resp) => resp,
                            Err(e) => {
                                // The fields belonged to the answer this error replaces.
                                cx.answer_fields = None;
                                error_response(&cx, &e)
                            }
                        }
                    }
                }
            }
        };
        if let Some(record) = in_flight.record() {
            record.status = resp.status().as_u16();
            record.route = cx.route.take();
            record.route_stats = cx.route_stats.take();
            record.trace = cx.trace;
            record.upstream = cx.upstream.take();
            record.user = cx.principal.take().map(|p| p.name);
        }
        let (parts, body) = resp.into_parts();
        (hyper::Response::from_parts(parts, in_flight.answered(body)), cx.answer_fields.take())
    }

    /// Whether the request already passed through this gateway (its own `Via` token), so
    /// that a route proxying to the gateway itself costs one hop, not every connection.
    fn looped(&self, headers: &http::HeaderMap) -> bool {
        headers.contains_key(header::VIA) && gatehouse_http::proxy::came_through_this_gateway(headers)
    }
}

/// The methods a 405 from the edge allows.
const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// The request body, failing with 408 when the client pauses longer than `idle` mid-body.
fn read_timeout(body: Body, idle: std::time::Duration) -> Body {
    if http_body::Body::is_end_stream(&body) {
        return body;
    }
    gatehouse_http::entity::with_read_timeout(body, idle)
}

fn plain(status: StatusCode) -> Response {
    let text = status.canonical_reason().unwrap_or("Error");
    let mut resp = Response::new(Body::from(format!("{text}\n")));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The one place an error becomes a status; the cause goes to the log, never the body.
fn error_response(cx: &Context, e: &Error) -> Response {
    let status = e.status();
    let route = cx.route.as_deref().unwrap_or("-");
    if e.side() == Side::Upstream {
        crate::metrics::UPSTREAM_ERRORS.inc(e.kind().metric_name());
    }
    match e.side() {
        Side::Downstream => tracing::debug!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
        Side::Upstream => tracing::warn!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
        Side::Internal => tracing::error!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
    }
    plain(status)
}
