//! Rebasing a request on a `baseURI`: scheme, host and port change; path and query stay.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node};
use gatehouse_core::{Context, Error, ErrorKind, Request, Result, Side};
use gatehouse_expr::{Expression, Scope};
use http::uri::{Authority, Scheme, Uri};

/// A `baseURI` value: parsed once when constant, else evaluated per request.
pub enum BaseUri {
    /// A fixed base.
    Fixed(Scheme, Authority),
    /// An expression evaluated per request.
    Dynamic(Arc<Expression>),
}

impl BaseUri {
    /// Reads a `baseURI` config value.
    pub fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Self, ConfigError> {
        let expr = cx.expr(node)?;
        if expr.is_constant() {
            let (s, a) = parse_base(expr.source()).map_err(|m| cx.err(node, m))?;
            return Ok(BaseUri::Fixed(s, a));
        }
        Ok(BaseUri::Dynamic(Arc::new(expr)))
    }

    /// Rebases `req` on this base.
    pub fn apply(&self, cx: &Context, req: &mut Request) -> Result<()> {
        match self {
            BaseUri::Fixed(s, a) => rebase(req, s.clone(), a.clone()),
            BaseUri::Dynamic(e) => {
                let value = e.eval_string(&Scope::request(cx, req));
                let (s, a) = value
                    .as_deref()
                    .ok_or_else(|| "evaluates to null".to_string())
                    .and_then(parse_base)
                    .map_err(|m| Error::internal(format!("baseURI '{}' {m}", e.source())))?;
                rebase(req, s, a)
            }
        }
    }
}

/// Parses `scheme://host[:port][/...]`; only scheme and authority are kept.
pub fn parse_base(s: &str) -> Result<(Scheme, Authority), String> {
    let uri: Uri = s.trim().parse().map_err(|e| format!("is not a valid URI: {e}"))?;
    let parts = uri.into_parts();
    match (parts.scheme, parts.authority) {
        (Some(s), Some(a)) if s == Scheme::HTTP || s == Scheme::HTTPS => Ok((s, a)),
        _ => Err(format!("'{s}' must be an absolute http or https URI such as http://host:port")),
    }
}

/// Replaces the scheme and authority of the request URI.
pub fn rebase(req: &mut Request, scheme: Scheme, authority: Authority) -> Result<()> {
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.scheme = Some(scheme);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    *req.uri_mut() = Uri::from_parts(parts).map_err(|e| Error::with_cause(ErrorKind::Internal, Side::Internal, e))?;
    Ok(())
}
