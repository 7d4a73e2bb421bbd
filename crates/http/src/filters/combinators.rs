//! Filters made of filters: IG's `ChainOfFilters` (its filters run in order, as if written in
//! the enclosing chain) and `ConditionalFilter` (its delegate runs only when the condition
//! holds; otherwise the request passes on untouched).

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};

use crate::entity::buffer_request;

/// `ChainOfFilters`.
pub struct ChainOfFilters(Vec<Arc<dyn Filter>>);

pub(crate) fn build_chain_of_filters(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let filters = cx.all(cx.array(config.require("filters")?)?.iter().map(|f| cx.filter(f)).collect::<Vec<_>>())?;
    config.finish()?;
    Ok(Object::Filter(Arc::new(ChainOfFilters(filters))))
}

impl Filter for ChainOfFilters {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move { Next::then(&self.0, &next).handle(cx, req).await })
    }
}

/// `ConditionalFilter`.
pub struct ConditionalFilter {
    condition: Expression,
    delegate: Arc<dyn Filter>,
}

pub(crate) fn build_conditional(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let condition = cx.expr(config.require("condition")?)?;
    let delegate = cx.filter(config.require("delegate")?)?;
    config.finish()?;
    Ok(Object::Filter(Arc::new(ConditionalFilter { condition, delegate })))
}

impl Filter for ConditionalFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let holds = match self.condition.eval_condition(cx, &req) {
                Some(holds) => holds,
                None => {
                    buffer_request(&mut req).await?;
                    self.condition.eval_bool(&Scope::request(cx, &req))
                }
            };
            if holds {
                self.delegate.filter(cx, req, next).await
            } else {
                next.handle(cx, req).await
            }
        })
    }
}
