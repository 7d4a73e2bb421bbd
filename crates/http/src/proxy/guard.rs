//! Body wrappers for proxied streams: an idle timeout between frames, an optional deadline
//! for the whole exchange, and the connection slot held until the body is done.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use gatehouse_core::BodyError;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

/// Why a guarded body stopped.
#[derive(Debug)]
pub(crate) struct StreamTimeout(&'static str);

impl std::fmt::Display for StreamTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for StreamTimeout {}

/// Whether an error was caused by one of our stream timeouts.
pub(crate) fn is_stream_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.is::<StreamTimeout>() {
            return true;
        }
        cause = c.source();
    }
    false
}

pin_project! {
    /// A body that fails when no frame arrives for `idle`, or when `deadline` passes.
    pub(crate) struct Guarded<B> {
        #[pin]
        inner: B,
        #[pin]
        idle_timer: Sleep,
        idle: Option<Duration>,
        #[pin]
        deadline: Sleep,
        has_deadline: bool,
        permit: Option<OwnedSemaphorePermit>,
        failed: Option<Arc<AtomicBool>>,
    }
}

impl<B> Guarded<B> {
    /// Guards `inner`. `failed` is set when this body fails or times out, so that the caller
    /// can tell whose fault a failed exchange was.
    pub(crate) fn new(
        inner: B,
        idle: Option<Duration>,
        deadline: Option<Instant>,
        permit: Option<OwnedSemaphorePermit>,
        failed: Option<Arc<AtomicBool>>,
    ) -> Self {
        let far = Instant::now() + Duration::from_secs(86_400 * 365);
        Guarded {
            inner,
            idle_timer: tokio::time::sleep_until(idle.map_or(far, |d| Instant::now() + d)),
            idle,
            deadline: tokio::time::sleep_until(deadline.unwrap_or(far)),
            has_deadline: deadline.is_some(),
            permit,
            failed,
        }
    }
}

impl<B> Body for Guarded<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BodyError>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(idle) = this.idle {
                    this.idle_timer.as_mut().reset(Instant::now() + *idle);
                }
                // Done: give the connection slot back now, not when hyper drops the body.
                // hyper stops polling once `is_end_stream` holds, so the last data frame may
                // be the last poll.
                if frame.is_none() || this.inner.is_end_stream() {
                    this.permit.take();
                }
                if let (Some(Err(_)), Some(flag)) = (&frame, this.failed.as_ref()) {
                    flag.store(true, Ordering::Relaxed);
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let timeout = if this.idle.is_some() && this.idle_timer.poll(cx).is_ready() {
                    StreamTimeout("no data within the idle timeout (soTimeout)")
                } else if *this.has_deadline && this.deadline.poll(cx).is_ready() {
                    StreamTimeout("the exchange exceeded totalTimeout")
                } else {
                    return Poll::Pending;
                };
                if let Some(flag) = this.failed.as_ref() {
                    flag.store(true, Ordering::Relaxed);
                }
                Poll::Ready(Some(Err(Box::new(timeout))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
