//! IG's `StaticRequestFilter`: replaces the request with one built from configuration
//! (`method`, `uri`, `version`, `headers`, `form`, `entity`; expressions see the original
//! request). `form` parameters go in the query of a GET and in an
//! `application/x-www-form-urlencoded` body otherwise, as IG does.

use std::sync::Arc;

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};

use crate::entity::buffer_request;
use crate::HeaderTemplates;

/// Sends a configured request instead of the incoming one.
pub struct StaticRequestFilter {
    method: http::Method,
    uri: Expression,
    version: Option<http::Version>,
    headers: HeaderTemplates,
    form: Vec<(String, Vec<Expression>)>,
    entity: Option<Expression>,
    needs_entity: bool,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let method_node = config.require("method")?;
    let method = http::Method::from_bytes(cx.string(method_node)?.as_bytes())
        .map_err(|_| cx.err(method_node, "method is not an HTTP method"))?;
    let uri = cx.expr(config.require("uri")?)?;
    let version = match config.get("version") {
        Some(v) => Some(match cx.string(v)?.to_ascii_uppercase().as_str() {
            "HTTP/1.0" => http::Version::HTTP_10,
            "HTTP/1.1" => http::Version::HTTP_11,
            "HTTP/2" | "HTTP/2.0" => http::Version::HTTP_2,
            other => return Err(cx.err(v, format!("version must be HTTP/1.0, HTTP/1.1 or HTTP/2, not '{other}'"))),
        }),
        None => None,
    };
    let headers = config.get("headers").map(|h| HeaderTemplates::build(cx, h)).transpose()?.unwrap_or_default();
    let mut form = Vec::new();
    if let Some(f) = config.get("form") {
        for (key, values) in cx.object(f)? {
            let items = match values.as_str() {
                Some(_) => std::slice::from_ref(values),
                None => cx.array(values)?,
            };
            form.push((key.name.clone(), items.iter().map(|v| cx.expr(v)).collect::<Result<Vec<_>, _>>()?));
        }
    }
    let entity = config.get("entity").map(|e| cx.expr(e)).transpose()?;
    config.finish()?;
    let needs_entity = uri.needs_request_entity()
        || headers.needs_entity().0
        || entity.as_ref().is_some_and(Expression::needs_request_entity)
        || form.iter().flat_map(|(_, v)| v).any(Expression::needs_request_entity);
    Ok(Object::Filter(Arc::new(StaticRequestFilter { method, uri, version, headers, form, entity, needs_entity })))
}

impl StaticRequestFilter {
    fn make(&self, cx: &Context, original: &Request) -> Result<Request> {
        let scope = Scope::request(cx, original);
        let mut uri = self.uri.eval(&scope).to_text().into_owned();
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for (name, values) in &self.form {
            for v in values {
                let value = v.eval(&scope);
                if !value.is_null() {
                    pairs.append_pair(name, &value.to_text());
                    any = true;
                }
            }
        }
        let form = pairs.finish();
        let mut body = self.entity.as_ref().map(|e| e.eval(&scope).to_text().into_owned());
        let mut form_type = false;
        if any {
            if self.method == http::Method::GET {
                uri.push(if uri.contains('?') { '&' } else { '?' });
                uri.push_str(&form);
            } else {
                body = Some(form);
                form_type = true;
            }
        }
        let uri: http::Uri = uri.parse().map_err(|_| {
            gatehouse_core::Error::with_cause(
                gatehouse_core::ErrorKind::Internal,
                gatehouse_core::Side::Internal,
                format!("StaticRequestFilter: '{uri}' is not a URI"),
            )
        })?;
        let mut req = Request::new(match &body {
            Some(b) => Body::full(Bytes::from(b.clone())),
            None => Body::empty(),
        });
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.version_mut() = self.version.unwrap_or(original.version());
        self.headers.append_to(&scope, req.headers_mut());
        if form_type {
            req.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        }
        if let Some(b) = &body {
            req.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(b.len()));
        }
        Ok(req)
    }
}

impl Filter for StaticRequestFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.needs_entity {
                buffer_request(&mut req).await?;
            }
            let made = self.make(cx, &req)?;
            next.handle(cx, made).await
        })
    }
}
