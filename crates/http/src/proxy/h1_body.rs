//! The body of an answer on the lean upstream leg ([`super::h1`]) that did not come whole
//! with its head: read from the connection as the client takes it (by `Content-Length`,
//! chunked with its trailers, or until the upstream closes), then the connection goes back
//! to its unit's pool if the exchange ended cleanly.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use gatehouse_core::BodyError;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::{Frame, SizeHint};
use tokio::net::TcpStream;

use super::h1::{H1Error, Upstreams};

/// How an answer's body is framed.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Framing {
    /// No body (HEAD, 204, 304).
    None,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// Bytes read at a time.
const READ_SIZE: usize = 16 * 1024;
/// The longest chunk-size line (with extensions) accepted.
const MAX_LINE: usize = 4096;
/// The largest trailer section accepted.
const MAX_TRAILERS: usize = 16 * 1024;
/// Trailer fields accepted.
const MAX_TRAILER_FIELDS: usize = 32;

/// Reads more into the body's buffer, or ends `step` with the failure.
macro_rules! more {
    ($body:expr, $cx:expr) => {
        if let Err(e) = ready!($body.poll_more($cx)) {
            return Poll::Ready(Some(Err(e)));
        }
    };
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Bytes left of a `Content-Length` body.
    Length(u64),
    /// A chunk-size line comes next.
    ChunkSize,
    /// Bytes left of a chunk.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk.
    Trailers,
    /// Until the upstream closes.
    Close,
    Done,
}

/// An answer's body read from its connection.
pub(crate) struct UpstreamBody {
    stream: Option<TcpStream>,
    buf: BytesMut,
    state: State,
    /// Where the connection goes when the body ends cleanly: `None` if it cannot be reused.
    back: Option<(Arc<Upstreams>, String)>,
}

fn protocol(what: &'static str) -> BodyError {
    Box::new(H1Error::Protocol(what))
}

impl UpstreamBody {
    /// `buf` holds what was read past the head.
    pub(crate) fn new(
        stream: TcpStream,
        buf: BytesMut,
        framing: Framing,
        back: Option<(Arc<Upstreams>, String)>,
    ) -> Self {
        UpstreamBody { stream: Some(stream), back, ..UpstreamBody::from_buffer(buf, framing) }
    }

    /// A body read from `buf` alone, as if its connection had closed after it (for fuzzing).
    pub(crate) fn from_buffer(buf: BytesMut, framing: Framing) -> Self {
        let state = match framing {
            Framing::None => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::ChunkSize,
            Framing::Close => State::Close,
        };
        UpstreamBody { stream: None, buf, state, back: None }
    }

    /// The body ended: the connection goes back to the pool if nothing follows it.
    fn finish(&mut self) {
        self.state = State::Done;
        let stream = self.stream.take();
        if let (Some((upstreams, key)), Some(stream)) = (self.back.take(), stream) {
            if self.buf.is_empty() {
                upstreams.put(&key, stream, None, tokio::time::Instant::now());
            }
        }
    }

    /// The body cannot go on: its connection is dropped, never pooled.
    fn stop(&mut self) {
        self.state = State::Done;
        self.stream = None;
    }

    /// Reads more into the buffer: the count read, 0 at the end of the stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let Some(stream) = &self.stream else { return Poll::Ready(Ok(0)) };
        if self.buf.capacity() - self.buf.len() < READ_SIZE / 4 {
            self.buf.reserve(READ_SIZE);
        }
        loop {
            ready!(stream.poll_read_ready(cx))?;
            match stream.try_read_buf(&mut self.buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                read => return Poll::Ready(read),
            }
        }
    }

    /// Reads more, failing if the upstream closed before the body's end.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BodyError>> {
        match ready!(self.poll_fill(cx)) {
            Ok(0) => {
                self.stop();
                Poll::Ready(Err(Box::new(H1Error::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the upstream closed before the end of the body",
                )))))
            }
            Ok(_) => Poll::Ready(Ok(())),
            Err(e) => {
                self.stop();
                Poll::Ready(Err(Box::new(H1Error::Io(e))))
            }
        }
    }

    /// Up to `left` buffered bytes as a frame.
    fn take_data(&mut self, left: u64) -> (Bytes, u64) {
        let n = left.min(self.buf.len() as u64);
        (self.buf.split_to(n as usize).freeze(), left - n)
    }

    /// The next frame.
    fn step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        loop {
            match self.state {
                State::Done => return Poll::Ready(None),
                State::Length(0) => {
                    self.finish();
                    return Poll::Ready(None);
                }
                State::Length(left) | State::ChunkData(left) if !self.buf.is_empty() => {
                    let (data, left) = self.take_data(left);
                    match self.state {
                        State::Length(_) if left == 0 => self.finish(),
                        State::Length(_) => self.state = State::Length(left),
                        _ => self.state = if left == 0 { State::ChunkEnd } else { State::ChunkData(left) },
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::Close if !self.buf.is_empty() => {
                    let data = self.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                State::Close => match ready!(self.poll_fill(cx)) {
                    Ok(0) => {
                        self.stop();
                        return Poll::Ready(None);
                    }
                    Ok(_) => {}
                    Err(e) => return self.fail(Box::new(H1Error::Io(e))),
                },
                State::ChunkSize => match self.buf.windows(2).position(|w| w == b"\r\n") {
                    Some(end) => {
                        let Some(size) = chunk_size(&self.buf[..end]) else {
                            return self.fail(protocol("an invalid chunk size"));
                        };
                        self.buf.advance(end + 2);
                        self.state = if size == 0 { State::Trailers } else { State::ChunkData(size) };
                    }
                    None if self.buf.len() > MAX_LINE => return self.fail(protocol("a chunk-size line too long")),
                    None => more!(self, cx),
                },
                State::ChunkEnd if self.buf.len() >= 2 => {
                    if &self.buf[..2] != b"\r\n" {
                        return self.fail(protocol("a chunk not ended by CRLF"));
                    }
                    self.buf.advance(2);
                    self.state = State::ChunkSize;
                }
                State::Trailers => {
                    if self.buf.starts_with(b"\r\n") {
                        self.buf.advance(2);
                        self.finish();
                        return Poll::Ready(None);
                    }
                    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILER_FIELDS];
                    match httparse::parse_headers(&self.buf, &mut fields) {
                        Ok(httparse::Status::Complete((n, fields))) => {
                            let trailers = match trailer_map(fields) {
                                Some(map) => map,
                                None => return self.fail(protocol("an invalid trailer field")),
                            };
                            self.buf.advance(n);
                            self.finish();
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(httparse::Status::Partial) if self.buf.len() <= MAX_TRAILERS => more!(self, cx),
                        _ => return self.fail(protocol("an invalid trailer section")),
                    }
                }
                State::Length(_) | State::ChunkData(_) | State::ChunkEnd => more!(self, cx),
            }
        }
    }

    fn fail(&mut self, e: BodyError) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.stop();
        Poll::Ready(Some(Err(e)))
    }
}

/// A chunk-size line's size: hex digits, then optional whitespace and extensions.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digits = line.split(|b| *b == b';').next()?.trim_ascii_end();
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| Some(n * 16 + u64::from(char::from(*d).to_digit(16)?)))
}

fn trailer_map(fields: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut map = HeaderMap::with_capacity(fields.len());
    for f in fields {
        map.append(HeaderName::from_bytes(f.name.as_bytes()).ok()?, HeaderValue::from_bytes(f.value).ok()?);
    }
    Some(map)
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.get_mut().step(cx)
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done | State::Length(0))
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(left) => SizeHint::with_exact(left),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::io::Write;

    use http_body::Body as _;
    use http_body_util::BodyExt;

    use super::*;

    /// The frames of a body whose first `buffered` bytes of `wire` came with the head and the
    /// rest arrives on a real loopback connection, one byte per write; then whether the
    /// connection went back to the pool.
    fn read_body(wire: &'static [u8], buffered: usize, framing: Framing) -> (Result<Vec<Frame<Bytes>>, String>, bool) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        gatehouse_core::units::enter(0);
        rt.block_on(async {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = std::thread::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                s.set_nodelay(true).unwrap();
                for b in &wire[buffered..] {
                    // A reader that stopped early (bytes past the body) may have closed.
                    if s.write_all(std::slice::from_ref(b)).is_err() {
                        break;
                    }
                }
                s
            });
            let stream = TcpStream::connect(addr).await.unwrap();
            let upstreams = Upstreams::new(4, None);
            let back = Some((upstreams.clone(), "origin:80".to_string()));
            let mut body = UpstreamBody::new(stream, BytesMut::from(&wire[..buffered]), framing, back);
            let mut frames = Vec::new();
            let result = loop {
                match body.frame().await {
                    None => break Ok(frames),
                    Some(Ok(frame)) => frames.push(frame),
                    Some(Err(e)) => break Err(e.to_string()),
                }
            };
            // The writer's socket stays open until here, so a pooled connection is not stale.
            let _origin = writer.join().unwrap();
            (result, upstreams.take("origin:80").is_some())
        })
    }

    fn data(frames: &[Frame<Bytes>]) -> Vec<u8> {
        frames.iter().filter_map(|f| f.data_ref()).flat_map(|d| d.to_vec()).collect()
    }

    const CHUNKED: &[u8] = b"6;ext=1\r\nhello \r\n5\r\nworld\r\n0\r\nX-Checksum: abc123\r\n\r\n";

    #[test]
    fn a_chunked_body_with_trailers_reads_the_same_however_it_is_split() {
        for buffered in [CHUNKED.len(), 0, 3, 9, 20] {
            let (frames, pooled) = read_body(CHUNKED, buffered, Framing::Chunked);
            let frames = frames.unwrap();
            assert_eq!(data(&frames), b"hello world", "split at {buffered}");
            let trailers = frames.iter().find_map(|f| f.trailers_ref()).expect("trailers");
            assert_eq!(trailers["x-checksum"], "abc123");
            assert!(pooled, "a clean end gives the connection back (split at {buffered})");
        }
    }

    #[test]
    fn a_length_body_ends_at_its_length_and_says_so_up_front() {
        let (frames, pooled) = read_body(b"0123456789", 4, Framing::Length(10));
        assert_eq!(data(&frames.unwrap()), b"0123456789");
        assert!(pooled);
        let body_hint = |framing| {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
                UpstreamBody::new(stream, BytesMut::new(), framing, None).size_hint().exact()
            })
        };
        assert_eq!(body_hint(Framing::Length(10)), Some(10));
        assert_eq!(body_hint(Framing::Chunked), None);
    }

    #[test]
    fn bytes_past_the_body_keep_the_connection_out_of_the_pool() {
        let (frames, pooled) = read_body(b"0123456789HTTP/1.1 200 OK\r\n", 14, Framing::Length(10));
        assert_eq!(data(&frames.unwrap()), b"0123456789");
        assert!(!pooled);
    }

    #[test]
    fn broken_bodies_fail_and_are_not_pooled() {
        let (result, pooled) = read_body(b"zz\r\nabc\r\n0\r\n\r\n", 0, Framing::Chunked);
        assert!(result.unwrap_err().contains("chunk size"));
        assert!(!pooled);
        let (result, pooled) = read_body(b"5\r\nhelloXX0\r\n\r\n", 0, Framing::Chunked);
        assert!(result.unwrap_err().contains("CRLF"));
        assert!(!pooled);
    }

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a"), Some(26));
        assert_eq!(chunk_size(b"FF ; name=value"), Some(255));
        assert_eq!(chunk_size(b"0"), Some(0));
        assert_eq!(chunk_size(b""), None);
        assert_eq!(chunk_size(b"zz"), None);
        assert_eq!(chunk_size(b"-1"), None);
        assert_eq!(chunk_size(b"1234567890abcdef0"), None, "past u64");
    }
}
