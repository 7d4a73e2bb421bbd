//! The pooled HTTP client behind both proxy handler types.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Error, ErrorKind, Handler, Request, Response, Result, Side};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::hop;

/// How failures surface: `ReverseProxyHandler` answers 502/504 itself; `ClientHandler`
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
    client: Client<HttpConnector, Body>,
    so_timeout: Option<Duration>,
    http2: bool,
}

pub(crate) fn build_reverse_proxy(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    build(cx, node, ProxyKind::Reverse)
}

pub(crate) fn build_client(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    build(cx, node, ProxyKind::Client)
}

fn build(cx: &BuildCtx<'_>, node: &Node, kind: ProxyKind) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let connections = match config.get("connections") {
        Some(n) => usize::try_from(cx.int(n)?).map_err(|_| cx.err(n, "connections must be positive"))?,
        None => 64,
    };
    let secs = |key: &str, default: u64| -> Result<Option<Duration>, ConfigError> {
        match config.get(key) {
            Some(n) => Ok(cx.duration(n)?.filter(|d| !d.is_zero())),
            None => Ok(Some(Duration::from_secs(default))),
        }
    };
    let connect_timeout = secs("connectionTimeout", 10)?;
    let so_timeout = secs("soTimeout", 10)?;
    let no_reuse = config.get("disableReuseConnection").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    let http2 = match config.get("protocolVersion") {
        Some(n) => match cx.string(n)?.to_ascii_uppercase().as_str() {
            "HTTP/1.1" | "HTTP/1" => false,
            "HTTP/2" | "HTTP/2.0" => true,
            other => return Err(cx.err(n, format!("protocolVersion must be HTTP/1.1 or HTTP/2, not '{other}'"))),
        },
        None => false,
    } || config.get("http2PriorKnowledge").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    config.ignore(&[
        "temporaryStorage",
        "asyncBehavior",
        "numberOfWorkers",
        "vertx",
        "waitQueueSize",
        "connectionTimeToLive",
        "propagateDisconnection",
    ]);
    config.finish()?;

    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(connect_timeout);
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_max_idle_per_host(if no_reuse { 0 } else { connections })
        .pool_idle_timeout(Duration::from_secs(60))
        .http2_only(http2)
        .build(connector);
    Ok(Object::Handler(Arc::new(ProxyHandler { kind, client, so_timeout, http2 })))
}

impl ProxyHandler {
    fn fail(&self, kind: ErrorKind, cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
        let side = match self.kind {
            ProxyKind::Reverse => Side::Upstream,
            ProxyKind::Client => Side::Internal,
        };
        Error::with_cause(kind, side, cause)
    }
}

impl Handler for ProxyHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if req.uri().authority().is_none() {
                return Err(Error::internal("the request has no upstream host: set baseURI on the route or binding"));
            }
            let original_host = req.headers_mut().remove(http::header::HOST);
            hop::strip(req.headers_mut());
            hop::forwarded(cx, req.headers_mut(), original_host);
            *req.version_mut() = if self.http2 { http::Version::HTTP_2 } else { http::Version::HTTP_11 };
            let call = self.client.request(req);
            let result = match self.so_timeout {
                Some(t) => tokio::time::timeout(t, call)
                    .await
                    .map_err(|_| self.fail(ErrorKind::Timeout, "upstream did not answer in time"))?,
                None => call.await,
            };
            let resp = result.map_err(|e| {
                let kind = if e.is_connect() { ErrorKind::Connect } else { ErrorKind::Protocol };
                self.fail(kind, e)
            })?;
            let (mut parts, body) = resp.into_parts();
            hop::strip(&mut parts.headers);
            Ok(Response::from_parts(parts, Body::from(body)))
        })
    }
}
