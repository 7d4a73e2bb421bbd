//! `TimerDecorator` (the default object `timer`): `"timer": true` logs the time spent in
//! the decorated object.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Decorator, Node, Object};
use gatehouse_core::{BoxFuture, Context, Handler, Request, Response, Result};

struct TimerDecorator;

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    cx.config(node)?.finish()?;
    Ok(Object::Decorator(Arc::new(TimerDecorator)))
}

impl Decorator for TimerDecorator {
    fn decorate_handler(
        &self,
        handler: Arc<dyn Handler>,
        config: &Node,
        cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Handler>, ConfigError> {
        if !cx.bool(config)? {
            return Ok(handler);
        }
        Ok(Arc::new(Timed { inner: handler, name: cx.name().to_string() }))
    }
}

struct Timed {
    inner: Arc<dyn Handler>,
    name: String,
}

impl Handler for Timed {
    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let start = cx.clock.instant();
            let result = self.inner.handle(cx, req).await;
            let took = cx.clock.instant().saturating_duration_since(start);
            tracing::info!(target: "gatehouse::timer", request_id = %cx.request_id, "{} took {:.3} ms", self.name, took.as_secs_f64() * 1e3);
            result
        })
    }
}
