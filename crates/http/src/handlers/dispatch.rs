//! `DispatchHandler`: the first binding whose condition holds handles the request.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};

use crate::entity::buffer_request;
use crate::uri::BaseUri;

/// Dispatches to the first binding whose condition holds; 404 when none does.
pub struct DispatchHandler {
    bindings: Vec<Binding>,
    needs_request_entity: bool,
}

struct Binding {
    condition: Option<Expression>,
    handler: Arc<dyn Handler>,
    base_uri: Option<BaseUri>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let mut bindings = Vec::new();
    for item in cx.array(config.require("bindings")?)? {
        let b = cx.config(item)?;
        let condition = b.get("condition").map(|c| cx.expr(c)).transpose()?;
        let handler = cx.handler(b.require("handler")?)?;
        let base_uri = b.get("baseURI").map(|u| BaseUri::build(cx, u)).transpose()?;
        b.finish()?;
        bindings.push(Binding { condition, handler, base_uri });
    }
    config.finish()?;
    let needs_request_entity =
        bindings.iter().any(|b| b.condition.as_ref().is_some_and(Expression::needs_request_entity));
    Ok(Object::Handler(Arc::new(DispatchHandler { bindings, needs_request_entity })))
}

impl Handler for DispatchHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.needs_request_entity {
                buffer_request(&mut req).await?;
            }
            let scope = Scope::request(cx, &req);
            let Some(binding) = self.bindings.iter().find(|b| b.condition.as_ref().is_none_or(|c| c.eval_bool(&scope)))
            else {
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
