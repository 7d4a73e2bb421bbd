//! Every wait has a timeout: a connection that sends nothing (not a byte, only an h2c
//! preface, or nothing after its last exchange) is closed. hyper bounds a request head once
//! its first byte arrived (`requestHeaderTimeout`), and body reads are bounded at the edge
//! (`requestBodyTimeout`); this wrapper bounds the rest of a connection's life: the first
//! byte, and any time with no exchange in progress and no byte moving (`idleTimeout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Exchanges in progress on one connection; while there is one, the connection is not idle
/// (the exchange's own timeouts apply).
#[derive(Default)]
pub(crate) struct Activity {
    exchanges: AtomicUsize,
}

impl Activity {
    /// Marks an exchange in progress until the returned guard is dropped (when its response
    /// body is done).
    pub(crate) fn exchange(self: &Arc<Self>) -> ExchangeGuard {
        self.exchanges.fetch_add(1, Ordering::Relaxed);
        ExchangeGuard(self.clone())
    }

    fn busy(&self) -> bool {
        self.exchanges.load(Ordering::Relaxed) > 0
    }
}

/// An exchange in progress on a connection.
pub(crate) struct ExchangeGuard(Arc<Activity>);

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        self.0.exchanges.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project! {
    /// A connection's socket that fails with `TimedOut` when it has been idle too long.
    pub(crate) struct Watchdog<I> {
        #[pin]
        io: I,
        // Boxed, so that the watchdog is `Unpin` like the socket it wraps.
        timer: Pin<Box<Sleep>>,
        deadline: Instant,
        idle: Duration,
        activity: Arc<Activity>,
    }
}

impl<I> Watchdog<I> {
    /// Watches `io`: the first byte must come within `first_byte`, and later the connection
    /// may be idle for at most `idle`.
    pub(crate) fn new(io: I, first_byte: Duration, idle: Duration, activity: Arc<Activity>) -> Self {
        let deadline = Instant::now() + first_byte;
        Watchdog { io, timer: Box::pin(tokio::time::sleep_until(deadline)), deadline, idle, activity }
    }
}

impl<I: AsyncRead> AsyncRead for Watchdog<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        match this.io.poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                *this.deadline = Instant::now() + *this.idle;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if !this.activity.busy() => {
                // The timer is moved only to an earlier deadline here; a later one (every
                // exchange makes one) waits until the timer fires, so that a busy connection
                // does not reset it once per exchange.
                if *this.deadline < this.timer.deadline() {
                    this.timer.as_mut().reset(*this.deadline);
                }
                // At most twice: after a reset to a deadline still ahead, the timer is pending.
                loop {
                    match this.timer.as_mut().poll(cx) {
                        Poll::Ready(()) if this.timer.deadline() < *this.deadline => {
                            this.timer.as_mut().reset(*this.deadline);
                        }
                        Poll::Ready(()) => {
                            return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "idle connection")))
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            other => other,
        }
    }
}

impl<I: AsyncWrite> AsyncWrite for Watchdog<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &written {
            if *n > 0 {
                *this.deadline = Instant::now() + *this.idle;
            }
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.io.poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = &written {
            if *n > 0 {
                *this.deadline = Instant::now() + *this.idle;
            }
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads from a watchdog over one end of a pipe while `writes` bytes come, one every
    /// `every`, on the other; then waits for the timeout. The time it took, on the paused clock.
    async fn busy_then_idle(first_byte: Duration, idle: Duration, every: Duration, writes: usize) -> Duration {
        let (mut client, server) = tokio::io::duplex(64);
        let start = Instant::now();
        let mut dog = Watchdog::new(server, first_byte, idle, Arc::new(Activity::default()));
        let writer = tokio::spawn(async move {
            for _ in 0..writes {
                tokio::time::sleep(every).await;
                client.write_all(b"x").await.unwrap();
            }
            client
        });
        let mut byte = [0u8; 1];
        for i in 0..writes {
            assert_eq!(dog.read(&mut byte).await.unwrap_or_else(|e| panic!("read {i}: {e}")), 1);
        }
        let err = dog.read(&mut byte).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        drop(writer.await.unwrap());
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_moves_bytes_more_often_than_its_idle_timeout_stays_open() {
        // The first-byte timer (1 s) fires while the deadline has moved on: it waits again.
        let took = busy_then_idle(Duration::from_secs(1), Duration::from_secs(1), Duration::from_millis(600), 8).await;
        // 8 bytes 600 ms apart, then one idle second.
        assert!(took >= Duration::from_millis(5_800) && took < Duration::from_millis(5_900), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_first_byte_timeout_closes_on_time() {
        // After the first byte, the deadline (1 s on) is earlier than the timer (60 s).
        let took = busy_then_idle(Duration::from_secs(60), Duration::from_secs(1), Duration::from_millis(300), 1).await;
        assert!(took >= Duration::from_millis(1_300) && took < Duration::from_millis(1_400), "{took:?}");
    }
}
