//! `AssignmentFilter`: `{condition, target, value}` bindings run on the request and on the
//! response, in order.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Kind, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::{Expression, LValue, Scope, Target};

use crate::entity::{buffer_request, buffer_response};

/// Assigns values to targets such as `${session.authUsername}`.
pub struct AssignmentFilter {
    on_request: Vec<Binding>,
    on_response: Vec<Binding>,
    request_entity: bool,
    response_entity: bool,
}

struct Binding {
    condition: Option<Expression>,
    target: LValue,
    value: Value,
}

/// A value is an expression when it is a string, else a JSON constant; absent is null.
enum Value {
    Expr(Expression),
    Json(serde_json::Value),
}

fn bindings(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Vec<Binding>, ConfigError> {
    let Some(node) = node else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for item in cx.array(node)? {
        let b = cx.config(item)?;
        let condition = b.get("condition").map(|c| cx.expr(c)).transpose()?;
        let target = cx.lvalue(b.require("target")?)?;
        let value = match b.get("value") {
            None => Value::Json(serde_json::Value::Null),
            Some(v @ Node { kind: Kind::String(_), .. }) => Value::Expr(cx.expr(v)?),
            Some(v) => Value::Json(v.to_json()),
        };
        b.finish()?;
        out.push(Binding { condition, target, value });
    }
    Ok(out)
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let on_request = bindings(cx, config.get("onRequest"))?;
    let on_response = bindings(cx, config.get("onResponse"))?;
    config.finish()?;
    let uses = |bs: &[Binding], f: fn(&Expression) -> bool| {
        bs.iter().any(|b| b.condition.as_ref().is_some_and(f) || matches!(&b.value, Value::Expr(e) if f(e)))
    };
    let request_entity = uses(&on_request, Expression::needs_request_entity);
    let response_entity = uses(&on_response, Expression::needs_response_entity);
    Ok(Object::Filter(Arc::new(AssignmentFilter { on_request, on_response, request_entity, response_entity })))
}

/// Runs the bindings whose condition holds; `request`/`response` are what may be written.
fn run(bindings: &[Binding], cx: &mut Context, mut request: Option<&mut Request>, mut response: Option<&mut Response>) {
    for b in bindings {
        let resolved = {
            let scope = Scope { cx, request: request.as_deref(), response: response.as_deref(), body_wanted: None };
            if b.condition.as_ref().is_some_and(|c| !c.eval_bool(&scope)) {
                continue;
            }
            let value = match &b.value {
                Value::Expr(e) => e.eval(&scope).to_json(),
                Value::Json(j) => j.clone(),
            };
            b.target.resolve(&scope).map(|keys| (keys, value))
        };
        match resolved {
            Some((keys, value)) => b.target.assign(
                &keys,
                value,
                Target { cx, request: request.as_deref_mut(), response: response.as_deref_mut() },
            ),
            None => tracing::debug!(target = b.target.source(), "assignment target has a null key; skipped"),
        }
    }
}

impl Filter for AssignmentFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.request_entity {
                buffer_request(&mut req).await?;
            }
            run(&self.on_request, cx, Some(&mut req), None);
            if self.on_response.is_empty() {
                return next.handle(cx, req).await;
            }
            // The response bindings may read the request too: keep its head.
            let head = request_head(&req);
            let mut resp = next.handle(cx, req).await?;
            if self.response_entity {
                buffer_response(&mut resp).await?;
            }
            let mut head = head;
            run(&self.on_response, cx, Some(&mut head), Some(&mut resp));
            Ok(resp)
        })
    }
}

/// A copy of the request without its body.
fn request_head(req: &Request) -> Request {
    let mut head = Request::new(Body::empty());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    head
}
