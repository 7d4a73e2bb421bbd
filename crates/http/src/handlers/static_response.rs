//! `StaticResponseHandler`: a response built from configuration, with expressions.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};
use http::{header, HeaderValue, StatusCode};

use crate::entity::buffer_request;
use crate::HeaderTemplates;

/// Answers with a configured status, headers and entity.
pub struct StaticResponseHandler {
    status: StatusCode,
    headers: HeaderTemplates,
    entity: Entity,
    needs_request_entity: bool,
    /// The `Content-Type` when the route sets none and there is an entity.
    default_type: Option<HeaderValue>,
    /// Whether the route sets `X-Content-Type-Options` itself.
    sets_nosniff: bool,
}

/// The type of an entity the route did not type, from what its text starts with: browsers
/// must not guess (`nosniff` is sent), so the gateway says what the configuration wrote.
fn default_type(entity: &Entity, headers: &HeaderTemplates) -> Option<HeaderValue> {
    if headers.names().any(|n| *n == header::CONTENT_TYPE) {
        return None;
    }
    let start = match entity {
        Entity::None => return None,
        Entity::Fixed(b) => String::from_utf8_lossy(b).trim_start().chars().next(),
        Entity::Lines(lines) => lines.first().and_then(|l| l.source().trim_start().chars().next()),
    };
    Some(HeaderValue::from_static(match start {
        Some('<') => "text/html; charset=utf-8",
        Some('{' | '[') => "application/json",
        _ => "text/plain; charset=utf-8",
    }))
}

enum Entity {
    None,
    Fixed(Bytes),
    /// Lines (or one template) evaluated and joined with newlines.
    Lines(Vec<Expression>),
}

/// A `status` property: an HTTP status code (a configuration expression allowed).
pub(crate) fn status(cx: &BuildCtx<'_>, node: &Node) -> Result<StatusCode, ConfigError> {
    let code = cx.int(node)?;
    u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| cx.err(node, format!("invalid status code {code}")))
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let status = status(cx, config.require("status")?)?;
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
    let default_type = default_type(&entity, &headers);
    let sets_nosniff = headers.names().any(|n| *n == header::X_CONTENT_TYPE_OPTIONS);
    Ok(Object::Handler(Arc::new(StaticResponseHandler {
        status,
        headers,
        entity,
        needs_request_entity,
        default_type,
        sets_nosniff,
    })))
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
            if let Some(t) = &self.default_type {
                resp.headers_mut().insert(header::CONTENT_TYPE, t.clone());
            }
            if !self.sets_nosniff {
                resp.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
            }
            Ok(resp)
        })
    }
}
