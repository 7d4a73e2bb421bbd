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
use crate::h1;
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

/// Starts `units` threads that serve until `stop` turns true, then let in-flight exchanges
/// finish within each connector's grace period.
///
/// Each unit is a thread with a single-threaded runtime that accepts on every listening
/// socket (the same socket, not one per unit: no `SO_REUSEPORT`, so a second process can
/// never bind the port beside us) and serves what it accepted to the end, so the two halves of
/// an exchange, its timers and its upstream connection stay on one thread. The units of a
/// socket take turns to accept (see [`accept`]), which spreads new connections over them.
pub fn start_units(bound: Bound, edge: Arc<Edge>, stop: watch::Receiver<bool>, units: usize) -> Result<Units, String> {
    let mut sockets = Vec::new();
    for (l, c) in bound.listeners {
        let std = l.into_std().map_err(|e| format!("cannot share a listening socket: {e}"))?;
        sockets.push((std, Arc::new(c), Arc::new(Shared::default())));
    }
    let mut ended = Vec::new();
    for unit in 0..units.max(1) {
        let mut mine = Vec::new();
        for (l, c, shared) in &sockets {
            let l = l.try_clone().map_err(|e| format!("cannot share a listening socket: {e}"))?;
            mine.push((l, c.clone(), shared.clone()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start gateway unit {unit}: {e}"))?;
        let (edge, stop, (done, wait)) = (edge.clone(), stop.clone(), tokio::sync::oneshot::channel::<()>());
        std::thread::Builder::new()
            .name(format!("gateway-unit-{unit}"))
            .spawn(move || {
                gatehouse_core::units::enter(unit);
                runtime.block_on(async move {
                    tokio::spawn(pacemaker());
                    let mut tasks = Vec::new();
                    for (l, c, shared) in mine {
                        match TcpListener::from_std(l) {
                            Ok(l) => tasks.push(tokio::spawn(accept_loop(l, c, shared, edge.clone(), stop.clone()))),
                            Err(e) => tracing::error!("gateway unit {unit} cannot accept: {e}"),
                        }
                    }
                    for t in tasks {
                        let _ = t.await;
                    }
                });
                // What the drained exchanges left behind (a blocking read) gets a moment.
                runtime.shutdown_timeout(Duration::from_secs(1));
                drop(done);
            })
            .map_err(|e| format!("cannot start gateway unit {unit}: {e}"))?;
        ended.push(wait);
    }
    Ok(Units { ended })
}

/// How often a unit's pacemaker ticks: sooner than any default timeout.
const PACE: Duration = Duration::from_secs(1);

/// Keeps a timer due within [`PACE`] on the unit, so that an exchange's timeout (seconds
/// away) is registered without waking the unit's own driver. tokio writes the driver's
/// eventfd whenever a new timer is due before the earliest one the driver sleeps for; with
/// no other timer pending that was every proxied request: one more `write` and one more
/// `epoll_wait` each (docs/performance.md). The tick costs one wake-up a second.
async fn pacemaker() {
    let mut tick = tokio::time::interval(PACE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
    }
}

/// The running units.
pub struct Units {
    ended: Vec<tokio::sync::oneshot::Receiver<()>>,
}

impl Units {
    /// Waits until every unit has drained and ended.
    pub async fn wait(self) {
        for wait in self.ended {
            let _ = wait.await;
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    connector: Arc<Connector>,
    shared: Arc<Shared>,
    edge: Arc<Edge>,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(connector.request_header_timeout)
        // hyper answers 431 when the head outgrows this buffer; it cannot go below 8 KiB.
        .max_buf_size(connector.max_head());
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(connector.max_total_headers_size).unwrap_or(u32::MAX));
    let builder = Arc::new(builder);
    let acceptor = connector.tls.as_ref().map(|t| t.acceptor());
    let graceful = GracefulShutdown::new();
    // Every connection on the lean path holds a sender; the drain waits for the last to go.
    let (lean_open, mut lean_closed) = tokio::sync::mpsc::channel::<()>(1);
    // `X-Forwarded-Port` for this listener's connections: one text, shared by all.
    let local_port = http::HeaderValue::from(listener.local_addr().map_or(0, |a| a.port()));
    loop {
        let accepted = tokio::select! {
            r = accept(&listener, &shared, connector.max_connections) => r,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, remote_addr, slot) =
            match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning, and say
                    // so once a second, not once per attempt.
                    edge.metrics().accept_failed();
                    shared.accept_errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).log(|suppressed| {
                        tracing::warn!("accept failed: {e} ({suppressed} more since the last report)")
                    });
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
        let Some(slot) = slot else {
            // At the limit: close at once, so one client cannot hold every descriptor.
            edge.metrics().connection_refused();
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local_addr = stream.local_addr().unwrap_or(remote_addr);
        let activity = Arc::new(Activity::default());
        let stream = Watchdog::new(stream, connector.request_header_timeout, connector.idle_timeout, activity.clone());
        let remote_ip = ClientInfo::ip_value(remote_addr);
        let plain = ClientInfo {
            remote_addr,
            remote_ip,
            local_addr,
            local_port: local_port.clone(),
            secure: false,
            server_name: None,
            certificates: Value::Null,
        };
        let conn = Conn {
            builder: builder.clone(),
            edge: edge.clone(),
            watcher: graceful.watcher(),
            connector: connector.clone(),
            activity,
            stop: stop.clone(),
            _open: lean_open.clone(),
            _slot: slot,
        };
        match &acceptor {
            None => {
                // Spawned as it is: a block awaiting it would hold it twice (see `serve`).
                tokio::spawn(conn.serve(stream, Arc::new(plain), true));
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
                    // ALPN's h2 goes to hyper at once; HTTP/1.1 starts on the lean path.
                    let lean = session.alpn_protocol() != Some(b"h2");
                    let client = ClientInfo { secure: true, server_name, certificates, ..plain };
                    conn.serve(tls, Arc::new(client), lean).await;
                });
            }
        }
    }
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    drop(listener);
    tracing::info!("connector {addr} closed; draining its connections");
    drop(lean_open);
    let drained = async {
        graceful.shutdown().await;
        let _ = lean_closed.recv().await;
    };
    if tokio::time::timeout(connector.grace_period, drained).await.is_err() {
        tracing::warn!("grace period of {:?} over: closing the remaining connections", connector.grace_period);
    }
}

/// Accepts the next connection and takes its slot (`None` at `max`) in one step: the units
/// of a socket take turns (a fair lock), so connections are counted in the order the kernel
/// queued them and at the limit it is always the newest that is refused. Taking turns also
/// spreads new connections evenly over the units, with no thundering herd.
async fn accept(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    max: usize,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr, Option<Slot>)> {
    let _turn = shared.accepting.lock().await;
    let (stream, addr) = listener.accept().await?;
    Ok((stream, addr, Slot::take(shared, max)))
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the units accepting on one listening socket share: its open connections (for
/// `maxConnections`), its accept-failure log line, and the turn to accept.
#[derive(Default)]
struct Shared {
    open: AtomicUsize,
    accept_errors: std::sync::Mutex<RateLimitedLog>,
    /// The turn to accept (and count) the next connection.
    accepting: tokio::sync::Mutex<()>,
}

/// One of a connector's connection slots, given back on drop.
struct Slot(Arc<Shared>);

impl Slot {
    /// A slot, unless `max` are taken. Counted first and checked after, so that units
    /// accepting at the same moment can never both take the last one.
    fn take(shared: &Arc<Shared>, max: usize) -> Option<Slot> {
        let slot = Slot(shared.clone());
        (shared.open.fetch_add(1, Ordering::AcqRel) < max).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
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
    /// Set when the gateway stops: the lean path closes idle connections and ends busy ones
    /// after their response.
    stop: watch::Receiver<bool>,
    /// Held while the connection is open (see the drain in `accept_loop`).
    _open: tokio::sync::mpsc::Sender<()>,
    /// The connection's place under `maxConnections`, given back when it ends.
    _slot: Slot,
}

impl Conn {
    /// Serves `io` until the client leaves or a stop drains it: on the lean HTTP/1.1 path
    /// (`lean`) while its requests allow, then HTTP/1.1 or HTTP/2 through hyper.
    ///
    /// A function that returns its future rather than an `async fn`: the future is the
    /// connection's task, all an idle connection costs, and an `async fn` keeps its arguments
    /// twice, as passed and as bound (rust-lang/rust#62958); this block captures them once.
    fn serve<I>(self, mut io: I, client: Arc<ClientInfo>, lean: bool) -> impl std::future::Future<Output = ()> + Send
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let mut conn = self;
        async move {
            let metrics = conn.edge.metrics().clone();
            metrics.connection_opened();
            let handover = if lean {
                let path = h1::Lean {
                    edge: &conn.edge,
                    client: &client,
                    connector: &conn.connector,
                    activity: &conn.activity,
                };
                match h1::serve(&mut io, path, &mut conn.stop).await {
                    h1::Outcome::Closed => None,
                    h1::Outcome::Handover(read) => Some(read),
                }
            } else {
                Some(bytes::Bytes::new())
            };
            if let Some(first) = handover {
                // Boxed: a connection on the lean path does not carry hyper's state with it.
                Box::pin(conn.serve_hyper(h1::Prefixed::new(first, io), client)).await;
            }
            metrics.connection_closed();
        }
    }

    /// Serves the rest of the connection through hyper.
    async fn serve_hyper<I>(self, io: I, client: Arc<ClientInfo>)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let remote_addr = client.remote_addr;
        let io = TokioIo::new(io);
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
        if let Err(e) = self.watcher.watch(conn.into_owned()).await {
            tracing::debug!("connection from {remote_addr} ended: {e}");
        }
    }
}
