//! `HeaderFilter`: removes, then adds, headers of the request or the response.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::Scope;
use http::HeaderName;

use crate::entity::{buffer_request, buffer_response};
use crate::HeaderTemplates;

/// Removes and adds headers on one side of the exchange.
pub struct HeaderFilter {
    on_response: bool,
    remove: Vec<HeaderName>,
    add: HeaderTemplates,
    request_entity: bool,
    response_entity: bool,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let mt = config.require("messageType")?;
    let on_response = match cx.string(mt)?.to_ascii_uppercase().as_str() {
        "REQUEST" => false,
        "RESPONSE" => true,
        other => return Err(cx.err(mt, format!("messageType must be REQUEST or RESPONSE, not '{other}'"))),
    };
    let remove = match config.get("remove") {
        Some(r) => cx
            .array(r)?
            .iter()
            .map(|n| {
                let s = cx.str(n)?;
                HeaderName::from_bytes(s.as_bytes()).map_err(|_| cx.err(n, format!("invalid header name '{s}'")))
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let add = match config.get("add") {
        Some(a) => HeaderTemplates::build(cx, a)?,
        None => HeaderTemplates::default(),
    };
    config.finish()?;
    let (request_entity, response_entity) = add.needs_entity();
    Ok(Object::Filter(Arc::new(HeaderFilter { on_response, remove, add, request_entity, response_entity })))
}

impl Filter for HeaderFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if !self.on_response {
                if self.request_entity {
                    buffer_request(&mut req).await?;
                }
                let mut added = http::HeaderMap::new();
                self.add.append_to(&Scope::request(cx, &req), &mut added);
                let headers = req.headers_mut();
                for name in &self.remove {
                    headers.remove(name);
                }
                append_all(headers, added);
                return next.handle(cx, req).await;
            }
            let mut resp = next.handle(cx, req).await?;
            if self.response_entity {
                buffer_response(&mut resp).await?;
            }
            let mut added = http::HeaderMap::new();
            self.add.append_to(&Scope::response(cx, None, &resp), &mut added);
            let headers = resp.headers_mut();
            for name in &self.remove {
                headers.remove(name);
            }
            append_all(headers, added);
            Ok(resp)
        })
    }
}

fn append_all(headers: &mut http::HeaderMap, added: http::HeaderMap) {
    let mut last = None;
    for (name, value) in added {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(n) = &last {
            headers.append(n.clone(), value);
        }
    }
}
