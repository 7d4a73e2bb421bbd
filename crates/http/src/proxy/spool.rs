//! Request buffering (nginx's `proxy_request_buffering`): the whole request body is read
//! before an upstream connection slot is taken, so that a client trickling its upload holds
//! nothing but its own connection. Up to [`MEMORY`] stays in memory; beyond, the body goes to
//! an unlinked file in the instance's `tmp/`, and is streamed from there.
//!
//! Spool files are encrypted (AES-256-CTR) with a fresh key per file that only this process
//! holds: what a request carried is never readable on disk, even to whoever reads the disk
//! while the file is open (the agent's `EncryptFile` promise, kept for every instance).

use std::collections::VecDeque;
use std::io::SeekFrom;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, StreamingDecryptingKey, StreamingEncryptingKey, UnboundCipherKey, AES_256,
};

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
    let mut file: Option<(tokio::fs::File, StreamingEncryptingKey)> = None;
    let mut key = SpoolKey::default();
    let mut sealed = Vec::new();
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
            Some((f, enc)) => write_sealed(f, enc, &mut sealed, &data).await?,
            None if in_memory + data.len() <= MEMORY => {
                in_memory += data.len();
                chunks.push(data);
            }
            None => {
                let mut f = spool_file(dir).await?;
                key = SpoolKey::new()?;
                let mut enc = key.encryptor()?;
                for chunk in chunks.drain(..) {
                    write_sealed(&mut f, &mut enc, &mut sealed, &chunk).await?;
                }
                write_sealed(&mut f, &mut enc, &mut sealed, &data).await?;
                file = Some((f, enc));
            }
        }
    }
    match file {
        // In memory and no trailers: one buffer, which the lean upstream leg writes at once.
        None if trailers.is_none() => Ok(match chunks.len() {
            0 => Body::empty(),
            1 => Body::full(chunks.swap_remove(0)),
            _ => Body::full(chunks.concat()),
        }),
        None => {
            let mut frames: VecDeque<Frame<Bytes>> = chunks.into_iter().map(Frame::data).collect();
            frames.extend(trailers.map(Frame::trailers));
            Ok(Body::boxed(Replay { frames, left: total }))
        }
        Some((mut f, enc)) => {
            sealed.resize(16, 0);
            let rest = enc.finish(&mut sealed).map_err(|_| cipher_error())?.1.written().to_vec();
            f.write_all(&rest).await.map_err(spool_error)?;
            f.flush().await.map_err(spool_error)?;
            f.seek(SeekFrom::Start(0)).await.map_err(spool_error)?;
            let dec = Mutex::new(key.decryptor()?);
            Ok(Body::boxed(FromFile { file: f, left: total, trailers, buf: BytesMut::new(), dec, open: Vec::new() }))
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

/// A spool file's key and counter block: random, in this process's memory only.
#[derive(Default)]
struct SpoolKey {
    key: [u8; 32],
    iv: [u8; 16],
}

impl SpoolKey {
    fn new() -> Result<Self, Error> {
        let mut k = SpoolKey::default();
        aws_lc_rs::rand::fill(&mut k.key).map_err(|_| cipher_error())?;
        aws_lc_rs::rand::fill(&mut k.iv).map_err(|_| cipher_error())?;
        Ok(k)
    }

    fn encryptor(&self) -> Result<StreamingEncryptingKey, Error> {
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| cipher_error())?;
        StreamingEncryptingKey::less_safe_ctr(key, EncryptionContext::Iv128(self.iv.into())).map_err(|_| cipher_error())
    }

    fn decryptor(&self) -> Result<StreamingDecryptingKey, Error> {
        let key = UnboundCipherKey::new(&AES_256, &self.key).map_err(|_| cipher_error())?;
        StreamingDecryptingKey::ctr(key, DecryptionContext::Iv128(self.iv.into())).map_err(|_| cipher_error())
    }
}

impl Drop for SpoolKey {
    fn drop(&mut self) {
        self.key.fill(0);
    }
}

fn cipher_error() -> Error {
    Error::with_cause(ErrorKind::Internal, Side::Internal, "cannot encrypt a spooled request body")
}

/// Encrypts `data` and appends it to the spool file.
async fn write_sealed(
    f: &mut tokio::fs::File,
    enc: &mut StreamingEncryptingKey,
    sealed: &mut Vec<u8>,
    data: &[u8],
) -> Result<(), Error> {
    sealed.resize(data.len() + 16, 0);
    let n = enc.update(data, sealed).map_err(|_| cipher_error())?.written().len();
    f.write_all(&sealed[..n]).await.map_err(spool_error)
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
    /// The file's decryption (CTR: as many bytes out as in); a mutex only to be `Sync`.
    dec: Mutex<StreamingDecryptingKey>,
    open: Vec<u8>,
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
                this.open.resize(n + 16, 0);
                let mut dec = this.dec.lock().unwrap_or_else(PoisonError::into_inner);
                let chunk = match dec.update(&this.buf[..n], &mut this.open) {
                    Ok(u) if u.written().len() == n => Bytes::copy_from_slice(u.written()),
                    _ => return Poll::Ready(Some(Err("cannot decrypt the spooled request body".into()))),
                };
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

    #[tokio::test]
    async fn what_reaches_the_spool_file_is_ciphertext_that_only_its_key_opens() {
        let dir = std::env::temp_dir().join(format!("gatehouse-spool-cipher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seen");
        let mut f = tokio::fs::File::create(&path).await.unwrap();
        let key = SpoolKey::new().unwrap();
        let mut enc = key.encryptor().unwrap();
        let plain = b"password=hunter2&card=4111111111111111".repeat(100);
        let mut sealed = Vec::new();
        for part in plain.chunks(333) {
            write_sealed(&mut f, &mut enc, &mut sealed, part).await.unwrap();
        }
        f.flush().await.unwrap();
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), plain.len(), "CTR: as many bytes as the body");
        assert!(!on_disk.windows(8).any(|w| w == b"hunter2&"), "no plaintext on disk");
        let mut dec = key.decryptor().unwrap();
        let mut out = vec![0u8; on_disk.len() + 16];
        assert_eq!(dec.update(&on_disk, &mut out).unwrap().written(), &plain[..]);
        let mut other = SpoolKey::new().unwrap().decryptor().unwrap();
        assert_ne!(other.update(&on_disk, &mut out).unwrap().written(), &plain[..]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
