//! `HeaderFilter`: removes, replaces (PingGateway's `replace`), then adds headers of the request
//! or the response.

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
    /// PingGateway's `replace`: these headers' values replace whatever the message had.
    replace: HeaderTemplates,
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
    let replace = match config.get("replace") {
        Some(r) => HeaderTemplates::build(cx, r)?,
        None => HeaderTemplates::default(),
    };
    config.finish()?;
    let (add_req, add_resp) = add.needs_entity();
    let (rep_req, rep_resp) = replace.needs_entity();
    let (request_entity, response_entity) = (add_req || rep_req, add_resp || rep_resp);
    Ok(Object::Filter(Arc::new(HeaderFilter { on_response, remove, add, replace, request_entity, response_entity })))
}

impl Filter for HeaderFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if !self.on_response {
                if self.request_entity {
                    buffer_request(&mut req).await?;
                }
                let mut added = http::HeaderMap::new();
                let mut replaced = http::HeaderMap::new();
                {
                    let scope = Scope::request(cx, &req);
                    self.add.append_to(&scope, &mut added);
                    self.replace.append_to(&scope, &mut replaced);
                }
                apply(req.headers_mut(), &self.remove, replaced, added);
                return next.handle(cx, req).await;
            }
            let mut resp = next.handle(cx, req).await?;
            if self.response_entity {
                buffer_response(&mut resp).await?;
            }
            let mut added = http::HeaderMap::new();
            let mut replaced = http::HeaderMap::new();
            {
                let scope = Scope::response(cx, None, &resp);
                self.add.append_to(&scope, &mut added);
                self.replace.append_to(&scope, &mut replaced);
            }
            apply(resp.headers_mut(), &self.remove, replaced, added);
            Ok(resp)
        })
    }
}

/// IG's order: `remove`, then `replace` (each named header's values become the new ones),
/// then `add`.
fn apply(headers: &mut http::HeaderMap, remove: &[HeaderName], replaced: http::HeaderMap, added: http::HeaderMap) {
    for name in remove {
        headers.remove(name);
    }
    for name in replaced.keys() {
        headers.remove(name);
    }
    append_all(headers, replaced);
    append_all(headers, added);
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
