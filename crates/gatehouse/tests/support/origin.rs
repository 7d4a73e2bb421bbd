//! A real origin on a free loopback port (hyper, HTTP/1.1 and h2c), for proxy tests.
//!
//! | path | answer |
//! |---|---|
//! | `/headers...` | the request line, version and headers as JSON; sends `Connection: X-Origin-Private` |
//! | `/upload` | reads the body as it streams; answers `len=N sum=S` (see [`checksum`]) |
//! | `/download?n=N` | N bytes of [`pattern`], streamed in 64 KiB chunks |
//! | `/echo` | the request body, streamed back |
//! | `/trailers` | a chunked body with an `X-Checksum` trailer |
//! | `/status/NNN` | that status |
//! | `/close` | 200, then the origin closes the connection |
//! | `/hang` | never answers; counts requests dropped by their client in `canceled` |
//! | `/stall-body` | headers, one chunk, then silence |
//! Every request whose body was read completely counts in `complete`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Resp = hyper::Response<http_body_util::combinators::BoxBody<Bytes, Infallible>>;

/// Counters the tests read.
#[derive(Default)]
pub struct Stats {
    pub complete: AtomicUsize,
    pub hanging: AtomicUsize,
    pub canceled: AtomicUsize,
}

/// A running origin; its runtime lives on a thread of its own.
pub struct Origin {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
}

impl Origin {
    pub fn start() -> Origin {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let s = stats.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let stats = s.clone();
                    tokio::spawn(async move {
                        let svc = hyper::service::service_fn(move |req| handle(req, stats.clone()));
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                            .await;
                    });
                }
            });
        });
        Origin { addr: rx.recv_timeout(Duration::from_secs(10)).unwrap(), stats }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn complete(&self) -> usize {
        self.stats.complete.load(Ordering::SeqCst)
    }

    pub fn hanging(&self) -> usize {
        self.stats.hanging.load(Ordering::SeqCst)
    }

    pub fn canceled(&self) -> usize {
        self.stats.canceled.load(Ordering::SeqCst)
    }
}

/// The bytes `/download` sends: a fixed 64 KiB pattern, repeated.
pub fn pattern() -> Bytes {
    Bytes::from((0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect::<Vec<u8>>())
}

/// Writes `size` bytes of the pattern to `path` (for curl to stream with `-T`); returns the
/// checksum the origin's `/upload` will answer.
pub fn write_pattern_file(path: &std::path::Path, size: u64) -> u64 {
    use std::io::Write as _;
    let chunk = pattern();
    let mut expected = 0u64;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut off = 0u64;
    while off < size {
        let n = (size - off).min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        expected = checksum(off, &chunk[..n], expected);
        off += n as u64;
    }
    f.flush().unwrap();
    expected
}

/// A cheap checksum that both sides compute the same way: the wrapping sum of the bytes,
/// each weighted by its position modulo 251.
pub fn checksum(offset: u64, data: &[u8], acc: u64) -> u64 {
    let mut acc = acc;
    for (i, b) in data.iter().enumerate() {
        acc = acc.wrapping_add(u64::from(*b) * ((offset + i as u64) % 251 + 1));
    }
    acc
}

fn full(status: u16, body: impl Into<Bytes>) -> Resp {
    let mut r = hyper::Response::new(Full::new(body.into()).map_err(|e| match e {}).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    r
}

/// Counts a canceled request when the future that holds it is dropped unanswered.
struct CancelGuard(Arc<Stats>, bool);

impl Drop for CancelGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.canceled.fetch_add(1, Ordering::SeqCst);
        }
    }
}

async fn handle(req: hyper::Request<Incoming>, stats: Arc<Stats>) -> Result<Resp, Infallible> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let (parts, mut body) = req.into_parts();
    if path == "/hang" {
        let _guard = CancelGuard(stats.clone(), false);
        stats.hanging.fetch_add(1, Ordering::SeqCst);
        std::future::pending::<()>().await;
    }
    // Read the whole body (except for /echo, which streams it back).
    let mut len = 0u64;
    let mut sum = 0u64;
    if path != "/echo" {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Ok(d) = f.into_data() {
                        sum = checksum(len, &d, sum);
                        len += d.len() as u64;
                    }
                }
                Err(_) => return Ok(full(400, "broken body")),
            }
        }
        stats.complete.fetch_add(1, Ordering::SeqCst);
    }
    let resp = match path.as_str() {
        p if p.starts_with("/headers") => {
            let headers: serde_json::Map<String, serde_json::Value> = parts
                .headers
                .keys()
                .map(|k| {
                    let vals: Vec<serde_json::Value> =
                        parts.headers.get_all(k).iter().map(|v| v.to_str().unwrap_or("?").into()).collect();
                    (k.as_str().to_string(), vals.into())
                })
                .collect();
            let json = serde_json::json!({
                "method": parts.method.as_str(), "path": path, "query": query,
                "version": format!("{:?}", parts.version), "headers": headers, "len": len,
            });
            let mut r = full(200, json.to_string());
            r.headers_mut().insert("connection", "X-Origin-Private".parse().unwrap());
            r.headers_mut().insert("x-origin-private", "secret".parse().unwrap());
            r.headers_mut().insert("x-origin-public", "visible".parse().unwrap());
            r
        }
        "/upload" => full(200, format!("len={len} sum={sum}")),
        "/download" => {
            let n: u64 = query.strip_prefix("n=").and_then(|v| v.parse().ok()).unwrap_or(0);
            let mut r = hyper::Response::new(Pattern { left: n, chunk: pattern() }.boxed());
            r.headers_mut().insert("content-length", n.to_string().parse().unwrap());
            r
        }
        "/echo" => {
            // Errors of the request body end the response early; hyper then closes.
            let echoed = EchoBody(body).boxed();
            hyper::Response::new(echoed)
        }
        "/trailers" => {
            let mut r = hyper::Response::new(Trailers { step: 0 }.boxed());
            r.headers_mut().insert("trailer", "X-Checksum".parse().unwrap());
            r
        }
        "/stall-body" => hyper::Response::new(Stall { sent: false }.boxed()),
        "/close" => {
            let mut r = full(200, "closing");
            r.headers_mut().insert("connection", "close".parse().unwrap());
            r
        }
        p if p.starts_with("/status/") => full(p[8..].parse().unwrap_or(500), ""),
        _ => full(404, "no such origin path"),
    };
    Ok(resp)
}

use std::pin::Pin;
use std::task::{Context, Poll};

/// `left` bytes of the pattern.
struct Pattern {
    left: u64,
    chunk: Bytes,
}

impl hyper::body::Body for Pattern {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        let take = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= take as u64;
        Poll::Ready(Some(Ok(Frame::data(self.chunk.slice(..take)))))
    }
}

/// The request body, sent back as it arrives.
struct EchoBody(Incoming);

impl hyper::body::Body for EchoBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match Pin::new(&mut self.0).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Two data frames, then trailers.
struct Trailers {
    step: u8,
}

impl hyper::body::Body for Trailers {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.step += 1;
        Poll::Ready(match self.step {
            1 => Some(Ok(Frame::data(Bytes::from_static(b"hello ")))),
            2 => Some(Ok(Frame::data(Bytes::from_static(b"trailers")))),
            3 => {
                let mut t = http::HeaderMap::new();
                t.insert("x-checksum", "abc123".parse().unwrap());
                Some(Ok(Frame::trailers(t)))
            }
            _ => None,
        })
    }
}

/// One chunk, then nothing, forever.
struct Stall {
    sent: bool,
}

impl hyper::body::Body for Stall {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.sent {
            return Poll::Pending;
        }
        self.sent = true;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"first chunk")))))
    }
}
