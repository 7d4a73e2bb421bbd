//! `SwitchFilter`: on the way in, the first `onRequest` case whose condition holds answers
//! with its handler instead of the rest of the chain (a guard); on the way out, the first
//! `onResponse` case whose condition holds replaces the response with its handler's.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Handler, Next, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};

use crate::entity::{buffer_response, first_match};

/// Diverts requests or responses to other handlers.
pub struct SwitchFilter {
    on_request: Vec<Case>,
    on_response: Vec<Case>,
    response_entity: bool,
}

struct Case {
    condition: Option<Expression>,
    handler: Arc<dyn Handler>,
}

fn cases(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Vec<Case>, ConfigError> {
    let Some(node) = node else { return Ok(Vec::new()) };
    cx.array(node)?
        .iter()
        .map(|item| {
            let c = cx.config(item)?;
            let condition = c.get("condition").map(|n| cx.expr(n)).transpose()?;
            let handler = cx.handler(c.require("handler")?)?;
            c.finish()?;
            Ok(Case { condition, handler })
        })
        .collect()
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let on_request = cases(cx, config.get("onRequest"))?;
    let on_response = cases(cx, config.get("onResponse"))?;
    config.finish()?;
    let response_entity =
        on_response.iter().any(|c| c.condition.as_ref().is_some_and(Expression::needs_response_entity));
    Ok(Object::Filter(Arc::new(SwitchFilter { on_request, on_response, response_entity })))
}

impl Filter for SwitchFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if let Some(case) = first_match(&self.on_request, |c| c.condition.as_ref(), cx, &mut req).await? {
                return case.handler.handle(cx, req).await;
            }
            if self.on_response.is_empty() {
                return next.handle(cx, req).await;
            }
            // The response cases see the request as it was sent on (without its body).
            let (parts, body) = req.into_parts();
            let seen = Request::from_parts(parts.clone(), Body::empty());
            let mut resp = next.handle(cx, Request::from_parts(parts, body)).await?;
            if self.response_entity {
                buffer_response(&mut resp).await?;
            }
            let chosen = {
                let scope = Scope::response(cx, Some(&seen), &resp);
                self.on_response.iter().find(|c| c.condition.as_ref().is_none_or(|e| e.eval_bool(&scope)))
            };
            match chosen {
                Some(case) => case.handler.handle(cx, seen).await,
                None => Ok(resp),
            }
        })
    }
}
