//! Per-exchange facts: who the client is, what the route decided, attributes and session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};

/// A request id: a per-process prefix and a sequence number, printed as `5f2a9c1e-17`.
/// It is `Copy` and formats only when logged, so an exchange costs no allocation for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    prefix: u32,
    seq: u64,
}

impl RequestId {
    /// The id `seq` under `prefix`.
    pub fn new(prefix: u32, seq: u64) -> Self {
        RequestId { prefix, seq }
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}-{}", self.prefix, self.seq)
    }
}

/// Facts about the downstream connection, shared by every exchange on it.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// The peer's address.
    pub remote_addr: SocketAddr,
    /// The local address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The TLS server name the client asked for, if any.
    pub server_name: Option<String>,
    /// The client's TLS certificates (mutual TLS), leaf first, described for expressions
    /// (`subjectDN.name`, `issuerDN.name`, `serialNumber`, ...); null without any.
    pub certificates: Value,
}

/// The session of an exchange: a JSON map that remembers whether it changed.
#[derive(Debug, Default, Clone)]
pub struct Session {
    data: Map<String, Value>,
    dirty: bool,
}

impl Session {
    /// A session holding `data`, not yet changed.
    pub fn from_map(data: Map<String, Value>) -> Self {
        Session { data, dirty: false }
    }

    /// The session's entries.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The session's entries for writing; marks the session changed.
    pub fn data_mut(&mut self) -> &mut Map<String, Value> {
        self.dirty = true;
        &mut self.data
    }

    /// Whether the session changed during the exchange.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }
}

/// Everything the gateway knows about one exchange besides the messages themselves.
#[derive(Debug)]
pub struct Context {
    /// A short unique id for logs and the access log.
    pub request_id: RequestId,
    /// The downstream connection.
    pub client: Arc<ClientInfo>,
    /// The name of the route that took the exchange, once one did.
    pub route: Option<Arc<str>>,
    /// Request-scoped values, `${attributes.x}` in expressions.
    pub attributes: Map<String, Value>,
    /// The session, `${session.x}` in expressions.
    pub session: Session,
    /// When the exchange started.
    pub started: Instant,
}

impl Context {
    /// A fresh context for an exchange on `client`.
    pub fn new(request_id: RequestId, client: Arc<ClientInfo>) -> Self {
        Context {
            request_id,
            client,
            route: None,
            attributes: Map::new(),
            session: Session::default(),
            started: Instant::now(),
        }
    }

    /// A context with no connection: config-time evaluation, tests and benchmarks.
    pub fn detached() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Context::new(
            RequestId::new(0, 0),
            Arc::new(ClientInfo {
                remote_addr: addr,
                local_addr: addr,
                secure: false,
                server_name: None,
                certificates: Value::Null,
            }),
        )
    }
}
