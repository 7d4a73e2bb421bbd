//! Per-exchange facts: who the client is, what the route decided, attributes and session.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use serde_json::{Map, Value};

use crate::Clock;

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

    /// The per-process prefix (printed as eight hex digits).
    pub fn prefix(&self) -> u32 {
        self.prefix
    }

    /// The sequence number within the process.
    pub fn seq(&self) -> u64 {
        self.seq
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
    /// The peer's IP address as header text (`X-Forwarded-For`), written once per connection.
    pub remote_ip: http::HeaderValue,
    /// The local address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// Its port as header text (`X-Forwarded-Port`), written once per listener and shared.
    pub local_port: http::HeaderValue,
    /// Whether the connection is TLS.
    pub secure: bool,
    /// The TLS server name the client asked for, if any.
    pub server_name: Option<String>,
    /// The client's TLS certificates (mutual TLS), leaf first, described for expressions
    /// (`subjectDN.name`, `issuerDN.name`, `serialNumber`, ...); null without any.
    pub certificates: Value,
}

impl ClientInfo {
    /// `addr`'s IP address as header text.
    pub fn ip_value(addr: SocketAddr) -> http::HeaderValue {
        // An address's text is always a valid header value.
        http::HeaderValue::from_maybe_shared(bytes::Bytes::from(addr.ip().to_string()))
            .unwrap_or(http::HeaderValue::from_static("unknown"))
    }
}

/// The session of an exchange: a JSON map that remembers whether it changed. A session
/// manager may hand it over still encoded; it is then decoded the first time it is read or
/// written, so exchanges that never touch the session never pay for decrypting it.
#[derive(Default)]
pub struct Session {
    /// The decoded entries, once read.
    read: OnceLock<Map<String, Value>>,
    /// The entries once written (they move here from `read`).
    written: Option<Map<String, Value>>,
    /// What the manager learnt while decoding.
    state: OnceLock<SessionState>,
    /// Decodes the session; absent for a session that is already a map.
    decode: Option<Decoder>,
    dirty: bool,
}

/// Decodes a session on first use.
pub type Decoder = Box<dyn Fn() -> (Map<String, Value>, SessionState) + Send + Sync>;

/// What a manager learnt when it decoded a session, for saving it.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// The request carried a session cookie (valid or not).
    pub existed: bool,
    /// When the loaded session expires (seconds since the epoch), if the manager tracks it.
    pub expires_at: Option<u64>,
    /// A server-side session's id.
    pub id: Option<String>,
}

impl Session {
    /// A session holding `data`, not yet changed.
    pub fn from_map(data: Map<String, Value>) -> Self {
        Session { read: OnceLock::from(data), ..Session::default() }
    }

    /// A session that `decode` produces when it is first used.
    pub fn lazy(decode: Decoder) -> Self {
        Session { decode: Some(decode), ..Session::default() }
    }

    fn decoded(&self) -> Map<String, Value> {
        match &self.decode {
            Some(decode) => {
                let (data, state) = decode();
                let _ = self.state.set(state);
                data
            }
            None => Map::new(),
        }
    }

    /// The session's entries (decoded now if they were not yet).
    pub fn data(&self) -> &Map<String, Value> {
        match &self.written {
            Some(data) => data,
            None => self.read.get_or_init(|| self.decoded()),
        }
    }

    /// The session's entries for writing; marks the session changed.
    pub fn data_mut(&mut self) -> &mut Map<String, Value> {
        self.dirty = true;
        if self.written.is_none() {
            let data = match self.read.take() {
                Some(data) => data,
                None => self.decoded(),
            };
            return self.written.insert(data);
        }
        self.written.get_or_insert_with(Map::new)
    }

    /// Whether the session changed during the exchange.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// What the manager learnt when decoding, if it decoded.
    pub fn state(&self) -> Option<&SessionState> {
        self.state.get()
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("decoded", &self.state.get().is_some()).field("dirty", &self.dirty).finish()
    }
}

/// Who is calling, once an authentication filter established it (a verified access token, a
/// client certificate, HTTP Basic credentials). Later filters, handlers, the access log and
/// expressions (`${contexts.principal.name}`) read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// The subject: a user name or a client id.
    pub name: String,
    /// How it was established, for logs: `oauth2`, `mtls`, `basic`, ...
    pub method: &'static str,
    /// What the authentication learnt (verified claims, certificate fields).
    pub attributes: Map<String, Value>,
}

impl Principal {
    /// The principal as expressions see it: `{ "name", "method", "attributes" }`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({ "name": self.name, "method": self.method, "attributes": self.attributes })
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
    /// That route's figures, added to when the exchange ends.
    pub route_stats: Option<Arc<crate::route_stats::RouteStats>>,
    /// The exchange's trace, when the gateway exports traces (`openTelemetry` in admin.json).
    pub trace: Option<crate::trace::TraceContext>,
    /// The upstream the proxy sent the request to (`host:port`), for the exchange's span.
    pub upstream: Option<Arc<str>>,
    /// The request URI as the gateway served it (absolute, path normalized), before any
    /// `baseURI` rebased it: forwarding headers and loop checks read it.
    pub original_uri: Option<http::Uri>,
    /// Request-scoped values, `${attributes.x}` in expressions.
    pub attributes: Map<String, Value>,
    /// The session, `${session.x}` in expressions.
    pub session: Session,
    /// Who is calling, once an authentication filter established it.
    pub principal: Option<Principal>,
    /// Cookies that are the gateway's own (its session cookies) and never go upstream.
    pub private_cookies: Vec<Arc<str>>,
    /// Contexts that feature crates add (`contexts.oauth2`, ...), read by expressions as
    /// `${contexts.<name>...}` beside the built-in `client`, `attributes`, `session` and
    /// `principal`. Set them with [`Context::set_context`].
    pub contexts: Map<String, Value>,
    /// The gateway's clock: expiry decisions read it, so tests can pin time.
    pub clock: Clock,
    /// When the exchange started.
    pub started: Instant,
    /// Whether the answer's upstream header fields may travel as bytes ([`AnswerFields`])
    /// instead of in the response's header map: set by the edge for a connection whose
    /// writer takes them so, and kept by the router only for a route whose handler reads and
    /// rewrites no answer field ([`crate::Handler::passes_answer_fields`]).
    pub answer_fields_allowed: bool,
    /// The answer's upstream header fields as bytes, when the proxy sent them so (only
    /// while [`Context::answer_fields_allowed`]): the response's map then holds only the
    /// fields added after the proxy (a session's `Set-Cookie`).
    pub answer_fields: Option<AnswerFields>,
}

/// An upstream answer's header fields, ready for an HTTP/1.1 head: each `name: value\r\n`,
/// names in lower case, without the hop-by-hop fields and the framing (`Content-Length` is
/// kept only where it describes no body that follows: an answer to `HEAD`, or a `304`).
/// Building them skips the header map a response's fields otherwise fill and the writer
/// reads back, when nothing between the upstream and the client would look at them.
#[derive(Debug, Default)]
pub struct AnswerFields {
    /// The field lines.
    pub block: Vec<u8>,
    /// Whether one of them is `Date`.
    pub has_date: bool,
    /// The answer's `Content-Length`, for a body whose size its stream does not tell.
    pub length: Option<u64>,
}

impl Context {
    /// A fresh context for an exchange on `client`, timed by `clock`.
    pub fn new(request_id: RequestId, client: Arc<ClientInfo>, clock: Clock) -> Self {
        let started = clock.instant();
        Context::started_at(request_id, client, clock, started)
    }

    /// [`Context::new`], for an exchange that started at `started` (by `clock`): the edge
    /// reads the clock once for the context and the access log's record.
    pub fn started_at(request_id: RequestId, client: Arc<ClientInfo>, clock: Clock, started: Instant) -> Self {
        Context {
            request_id,
            client,
            route: None,
            route_stats: None,
            trace: None,
            upstream: None,
            original_uri: None,
            attributes: Map::new(),
            session: Session::default(),
            principal: None,
            private_cookies: Vec::new(),
            contexts: Map::new(),
            started,
            clock,
            answer_fields_allowed: false,
            answer_fields: None,
        }
    }

    /// Adds (or replaces) the context `name`, readable as `${contexts.<name>}`. The built-in
    /// names (`client`, `attributes`, `session`, `principal`) cannot be shadowed.
    pub fn set_context(&mut self, name: &str, value: Value) {
        self.contexts.insert(name.to_string(), value);
    }

    /// A context with no connection: config-time evaluation, tests and benchmarks.
    pub fn detached() -> Self {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Context::new(
            RequestId::new(0, 0),
            Arc::new(ClientInfo {
                remote_addr: addr,
                remote_ip: ClientInfo::ip_value(addr),
                local_addr: addr,
                local_port: http::HeaderValue::from(addr.port()),
                secure: false,
                server_name: None,
                certificates: Value::Null,
            }),
            Clock::system(),
        )
    }
}
