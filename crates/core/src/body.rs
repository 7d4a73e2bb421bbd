//! The message body: empty, a buffer, hyper's incoming stream, or any boxed stream.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use pin_project_lite::pin_project;

use crate::{Error, ErrorKind, Side};

/// The error type of a body stream.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// A request or response body. The common cases (empty, one buffer, hyper's stream) are
    /// variants so that they cost no allocation; anything else is boxed.
    #[project = BodyProj]
    #[allow(missing_docs)] // pin-project-lite takes no docs on variant fields
    pub enum Body {
        /// No content.
        Empty,
        /// One buffer, taken on the first poll.
        Full {
            data: Option<Bytes>,
        },
        /// The stream hyper reads from a connection.
        Incoming {
            #[pin] inner: hyper::body::Incoming,
        },
        /// Any other stream.
        Boxed {
            #[pin] inner: BoxBody<Bytes, BodyError>,
        },
    }
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body::Empty
    }

    /// A body made of one buffer.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        if data.is_empty() {
            Body::Empty
        } else {
            Body::Full { data: Some(data) }
        }
    }

    /// Wraps any body stream.
    pub fn boxed<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BodyError>,
    {
        Body::Boxed { inner: body.map_err(Into::into).boxed() }
    }

    /// The buffered content when the body is already in memory (empty or full), else `None`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Body::Empty => Some(&[]),
            Body::Full { data } => Some(data.as_deref().unwrap_or(&[])),
            _ => None,
        }
    }

    /// The buffered content when the body is already in memory (empty or full), else the
    /// body back.
    pub fn into_bytes(self) -> Result<Bytes, Body> {
        match self {
            Body::Empty => Ok(Bytes::new()),
            Body::Full { data } => Ok(data.unwrap_or_default()),
            other => Err(other),
        }
    }

    /// Reads the whole body into memory, failing with `PayloadTooLarge` past `limit` bytes.
    /// `side` says whose body this is, for the error.
    pub async fn collect(self, limit: usize, side: Side) -> Result<Bytes, Error> {
        match self {
            Body::Empty => return Ok(Bytes::new()),
            Body::Full { data } => {
                let data = data.unwrap_or_default();
                if data.len() > limit {
                    return Err(Error::new(ErrorKind::PayloadTooLarge, side));
                }
                return Ok(data);
            }
            _ => {}
        }
        let mut body = std::pin::pin!(self);
        let mut buf = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Error::with_cause(ErrorKind::BodyRead, side, e))?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(Error::new(ErrorKind::PayloadTooLarge, side));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    }
}

#[allow(clippy::derivable_impls)] // pin-project-lite enums take no `#[default]` variant
impl Default for Body {
    fn default() -> Self {
        Body::Empty
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(Bytes::from_static(s.as_bytes()))
    }
}

impl From<hyper::body::Incoming> for Body {
    fn from(inner: hyper::body::Incoming) -> Self {
        Body::Incoming { inner }
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Empty => f.write_str("Body::Empty"),
            Body::Full { data } => write!(f, "Body::Full({} bytes)", data.as_ref().map_or(0, Bytes::len)),
            Body::Incoming { .. } => f.write_str("Body::Incoming"),
            Body::Boxed { .. } => f.write_str("Body::Boxed"),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.project() {
            BodyProj::Empty => Poll::Ready(None),
            BodyProj::Full { data } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            BodyProj::Incoming { inner } => inner.poll_frame(cx).map_err(Into::into),
            BodyProj::Boxed { inner } => inner.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full { data } => data.is_none(),
            Body::Incoming { inner } => inner.is_end_stream(),
            Body::Boxed { inner } => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full { data } => SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64)),
            Body::Incoming { inner } => inner.size_hint(),
            Body::Boxed { inner } => inner.size_hint(),
        }
    }
}
