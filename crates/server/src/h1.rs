//! The lean HTTP/1.1 path: the common request, served without hyper's connection machinery.
//!
//! A connection starts here. Each request whose head has arrived (in one read or in pieces,
//! the rest read here within `requestHeaderTimeout` of its first byte) and is plain
//! HTTP/1.1 (origin-form target, no `Transfer-Encoding`, `Upgrade`, `Expect` or `TE`, at most
//! one `Content-Length` whose body is already in the buffer, `Connection` only `keep-alive`
//! or `close`) is parsed once with `httparse` (header values are slices of the read buffer,
//! not copies), served by the edge, and its response written with one `write` when it fits.
//! Anything else (an h2c preface, a body still coming after its head, a chunked or large
//! upload, an upgrade, HTTP/1.0, a malformed head) hands the connection, with every byte
//! read so far, to hyper, which serves that request and the rest of the connection as
//! before: the lean path never answers what it does not fully understand.
//!
//! Between requests a connection holds only a 1 KiB read buffer (nginx's
//! `client_header_buffer_size`; hyper keeps an 8 KiB read and an 8 KiB write buffer), which
//! grows only for a larger head; the next request is read into what is left of it while at
//! least `REUSE_AT_LEAST` bytes are, so small requests share one allocation. The response's
//! head is built per response and freed after.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use gatehouse_core::{AnswerFields, Body, ClientInfo};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::access_log::LoggedBody;
use crate::admin_config::Connector;
use crate::edge::Edge;
use crate::watchdog::Activity;

/// How a connection left the lean path.
pub(crate) enum Outcome {
    /// Closed (by the client, an error, or a stop).
    Closed,
    /// Not a request this path serves: hyper takes the connection, these bytes first.
    Handover(Bytes),
}

/// The read buffer taken when a request starts arriving.
const FIRST_READ: usize = 1024;
/// Room left in the buffer after a request that is enough to read the next one into: the
/// requests of a connection then share one allocation (the parsed ones slice it) until it
/// is used up, instead of taking a new buffer each.
const REUSE_AT_LEAST: usize = 512;
/// Headers a lean request may have; more go to hyper.
const MAX_HEADERS: usize = 64;
/// The largest request body the lean path takes (already read with its head).
const MAX_BODY: usize = 64 * 1024;
/// A response body up to this size is copied behind its head and written with it.
const COALESCE: usize = 16 * 1024;

/// What serving needs from the connection.
pub(crate) struct Lean<'a> {
    pub(crate) edge: &'a Edge,
    pub(crate) client: &'a Arc<ClientInfo>,
    pub(crate) connector: &'a Connector,
    pub(crate) activity: &'a Arc<Activity>,
}

/// A request parsed from the buffer.
struct Parsed {
    request: http::Request<Body>,
    /// The client asked to close after this exchange.
    close: bool,
}

/// Serves requests on `io` until the connection ends or a request is not for this path.
pub(crate) async fn serve<I>(io: &mut I, lean: Lean<'_>, stop: &mut watch::Receiver<bool>) -> Outcome
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    // The stop is waited for by one future kept for the connection's life, registered with
    // the channel once rather than at every idle wait (about 250 instructions a request).
    let mut stopped = stop.clone();
    let mut stopping = std::pin::pin!(stopped.wait_for(|s| *s));
    let mut buf = BytesMut::new();
    // Whether `buf` may have outgrown FIRST_READ (a large head, pipelined bytes): such a
    // buffer is not kept for the next request.
    let mut grown = false;
    loop {
        if buf.is_empty() {
            // Idle: wait for the next request in a small buffer (what is left of the last
            // one's, when enough is), unless a stop comes. Either way at most FIRST_READ
            // bytes are held while idle.
            if grown || buf.capacity() < REUSE_AT_LEAST {
                buf = BytesMut::with_capacity(FIRST_READ);
                grown = false;
            }
            // `biased`: polled in order, without the random start `select!` draws for fairness
            // (a random number per poll), which two branches that cannot starve each other
            // do not need.
            let read = tokio::select! {
                biased;
                r = io.read_buf(&mut buf) => r,
                _ = &mut stopping => return Outcome::Closed,
            };
            match read {
                Ok(0) | Err(_) => return Outcome::Closed,
                Ok(_) => {}
            }
        }
        let max_head = lean.connector.max_head();
        // What a request needs only until its exchange starts (its parsed head and the
        // request, 272 + 264 bytes) and what an exchange needs only until its response is
        // written (the response, moved into the writer) live in blocks of their own: the
        // compiler keeps a local's room in the connection's task from its binding to the end
        // of its scope, moved or not, at every wait in between, the idle one included.
        let (busy, mut serving, close, head_only) = {
            let mut head_due = None;
            let mut ready = true;
            let parsed = loop {
                if let Some(parsed) = parse(&mut buf, max_head, lean.client.secure) {
                    break Some(parsed);
                }
                // A head (or a head and its body) larger than the first read, if the rest is
                // already there: read on without waiting. A body still arriving goes to hyper.
                if ready && buf.len() == buf.capacity() && buf.len() < max_head {
                    buf.reserve(buf.len());
                    grown = true;
                    if read_ready(io, &mut buf).await {
                        continue;
                    }
                }
                ready = false;
                // A head that came in pieces (a client that writes its request line and
                // fields separately): the rest is read here rather than the connection handed
                // to hyper, within requestHeaderTimeout of its first byte (which came just
                // now, or, pipelined, with the last request), as hyper would allow it. Not a
                // body still coming after its head: that request is an exchange already,
                // counted in flight, logged (499 if the client leaves) and drained at a stop
                // by the edge, so it goes to hyper at once.
                if !head_incomplete(&buf, max_head) {
                    break None;
                }
                let due = *head_due
                    .get_or_insert_with(|| tokio::time::Instant::now() + lean.connector.request_header_timeout);
                if buf.len() == buf.capacity() {
                    buf.reserve(buf.len());
                    grown = true;
                }
                let read = tokio::select! {
                    r = tokio::time::timeout_at(due, io.read_buf(&mut buf)) => r,
                    _ = &mut stopping => return Outcome::Closed,
                };
                match read {
                    Ok(Ok(n)) if n > 0 => {}
                    // Closed, failed, or too slow (hyper closes such a connection too).
                    _ => return Outcome::Closed,
                }
            };
            let Some(Parsed { request, close }) = parsed else {
                return Outcome::Handover(buf.freeze());
            };
            let head_only = request.method() == Method::HEAD;
            let busy = lean.activity.exchange();
            (busy, Box::pin(lean.edge.exchange(request, lean.client, lean.connector, true)), close, head_only)
        };
        let writing = {
            // The client's side is watched while the exchange runs: a client that leaves
            // cancels it (logged 499, the upstream call dropped). Bytes it sends meanwhile (a
            // pipelined request) wait in the buffer, up to one head's worth.
            let (response, fields) = loop {
                let watching = buf.len() < max_head;
                let full = buf.len() == buf.capacity();
                // `biased`, as above: the exchange first, then the client's side.
                tokio::select! {
                    biased;
                    response = &mut serving => break response,
                    read = io.read_buf(&mut buf), if watching => match read {
                        Ok(0) | Err(_) => return Outcome::Closed,
                        // A full buffer grows to take what is read.
                        Ok(_) => grown |= full,
                    },
                }
            };
            drop(serving);
            let close = close || *stop.borrow();
            // Boxed, like the edge's future: between requests the connection's task keeps
            // neither.
            write_response(io, response, fields, head_only, close, lean.edge.clock())
        };
        let written = writing.await;
        drop(busy);
        match written {
            // `true` only when neither side asked to close.
            Ok(true) if !*stop.borrow() => {}
            _ => {
                let _ = io.shutdown().await;
                return Outcome::Closed;
            }
        }
    }
}

/// Reads what is already there into `buf`'s spare room, without waiting: whether any came.
async fn read_ready<I: AsyncRead + Unpin>(io: &mut I, buf: &mut BytesMut) -> bool {
    let had = buf.len();
    buf.resize(buf.capacity(), 0);
    let n = std::future::poll_fn(|cx| {
        let mut read = tokio::io::ReadBuf::new(&mut buf[had..]);
        match Pin::new(&mut *io).poll_read(cx, &mut read) {
            std::task::Poll::Ready(Ok(())) => std::task::Poll::Ready(read.filled().len()),
            _ => std::task::Poll::Ready(0),
        }
    })
    .await;
    buf.truncate(had + n);
    n > 0
}

/// Whether `buf` holds the beginning of a request head, shorter than `max_head`, with
/// nothing wrong in it so far: the rest is worth waiting for on this path.
fn head_incomplete(buf: &[u8], max_head: usize) -> bool {
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    buf.len() < max_head && matches!(req.parse_with_uninit_headers(buf, &mut headers), Ok(httparse::Status::Partial))
}

/// Parses one request, its head at most `max_head` bytes ([`Connector::max_head`]), from the
/// front of `buf` and takes its bytes (head and body) out of it:
/// `None`, with `buf` untouched, when it is not a request this path serves (incomplete,
/// malformed or outside the subset). The target, header values and body are slices of the
/// bytes read, not copies. With a `Host` that is a valid authority, the URI is absolute
/// (the connection's scheme, `https` when `secure`, + `Host` + target: the effective request
/// URI of RFC 9112 section 3.3, its authority the `Host` value's bytes), so that the edge
/// takes it as it is when its path is already normal.
fn parse(buf: &mut BytesMut, max_head: usize, secure: bool) -> Option<Parsed> {
    // Not initialized first: the parser writes the fields it finds (64 blank fields were
    // 2 KiB of stores per request).
    let mut headers = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let head_len = match req.parse_with_uninit_headers(buf, &mut headers) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return None,
    };
    if req.version != Some(1) || head_len > max_head {
        return None;
    }
    let base = buf.as_ptr() as usize;
    let range = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        start..start + s.len()
    };
    let path = req.path?;
    // `http` keeps a target's offsets in 16 bits and refuses longer URIs (hyper's 414).
    if !path.starts_with('/') || path.len() >= usize::from(u16::MAX) - 1 {
        return None;
    }
    let method = Method::from_bytes(req.method?.as_bytes()).ok()?;
    let target = range(path.as_bytes());
    let (mut close, mut length, mut host) = (false, None::<usize>, None);
    // Each field's name and value as offsets into the head (the parser's slices borrow the
    // buffer, which is split below): on the stack, where a Vec cost an allocation and a free.
    let mut spans = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let offsets = |s: &[u8]| {
        let r = range(s);
        Some((u32::try_from(r.start).ok()?, u32::try_from(r.end).ok()?))
    };
    for (h, span) in req.headers.iter().zip(spans.iter_mut()) {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"transfer-encoding")
            || name.eq_ignore_ascii_case(b"upgrade")
            || name.eq_ignore_ascii_case(b"expect")
            || name.eq_ignore_ascii_case(b"te")
            || name.eq_ignore_ascii_case(b"http2-settings")
        {
            return None;
        }
        if name.eq_ignore_ascii_case(b"connection") {
            if h.value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if !h.value.eq_ignore_ascii_case(b"keep-alive") {
                return None;
            }
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            let digits = h.value;
            if length.is_some() || digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            length = Some(digits.iter().fold(0, |n, d| n * 10 + usize::from(d - b'0')));
        }
        if host.is_none() && name.eq_ignore_ascii_case(b"host") {
            host = Some(range(h.value));
        }
        let ((name_start, name_end), (value_start, value_end)) = (offsets(name)?, offsets(h.value)?);
        *span = (name_start, name_end, value_start, value_end);
    }
    let spans = &spans[..req.headers.len()];
    let length = length.unwrap_or(0);
    if length > MAX_BODY || buf.len() - head_len < length {
        return None;
    }
    let bytes = buf.split_to(head_len + length).freeze();
    let built = (|| {
        // Room for one more field. What a proxy adds (`X-Forwarded-*`, `Via`) goes straight
        // into the head on the lean upstream leg, not into the map (hyper's leg makes room
        // for it there); a smaller map is a smaller allocation, cheaper to make and to touch.
        let mut map = HeaderMap::with_capacity(spans.len() + 1);
        for &(name_start, name_end, value_start, value_end) in spans {
            let name = HeaderName::from_bytes(&bytes[name_start as usize..name_end as usize]).ok()?;
            let value = HeaderValue::from_maybe_shared(bytes.slice(value_start as usize..value_end as usize)).ok()?;
            map.append(name, value);
        }
        let path = http::uri::PathAndQuery::from_maybe_shared(bytes.slice(target)).ok()?;
        let authority = host.and_then(|h| http::uri::Authority::from_maybe_shared(bytes.slice(h)).ok());
        let uri = match authority {
            Some(authority) => {
                let mut parts = http::uri::Parts::default();
                parts.scheme = Some(if secure { http::uri::Scheme::HTTPS } else { http::uri::Scheme::HTTP });
                parts.authority = Some(authority);
                parts.path_and_query = Some(path);
                Uri::from_parts(parts).ok()?
            }
            None => Uri::from(path),
        };
        let body = if length == 0 { Body::empty() } else { Body::from(bytes.slice(head_len..)) };
        let mut request = http::Request::new(body);
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = map;
        Some(Parsed { request, close })
    })();
    if built.is_none() {
        // A value or target `http` refuses: hyper gets every byte back, in order.
        let mut restored = BytesMut::with_capacity(bytes.len() + buf.len());
        restored.extend_from_slice(&bytes);
        restored.extend_from_slice(buf);
        *buf = restored;
    }
    built
}

/// [`parse`] on `data` with the default head limit: whether it took a request, and what is
/// left of the buffer; [`head_incomplete`] checked against it.
pub(crate) fn parse_for_fuzzing(data: &[u8]) -> (bool, usize) {
    let incomplete = head_incomplete(data, 8192);
    let mut buf = BytesMut::from(data);
    let served = parse(&mut buf, 8192, false).is_some();
    // A head the path waits for is never a request already here.
    assert!(!(served && incomplete), "a whole request was waited for");
    (served, buf.len())
}

/// How the response's body is framed on the wire.
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    Length(u64),
    Chunked,
}

/// Writes `response`; `Ok(true)` when the connection may serve another request. The head is
/// built before the future, which carries only the writing (it is boxed per exchange, and a
/// box copies its future at its full size).
///
/// A small body of known length whose one frame is ready now (a response from memory, an
/// answer the proxy read whole) is taken here and written with its head by a future a third
/// the size of the general writer's: small enough for the allocator's per-thread cache,
/// where the general one (1.4 KB) took about 800 instructions to allocate.
fn write_response<'a, I>(
    io: &'a mut I,
    response: hyper::Response<LoggedBody>,
    fields: Option<AnswerFields>,
    head_only: bool,
    close: bool,
    clock: &gatehouse_core::Clock,
) -> Writing<
    impl std::future::Future<Output = std::io::Result<bool>> + 'a,
    impl std::future::Future<Output = std::io::Result<bool>> + 'a,
>
where
    I: AsyncWrite + Unpin,
{
    let (parts, mut body) = response.into_parts();
    let exact = body.size_hint().exact();
    let (mut head, framing, closing) = response_head(&parts, fields.as_ref(), exact, head_only, close, clock);
    drop(fields);
    drop(parts);
    let first = match framing {
        // Nothing follows the head (HEAD, 1xx, 204, 304).
        Framing::None => return Writing::Whole(Box::pin(write_whole(io, head, closing, body))),
        Framing::Length(n) if n > 0 && n <= COALESCE as u64 => {
            // Polled without a waker that matters: if the frame is not there yet, the general
            // writer polls again with the connection's own.
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            match Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) if data.len() as u64 == n && body.is_end_stream() => {
                        head.extend_from_slice(&data);
                        return Writing::Whole(Box::pin(write_whole(io, head, closing, body)));
                    }
                    Ok(data) => Some(Some(Ok(http_body::Frame::data(data)))),
                    Err(frame) => Some(Some(Ok(frame))),
                },
                Poll::Ready(next) => Some(next),
                Poll::Pending => None,
            }
        }
        _ => None,
    };
    Writing::General(Box::pin(write_body(io, head, framing, closing, body, first)))
}

/// One of the two writers, boxed.
enum Writing<W, G> {
    Whole(Pin<Box<W>>),
    General(Pin<Box<G>>),
}

impl<W, G, T> std::future::Future for Writing<W, G>
where
    W: std::future::Future<Output = T>,
    G: std::future::Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<T> {
        match self.get_mut() {
            Writing::Whole(f) => f.as_mut().poll(cx),
            Writing::General(f) => f.as_mut().poll(cx),
        }
    }
}

/// Writes `message` (a head, and the whole body if there is one), then ends the body (its
/// access-log line).
async fn write_whole<I>(io: &mut I, message: Vec<u8>, closing: bool, body: LoggedBody) -> std::io::Result<bool>
where
    I: AsyncWrite + Unpin,
{
    io.write_all(&message).await?;
    io.flush().await?;
    drop(body);
    Ok(!closing)
}

/// The response's head, how its body is framed, and whether the connection closes after it.
fn response_head(
    parts: &http::response::Parts,
    fields: Option<&AnswerFields>,
    exact: Option<u64>,
    head_only: bool,
    close: bool,
    clock: &gatehouse_core::Clock,
) -> (Vec<u8>, Framing, bool) {
    let status = parts.status;
    let no_body = head_only
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    // What the writer needs to know of the fields is gathered in the one pass that writes
    // them, not looked up (hashed) one by one.
    let (mut declared, mut connection_close, mut has_connection, mut has_date) =
        (None::<Option<u64>>, false, false, false);
    let mut head = Vec::with_capacity(256 + parts.headers.len() * 32 + fields.map_or(0, |f| f.block.len()));
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    if let Some(fields) = fields {
        // The upstream's fields, as the proxy passed them on (no framing, no hop-by-hop).
        head.extend_from_slice(&fields.block);
        has_date = fields.has_date;
        declared = Some(fields.length);
    }
    for (name, value) in &parts.headers {
        if name == header::CONTENT_LENGTH {
            // The first, as `HeaderMap::get` gives it.
            if declared.is_none() {
                declared = Some(std::str::from_utf8(value.as_bytes()).ok().and_then(|v| v.parse::<u64>().ok()));
            }
        } else if name == header::CONNECTION {
            if !has_connection {
                connection_close = value.as_bytes().eq_ignore_ascii_case(b"close");
            }
            has_connection = true;
        } else if name == header::DATE {
            has_date = true;
        }
        let framing_header = name == header::CONTENT_LENGTH || name == header::TRANSFER_ENCODING;
        // The framing is this writer's: a 204's or 1xx's length is dropped, a HEAD's or
        // 304's kept as the handler said it.
        if framing_header && !(no_body && !status.is_informational() && status != StatusCode::NO_CONTENT) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let framing = if no_body {
        Framing::None
    } else if let Some(n) = exact.or(declared.flatten()) {
        Framing::Length(n)
    } else {
        Framing::Chunked
    };
    let closing = close || connection_close;
    match framing {
        Framing::Length(n) => {
            head.extend_from_slice(b"content-length: ");
            head.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None => {}
    }
    if !has_date {
        head.extend_from_slice(b"date: ");
        date::now(clock, &mut head);
        head.extend_from_slice(b"\r\n");
    }
    if close && !has_connection {
        head.extend_from_slice(b"connection: close\r\n");
    }
    head.extend_from_slice(b"\r\n");
    (head, framing, closing)
}

/// Writes `head`, then the body framed as `framing`.
async fn write_body<I>(
    io: &mut I,
    head: Vec<u8>,
    framing: Framing,
    closing: bool,
    mut body: LoggedBody,
    mut first: Option<Option<Result<http_body::Frame<Bytes>, gatehouse_core::BodyError>>>,
) -> std::io::Result<bool>
where
    I: AsyncWrite + Unpin,
{
    let mut body = Pin::new(&mut body);
    let chunked = matches!(framing, Framing::Chunked);
    let mut sent = 0u64;
    let mut pending = Some(head);
    loop {
        let next = match (first.take(), pending.take()) {
            // A frame `write_response` already took.
            (Some(next), head) => {
                pending = head;
                next
            }
            // The head waits for the first frame only if it is already there: a body that is
            // not ready (a stream, a slow origin) gets its head sent now, as hyper would.
            (None, Some(head)) => match std::future::poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
                Poll::Ready(next) => {
                    pending = Some(head);
                    next
                }
                Poll::Pending => {
                    io.write_all(&head).await?;
                    io.flush().await?;
                    body.frame().await
                }
            },
            (None, None) => body.frame().await,
        };
        let frame = match next {
            Some(Ok(frame)) => frame,
            // A body that failed mid-way cannot be finished: the client sees the connection close.
            Some(Err(_)) => return Ok(false),
            None => break,
        };
        let Ok(data) = frame.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        if let Framing::Length(n) = framing {
            if sent > n {
                return Ok(false);
            }
        }
        let prefix = if chunked { format!("{:x}\r\n", data.len()) } else { String::new() };
        let suffix: &[u8] = if chunked { b"\r\n" } else { b"" };
        match pending.take() {
            // The head waits for the first frame; when that frame ends the body (a response
            // from memory), both go out with the end in one write, below.
            Some(mut head) if data.len() <= COALESCE => {
                head.extend_from_slice(prefix.as_bytes());
                head.extend_from_slice(&data);
                head.extend_from_slice(suffix);
                if body.is_end_stream() {
                    pending = Some(head);
                } else {
                    // More to come, maybe much later (a stream): what came goes out now.
                    io.write_all(&head).await?;
                    io.flush().await?;
                }
            }
            Some(head) => {
                write_all(io, &[&head, prefix.as_bytes(), &data, suffix]).await?;
                io.flush().await?;
            }
            None => {
                write_all(io, &[prefix.as_bytes(), &data, suffix]).await?;
                io.flush().await?;
            }
        }
    }
    let end: &[u8] = if chunked { b"0\r\n\r\n" } else { b"" };
    match pending.take() {
        Some(mut head) => {
            head.extend_from_slice(end);
            io.write_all(&head).await?;
        }
        None if !end.is_empty() => io.write_all(end).await?,
        None => {}
    }
    io.flush().await?;
    if let Framing::Length(n) = framing {
        if sent != n {
            return Ok(false);
        }
    }
    Ok(!closing)
}

/// Writes every slice, with as few system calls as the socket allows.
async fn write_all<I>(io: &mut I, parts: &[&[u8]]) -> std::io::Result<()>
where
    I: AsyncWrite + Unpin,
{
    let mut parts: Vec<&[u8]> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    while !parts.is_empty() {
        let slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut n = std::future::poll_fn(|cx| Pin::new(&mut *io).poll_write_vectored(cx, &slices)).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while n > 0 {
            let Some(first) = parts.first_mut() else { break };
            if n >= first.len() {
                n -= first.len();
                parts.remove(0);
            } else {
                *first = &first[n..];
                n = 0;
            }
        }
    }
    Ok(())
}

/// A connection handed to hyper: the bytes the lean path read first, then the socket.
pub(crate) struct Prefixed<I> {
    first: Bytes,
    io: I,
}

impl<I> Prefixed<I> {
    pub(crate) fn new(first: Bytes, io: I) -> Self {
        Prefixed { first, io }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.first.is_empty() {
            let n = self.first.len().min(buf.remaining());
            buf.put_slice(&self.first.split_to(n));
            return std::task::Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// The `Date` header's value, formatted once a second per thread.
mod date {
    use std::cell::RefCell;
    use std::time::UNIX_EPOCH;

    thread_local! {
        static CACHED: RefCell<(u64, String)> = const { RefCell::new((0, String::new())) };
    }

    pub(super) fn now(clock: &gatehouse_core::Clock, out: &mut Vec<u8>) {
        let now = clock.now();
        let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        CACHED.with(|c| {
            let mut c = c.borrow_mut();
            if c.0 != second || c.1.is_empty() {
                *c = (second, httpdate::fmt_http_date(now));
            }
            out.extend_from_slice(c.1.as_bytes());
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parsed(raw: &str) -> Option<(Parsed, usize)> {
        let mut buf = BytesMut::from(raw.as_bytes());
        let p = parse(&mut buf, 8192, false);
        if p.is_none() {
            assert_eq!(&buf[..], raw.as_bytes(), "a request handed over keeps every byte");
        }
        p.map(|p| (p, raw.len() - buf.len()))
    }

    #[test]
    fn an_answer_s_fields_as_bytes_come_first_then_those_added_after_the_proxy() {
        let mut resp = http::Response::new(());
        resp.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("session=1"));
        let (parts, ()) = resp.into_parts();
        let fields =
            AnswerFields { block: b"server: o\r\nset-cookie: a=1\r\n".to_vec(), has_date: false, length: Some(2) };
        let clock = gatehouse_core::Clock::system();
        let (head, framing, closing) = response_head(&parts, Some(&fields), None, false, false, &clock);
        let head = String::from_utf8(head).unwrap();
        assert!(
            head.starts_with("HTTP/1.1 200 OK\r\nserver: o\r\nset-cookie: a=1\r\nset-cookie: session=1\r\ncontent-length: 2\r\ndate: "),
            "{head}"
        );
        assert!(matches!(framing, Framing::Length(2)) && !closing);
        // The upstream's Date is the one sent.
        let fields = AnswerFields { block: b"date: x\r\n".to_vec(), has_date: true, length: None };
        let (head, framing, _) = response_head(&parts, Some(&fields), Some(0), false, true, &clock);
        let head = String::from_utf8(head).unwrap();
        assert_eq!(head.matches("date: ").count(), 1, "{head}");
        assert!(head.ends_with("content-length: 0\r\nconnection: close\r\n\r\n"), "{head}");
        assert!(matches!(framing, Framing::Length(0)));
    }

    #[test]
    fn the_uri_is_the_effective_request_uri_when_the_host_is_an_authority() {
        let (p, _) = parsed("GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n").unwrap();
        assert_eq!(p.request.uri(), "http://example.com:8080/a?b=1");
        let mut tls = BytesMut::from(&b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"[..]);
        assert_eq!(parse(&mut tls, 8192, true).unwrap().request.uri(), "https://example.com/a", "over TLS");
        // A Host that is not an authority leaves the target as it came (the edge answers 400).
        let (p, _) = parsed("GET /a HTTP/1.1\r\nHost: a b\r\n\r\n").unwrap();
        assert_eq!(p.request.uri(), "/a");
        assert!(p.request.uri().authority().is_none());
        let (p, _) = parsed("GET /a HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(p.request.uri(), "/a");
    }

    #[test]
    fn a_plain_request_is_parsed_with_its_body_and_what_it_used() {
        let raw =
            "POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nX-A: 1\r\nX-A: 2\r\n\r\nabcGET / HTTP/1.1\r\n";
        let (p, used) = parsed(raw).unwrap();
        assert_eq!(used, raw.find("GET").unwrap());
        assert_eq!(p.request.method(), Method::POST);
        assert_eq!(p.request.uri().path_and_query().unwrap(), "/a?b=1");
        assert_eq!(p.request.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(p.request.body().as_bytes(), Some(&b"abc"[..]));
        assert!(!p.close);
        assert!(parsed("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap().0.close);
    }

    #[test]
    fn the_beginning_of_a_head_is_waited_for_and_anything_else_is_not() {
        for raw in [
            "G",
            "GET / HT",
            "GET / HTTP/1.1\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1",
            "GET / HTTP/1.1\r\nHost: x\r\n\r",
        ] {
            assert!(head_incomplete(raw.as_bytes(), 8192), "{raw:?}");
            assert!(!head_incomplete(raw.as_bytes(), raw.len()), "{raw:?} is as long as the limit");
        }
        for raw in [
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",              // whole
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", // the body is hyper's to wait for
            "PRI * HTTP/2.0\r\n\r\n",                         // h2c
            "GET / HTTP/1.1\r\nBad Header: x\r\n",            // malformed
            "G\0T / HTTP/1.1\r\n",
        ] {
            assert!(!head_incomplete(raw.as_bytes(), 8192), "{raw:?}");
        }
    }

    #[test]
    fn anything_outside_the_subset_goes_to_hyper() {
        for raw in [
            "GET / HTTP/1.1\r\nHost: x\r\n",                                        // head not whole
            "GET / HTTP/1.0\r\n\r\n",                                               // HTTP/1.0
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",                                     // h2c preface
            "GET http://x/ HTTP/1.1\r\n\r\n",                                       // absolute-form
            "OPTIONS * HTTP/1.1\r\n\r\n",                                           // asterisk-form
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",       // chunked
            "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", // two lengths
            "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",                     // not digits
            "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc",                      // body not here yet
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",  // upgrade
            "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",            // other tokens
            "PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n",  // expect
            "GET / HTTP/1.1\r\nTE: trailers\r\n\r\n",                               // trailers wanted
            "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",                              // malformed
            "G\0T / HTTP/1.1\r\n\r\n",                                              // malformed method
            "GET /a<b> HTTP/1.1\r\nHost: x\r\n\r\n",                                // a target `http` refuses
            "GET /a`b HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\u{7f}b\r\n\r\n", // a value `http` refuses
        ] {
            assert!(parsed(raw).is_none(), "{raw:?}");
        }
        let big = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{}", MAX_BODY + 1, "a".repeat(MAX_BODY + 1));
        assert!(parsed(&big).is_none());
    }
}
