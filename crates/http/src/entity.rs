//! Buffering a body in memory, only when an expression asks for it.

use gatehouse_core::{Body, Context, Error, ErrorKind, Request, Response, Result, Side};
use gatehouse_expr::{Expression, Scope};

/// The most an expression may make the gateway buffer of one body (1 MiB); past it the
/// exchange fails with 413 (request) or 502 (response).
pub const MAX_BUFFERED_ENTITY: usize = 1 << 20;

/// Reads the request body into memory, unless it already is. A client that pauses longer
/// than its connector's `requestBodyTimeout` gets 408.
pub async fn buffer_request(req: &mut Request) -> Result<()> {
    if req.body().as_bytes().is_none() {
        let body = std::mem::take(req.body_mut());
        let bytes = body.collect(MAX_BUFFERED_ENTITY, Side::Downstream).await.map_err(|e| {
            if crate::proxy::is_stream_timeout(&e) {
                Error::with_cause(ErrorKind::Timeout, Side::Downstream, e)
            } else {
                e
            }
        })?;
        *req.body_mut() = Body::full(bytes);
    }
    Ok(())
}

/// `body`, failing with a stream timeout when no data arrives for `idle`.
pub fn with_read_timeout(body: Body, idle: std::time::Duration) -> Body {
    Body::boxed(crate::proxy::Guarded::new(body, Some(idle), None, None, None))
}

/// Reads the response body into memory, unless it already is.
pub async fn buffer_response(resp: &mut Response) -> Result<()> {
    if resp.body().as_bytes().is_none() {
        let body = std::mem::take(resp.body_mut());
        *resp.body_mut() = Body::full(body.collect(MAX_BUFFERED_ENTITY, Side::Upstream).await?);
    }
    Ok(())
}

/// The first of `items` whose condition holds (an item without a condition always does), for
/// the Router's routes and DispatchHandler's bindings. The request body is read only when a
/// condition's evaluation actually reaches `request.entity` or a form body, so a route whose
/// condition reads the form does not make every other upload wait for its whole body.
pub async fn first_match<'i, T>(
    items: &'i [T],
    condition: impl Fn(&T) -> Option<&Expression>,
    cx: &Context,
    req: &mut Request,
) -> Result<Option<&'i T>> {
    for item in items {
        let Some(c) = condition(item) else { return Ok(Some(item)) };
        let holds = match c.eval_condition(cx, req) {
            Some(holds) => holds,
            None => {
                buffer_request(req).await?;
                c.eval_bool(&Scope::request(cx, req))
            }
        };
        if holds {
            return Ok(Some(item));
        }
    }
    Ok(None)
}
