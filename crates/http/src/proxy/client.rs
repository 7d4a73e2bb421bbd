//! The proxy handler: limits, timeouts, header hygiene, streaming; plain HTTP/1.1 exchanges on
//! the gateway units take the lean upstream leg (`h1`), everything else hyper's pooled client.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Error, ErrorKind, Handler, Request, Response, Result, Side};
use gatehouse_tls::ClientTls;
use http::header;
use http::{StatusCode, Version};
use http_body::Body as _;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::config::ProxyConfig;
use super::guard::Guarded;
use super::h1::{H1Error, Outgoing, Upstreams};
use super::limit::Limits;
use super::{hop, spool, upgrade};

/// How failures surface: `ReverseProxyHandler` answers 502/503/504 itself; `ClientHandler`
/// propagates the failure (500 unless a filter handles it), as in IG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// The protected application's proxy.
    Reverse,
    /// A client for side calls.
    Client,
}

/// Sends requests upstream.
pub struct ProxyHandler {
    kind: ProxyKind,
    config: ProxyConfig,
    /// One pool per gateway unit (and one for the other threads): a unit's exchanges reuse
    /// the connections its own runtime drives, with no lock shared across units.
    clients: Box<[Client<HttpsConnector<HttpConnector>, Body>]>,
    /// The lean HTTP/1.1 leg the units take for plain exchanges (`None` with HTTP/2).
    lean: Option<Arc<Upstreams>>,
    limits: Limits,
}

pub(crate) fn build_reverse_proxy(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    build(cx, node, ProxyKind::Reverse)
}

pub(crate) fn build_client(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    build(cx, node, ProxyKind::Client)
}

fn build(cx: &BuildCtx<'_>, node: &Node, kind: ProxyKind) -> Result<Object, ConfigError> {
    let config = ProxyConfig::build(cx, node, kind)?;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let tls = match &config.tls {
        Some(tls) => tls.config(config.hostname_verifier),
        None => ClientTls::system_default().config(config.hostname_verifier),
    }
    .map_err(|e| cx.err(node, e))?;
    let builder = HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http();
    // ALPN offers what the handler speaks: h2 with protocolVersion HTTP/2, else HTTP/1.1
    // (which WebSocket upgrades need).
    let connector = if config.http2 {
        builder.enable_http2().wrap_connector(connector)
    } else {
        builder.enable_http1().wrap_connector(connector)
    };
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(if config.no_reuse { 0 } else { config.connections })
        .pool_idle_timeout(Duration::from_secs(60))
        .http2_only(config.http2);
    let clients = (0..gatehouse_core::units::slots()).map(|_| builder.build(connector.clone())).collect();
    let limits = Limits::new(config.connections, config.queue_timeout);
    let max_idle = if config.no_reuse { 0 } else { config.connections };
    let lean = (!config.http2).then(|| Upstreams::new(max_idle, config.connect_timeout));
    Ok(Object::Handler(Arc::new(ProxyHandler { kind, config, clients, lean, limits })))
}

impl ProxyHandler {
    /// Whether the request still has the URI the gateway served: no `baseURI` chose the
    /// upstream, the client's Host did.
    fn is_client_chosen(&self, cx: &Context, req: &Request) -> bool {
        // The authority's bytes as they are: a request no `baseURI` rebased has the served
        // one's very bytes (`Authority`'s own comparison ignores case, byte by byte).
        cx.original_uri.as_ref().is_some_and(|served| {
            served.scheme() == req.uri().scheme()
                && served.authority().map(|a| a.as_str()) == req.uri().authority().map(|a| a.as_str())
        })
    }

    /// An error on the upstream side, or the gateway's own for a `ClientHandler`.
    fn upstream_error(&self, kind: ErrorKind, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        let side = match self.kind {
            ProxyKind::Reverse => Side::Upstream,
            ProxyKind::Client => Side::Internal,
        };
        Error::with_cause(kind, side, cause)
    }

    /// An `async` block rather than an `async fn`: an `async fn` moves its arguments into
    /// locals of its own, and the request (264 bytes) would take room twice in a future
    /// that is boxed for every exchange.
    #[allow(clippy::manual_async_fn)]
    fn proxy<'a>(
        &'a self,
        cx: &'a mut Context,
        mut req: Request,
    ) -> impl std::future::Future<Output = Result<Response>> + Send + 'a {
        async move {
            // Taken: the permission is for this exchange's answer alone.
            let as_fields = std::mem::take(&mut cx.answer_fields_allowed);
            let Some(authority) = req.uri().authority().cloned() else {
                return Err(Error::internal("the request has no upstream host: set baseURI on the route or binding"));
            };
            if !self.config.client_chosen_upstream && self.is_client_chosen(cx, &req) {
                // No baseURI rebased the request: its Host would pick the upstream (any host the
                // gateway reaches, or the gateway itself). The same answer for every Host, so a
                // client cannot scan with it.
                tracing::debug!(request_id = %cx.request_id, "refused: the upstream would be the client's Host (set baseURI, or allowClientChosenUpstream)");
                let mut resp = Response::new(Body::from("Misdirected Request\n"));
                *resp.status_mut() = StatusCode::MISDIRECTED_REQUEST;
                return Ok(resp);
            }
            let upgrade = hop::upgrade_protocol(req.headers()).filter(|p| self.config.upgrades.iter().any(|a| a == p));
            let whole = req.body().is_end_stream() || req.body().as_bytes().is_some();
            if self.config.request_buffering && upgrade.is_none() && !whole {
                let body = std::mem::take(req.body_mut());
                // Boxed: the spooling state (a file, its key) is not carried by every exchange.
                *req.body_mut() = Box::pin(spool::spool(body, &self.config.spool_dir)).await?;
            }
            let deadline = self.config.total_timeout.map(|t| Instant::now() + t);
            let permit = self.limits.acquire(authority.as_str()).await?;

            let downstream_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut req));
            // The lean leg takes a body already in memory, and writes the request's head itself:
            // what the proxy adds (the forwarding fields, `Via`) goes into the head, not the map.
            let lean = match self.lean.as_ref().filter(|lean| downstream_upgrade.is_none() && lean.serves(req.uri())) {
                Some(lean) => match std::mem::take(req.body_mut()).into_bytes() {
                    Ok(body) => Some((lean, body)),
                    Err(body) => {
                        *req.body_mut() = body;
                        None
                    }
                },
                None => None,
            };
            let headers = req.headers_mut();
            for name in &cx.private_cookies {
                gatehouse_core::credentials::remove_cookie(headers, name);
            }
            let carried = hop::strip_request(headers, downstream_upgrade.is_some());
            hop::restore(headers, carried);
            let forwarded =
                self.config.forwarded_headers.then(|| hop::Forwarded::new(cx, headers, headers.get(header::HOST)));
            // Traced exchanges name their span as the upstream request's parent (W3C Trace Context),
            // and record the upstream for the span (nothing is allocated when tracing is off).
            if let Some(trace) = &cx.trace {
                if let Ok(parent) = http::HeaderValue::from_str(&trace.traceparent()) {
                    headers.insert(http::header::HeaderName::from_static("traceparent"), parent);
                }
                cx.upstream = Some(Arc::from(authority.as_str()));
            }
            // One clock read for the wait for the answer's head and the pool's idle bookkeeping.
            let now = Instant::now();
            let head_wait = match (self.config.so_timeout, deadline) {
                (Some(so), Some(d)) => Some((now + so).min(d)),
                (Some(so), None) => Some(now + so),
                (None, d) => d,
            };
            if let Some((lean, body)) = lean {
                let out = Outgoing {
                    method: req.method(),
                    uri: req.uri(),
                    headers: req.headers(),
                    client_host: self.config.preserve_host,
                    forwarded: forwarded.as_ref(),
                    via: hop::via_value(),
                    body,
                    as_fields,
                    now,
                };
                let (resp, fields) =
                    within(head_wait, lean.send(out)).await.ok_or_else(|| self.timed_out())?.map_err(|e| match e {
                        H1Error::Connect(_) => self.upstream_error(ErrorKind::Connect, e),
                        _ => self.upstream_error(ErrorKind::Protocol, e),
                    })?;
                cx.answer_fields = fields;
                return Ok(self.guard_response(resp, deadline, permit));
            }
            let original_host = headers.remove(header::HOST);
            // Room for the five fields below at once, rather than growing the map twice.
            headers.reserve(5);
            if let Some(forwarded) = forwarded {
                forwarded.insert_into(headers);
            }
            hop::via(headers);
            if self.config.preserve_host {
                if let Some(host) = original_host {
                    headers.insert(header::HOST, host);
                }
            }
            *req.version_mut() = if self.config.http2 { Version::HTTP_2 } else { Version::HTTP_11 };
            // Boxed: hyper's client state is not carried by the exchanges the lean leg serves.
            Box::pin(self.via_hyper(cx, req, upgrade, downstream_upgrade, head_wait, deadline, permit)).await
        }
    }

    /// The exchange through hyper's client: HTTPS and h2 upstreams, upgrades, streamed
    /// request bodies, threads that are not units.
    #[allow(clippy::too_many_arguments)]
    async fn via_hyper(
        &self,
        cx: &mut Context,
        mut req: Request,
        upgrade: Option<String>,
        downstream_upgrade: Option<hyper::upgrade::OnUpgrade>,
        head_wait: Option<Instant>,
        deadline: Option<Instant>,
        permit: OwnedSemaphorePermit,
    ) -> Result<Response> {
        // Stream the request body under the idle timeout; note if the client's side fails.
        let downstream_failed = Arc::new(AtomicBool::new(false));
        if !req.body().is_end_stream() {
            let body = std::mem::take(req.body_mut());
            let guarded = Guarded::new(body, self.config.so_timeout, deadline, None, Some(downstream_failed.clone()));
            *req.body_mut() = Body::boxed(guarded);
        }

        let call = self.clients[gatehouse_core::units::slot(self.clients.len())].request(req);
        let result = within(head_wait, call).await.ok_or_else(|| self.timed_out())?;
        let mut resp = result.map_err(|e| {
            if downstream_failed.load(Ordering::Relaxed) {
                // The client's upload failed or stalled: its fault, not the upstream's.
                let kind = if super::is_stream_timeout(&e) { ErrorKind::Timeout } else { ErrorKind::BodyRead };
                Error::with_cause(kind, Side::Downstream, e)
            } else if e.is_connect() {
                self.upstream_error(ErrorKind::Connect, e)
            } else {
                self.upstream_error(ErrorKind::Protocol, e)
            }
        })?;

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            // Only to the protocol the client asked for and the handler allows: a `101
            // anything` would otherwise open a raw tunnel past every route.
            let agreed =
                upgrade.as_deref().is_some_and(|p| hop::upgrade_protocol(resp.headers()).as_deref() == Some(p));
            match (downstream_upgrade, agreed) {
                (Some(down), true) => {
                    let up = hyper::upgrade::on(&mut resp);
                    upgrade::tunnel(down, up, cx.request_id);
                    let (parts, _) = resp.into_parts();
                    return Ok(Response::from_parts(parts, Body::empty()));
                }
                _ => {
                    return Err(self.upstream_error(
                        ErrorKind::Protocol,
                        "the upstream switched to a protocol the client did not ask for",
                    ))
                }
            }
        }
        Ok(self.guard_response(resp.map(Body::from), deadline, permit))
    }

    fn timed_out(&self) -> Error {
        self.upstream_error(ErrorKind::Timeout, "the upstream did not answer in time")
    }

    /// The answer without its hop-by-hop headers, its body under the timeouts and holding the
    /// upstream slot until it ends.
    fn guard_response(&self, resp: Response, deadline: Option<Instant>, permit: OwnedSemaphorePermit) -> Response {
        let (mut parts, body) = resp.into_parts();
        hop::strip(&mut parts.headers);
        let body = if body.is_end_stream() {
            Body::empty()
        } else if body.as_bytes().is_some() {
            // Already in memory: no stream to time, and the connection is free again.
            body
        } else {
            Body::boxed(Guarded::new(body, self.config.so_timeout, deadline, Some(permit), None))
        };
        Response::from_parts(parts, body)
    }
}

/// `call`, unless `at` passes first (`None`).
fn within<F: std::future::Future>(at: Option<Instant>, call: F) -> Within<F> {
    match at {
        Some(at) => Within::Timed { call: tokio::time::timeout_at(at, call) },
        None => Within::Plain { call },
    }
}

pin_project_lite::pin_project! {
    /// [`within`]'s future: an enum rather than an `async fn`, which would keep room for
    /// `call` beside the timeout it moves into (1,192 bytes for the lean leg's call, where
    /// this is 640) in every exchange's future.
    #[project = WithinProj]
    enum Within<F: std::future::Future> {
        Timed { #[pin] call: tokio::time::Timeout<F> },
        Plain { #[pin] call: F },
    }
}

impl<F: std::future::Future> std::future::Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        match self.project() {
            WithinProj::Timed { call } => call.poll(cx).map(Result::ok),
            WithinProj::Plain { call } => call.poll(cx).map(Some),
        }
    }
}

impl Handler for ProxyHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(self.proxy(cx, req))
    }

    /// After the answer it only strips hop-by-hop fields, which fields as bytes come without.
    fn passes_answer_fields(&self) -> bool {
        true
    }
}
