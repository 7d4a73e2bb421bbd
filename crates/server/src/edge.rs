//! The edge: where a hyper request becomes an exchange and an exchange becomes a hyper
//! response. Errors are mapped to a status here and only here; bodies never carry internals.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use gatehouse_core::{Body, ClientInfo, Clock, Context, Error, Handler, Request, RequestId, Response, Side};
use http::uri::{Authority, Scheme, Uri};
use http::{header, HeaderValue, StatusCode, Version};
use hyper::body::Incoming;

use crate::access_log::{AccessLog, LoggedBody, Record};
use crate::admin::Admin;
use crate::metrics::Metrics;

/// Serves every exchange of a gateway.
pub struct Edge {
    root: Arc<dyn Handler>,
    admin: Admin,
    metrics: Arc<Metrics>,
    access_log: AccessLog,
    id_prefix: u32,
    next_id: AtomicU64,
    clock: Clock,
}

impl Edge {
    /// An edge in front of `root`.
    pub fn new(
        root: Arc<dyn Handler>,
        admin: Admin,
        metrics: Arc<Metrics>,
        access_log: AccessLog,
        clock: Clock,
    ) -> Self {
        // A per-process prefix keeps ids unique across restarts and instances.
        let id_prefix = (clock.now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()))
            ^ std::process::id().rotate_left(16);
        Edge { root, admin, metrics, access_log, id_prefix, next_id: AtomicU64::new(1), clock }
    }

    /// The counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Serves one request from the connection described by `client`.
    pub async fn serve(&self, req: hyper::Request<Incoming>, client: &Arc<ClientInfo>) -> hyper::Response<LoggedBody> {
        let started = self.clock.instant();
        self.metrics.exchange_started();
        let id = RequestId::new(self.id_prefix, self.next_id.fetch_add(1, Ordering::Relaxed));
        let (mut parts, body) = req.into_parts();
        let mut record = Record {
            remote: client.remote_addr.ip(),
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            version: parts.version,
            status: 0,
            route: None,
            user: None,
            id,
            started,
            clock: self.clock.clone(),
        };
        let mut cx = Context::new(id, client.clone(), self.clock.clone());
        let resp = match absolute_uri(&parts, client) {
            Err(reason) => {
                tracing::debug!(request_id = %cx.request_id, "bad request: {reason}");
                plain(StatusCode::BAD_REQUEST)
            }
            // A transfer coding other than plain `chunked` (`gzip, chunked`) would be lost
            // when the body is re-framed upstream; refuse it, as nginx does, and close.
            Ok(_) if !plain_chunked(&parts.headers) => {
                tracing::debug!(request_id = %cx.request_id, "bad request: unsupported Transfer-Encoding");
                let mut resp = plain(StatusCode::BAD_REQUEST);
                resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                resp
            }
            Ok(uri) => {
                parts.uri = uri;
                let req = Request::from_parts(parts, Body::from(body));
                match self.admin.sub_path(req.uri().path()) {
                    Some(sub) => self.admin.handle(&cx, &req, sub),
                    None => match self.root.handle(&mut cx, req).await {
                        Ok(resp) => resp,
                        Err(e) => error_response(&cx, &e),
                    },
                }
            }
        };
        record.status = resp.status().as_u16();
        record.route = cx.route.take();
        record.user = cx.principal.take().map(|p| p.name);
        let (parts, body) = resp.into_parts();
        hyper::Response::from_parts(parts, LoggedBody::new(body, record, self.access_log.clone()))
    }
}

/// The request URI made absolute, as IG sees it: scheme from the connection, host and port
/// from `Host` (HTTP/1) or `:authority` (HTTP/2).
fn absolute_uri(parts: &http::request::Parts, client: &ClientInfo) -> Result<Uri, &'static str> {
    let scheme = if client.secure { Scheme::HTTPS } else { Scheme::HTTP };
    let authority = match parts.headers.get(header::HOST) {
        Some(h) => Authority::try_from(h.as_bytes()).map_err(|_| "invalid Host header")?,
        None => match parts.uri.authority() {
            Some(a) => a.clone(),
            None if parts.version == Version::HTTP_10 || parts.version == Version::HTTP_09 => {
                authority_of(client.local_addr).ok_or("cannot name the local address")?
            }
            None => return Err("missing Host header"),
        },
    };
    if parts.headers.get_all(header::HOST).iter().count() > 1 {
        return Err("more than one Host header");
    }
    let path = parts.uri.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
    Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build().map_err(|_| "invalid request URI")
}

/// Whether the request has no Transfer-Encoding, or exactly one `chunked`.
fn plain_chunked(headers: &http::HeaderMap) -> bool {
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (None, _) => true,
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"),
        _ => false,
    }
}

fn authority_of(addr: SocketAddr) -> Option<Authority> {
    Authority::try_from(addr.to_string().as_str()).ok()
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
    match e.side() {
        Side::Downstream => tracing::debug!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
        Side::Upstream => tracing::warn!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
        Side::Internal => tracing::error!(request_id = %cx.request_id, route, status = status.as_u16(), "{e}"),
    }
    plain(status)
}
