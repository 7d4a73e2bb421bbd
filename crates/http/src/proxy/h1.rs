//! The lean HTTP/1.1 upstream leg: the common exchange, without hyper's client machinery.
//!
//! On a gateway unit, a request to a plain `http://` upstream whose body is already in memory
//! (empty, or read whole with its head) and that upgrades nothing is written and its answer
//! read by the request's own task, on a connection from the unit's own pool: no connection
//! task to hand the request to and wake, no channel, no lock shared with another unit. The
//! head is written with the body in one `write` when it is small; the answer's head is parsed
//! once with `httparse`, its header values sliced from the bytes read; a body already read
//! with the head is handed on as it is and the connection goes back to the pool at once,
//! anything longer streams ([`super::h1_body`]) and returns the connection when it ends.
//! Everything else (HTTPS, HTTP/2, upgrades, streamed uploads, threads that are not units)
//! goes through hyper's pooled client as before.
//!
//! An idle connection costs its socket and nothing else: buffers live only during an
//! exchange, except what is left of recent answers' read buffers, kept per unit (at most
//! `MAX_SPARES`) so that small answers share an allocation. A pooled connection the upstream
//! closed (or wrote to unasked) is noticed when it is taken, from the readiness the runtime
//! already has; one that fails before any byte of an answer came back is retried once on a
//! new connection when the request is idempotent, as nginx's `proxy_next_upstream error`
//! does.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use gatehouse_core::{AnswerFields, Body};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::h1_body::{Framing, UpstreamBody};
use super::hop::{self, Forwarded};

/// How long an idle pooled connection is kept (hyper's pool used the same).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest answer head read (hyper's client default is larger; 64 KiB is nginx's
/// `proxy_buffer_size` ceiling in practice and far above real heads).
const MAX_HEAD: usize = 64 * 1024;
/// Header fields an answer may have (hyper's default).
const MAX_HEADERS: usize = 100;
/// A request body up to this size is written behind its head in one `write`.
const COALESCE: usize = 16 * 1024;
/// Upstreams with idle connections kept per unit; beyond, connections are not pooled.
const MAX_UPSTREAMS: usize = 64;
/// The first read of an answer.
const FIRST_READ: usize = 4096;
/// Room left after an answer that is enough to read the next one into: the answers of a
/// unit then share one buffer until it is used up, instead of taking a new one each.
const SPARE_AT_LEAST: usize = 1024;
/// Spare buffers kept per unit (each at most FIRST_READ): enough for the exchanges that
/// end and start around the same time, bounded whatever the number of connections.
const MAX_SPARES: usize = 64;

/// Why an exchange on the lean leg failed. Messages name no header or body content.
#[derive(Debug)]
pub(crate) enum H1Error {
    /// No connection could be made.
    Connect(io::Error),
    /// The connection failed during the exchange.
    Io(io::Error),
    /// The upstream's answer is not valid HTTP/1.1 (or not one a proxy may pass on).
    Protocol(&'static str),
}

impl std::fmt::Display for H1Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            H1Error::Connect(e) => write!(f, "cannot connect to the upstream: {e}"),
            H1Error::Io(e) => write!(f, "the upstream connection failed: {e}"),
            H1Error::Protocol(what) => write!(f, "the upstream's answer is not valid HTTP/1.1: {what}"),
        }
    }
}

impl std::error::Error for H1Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            H1Error::Connect(e) | H1Error::Io(e) => Some(e),
            H1Error::Protocol(_) => None,
        }
    }
}

/// An idle connection.
struct Idle {
    stream: TcpStream,
    since: Instant,
}

/// One unit's idle connections, by upstream authority.
#[derive(Default)]
struct Pool {
    upstreams: Vec<(Box<str>, Vec<Idle>)>,
    /// What is left of recent answers' read buffers, for the next answers read on this unit
    /// (at most MAX_SPARES, whatever the number of connections: an idle connection holds
    /// none).
    spares: Vec<BytesMut>,
}

impl Pool {
    /// An idle connection to `key` that still looks usable `now`, if any.
    fn idle(&mut self, key: &str, now: Instant) -> Option<TcpStream> {
        let (_, idle) = self.upstreams.iter_mut().find(|(k, _)| &**k == key)?;
        while let Some(Idle { stream, since }) = idle.pop() {
            if now.duration_since(since) < IDLE_TIMEOUT && !closed_or_spoke(&stream) {
                return Some(stream);
            }
        }
        None
    }
}

/// The lean leg of one proxy handler: a pool per gateway unit.
pub(crate) struct Upstreams {
    pools: Box<[Mutex<Pool>]>,
    /// Idle connections kept per upstream and unit (`connections`; 0 with `reuse` off).
    max_idle: usize,
    connect_timeout: Option<Duration>,
}

/// What the exchange needs from the request, its body already taken out.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a Uri,
    /// The request's fields, as the proxy passes them on (hop-by-hop ones gone), but for
    /// `Host` and those written apart (`forwarded`, `via`).
    pub(crate) headers: &'a HeaderMap,
    /// `Host` is the client's (`preserveHost`), not the upstream's authority.
    pub(crate) client_host: bool,
    /// The forwarding fields, in place of any of the request's.
    pub(crate) forwarded: Option<&'a Forwarded>,
    /// A `Via` entry appended to the request's.
    pub(crate) via: Option<&'a HeaderValue>,
    pub(crate) body: Bytes,
    /// The answer's fields may come back as bytes ([`AnswerFields`]).
    pub(crate) as_fields: bool,
    /// When the exchange started: it stands for now in the pool's idle bookkeeping (of a
    /// 60-second timeout, an exchange's milliseconds do not matter), one clock read less.
    pub(crate) now: Instant,
}

impl Upstreams {
    pub(crate) fn new(max_idle: usize, connect_timeout: Option<Duration>) -> Arc<Self> {
        let pools = (0..gatehouse_core::units::slots()).map(|_| Mutex::new(Pool::default())).collect();
        Arc::new(Upstreams { pools, max_idle, connect_timeout })
    }

    /// The current unit's pool, or `None` off the units (those threads use hyper's client).
    fn pool(&self) -> Option<&Mutex<Pool>> {
        let unit = gatehouse_core::units::current()?;
        self.pools.get(unit)
    }

    /// Whether this thread may take the lean leg for `uri`.
    pub(crate) fn serves(&self, uri: &Uri) -> bool {
        uri.scheme() == Some(&http::uri::Scheme::HTTP) && self.pool().is_some()
    }

    /// A pooled connection to `key` that still looks usable, if any.
    #[cfg(test)]
    pub(crate) fn take(&self, key: &str) -> Option<TcpStream> {
        self.pool()?.lock().unwrap_or_else(PoisonError::into_inner).idle(key, Instant::now())
    }

    /// A pooled connection to `key` that still looks usable, if any, and a buffer to read
    /// the answer into (one of the unit's spares, if it has any).
    fn checkout(&self, key: &str, now: Instant) -> (Option<TcpStream>, BytesMut) {
        let Some(pool) = self.pool() else { return (None, BytesMut::with_capacity(FIRST_READ)) };
        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
        let buf = pool.spares.pop().unwrap_or_else(|| BytesMut::with_capacity(FIRST_READ));
        (pool.idle(key, now), buf)
    }

    /// Gives a connection whose exchange ended cleanly back to the current unit's pool, with
    /// what is left of the buffer its answer was read into when that can serve again.
    pub(crate) fn put(&self, key: &str, stream: TcpStream, spare: Option<BytesMut>, now: Instant) {
        let Some(pool) = self.pool() else { return };
        let mut pool = pool.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(spare) = spare.filter(|s| s.is_empty() && s.capacity() >= SPARE_AT_LEAST) {
            if pool.spares.len() < MAX_SPARES {
                pool.spares.push(spare);
            }
        }
        let index = match pool.upstreams.iter().position(|(k, _)| &**k == key) {
            Some(i) => i,
            None if pool.upstreams.len() < MAX_UPSTREAMS => {
                pool.upstreams.push((key.into(), Vec::new()));
                pool.upstreams.len() - 1
            }
            None => return,
        };
        let idle = &mut pool.upstreams[index].1;
        // Pushed as they came back, so the oldest come first: those past the idle timeout
        // are a prefix (most often empty, found with one look at the first).
        let expired = |i: &Idle| now.duration_since(i.since) >= IDLE_TIMEOUT;
        if idle.first().is_some_and(expired) {
            idle.drain(..idle.partition_point(expired));
        }
        if idle.len() < self.max_idle {
            idle.push(Idle { stream, since: now });
        }
    }

    async fn connect(&self, uri: &Uri) -> Result<TcpStream, H1Error> {
        let host = uri.host().unwrap_or_default();
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let port = uri.port_u16().unwrap_or(80);
        let connect = TcpStream::connect((host, port));
        let stream = match self.connect_timeout {
            Some(t) => tokio::time::timeout(t, connect)
                .await
                .map_err(|_| H1Error::Connect(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")))?,
            None => connect.await,
        }
        .map_err(H1Error::Connect)?;
        stream.set_nodelay(true).map_err(H1Error::Connect)?;
        Ok(stream)
    }

    /// Sends the request and reads the answer's head; the body streams from the answer.
    pub(crate) async fn send(
        self: &Arc<Self>,
        out: Outgoing<'_>,
    ) -> Result<(Response<Body>, Option<AnswerFields>), H1Error> {
        let key = authority_key(out.uri);
        let retriable = is_idempotent(out.method);
        let (mut pooled, mut buf) = self.checkout(key, out.now);
        // The head is written at the front of the buffer the answer is then read into, and
        // split off it (shared, not copied): it takes no allocation of its own.
        let body = write_head(&out, &mut buf);
        let head = buf.split().freeze();
        loop {
            let reused = pooled.is_some();
            let mut stream = match pooled.take() {
                Some(s) => s,
                // Boxed: resolving and connecting happen once per connection, not per exchange.
                None => Box::pin(self.connect(out.uri)).await?,
            };
            let to_head = out.method == Method::HEAD;
            match exchange(&mut stream, &head, body.as_ref(), to_head, out.as_fields, std::mem::take(&mut buf)).await {
                Ok(answer) => return Ok(self.respond(key, stream, answer, out.now)),
                // A reused connection that failed before any answer came: the upstream closed
                // it meanwhile. Once more on a new one, when the request may be repeated.
                Err(Failed { error, answered: false }) if reused && retriable => {
                    tracing::debug!(error = %error, "a pooled upstream connection failed; retrying on a new one");
                }
                Err(Failed { error, .. }) => return Err(error),
            }
        }
    }

    /// The response for an answer read on `stream`.
    fn respond(
        self: &Arc<Self>,
        key: &str,
        stream: TcpStream,
        answer: Answer,
        now: Instant,
    ) -> (Response<Body>, Option<AnswerFields>) {
        let Answer { mut response, fields, framing, mut rest, reusable, grown } = answer;
        let whole = match framing {
            Framing::None => Some(Body::empty()),
            Framing::Length(n) if rest.len() as u64 >= n => Some(Body::from(rest.split_to(n as usize).freeze())),
            _ => None,
        };
        let body = match whole {
            // The whole body came with the head: the connection is free now, if nothing
            // follows the body.
            Some(body) => {
                if reusable && rest.is_empty() {
                    self.put(key, stream, (!grown).then_some(rest), now);
                }
                body
            }
            None => {
                let back = reusable.then(|| (self.clone(), key.to_owned()));
                Body::boxed(UpstreamBody::new(stream, rest, framing, back))
            }
        };
        *response.body_mut() = body;
        (response, fields)
    }
}

/// The pool key: the authority as the URI has it (`host` and `host:80` pool apart, which
/// costs a connection, never a wrong one).
fn authority_key(uri: &Uri) -> &str {
    uri.authority().map_or("", |a| a.as_str())
}

/// Whether a request may be sent again after a failure (RFC 9110 section 9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE)
}

/// Whether an idle connection has been closed by its upstream or received bytes nobody
/// asked for. `try_read` only makes the system call when the runtime saw it readable.
fn closed_or_spoke(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    !matches!(stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Writes the request's head into `head` (empty), with its body when that is small; a larger
/// body is returned, to be written after it.
fn write_head(out: &Outgoing<'_>, head: &mut BytesMut) -> Option<Bytes> {
    let coalesce = out.body.len() <= COALESCE;
    head.reserve(256 + out.headers.len() * 48 + if coalesce { out.body.len() } else { 0 });
    head.extend_from_slice(out.method.as_str().as_bytes());
    head.extend_from_slice(b" ");
    head.extend_from_slice(out.uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    // `Host` is the first field (RFC 9110 section 7.2): the client's with `preserveHost`
    // (when it sent one), else the upstream's authority.
    head.extend_from_slice(b"host: ");
    match out.headers.get(header::HOST).filter(|_| out.client_host) {
        Some(host) => head.extend_from_slice(host.as_bytes()),
        None => head.extend_from_slice(out.uri.authority().map_or("", |a| a.as_str()).as_bytes()),
    }
    head.extend_from_slice(b"\r\n");
    // Whether the request declared a length is seen while writing the fields, not looked up.
    let mut had_length = false;
    let replaced = out.forwarded.is_some();
    for (name, value) in out.headers {
        // The framing is this writer's: the body is in memory, its length known.
        if name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING || name == header::CONNECTION {
            had_length |= name == header::CONTENT_LENGTH;
            continue;
        }
        if name == header::HOST || (replaced && Forwarded::replaces(name)) {
            continue;
        }
        write_field(head, name.as_str(), value);
    }
    for (name, value) in out.forwarded.iter().flat_map(|f| f.fields()) {
        write_field(head, name.as_str(), value);
    }
    if let Some(via) = out.via {
        write_field(head, header::VIA.as_str(), via);
    }
    let expects_body = matches!(*out.method, Method::POST | Method::PUT | Method::PATCH);
    if !out.body.is_empty() || expects_body || had_length {
        head.extend_from_slice(b"content-length: ");
        head.extend_from_slice(itoa::Buffer::new().format(out.body.len()).as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    if coalesce {
        head.extend_from_slice(&out.body);
        None
    } else {
        Some(out.body.clone())
    }
}

/// Writes one field line.
fn write_field(head: &mut BytesMut, name: &str, value: &HeaderValue) {
    head.extend_from_slice(name.as_bytes());
    head.extend_from_slice(b": ");
    head.extend_from_slice(value.as_bytes());
    head.extend_from_slice(b"\r\n");
}

/// An answer's head, read.
struct Answer {
    response: Response<Body>,
    /// The fields as bytes, when they were asked for so (the response's map is then empty).
    fields: Option<AnswerFields>,
    framing: Framing,
    /// What was read past the head.
    rest: BytesMut,
    /// The connection may carry another exchange once the body is read.
    reusable: bool,
    /// The read buffer grew past the one the exchange started with (it is not kept).
    grown: bool,
}

/// A failed exchange, and whether any byte of an answer had come.
struct Failed {
    error: H1Error,
    answered: bool,
}

/// Writes the request on `stream` and reads the answer's head (skipping interim 1xx) into
/// `buf`, empty.
async fn exchange(
    stream: &mut TcpStream,
    head: &[u8],
    body: Option<&Bytes>,
    to_head: bool,
    as_fields: bool,
    mut buf: BytesMut,
) -> Result<Answer, Failed> {
    let io_failed = |answered| move |e| Failed { error: H1Error::Io(e), answered };
    stream.write_all(head).await.map_err(io_failed(false))?;
    if let Some(body) = body {
        stream.write_all(body).await.map_err(io_failed(false))?;
    }
    if buf.capacity() < SPARE_AT_LEAST {
        // What the head left of the buffer, or a retry's (the first attempt's buffer went
        // with it): room for a whole answer head, most often.
        buf.reserve(FIRST_READ);
    }
    let mut grown = false;
    loop {
        let answered = !buf.is_empty();
        match stream.read_buf(&mut buf).await {
            Ok(0) => {
                let e = io::Error::new(io::ErrorKind::UnexpectedEof, "closed before an answer");
                return Err(Failed { error: H1Error::Io(e), answered });
            }
            Ok(_) => {}
            Err(e) => return Err(io_failed(answered)(e)),
        }
        if let Some(answer) =
            parse_answer(&mut buf, to_head, as_fields).map_err(|error| Failed { error, answered: true })?
        {
            return Ok(Answer { grown, ..answer });
        }
        if buf.len() >= MAX_HEAD {
            return Err(Failed { error: H1Error::Protocol("the head is too large"), answered: true });
        }
        buf.reserve(FIRST_READ);
        grown = true;
    }
}

/// Parses an answer's head from `buf`: `None` while incomplete. Interim answers (1xx but
/// `101`) are dropped from the buffer. With `as_fields`, the fields a proxy passes on are
/// written as bytes ([`AnswerFields`]) rather than put in the response's map, unless the
/// answer is one of the rare ones whose fields need the map's rules (a transfer coding, a
/// `Connection` that names other fields).
fn parse_answer(buf: &mut BytesMut, to_head: bool, as_fields: bool) -> Result<Option<Answer>, H1Error> {
    loop {
        // Not initialized first: the parser writes the fields it finds.
        let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let head_len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut parsed,
            buf,
            &mut headers,
        ) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => return Err(H1Error::Protocol("too many header fields")),
            Err(_) => return Err(H1Error::Protocol("a malformed head")),
        };
        let code = parsed.code.unwrap_or(0);
        let status = StatusCode::from_u16(code).map_err(|_| H1Error::Protocol("an invalid status code"))?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(H1Error::Protocol("a protocol switch nobody asked for"));
        }
        if status.is_informational() {
            buf.advance(head_len);
            continue;
        }
        let version = if parsed.version == Some(0) { Version::HTTP_10 } else { Version::HTTP_11 };
        // The framing first (a name's length is compared before its bytes): it decides which
        // fields pass. Each field's kind is noted for the pass that writes them.
        let (mut length, mut chunked, mut close, mut keep_alive, mut coded, mut names_others) =
            (None::<u64>, false, false, false, false, false);
        let mut kinds = [Kind::Other; MAX_HEADERS];
        for (h, kind) in parsed.headers.iter().zip(kinds.iter_mut()) {
            let name = h.name.as_bytes();
            if name.len() == 14 && name.eq_ignore_ascii_case(b"content-length") {
                *kind = Kind::Length;
                let n = parse_length(h.value).ok_or(H1Error::Protocol("an invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(H1Error::Protocol("conflicting Content-Length fields"));
                }
                length = Some(n);
            } else if name.len() == 4 && name.eq_ignore_ascii_case(b"date") {
                *kind = Kind::Date;
            } else if hop::is_hop_by_hop(name) {
                *kind = Kind::HopByHop;
                if name.len() == 17 && name.eq_ignore_ascii_case(b"transfer-encoding") {
                    coded = true;
                    // Only the last coding frames the message (RFC 9112 section 6.3).
                    chunked = last_token(h.value).eq_ignore_ascii_case(b"chunked");
                } else if name.len() == 10 && name.eq_ignore_ascii_case(b"connection") {
                    for token in h.value.split(|b| *b == b',') {
                        let token = token.trim_ascii();
                        let (c, k) = (token.eq_ignore_ascii_case(b"close"), token.eq_ignore_ascii_case(b"keep-alive"));
                        (close, keep_alive) = (close | c, keep_alive | k);
                        names_others |= !c && !k && !token.is_empty();
                    }
                }
            }
        }
        let no_body = to_head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
        let framing = if no_body {
            Framing::None
        } else if coded && chunked {
            Framing::Chunked
        } else if coded {
            Framing::Close
        } else {
            length.map_or(Framing::Close, Framing::Length)
        };
        let persistent = if version == Version::HTTP_11 { !close } else { keep_alive && !close };
        // Both framings at once may be a smuggling attempt: read by the coding, then closed
        // (RFC 9112 section 6.3).
        let reusable = persistent && !matches!(framing, Framing::Close) && !(coded && length.is_some());
        let (map, fields) = if as_fields && !coded && !names_others {
            // A length describes the answer's body, which the writer frames itself, except
            // where no body follows (HEAD, 304): there it is passed on as the upstream said.
            let keep_length = to_head || status == StatusCode::NOT_MODIFIED;
            let fields = answer_fields(&parsed, &kinds, head_len, keep_length, length);
            buf.advance(head_len);
            (HeaderMap::new(), Some(fields))
        } else {
            let named = named_fields(&parsed, buf.as_ptr() as usize, names_others)?;
            (header_map(buf.split_to(head_len).freeze(), named, coded)?, None)
        };
        let mut response = Response::new(Body::empty());
        *response.status_mut() = status;
        *response.version_mut() = version;
        *response.headers_mut() = map;
        return Ok(Some(Answer { response, fields, framing, rest: std::mem::take(buf), reusable, grown: false }));
    }
}

/// What an answer's field is to the proxy, as its head's first pass found it.
#[derive(Clone, Copy)]
enum Kind {
    Other,
    Length,
    Date,
    HopByHop,
}

/// The fields of `parsed` a proxy passes on, as bytes: names in lower case (as a header
/// map writes them), without the hop-by-hop ones and, unless `keep_length`, the length.
fn answer_fields(
    parsed: &httparse::Response<'_, '_>,
    kinds: &[Kind],
    head_len: usize,
    keep_length: bool,
    length: Option<u64>,
) -> AnswerFields {
    let mut block = Vec::with_capacity(head_len);
    let mut has_date = false;
    for (h, kind) in parsed.headers.iter().zip(kinds) {
        match kind {
            Kind::HopByHop => continue,
            Kind::Length if !keep_length => continue,
            Kind::Date => has_date = true,
            Kind::Length | Kind::Other => {}
        }
        push_lowercase(&mut block, h.name.as_bytes());
        block.extend_from_slice(b": ");
        block.extend_from_slice(h.value);
        block.extend_from_slice(b"\r\n");
    }
    AnswerFields { block, has_date, length }
}

/// Appends `name`, a field name (token characters: ASCII), in lower case, eight bytes at a
/// time: a byte-by-byte loop cost about twelve instructions a byte.
fn push_lowercase(out: &mut Vec<u8>, name: &[u8]) {
    /// `word` with its ASCII capitals in lower case, other bytes as they are.
    fn lower(word: u64) -> u64 {
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        // On each byte's low seven bits (no carry into the next byte), a sum sets the high
        // bit when the byte is at least `A`, another when it is past `Z`.
        let low = word & (ONES * 0x7f);
        let at_least_a = low + ONES * (0x80 - u64::from(b'A'));
        let past_z = low + ONES * (0x80 - u64::from(b'Z' + 1));
        let capital = at_least_a & !past_z & !word & (ONES * 0x80);
        word | (capital >> 2)
    }
    let mut chunks = name.chunks_exact(8);
    for chunk in &mut chunks {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        out.extend_from_slice(&lower(u64::from_ne_bytes(bytes)).to_ne_bytes());
    }
    let rest = chunks.remainder();
    let mut bytes = [0u8; 8];
    bytes[..rest.len()].copy_from_slice(rest);
    out.extend_from_slice(&lower(u64::from_ne_bytes(bytes)).to_ne_bytes()[..rest.len()]);
}

/// The fields of `parsed` for a header map, their values as offsets from `base` (the
/// buffer's start): a `Connection` field is kept only when it names other fields.
fn named_fields(
    parsed: &httparse::Response<'_, '_>,
    base: usize,
    names_others: bool,
) -> Result<Vec<(HeaderName, std::ops::Range<usize>)>, H1Error> {
    let mut fields = Vec::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| H1Error::Protocol("an invalid field name"))?;
        // Hop-by-hop: the proxy strips it from the answer. One that names no other field
        // (`keep-alive`, `close`) has been read here and is not kept at all.
        if name == header::CONNECTION && !names_others {
            continue;
        }
        let start = h.value.as_ptr() as usize - base;
        fields.push((name, start..start + h.value.len()));
    }
    Ok(fields)
}

/// A header map of `fields`, their values slices of `head` (no copy), for the proxy's own
/// rules to apply to; a length beside a transfer coding is dropped.
fn header_map(
    head: Bytes,
    fields: Vec<(HeaderName, std::ops::Range<usize>)>,
    coded: bool,
) -> Result<HeaderMap, H1Error> {
    let mut map = HeaderMap::with_capacity(fields.len());
    for (name, range) in fields {
        let value = HeaderValue::from_maybe_shared(head.slice(range))
            .map_err(|_| H1Error::Protocol("an invalid field value"))?;
        map.append(name, value);
    }
    if coded {
        // The coding frames the body; a length beside it describes nothing passed on.
        map.remove(header::CONTENT_LENGTH);
    }
    Ok(map)
}

/// [`parse_answer`] on `data`, then the body reader over the bytes past the head, as if the
/// connection closed after them: the status and the body bytes read, or `None` when no head
/// was taken. A length-framed body never yields more than its length, and an answer read
/// with its fields as bytes is read as the one with a header map.
pub(crate) fn parse_for_fuzzing(data: &[u8]) -> Option<(u16, u64)> {
    let mapped = read_for_fuzzing(data, false);
    let as_fields = read_for_fuzzing(data, true);
    assert_eq!(mapped, as_fields, "the answer reads the same with its fields as bytes");
    mapped
}

fn read_for_fuzzing(data: &[u8], as_fields: bool) -> Option<(u16, u64)> {
    use http_body::Body as _;
    let answer = parse_answer(&mut BytesMut::from(data), false, as_fields).ok()??;
    let mut body = std::pin::pin!(UpstreamBody::from_buffer(answer.rest, answer.framing));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut read = 0u64;
    // Without a connection every poll is ready: the loop ends at the body's end or error.
    while let std::task::Poll::Ready(Some(Ok(frame))) = body.as_mut().poll_frame(&mut cx) {
        read += frame.data_ref().map_or(0, |d| d.len() as u64);
    }
    if let Framing::Length(n) = answer.framing {
        assert!(read <= n, "a body of {n} bytes yielded {read}");
    }
    Some((answer.response.status().as_u16(), read))
}

/// A `Content-Length` value: digits only, at most 18 of them.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// The last comma-separated token of a field value, trimmed.
fn last_token(value: &[u8]) -> &[u8] {
    value.rsplit(|b| *b == b',').next().unwrap_or_default().trim_ascii()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn answer(bytes: &[u8], to_head: bool) -> Result<Option<Answer>, H1Error> {
        parse_answer(&mut BytesMut::from(bytes), to_head, false)
    }

    /// The answer read with its fields as bytes: the fields (when they came so) and the rest.
    fn as_fields(bytes: &[u8], to_head: bool) -> (Option<String>, Answer) {
        let a = parse_answer(&mut BytesMut::from(bytes), to_head, true).unwrap().unwrap();
        (a.fields.as_ref().map(|f| String::from_utf8(f.block.clone()).unwrap()), a)
    }

    #[test]
    fn fields_as_bytes_are_those_a_proxy_passes_on_in_lower_case() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: o\r\nDate: Tue, 01 Dec 2026 10:00:00 GMT\r\nContent-Length: 5\r\n\
            Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nSet-Cookie: a=1\r\nX-A: 1\r\nSet-Cookie: b=2\r\n\
            Upgrade: h2c\r\nProxy-Connection: x\r\nTE: trailers\r\n\r\nhello";
        let (fields, a) = as_fields(raw, false);
        assert_eq!(
            fields.as_deref(),
            Some(
                "server: o\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\nset-cookie: a=1\r\nx-a: 1\r\nset-cookie: b=2\r\n"
            )
        );
        let f = a.fields.as_ref().unwrap();
        assert!(f.has_date);
        assert_eq!(f.length, Some(5));
        assert!(a.response.headers().is_empty());
        assert!(matches!(a.framing, Framing::Length(5)) && a.reusable);
        assert_eq!(&a.rest[..], b"hello");
    }

    #[test]
    fn names_are_put_in_lower_case_whatever_their_length() {
        // Every token character, in every position of a word and its tail.
        let tchars: Vec<u8> = (0x21u8..0x7f).filter(|b| !b"\"(),/:;<=>?@[\\]{}".contains(b)).collect();
        // Bytes past ASCII (no field name has them) are left as they are.
        let mut out = Vec::new();
        push_lowercase(&mut out, "AÀÉZ\u{ff}".as_bytes());
        assert_eq!(out, "aÀÉz\u{ff}".as_bytes());
        for start in 0..tchars.len() {
            for len in 0..=17.min(tchars.len() - start) {
                let name = &tchars[start..start + len];
                let mut out = b"x".to_vec();
                push_lowercase(&mut out, name);
                assert_eq!(out[1..], name.to_ascii_lowercase()[..], "{}", String::from_utf8_lossy(name));
            }
        }
    }

    #[test]
    fn a_length_is_passed_on_as_bytes_only_where_no_body_follows() {
        let (fields, _) = as_fields(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true);
        assert_eq!(fields.as_deref(), Some("content-length: 9\r\n"), "an answer to HEAD");
        let (fields, _) = as_fields(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", false);
        assert_eq!(fields.as_deref(), Some("content-length: 9\r\n"));
        let (fields, a) = as_fields(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", false);
        assert_eq!(fields.as_deref(), Some(""));
        assert!(!a.fields.unwrap().has_date);
    }

    #[test]
    fn answers_the_map_s_rules_are_for_keep_their_map() {
        // A transfer coding, and a Connection that names a field: the proxy's map rules apply.
        let (fields, a) = as_fields(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n", false);
        assert!(fields.is_none() && a.response.headers().contains_key("x-a"));
        let (fields, a) =
            as_fields(b"HTTP/1.1 200 OK\r\nConnection: X-P\r\nX-P: 1\r\nContent-Length: 0\r\n\r\n", false);
        assert!(fields.is_none() && a.response.headers().contains_key(header::CONNECTION));
    }

    #[test]
    fn a_length_framed_answer_keeps_its_fields_and_the_bytes_past_the_head() {
        let a =
            answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nX-A: 2\r\n\r\nhello", false).unwrap().unwrap();
        assert_eq!(a.response.status(), 200);
        assert_eq!(a.response.headers().get_all("x-a").iter().count(), 2);
        assert!(matches!(a.framing, Framing::Length(5)));
        assert_eq!(&a.rest[..], b"hello");
        assert!(a.reusable);
    }

    #[test]
    fn interim_answers_are_skipped_and_incomplete_heads_wait() {
        assert!(answer(b"HTTP/1.1 200 OK\r\nContent-Len", false).unwrap().is_none());
        let a = answer(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n", false).unwrap().unwrap();
        assert_eq!(a.response.status(), 204);
        assert!(matches!(a.framing, Framing::None));
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let chunked =
            answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n", false);
        assert!(matches!(chunked.unwrap().unwrap().framing, Framing::Chunked));
        let close = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false).unwrap().unwrap();
        assert!(matches!(close.framing, Framing::Close) && !close.reusable);
        let unframed = answer(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", false).unwrap().unwrap();
        assert!(matches!(unframed.framing, Framing::Close) && !unframed.reusable);
        let head = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true).unwrap().unwrap();
        assert!(matches!(head.framing, Framing::None) && head.reusable);
        let old = answer(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false).unwrap().unwrap();
        assert!(!old.reusable, "HTTP/1.0 without keep-alive closes");
        let closing = answer(b"HTTP/1.1 200 OK\r\nConnection: x, close\r\nContent-Length: 0\r\n\r\n", false);
        assert!(!closing.unwrap().unwrap().reusable);
    }

    #[test]
    fn answers_a_proxy_must_not_pass_on_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX\x00: y\r\n\r\n",
            b"NOT HTTP\r\n\r\n",
        ] {
            assert!(answer(bad, false).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// The head [`write_head`] writes, and the body it leaves to write after it.
    fn head_of(out: &Outgoing<'_>) -> (String, Option<Bytes>) {
        let mut head = BytesMut::new();
        let rest = write_head(out, &mut head);
        (String::from_utf8(head.to_vec()).unwrap(), rest)
    }

    #[test]
    fn the_request_head_has_the_host_and_its_own_framing() {
        let uri: Uri = "http://origin:8080/a/b?c=d".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::HOST, HeaderValue::from_static("client.example"));
        headers.insert("x-a", HeaderValue::from_static("1"));
        let out = |client_host, body: Bytes| Outgoing {
            method: &Method::POST,
            uri: &uri,
            headers: &headers,
            client_host,
            forwarded: None,
            via: None,
            body,
            as_fields: false,
            now: Instant::now(),
        };
        let (head, rest) = head_of(&out(false, Bytes::from_static(b"hi")));
        assert!(rest.is_none());
        assert_eq!(head, "POST /a/b?c=d HTTP/1.1\r\nhost: origin:8080\r\nx-a: 1\r\ncontent-length: 2\r\n\r\nhi");
        let (head, _) = head_of(&out(true, Bytes::new()));
        assert!(head.starts_with("POST /a/b?c=d HTTP/1.1\r\nhost: client.example\r\nx-a: 1\r\n"));
        let big = Bytes::from(vec![b'x'; COALESCE + 1]);
        let (head, rest) = head_of(&out(false, big.clone()));
        assert!(head.ends_with(&format!("content-length: {}\r\n\r\n", big.len())));
        assert_eq!(rest, Some(big));
    }

    #[test]
    fn the_forwarding_fields_and_via_replace_the_client_s_in_the_head() {
        let mut cx = hop::tests::context_on(std::net::SocketAddr::from(([192, 0, 2, 7], 8080)));
        cx.original_uri = Some("http://gw.example:8080/a".parse().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("gw.example:8080"));
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        headers.insert("x-forwarded-host", HeaderValue::from_static("forged"));
        headers.insert(header::VIA, HeaderValue::from_static("1.1 earlier"));
        let forwarded = Forwarded::new(&cx, &headers, headers.get(header::HOST));
        let uri: Uri = "http://origin/a".parse().unwrap();
        let via = HeaderValue::from_static("1.1 us");
        let out = Outgoing {
            method: &Method::GET,
            uri: &uri,
            headers: &headers,
            client_host: false,
            forwarded: Some(&forwarded),
            via: Some(&via),
            body: Bytes::new(),
            as_fields: false,
            now: Instant::now(),
        };
        let (head, _) = head_of(&out);
        assert_eq!(
            head,
            "GET /a HTTP/1.1\r\nhost: origin\r\nvia: 1.1 earlier\r\nx-forwarded-for: 198.51.100.1, 192.0.2.7\r\n\
             x-forwarded-proto: http\r\nx-forwarded-host: gw.example:8080\r\nx-forwarded-port: 8080\r\nvia: 1.1 us\r\n\r\n"
        );
        // The same fields as the map hyper's leg sends.
        let mut map = headers.clone();
        Forwarded::new(&cx, &headers, headers.get(header::HOST)).insert_into(&mut map);
        for (name, value) in forwarded.fields() {
            assert_eq!(map.get_all(&name).iter().collect::<Vec<_>>(), [value], "{name}");
        }
    }
}
