//! `WelcomeHandler`: the page a fresh instance shows on `/`.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};

/// Serves the welcome page.
pub struct WelcomeHandler;

const PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Gatehouse</title></head>\n",
    "<body><h1>Welcome to Gatehouse</h1>\n",
    // No version: a banner tells an attacker which advisories to try.
    "<p>Gatehouse is running. Add routes to <code>config/routes/</code> in the instance directory; ",
    "they are picked up while the gateway runs.</p>\n</body></html>\n"
);

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    Ok(Object::Handler(Arc::new(WelcomeHandler)))
}

impl Handler for WelcomeHandler {
    fn handle<'a>(&'a self, _cx: &'a mut Context, _req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let mut resp = Response::new(Body::from(PAGE));
            resp.headers_mut()
                .insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/html; charset=utf-8"));
            resp.headers_mut().insert(http::header::X_CONTENT_TYPE_OPTIONS, http::HeaderValue::from_static("nosniff"));
            Ok(resp)
        })
    }
}
