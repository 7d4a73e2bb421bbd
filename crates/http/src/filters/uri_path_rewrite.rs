//! IG's `UriPathRewriteFilter`: `mappings` from a path prefix to its replacement; the longest
//! prefix that matches whole path segments wins (`/a` maps `/a` and `/a/b`, not `/ab`). A
//! request no mapping matches goes to `failureHandler` (default: 500, as IG).

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Filter, Handler, Next, Request, Response, Result};

/// Rewrites path prefixes.
pub struct UriPathRewriteFilter {
    /// (from, to), longest `from` first.
    mappings: Vec<(String, String)>,
    failure: Option<Arc<dyn Handler>>,
}

fn normalize(p: &str) -> String {
    let trimmed = p.trim_end_matches('/');
    if trimmed.starts_with('/') {
        trimmed.to_string()
    } else {
        format!("/{trimmed}")
    }
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let mut mappings = Vec::new();
    for (key, value) in cx.object(config.require("mappings")?)? {
        mappings.push((normalize(&key.name), normalize(&cx.string(value)?)));
    }
    mappings.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
    let failure = config.get("failureHandler").map(|h| cx.handler(h)).transpose()?;
    config.finish()?;
    Ok(Object::Filter(Arc::new(UriPathRewriteFilter { mappings, failure })))
}

/// The rewritten path, when a mapping matches.
fn rewrite(mappings: &[(String, String)], path: &str) -> Option<String> {
    mappings.iter().find_map(|(from, to)| {
        let rest = if from == "/" { Some(path) } else { path.strip_prefix(from.as_str()) }?;
        if !(rest.is_empty() || rest.starts_with('/') || from == "/") {
            return None;
        }
        let rest = rest.trim_start_matches('/');
        Some(match (to.as_str(), rest.is_empty()) {
            ("/", true) => "/".to_string(),
            ("/", false) => format!("/{rest}"),
            (to, true) => to.to_string(),
            (to, false) => format!("{to}/{rest}"),
        })
    })
}

impl Filter for UriPathRewriteFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let Some(path) = rewrite(&self.mappings, req.uri().path()) else {
                return match &self.failure {
                    Some(h) => h.handle(cx, req).await,
                    None => {
                        let mut resp = Response::new(Body::empty());
                        *resp.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
                        Ok(resp)
                    }
                };
            };
            let mut parts = req.uri().clone().into_parts();
            let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
            parts.path_and_query = format!("{path}{query}").parse().ok();
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
            next.handle(cx, req).await
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_longest_whole_segment_prefix_wins() {
        let mut m = vec![
            ("/".to_string(), "/root".to_string()),
            ("/api".to_string(), "/v2/api".to_string()),
            ("/api/old".to_string(), "/legacy".to_string()),
        ];
        m.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        assert_eq!(super::rewrite(&m, "/api/old/x").as_deref(), Some("/legacy/x"));
        assert_eq!(super::rewrite(&m, "/api/users").as_deref(), Some("/v2/api/users"));
        assert_eq!(super::rewrite(&m, "/api").as_deref(), Some("/v2/api"));
        assert_eq!(super::rewrite(&m, "/apix").as_deref(), Some("/root/apix"));
        let only = vec![("/a".to_string(), "/".to_string())];
        assert_eq!(super::rewrite(&only, "/a/b").as_deref(), Some("/b"));
        assert_eq!(super::rewrite(&only, "/b"), None);
    }
}
