//! The access log: one line per exchange in `logs/access.log`, written by a thread of its
//! own so that requests never wait on the disk. The line is written when the response body
//! has been sent (or abandoned), so the byte count and duration are true.
//!
//! The request path only moves its record into a queue: the writer wakes up on its own
//! every [`DRAIN_EVERY`] to format and write what came, so no exchange pays for waking a
//! thread (a futex call and a context switch each, measured at half the proxy's throughput).
//!
//! ```text
//! 2026-11-22T23:45:01.123Z 127.0.0.1 "GET /webapp/browsing HTTP/1.1" 200 52 0.412ms route=00-app id=5f2a9c1e-17
//! ```
//! The query string is not logged: it may carry credentials.

use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context as TaskContext, Poll};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use gatehouse_core::{Body, BodyError};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;

mod line;

use crate::log_files::{self, Rotation};
use crate::metrics::Metrics;

/// Lines buffered before new ones are dropped (and counted). The queue grows as lines come
/// (a bounded channel would allocate every slot up front: 64 Ki records are about 15 MB of
/// an idle gateway's memory).
const QUEUE: usize = 64 * 1024;
/// The writer keeps the emptied queue's room for the next batches up to this many records;
/// beyond (after a burst), it is freed.
const KEEP_ROOM: usize = 4096;
/// How often the writer drains the queue.
pub const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// What the request path hands to the writer: formatting happens on the writer's thread.
struct Entry {
    record: Record,
    bytes: u64,
    ended: SystemTime,
    elapsed: std::time::Duration,
}

/// The records of ended exchanges, not yet taken by the writer. A vector behind a lock
/// rather than a channel: an exchange pushes its record under an uncontended lock, and the
/// writer swaps the whole batch out every [`DRAIN_EVERY`] (a channel's send took about 650
/// instructions per exchange, a sixtieth of a proxied request).
type Queue = Mutex<Vec<Entry>>;

/// The sending side of the access log.
#[derive(Clone)]
pub struct AccessLog {
    queue: Option<Arc<Queue>>,
    metrics: Arc<Metrics>,
    /// Where finished exchanges go as spans, when traces are exported.
    traces: Option<Arc<crate::otlp::Exporter>>,
}

/// The writer thread; joining it flushes the log.
pub struct AccessLogWriter {
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AccessLog {
    /// Opens `path` for appending and starts the writer thread; with `rotation`, the file is
    /// closed and handed on by size, at stop, and at start when a previous run left one.
    pub fn open(
        path: &Path,
        metrics: Arc<Metrics>,
        rotation: Option<Rotation>,
        clock: gatehouse_core::Clock,
    ) -> std::io::Result<(AccessLog, AccessLogWriter)> {
        let file = log_files::open(path, rotation.as_ref(), &clock)?;
        let queue = Arc::new(Queue::default());
        let live = Live { path: path.to_path_buf(), rotation, clock };
        let taken = queue.clone();
        let thread =
            std::thread::Builder::new().name("access-log".into()).spawn(move || write_loop(taken, file, live))?;
        Ok((AccessLog { queue: Some(queue), metrics, traces: None }, AccessLogWriter { thread: Some(thread) }))
    }

    /// Exports each exchange as a span to `exporter` too.
    pub fn with_traces(mut self, exporter: Option<Arc<crate::otlp::Exporter>>) -> Self {
        self.traces = exporter;
        self
    }

    /// Whether exchanges are traced.
    pub fn traced(&self) -> bool {
        self.traces.is_some()
    }

    /// Ends an exchange: counts it and queues its line.
    fn end(&self, record: Record, bytes: u64) {
        self.metrics.exchange_ended(record.status, bytes);
        let elapsed = record.clock.instant().saturating_duration_since(record.started);
        if let Some(stats) = &record.route_stats {
            stats.observe(record.status, elapsed);
        }
        let ended = record.clock.now();
        if record.status >= 500 {
            gatehouse_core::recent::error(gatehouse_core::recent::ErrorEvent {
                at: record.clock.unix_millis(),
                route: record.route.as_deref().map(str::to_string),
                status: record.status,
                method: record.method.to_string(),
                path: record.uri.path().to_string(),
                request_id: record.id.to_string(),
            });
        }
        if let (Some(exporter), Some(trace)) = (&self.traces, record.trace) {
            exporter.record(span(&record, trace, ended, elapsed));
        }
        self.send(Entry { record, bytes, ended, elapsed });
    }

    fn send(&self, entry: Entry) {
        if let Some(queue) = &self.queue {
            let mut entries = queue.lock().unwrap_or_else(PoisonError::into_inner);
            if entries.len() >= QUEUE {
                drop(entries);
                self.metrics.access_log_dropped();
                return;
            }
            entries.push(entry);
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

/// The live file's path and what to do when it is closed.
struct Live {
    path: PathBuf,
    rotation: Option<Rotation>,
    clock: gatehouse_core::Clock,
}

fn write_loop(queue: Arc<Queue>, file: std::fs::File, live: Live) {
    let meta = file.metadata().ok();
    let mut size = meta.as_ref().map_or(0, |m| m.len());
    // The day the live file's lines began: a file kept from yesterday rotates with the first
    // line of today.
    let mut opened_day = meta
        .filter(|m| m.len() > 0)
        .and_then(|m| m.modified().ok())
        .map_or_else(|| log_files::day_of(live.clock.now()), log_files::day_of);
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut line = String::with_capacity(256);
    let mut lines = line::Lines::default();
    let mut batch = Vec::new();
    loop {
        // Never wait on the queue: a waiting writer makes every push a wake-up.
        std::thread::sleep(DRAIN_EVERY);
        // Read before the batch is taken: when no sender is left, none can push after it.
        let stopping = Arc::strong_count(&queue) == 1;
        std::mem::swap(&mut batch, &mut *queue.lock().unwrap_or_else(PoisonError::into_inner));
        let wrote = !batch.is_empty();
        for entry in batch.drain(..) {
            // By the line's own day (when its exchange ended), not the writer's clock.
            rotate_if_due(&mut out, &mut size, &mut opened_day, log_files::day_of(entry.ended), &live);
            line.clear();
            lines.format(&mut line, &entry);
            let _ = out.write_all(line.as_bytes());
            size += line.len() as u64;
            // By size after the line; by day before it (above).
            let day = opened_day;
            rotate_if_due(&mut out, &mut size, &mut opened_day, day, &live);
        }
        // The emptied batch becomes the queue's next one; a burst's room is not kept.
        if batch.capacity() > KEEP_ROOM {
            batch = Vec::new();
        }
        if stopping {
            let _ = out.flush();
            drop(out);
            // With a hook (the agent's encryption) the live file is closed at stop.
            if let Some(r) = live.rotation.as_ref().filter(|r| r.on_close.is_some()) {
                log_files::close(&live.path, r, &live.clock);
            }
            return;
        }
        if wrote {
            let _ = out.flush();
        }
    }
}

/// Closes the live file once it reached the rotation size or (daily) a line of a later day
/// comes, and opens a new one.
fn rotate_if_due(out: &mut BufWriter<std::fs::File>, size: &mut u64, opened_day: &mut u64, line_day: u64, live: &Live) {
    let Some(r) = live.rotation.as_ref().filter(|r| r.due(*size, *opened_day, line_day)) else { return };
    *opened_day = line_day.max(*opened_day);
    let _ = out.flush();
    log_files::close(&live.path, r, &live.clock);
    match log_files::open(&live.path, Some(r), &live.clock) {
        Ok(f) => {
            *out = BufWriter::with_capacity(64 * 1024, f);
            *size = 0;
        }
        Err(e) => tracing::warn!("cannot reopen {}: {e}", live.path.display()),
    }
}

/// The exchange as an OpenTelemetry server span (HTTP semantic conventions).
fn span(
    record: &Record,
    trace: gatehouse_core::trace::TraceContext,
    ended: std::time::SystemTime,
    elapsed: std::time::Duration,
) -> crate::otlp::Span {
    let end = ended.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let route = record.route.as_deref();
    let mut attributes = vec![
        ("http.request.method", serde_json::Value::from(record.method.as_str())),
        ("url.path", serde_json::Value::from(record.uri.path())),
        ("http.response.status_code", serde_json::Value::from(record.status)),
        ("client.address", serde_json::Value::from(record.remote.to_string())),
    ];
    if let Some(route) = route {
        attributes.push(("http.route", serde_json::Value::from(route)));
    }
    if let Some(upstream) = &record.upstream {
        attributes.push(("gatehouse.upstream", serde_json::Value::from(&**upstream)));
    }
    crate::otlp::Span {
        trace,
        name: match route {
            Some(r) => format!("{} {r}", record.method),
            None => record.method.to_string(),
        },
        start_unix_nanos: end.saturating_sub(elapsed.as_nanos()),
        end_unix_nanos: end,
        attributes,
        error: record.status >= 500,
    }
}

/// What the access log line says about one exchange, besides the body size.
pub struct Record {
    /// Peer address.
    pub remote: std::net::IpAddr,
    /// Request method.
    pub method: http::Method,
    /// The request URI as received (only its path is logged).
    pub uri: http::Uri,
    /// HTTP version.
    pub version: http::Version,
    /// Response status.
    pub status: u16,
    /// The route that took the exchange.
    pub route: Option<Arc<str>>,
    /// That route's figures.
    pub route_stats: Option<Arc<gatehouse_core::route_stats::RouteStats>>,
    /// The exchange's trace, when traces are exported.
    pub trace: Option<gatehouse_core::trace::TraceContext>,
    /// Where the proxy sent it.
    pub upstream: Option<Arc<str>>,
    /// Who was calling, when an authentication filter established it.
    pub user: Option<String>,
    /// The request id.
    pub id: gatehouse_core::RequestId,
    /// When the exchange started.
    pub started: Instant,
    /// The gateway's clock.
    pub clock: gatehouse_core::Clock,
}

pin_project! {
    /// A response body that counts what it sends and writes the access log line when done.
    pub struct LoggedBody {
        #[pin]
        inner: Body,
        record: Option<Record>,
        bytes: u64,
        log: AccessLog,
        // Released with the body (the connection's exchange-in-progress mark).
        hold: Option<Box<dyn std::any::Any + Send + Sync>>,
    }

    impl PinnedDrop for LoggedBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(record) = this.record.take() {
                this.log.end(record, *this.bytes);
            }
        }
    }
}

/// The status logged for an exchange whose client went away before it was answered
/// (nginx's 499).
pub const CLIENT_CLOSED: u16 = 499;

/// An exchange being served. When it is answered it becomes a [`LoggedBody`]; when it is
/// dropped first (the client closed the connection while a route was still working), it is
/// logged with status 499 and counted as ended, so the in-flight gauge stays exact.
pub struct InFlight {
    record: Option<Record>,
    log: AccessLog,
}

impl InFlight {
    /// Starts `record`'s exchange.
    pub fn new(record: Record, log: AccessLog) -> Self {
        log.metrics.exchange_started();
        InFlight { record: Some(record), log }
    }

    /// The record, to fill in as the exchange goes.
    pub fn record(&mut self) -> Option<&mut Record> {
        self.record.as_mut()
    }

    /// The exchange was answered with `body`: its line is written when the body is done.
    pub fn answered(mut self, body: Body) -> LoggedBody {
        LoggedBody { inner: body, record: self.record.take(), bytes: 0, log: self.log.clone(), hold: None }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.status = CLIENT_CLOSED;
            self.log.end(record, 0);
        }
    }
}

impl LoggedBody {
    /// Keeps `value` until the body is done or dropped.
    pub fn hold(mut self, value: impl std::any::Any + Send + Sync) -> Self {
        self.hold = Some(Box::new(value));
        self
    }
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
            Poll::Ready(Some(Err(e))) => match this.record.as_ref() {
                Some(r) => tracing::warn!(request_id = %r.id, "the response body ended early: {e}"),
                None => tracing::warn!("the response body ended early: {e}"),
            },
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn entry(user: Option<&str>) -> Entry {
        let clock = gatehouse_core::Clock::system();
        Entry {
            record: Record {
                remote: "127.0.0.1".parse().unwrap(),
                method: http::Method::GET,
                uri: "http://gw/api/x?secret=1".parse().unwrap(),
                version: http::Version::HTTP_11,
                status: 200,
                route: Some(Arc::from("api")),
                route_stats: None,
                trace: None,
                upstream: None,
                user: user.map(str::to_string),
                id: gatehouse_core::RequestId::new(1, 2),
                started: clock.instant(),
                clock: clock.clone(),
            },
            bytes: 12,
            ended: std::time::UNIX_EPOCH,
            elapsed: std::time::Duration::from_millis(3),
        }
    }

    #[test]
    fn lines_name_the_principal_when_there_is_one_and_never_the_query() {
        let (mut out, mut lines) = (String::new(), line::Lines::default());
        lines.format(&mut out, &entry(None));
        lines.format(&mut out, &entry(Some("Job\n")));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "1970-01-01T00:00:00.000Z 127.0.0.1 \"GET /api/x HTTP/1.1\" 200 12 3.000ms route=api id=00000001-2"
        );
        assert!(lines[1].ends_with("id=00000001-2 user=Job\\n"), "{}", lines[1]);
        assert_eq!(lines.len(), 2);
    }
    #[test]
    fn a_rotated_log_is_closed_by_size_at_stop_and_at_start_and_handed_to_the_hook() {
        let dir = std::env::temp_dir().join(format!("gatehouse-rotation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        std::fs::write(&path, "left by a crash\n").unwrap();
        std::fs::write(dir.join("access-20260101T000000Z.log"), "closed, but its hook failed\n").unwrap();
        let closed = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = closed.clone();
        let rotation = Rotation {
            max_bytes: 300,
            daily: false,
            retain: None,
            on_close: Some(Arc::new(move |p: &Path| {
                seen.lock().unwrap().push(std::fs::read_to_string(p).unwrap());
                let done = p.with_extension("log.done");
                std::fs::rename(p, &done).unwrap();
                Ok(done)
            })),
        };
        let clock = gatehouse_core::Clock::system();
        let (log, writer) = AccessLog::open(&path, Arc::new(Metrics::default()), Some(rotation), clock).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        for _ in 0..4 {
            log.send(entry(None)); // about 100 bytes each: past 300, the file is closed
        }
        drop(log);
        writer.finish();
        let closed = closed.lock().unwrap();
        assert_eq!(closed[0], "closed, but its hook failed\n", "a closed file left plain gets another attempt");
        assert_eq!(closed[1], "left by a crash\n", "the previous run's file is closed next");
        assert_eq!(closed.len(), 4, "by size, then at stop: {closed:?}");
        assert_eq!(closed[2].lines().count() + closed[3].lines().count(), 4, "every line in exactly one file");
        assert!(!path.exists(), "no live file after a stop");
        let done = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(done, 4, "four distinct closed files");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
