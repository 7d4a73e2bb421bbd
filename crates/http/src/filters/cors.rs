//! IG's `CorsFilter`: cross-origin requests from browsers. The first policy whose
//! `acceptedOrigins` has the request's `Origin` (or `"*"`) applies; a request from another
//! origin, or a preflight asking for a method or header the policy does not accept, goes to
//! `failureHandler` (default: an empty 403). A preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered here; other requests go on and their
//! responses get the `Access-Control-*` headers. Requests without `Origin` pass untouched.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Handler, Next, Request, Response, Result};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};

/// A list, or `"*"` for any.
enum Accept {
    Any,
    Only(Vec<String>),
}

impl Accept {
    fn read(cx: &BuildCtx<'_>, node: Option<&Node>, lower: bool) -> std::result::Result<Accept, ConfigError> {
        let Some(node) = node else { return Ok(Accept::Only(Vec::new())) };
        if node.as_str() == Some("*") {
            return Ok(Accept::Any);
        }
        let items = cx.array(node)?.iter().map(|v| cx.string(v)).collect::<std::result::Result<Vec<_>, _>>()?;
        if items.iter().any(|i| i == "*") {
            return Ok(Accept::Any);
        }
        Ok(Accept::Only(if lower { items.into_iter().map(|i| i.to_ascii_lowercase()).collect() } else { items }))
    }

    fn has(&self, item: &str) -> bool {
        match self {
            Accept::Any => true,
            Accept::Only(items) => items.iter().any(|i| i == item),
        }
    }
}

struct Policy {
    origins: Accept,
    methods: Accept,
    headers: Accept,
    exposed: Vec<String>,
    max_age: Option<u64>,
    credentials: bool,
}

/// The filter.
pub struct CorsFilter {
    policies: Vec<Policy>,
    failure: Option<Arc<dyn Handler>>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let mut policies = Vec::new();
    for item in cx.array(config.require("policies")?)? {
        let p = cx.config(item)?;
        let origins = match (p.get("acceptedOrigins"), p.get("origins")) {
            (Some(o), _) | (None, Some(o)) => Accept::read(cx, Some(o), true)?,
            (None, None) => return Err(cx.err(item, "a CORS policy needs acceptedOrigins")),
        };
        let methods = Accept::read(cx, p.get("acceptedMethods"), false)?;
        let headers = Accept::read(cx, p.get("acceptedHeaders"), true)?;
        let exposed = match p.get("exposedHeaders") {
            Some(e) => cx.array(e)?.iter().map(|v| cx.string(v)).collect::<std::result::Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        let max_age = p.get("maxAge").map(|m| cx.duration(m)).transpose()?.flatten().map(|d| d.as_secs());
        let credentials = p.get("allowCredentials").map(|b| cx.bool(b)).transpose()?.unwrap_or(false);
        if credentials && matches!(origins, Accept::Any) {
            tracing::warn!(
                "{}:{}: a CORS policy accepting any origin with allowCredentials lets every site read responses with the user's cookies",
                cx.file(),
                item.pos
            );
        }
        p.finish()?;
        policies.push(Policy { origins, methods, headers, exposed, max_age, credentials });
    }
    let failure = config.get("failureHandler").map(|h| cx.handler(h)).transpose()?;
    config.finish()?;
    Ok(Object::Filter(Arc::new(CorsFilter { policies, failure })))
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The headers every CORS answer of `policy` to `origin` carries.
fn allow(headers: &mut HeaderMap, policy: &Policy, origin: &str) {
    set(headers, header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if policy.credentials {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
}

impl CorsFilter {
    async fn fail(&self, cx: &mut Context, req: Request) -> Result<Response> {
        match &self.failure {
            Some(h) => h.handle(cx, req).await,
            None => {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = StatusCode::FORBIDDEN;
                Ok(resp)
            }
        }
    }
}

impl Filter for CorsFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string)
            else {
                return next.handle(cx, req).await;
            };
            let Some(policy) = self.policies.iter().find(|p| p.origins.has(&origin.to_ascii_lowercase())) else {
                return self.fail(cx, req).await;
            };
            let asked = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD).and_then(|m| m.to_str().ok());
            if req.method() == Method::OPTIONS {
                if let Some(method) = asked.map(str::to_string) {
                    let wanted: Vec<String> = req
                        .headers()
                        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .flat_map(|v| v.split(','))
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect();
                    if !policy.methods.has(&method) || !wanted.iter().all(|h| policy.headers.has(h)) {
                        return self.fail(cx, req).await;
                    }
                    let mut resp = Response::new(Body::empty());
                    let h = resp.headers_mut();
                    allow(h, policy, &origin);
                    set(h, header::ACCESS_CONTROL_ALLOW_METHODS, &method);
                    if !wanted.is_empty() {
                        set(h, header::ACCESS_CONTROL_ALLOW_HEADERS, &wanted.join(", "));
                    }
                    if let Some(age) = policy.max_age {
                        set(h, header::ACCESS_CONTROL_MAX_AGE, &age.to_string());
                    }
                    return Ok(resp);
                }
            }
            let mut resp = next.handle(cx, req).await?;
            let h = resp.headers_mut();
            allow(h, policy, &origin);
            if !policy.exposed.is_empty() {
                set(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, &policy.exposed.join(", "));
            }
            Ok(resp)
        })
    }
}
