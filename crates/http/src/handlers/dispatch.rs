//! `DispatchHandler`: the first binding whose condition holds handles the request.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
use gatehouse_expr::Expression;

use crate::entity::first_match;
use crate::uri::BaseUri;

/// Dispatches to the first binding whose condition holds; 404 when none does.
pub struct DispatchHandler {
    bindings: Vec<Binding>,
}

struct Binding {
    condition: Option<Expression>,
    handler: Arc<dyn Handler>,
    base_uri: Option<BaseUri>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let built: Vec<_> =
        cx.array(config.require("bindings")?)?.iter().enumerate().map(|(i, item)| binding(cx, i, item)).collect();
    let bindings = cx.all(built)?;
    config.finish()?;
    Ok(Object::Handler(Arc::new(DispatchHandler { bindings })))
}

fn binding(cx: &BuildCtx<'_>, i: usize, item: &Node) -> Result<Binding, ConfigError> {
    {
        let b = cx.config(item)?;
        // IG's bindings may carry a name and decorators (`"capture": "all"`), as heap objects do.
        let name = b.get("name").map(|n| cx.string(n)).transpose()?.unwrap_or_else(|| format!("binding {}", i + 1));
        let condition = b.get("condition").map(|c| cx.expr(c)).transpose()?;
        let handler = cx.handler(b.require("handler")?)?;
        let base_uri = b.get("baseURI").map(|u| BaseUri::build(cx, u)).transpose()?;
        let handler = match b.decorate_rest(Object::Handler(handler), &name)? {
            Object::Handler(h) => h,
            _ => return Err(cx.err(item, "a decorator turned the binding's handler into something else")),
        };
        Ok(Binding { condition, handler, base_uri })
    }
}

impl Handler for DispatchHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let Some(binding) = first_match(&self.bindings, |b| b.condition.as_ref(), cx, &mut req).await? else {
                tracing::debug!(request_id = %cx.request_id, "DispatchHandler: no binding matched");
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = http::StatusCode::NOT_FOUND;
                return Ok(resp);
            };
            if let Some(base) = &binding.base_uri {
                base.apply(cx, &mut req)?;
            }
            binding.handler.handle(cx, req).await
        })
    }
}
