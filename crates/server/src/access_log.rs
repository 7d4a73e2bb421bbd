//! The access log: one line per exchange in `logs/access.log`, written by a thread of its
//! own so that requests never wait on the disk. The line is written when the response body
//! has been sent (or abandoned), so the byte count and duration are true.
//!
//! ```text
//! 2026-11-22T23:45:01.123Z 127.0.0.1 "GET /webapp/browsing HTTP/1.1" 200 52 0.412ms route=00-app id=5f2a9c1e-17
//! ```
//! The query string is not logged: it may carry credentials.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::pin::Pin;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use gatehouse_core::{Body, BodyError};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::metrics::Metrics;

/// Lines buffered before new ones are dropped (and counted).
const QUEUE: usize = 64 * 1024;

/// The sending side of the access log.
#[derive(Clone)]
pub struct AccessLog {
    tx: Option<SyncSender<String>>,
    metrics: Arc<Metrics>,
}

/// The writer thread; joining it flushes the log.
pub struct AccessLogWriter {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AccessLog {
    /// Opens `path` for appending and starts the writer thread.
    pub fn open(path: &Path, metrics: Arc<Metrics>) -> std::io::Result<(AccessLog, AccessLogWriter)> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(rx, file))?;
        Ok((AccessLog { tx: Some(tx), metrics }, AccessLogWriter { thread: Some(thread) }))
    }

    fn send(&self, line: String) {
        if let Some(tx) = &self.tx {
            if let Err(TrySendError::Full(_)) = tx.try_send(line) {
                self.metrics.access_log_dropped();
            }
        }
    }
}

impl AccessLogWriter {
    /// Waits for the writer to drain; every `AccessLog` sender must be dropped first.
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(rx: Receiver<String>, file: std::fs::File) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    while let Ok(line) = rx.recv() {
        let _ = out.write_all(line.as_bytes());
        // Drain what is queued, then flush once: one write per burst.
        while let Ok(line) = rx.try_recv() {
            let _ = out.write_all(line.as_bytes());
        }
        let _ = out.flush();
    }
    let _ = out.flush();
}

/// What the access log line says about one exchange, besides the body size.
pub struct Record {
    /// Peer address.
    pub remote: std::net::IpAddr,
    /// Request method.
    pub method: http::Method,
    /// Request path (no query).
    pub path: String,
    /// HTTP version.
    pub version: http::Version,
    /// Response status.
    pub status: u16,
    /// The route that took the exchange.
    pub route: Option<Arc<str>>,
    /// The request id.
    pub id: Arc<str>,
    /// When the exchange started.
    pub started: Instant,
}

pin_project! {
    /// A response body that counts what it sends and writes the access log line when done.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        record: Option<Record>,
        bytes: u64,
        log: AccessLog,
    }

    impl PinnedDrop for LoggedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(record) = this.record.take() {
                this.log.metrics.exchange_ended(record.status, *this.bytes);
                this.log.send(line(&record, *this.bytes));
            }
        }
    }
}

impl LoggedBody {
    /// Wraps `inner`; the line for `record` is written when the body is dropped.
    pub fn new(inner: Body, record: Record, log: AccessLog) -> Self {
        LoggedBody { inner, record: Some(record), bytes: 0, log }
    }
}

fn line(r: &Record, bytes: u64) -> String {
    let ts = humantime::format_rfc3339_millis(SystemTime::now());
    let ms = r.started.elapsed().as_secs_f64() * 1e3;
    let route = r.route.as_deref().unwrap_or("-");
    format!(
        "{ts} {} \"{} {} {:?}\" {} {bytes} {ms:.3}ms route={route} id={}\n",
        r.remote,
        r.method,
        r.path.escape_default(),
        r.version,
        r.status,
        r.id
    )
}

impl http_body::Body for LoggedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.project();
        let poll = this.inner.poll_frame(cx);
        match &poll {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let id = this.record.as_ref().map_or("-", |r| &*r.id);
                tracing::warn!(request_id = id, "the response body ended early: {e}");
            }
            _ => {}
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
