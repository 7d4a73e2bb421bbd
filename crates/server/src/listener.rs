//! Connectors: bind, accept, TLS handshake when configured, serve HTTP/1.1 and HTTP/2 (h2c,
//! or h2 by ALPN), and drain on stop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::ClientInfo;
use gatehouse_tls::describe_certificates;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::admin_config::Connector;
use crate::edge::Edge;
use crate::watchdog::{Activity, Watchdog};

/// Listening sockets, bound but not yet serving.
pub struct Bound {
    listeners: Vec<(TcpListener, Connector)>,
}

impl Bound {
    /// The actual ports, in connector order (a configured 0 shows the port picked).
    pub fn ports(&self) -> Vec<u16> {
        self.listeners.iter().filter_map(|(l, _)| l.local_addr().ok()).map(|a| a.port()).collect()
    }
}

/// Binds every port of every connector.
pub async fn bind(connectors: &[Connector]) -> Result<Bound, String> {
    let mut listeners = Vec::new();
    for c in connectors {
        for port in &c.ports {
            let addr = SocketAddr::new(c.host, *port);
            let l = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            listeners.push((l, c.clone()));
        }
    }
    Ok(Bound { listeners })
}

/// Serves until `stop` turns true, then lets in-flight exchanges finish within each
/// connector's grace period.
pub async fn serve(bound: Bound, edge: Arc<Edge>, stop: watch::Receiver<bool>) {
    let tasks: Vec<_> =
        bound.listeners.into_iter().map(|(l, c)| tokio::spawn(accept_loop(l, c, edge.clone(), stop.clone()))).collect();
    for t in tasks {
        let _ = t.await;
    }
}

async fn accept_loop(listener: TcpListener, connector: Connector, edge: Arc<Edge>, mut stop: watch::Receiver<bool>) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(connector.request_header_timeout)
        // hyper answers 431 when the head outgrows this buffer; it cannot go below 8 KiB.
        .max_buf_size(connector.max_total_headers_size.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(connector.max_total_headers_size).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let acceptor = connector.tls.as_ref().map(|t| t.acceptor());
    let connector = Arc::new(connector);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let mut accept_errors = RateLimitedLog::default();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, remote_addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning, and say
                // so once a second, not once per attempt.
                edge.metrics().accept_failed();
                accept_errors
                    .log(|suppressed| tracing::warn!("accept failed: {e} ({suppressed} more since the last report)"));
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= connector.max_connections {
            // At the limit: close at once, so one client cannot hold every descriptor.
            edge.metrics().connection_refused();
            drop(stream);
            continue;
        }
        let slot = Slot::take(&open);
        let _ = stream.set_nodelay(true);
        let local_addr = stream.local_addr().unwrap_or(remote_addr);
        let activity = Arc::new(Activity::default());
        let stream = Watchdog::new(stream, connector.request_header_timeout, connector.idle_timeout, activity.clone());
        let plain = ClientInfo { remote_addr, local_addr, secure: false, server_name: None, certificates: Value::Null };
        let conn = Conn {
            builder: builder.clone(),
            edge: edge.clone(),
            watcher: graceful.watcher(),
            connector: connector.clone(),
            activity,
        };
        match &acceptor {
            None => {
                tokio::spawn(async move {
                    conn.serve(TokioIo::new(stream), plain).await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(stream);
                tokio::spawn(async move {
                    let metrics = conn.edge.metrics().clone();
                    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                        Ok(Ok(tls)) => tls,
                        Ok(Err(e)) => {
                            metrics.tls_handshake(false);
                            return tracing::debug!("TLS handshake with {remote_addr} failed: {e}");
                        }
                        Err(_) => {
                            metrics.tls_handshake(false);
                            return tracing::debug!("TLS handshake with {remote_addr} timed out");
                        }
                    };
                    metrics.tls_handshake(true);
                    let session = tls.get_ref().1;
                    let server_name = session.server_name().map(str::to_string);
                    let certificates = session.peer_certificates().map_or(Value::Null, describe_certificates);
                    let client = ClientInfo { secure: true, server_name, certificates, ..plain };
                    conn.serve(TokioIo::new(tls), client).await;
                    drop(slot);
                });
            }
        }
    }
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    drop(listener);
    tracing::info!("connector {addr} closed; draining its connections");
    if tokio::time::timeout(connector.grace_period, graceful.shutdown()).await.is_err() {
        tracing::warn!("grace period of {:?} over: closing the remaining connections", connector.grace_period);
    }
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// One of a connector's connection slots, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot(open.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A log line written at most once a second, with the count of those it held back.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<tokio::time::Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn log(&mut self, write: impl FnOnce(u64)) {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            self.suppressed += 1;
            return;
        }
        write(self.suppressed);
        self.last = Some(now);
        self.suppressed = 0;
    }
}

/// What serving one accepted connection needs.
struct Conn {
    builder: Arc<auto::Builder<TokioExecutor>>,
    edge: Arc<Edge>,
    watcher: Watcher,
    connector: Arc<Connector>,
    activity: Arc<Activity>,
}

impl Conn {
    /// Serves HTTP/1.1 or HTTP/2 on `io` until the client leaves or a stop drains it.
    async fn serve<I>(self, io: TokioIo<I>, client: ClientInfo)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let remote_addr = client.remote_addr;
        let client = Arc::new(client);
        let (edge, connector, activity) = (self.edge.clone(), self.connector.clone(), self.activity.clone());
        let service = hyper::service::service_fn(move |req| {
            let (edge, client, connector) = (edge.clone(), client.clone(), connector.clone());
            let busy = activity.exchange();
            async move {
                let resp = edge.serve(req, &client, &connector).await;
                Ok::<_, Infallible>(resp.map(|body| body.hold(busy)))
            }
        });
        let conn = self.builder.serve_connection_with_upgrades(io, service);
        let metrics = self.edge.metrics().clone();
        metrics.connection_opened();
        if let Err(e) = self.watcher.watch(conn.into_owned()).await {
            tracing::debug!("connection from {remote_addr} ended: {e}");
        }
        metrics.connection_closed();
    }
}
