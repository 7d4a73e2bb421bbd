//! `StaticResponseHandler`: a response built from configuration, with expressions.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};
use http::StatusCode;

use crate::entity::buffer_request;
use crate::HeaderTemplates;

/// Answers with a configured status, headers and entity.
pub struct StaticResponseHandler {
    status: StatusCode,
    headers: HeaderTemplates,
    entity: Entity,
    needs_request_entity: bool,
}

enum Entity {
    None,
    Fixed(Bytes),
    /// Lines (or one template) evaluated and joined with newlines.
    Lines(Vec<Expression>),
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let status_node = config.require("status")?;
    let code = cx.int(status_node)?;
    let status = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| cx.err(status_node, format!("invalid status code {code}")))?;
    // `reason` only matters for non-standard codes, which HTTP/2 cannot carry anyway.
    if let Some(r) = config.get("reason") {
        cx.str(r)?;
    }
    config.ignore(&["version", "trailers"]);
    let headers = match config.get("headers") {
        Some(h) => HeaderTemplates::build(cx, h)?,
        None => HeaderTemplates::default(),
    };
    let entity = match config.get("entity") {
        None => Entity::None,
        Some(n) => {
            let lines: Vec<Expression> = n.one_or_many().iter().map(|i| cx.expr(i)).collect::<Result<_, _>>()?;
            if lines.iter().all(Expression::is_constant) {
                let text: Vec<&str> = lines.iter().map(Expression::source).collect();
                Entity::Fixed(Bytes::from(text.join("\n")))
            } else {
                Entity::Lines(lines)
            }
        }
    };
    config.finish()?;
    let needs_request_entity = headers.needs_entity().0
        || matches!(&entity, Entity::Lines(l) if l.iter().any(Expression::needs_request_entity));
    Ok(Object::Handler(Arc::new(StaticResponseHandler { status, headers, entity, needs_request_entity })))
}

impl Handler for StaticResponseHandler {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.needs_request_entity {
                buffer_request(&mut req).await?;
            }
            let scope = Scope::request(cx, &req);
            let mut resp = Response::new(match &self.entity {
                Entity::None => Body::empty(),
                Entity::Fixed(b) => Body::full(b.clone()),
                Entity::Lines(lines) => {
                    let mut text = String::new();
                    for (i, line) in lines.iter().enumerate() {
                        if i > 0 {
                            text.push('\n');
                        }
                        line.eval(&scope).write_text(&mut text);
                    }
                    Body::from(text)
                }
            });
            *resp.status_mut() = self.status;
            self.headers.append_to(&scope, resp.headers_mut());
            Ok(resp)
        })
    }
}
