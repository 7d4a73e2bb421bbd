//! Request buffering (nginx's `proxy_request_buffering`): the whole request body is read
//! before an upstream connection slot is taken, so that a client trickling its upload holds
//! nothing but its own connection. Up to [`MEMORY`] stays in memory; beyond, the body goes to
//! an unlinked file in the instance's `tmp/`, and is streamed from there.

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use gatehouse_core::{Body, BodyError, Error, ErrorKind, Side};
use http::HeaderMap;
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt, ReadBuf};

/// How much of a request body is kept in memory before it goes to a file.
pub(crate) const MEMORY: usize = 1 << 20;

/// Reads `body` whole; the returned body replays it.
pub(crate) async fn spool(body: Body, dir: &Path) -> Result<Body, Error> {
    if body.is_end_stream() || body.as_bytes().is_some() {
        return Ok(body);
    }
    let mut body = std::pin::pin!(body);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut in_memory = 0usize;
    let mut file: Option<tokio::fs::File> = None;
    let mut total = 0u64;
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(downstream)?;
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => {
                trailers = frame.into_trailers().ok();
                continue;
            }
        };
        total += data.len() as u64;
        match file.as_mut() {
            Some(f) => f.write_all(&data).await.map_err(spool_error)?,
            None if in_memory + data.len() <= MEMORY => {
                in_memory += data.len();
                chunks.push(data);
            }
            None => {
                let mut f = spool_file(dir).await?;
                for chunk in chunks.drain(..) {
                    f.write_all(&chunk).await.map_err(spool_error)?;
                }
                f.write_all(&data).await.map_err(spool_error)?;
                file = Some(f);
            }
        }
    }
    match file {
        None => {
            let mut frames: VecDeque<Frame<Bytes>> = chunks.into_iter().map(Frame::data).collect();
            frames.extend(trailers.map(Frame::trailers));
            Ok(Body::boxed(Replay { frames, left: total }))
        }
        Some(mut f) => {
            f.flush().await.map_err(spool_error)?;
            f.seek(SeekFrom::Start(0)).await.map_err(spool_error)?;
            Ok(Body::boxed(FromFile { file: f, left: total, trailers, buf: BytesMut::new() }))
        }
    }
}

/// A client's body that failed: a stream timeout is 408, anything else 400.
fn downstream(e: BodyError) -> Error {
    let kind = if super::is_stream_timeout(&*e) { ErrorKind::Timeout } else { ErrorKind::BodyRead };
    Error::with_cause(kind, Side::Downstream, e)
}

fn spool_error(e: std::io::Error) -> Error {
    Error::with_cause(ErrorKind::Internal, Side::Internal, format!("cannot spool a request body: {e}"))
}

/// A new file in `dir`, already unlinked: it goes away with its last handle, crash or not.
async fn spool_file(dir: &Path) -> Result<tokio::fs::File, Error> {
    use std::hash::{BuildHasher, Hasher};
    tokio::fs::create_dir_all(dir).await.map_err(spool_error)?;
    let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let path = dir.join(format!("spool-{random:016x}"));
    let file =
        tokio::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path).await.map_err(spool_error)?;
    let _ = tokio::fs::remove_file(&path).await;
    Ok(file)
}

/// A body replayed from memory.
struct Replay {
    frames: VecDeque<Frame<Bytes>>,
    left: u64,
}

impl http_body::Body for Replay {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let frame = self.frames.pop_front();
        if let Some(data) = frame.as_ref().and_then(Frame::data_ref) {
            self.left -= data.len() as u64;
        }
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// A body streamed from its spool file, then its trailers.
struct FromFile {
    file: tokio::fs::File,
    left: u64,
    trailers: Option<HeaderMap>,
    buf: BytesMut,
}

impl http_body::Body for FromFile {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if this.left == 0 {
            return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
        }
        let want = this.left.min(64 * 1024) as usize;
        this.buf.resize(want, 0);
        let mut read = ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err("the spooled request body ended early".into())));
                }
                this.left -= n as u64;
                let chunk = this.buf.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0 && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn streamed(chunks: Vec<&'static [u8]>, trailers: Option<HeaderMap>) -> Body {
        let mut frames: VecDeque<Frame<Bytes>> =
            chunks.into_iter().map(|c| Frame::data(Bytes::from_static(c))).collect();
        frames.extend(trailers.map(Frame::trailers));
        let left = frames.iter().filter_map(Frame::data_ref).map(|d| d.len() as u64).sum();
        Body::boxed(Replay { frames, left })
    }

    async fn replayed(body: Body) -> (Vec<u8>, Option<HeaderMap>) {
        let collected = BodyExt::collect(body).await.unwrap();
        let trailers = collected.trailers().cloned();
        (collected.to_bytes().to_vec(), trailers)
    }

    #[tokio::test]
    async fn small_bodies_replay_from_memory_and_large_ones_from_an_unlinked_file() {
        let dir = std::env::temp_dir().join(format!("gatehouse-spool-test-{}", std::process::id()));
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "42".parse().unwrap());

        let small = spool(streamed(vec![b"ab", b"cd"], Some(trailers.clone())), &dir).await.unwrap();
        assert_eq!(small.size_hint().exact(), Some(4));
        assert_eq!(replayed(small).await, (b"abcd".to_vec(), Some(trailers.clone())));

        let big: &'static [u8] = Box::leak(vec![7u8; MEMORY].into_boxed_slice());
        let large = spool(streamed(vec![b"x", big, b"y"], Some(trailers.clone())), &dir).await.unwrap();
        assert_eq!(large.size_hint().exact(), Some(MEMORY as u64 + 2));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "the spool file is unlinked at once");
        let (bytes, t) = replayed(large).await;
        assert_eq!(bytes.len(), MEMORY + 2);
        assert_eq!((bytes[0], bytes[1], bytes[MEMORY + 1]), (b'x', 7, b'y'));
        assert_eq!(t, Some(trailers));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
