//! IG's `StatusHandler`: answers with a status and no entity.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
use http::StatusCode;

/// Answers every request with one status.
pub struct StatusHandler(StatusCode);

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let status = super::static_response::status(cx, config.require("status")?)?;
    config.finish()?;
    Ok(Object::Handler(Arc::new(StatusHandler(status))))
}

impl Handler for StatusHandler {
    fn handle<'a>(&'a self, _cx: &'a mut Context, _req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = self.0;
            Ok(resp)
        })
    }
}
