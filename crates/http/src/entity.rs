//! Buffering a body in memory, only when an expression asks for it.

use gatehouse_core::{Body, Request, Response, Result, Side};

/// The most an expression may make the gateway buffer of one body (1 MiB); past it the
/// exchange fails with 413 (request) or 502 (response).
pub const MAX_BUFFERED_ENTITY: usize = 1 << 20;

/// Reads the request body into memory, unless it already is.
pub async fn buffer_request(req: &mut Request) -> Result<()> {
    if req.body().as_bytes().is_none() {
        let body = std::mem::take(req.body_mut());
        *req.body_mut() = Body::full(body.collect(MAX_BUFFERED_ENTITY, Side::Downstream).await?);
    }
    Ok(())
}

/// Reads the response body into memory, unless it already is.
pub async fn buffer_response(resp: &mut Response) -> Result<()> {
    if resp.body().as_bytes().is_none() {
        let body = std::mem::take(resp.body_mut());
        *resp.body_mut() = Body::full(body.collect(MAX_BUFFERED_ENTITY, Side::Upstream).await?);
    }
    Ok(())
}
