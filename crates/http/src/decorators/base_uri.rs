//! `BaseUriDecorator` (the default object `baseURI`): rebases the request URI on the way in.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Decorator, Node, Object};
use gatehouse_core::{BoxFuture, Context, Handler, Request, Response, Result};

use crate::uri::BaseUri;

struct BaseUriDecorator;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    Ok(Object::Decorator(Arc::new(BaseUriDecorator)))
}

impl Decorator for BaseUriDecorator {
    fn decorate_handler(
        &self,
        handler: Arc<dyn Handler>,
        config: &Node,
        cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Handler>, ConfigError> {
        Ok(Arc::new(Rebased { base: BaseUri::build(cx, config)?, inner: handler }))
    }
}

/// A handler whose requests are rebased first.
pub struct Rebased {
    base: BaseUri,
    inner: Arc<dyn Handler>,
}

impl Handler for Rebased {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        // Rebasing is done before the inner handler starts and nothing is left to do after
        // it: its future is returned as it is, without a box and a poll of its own.
        match self.base.apply(cx, &mut req) {
            Ok(()) => self.inner.handle(cx, req),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// It acts on the request alone.
    fn passes_answer_fields(&self) -> bool {
        self.inner.passes_answer_fields()
    }
}
