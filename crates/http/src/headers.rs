//! Header values written as lists of templates: `{"Content-Type": ["text/plain"]}`.

use gatehouse_config::{BuildCtx, ConfigError, Node};
use gatehouse_expr::{Expression, Scope};
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Headers whose values are expressions, evaluated per message. A value that evaluates to
/// null is skipped, as in IG. Constant values are parsed once.
#[derive(Default)]
pub struct HeaderTemplates {
    entries: Vec<(HeaderName, Vec<Template>)>,
}

enum Template {
    Fixed(HeaderValue),
    Expr(Expression),
}

impl HeaderTemplates {
    /// Reads `{name: [value, ...]}` (a single string is accepted for a one-value list).
    pub fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Self, ConfigError> {
        let mut entries = Vec::new();
        for (key, values) in cx.object(node)? {
            let name = HeaderName::from_bytes(key.name.as_bytes()).map_err(|_| {
                gatehouse_config::ConfigError::at(cx.file(), key.pos, format!("invalid header name '{}'", key.name))
            })?;
            let items = match values.as_str() {
                Some(_) => std::slice::from_ref(values),
                None => cx.array(values)?,
            };
            let mut templates = Vec::new();
            for item in items {
                let expr = cx.expr(item)?;
                templates.push(if expr.is_constant() {
                    Template::Fixed(
                        HeaderValue::from_str(expr.source()).map_err(|_| cx.err(item, "invalid header value"))?,
                    )
                } else {
                    Template::Expr(expr)
                });
            }
            entries.push((name, templates));
        }
        Ok(HeaderTemplates { entries })
    }

    /// Whether any value reads the request or response body.
    pub fn needs_entity(&self) -> (bool, bool) {
        self.entries.iter().flat_map(|(_, t)| t).fold((false, false), |(rq, rs), t| match t {
            Template::Expr(e) => (rq || e.needs_request_entity(), rs || e.needs_response_entity()),
            Template::Fixed(_) => (rq, rs),
        })
    }

    /// Appends the evaluated headers to `out`.
    pub fn append_to(&self, scope: &Scope<'_>, out: &mut HeaderMap) {
        for (name, templates) in &self.entries {
            for t in templates {
                match t {
                    Template::Fixed(v) => {
                        out.append(name.clone(), v.clone());
                    }
                    Template::Expr(e) => {
                        let Some(text) = e.eval_string(scope) else { continue };
                        match HeaderValue::from_str(&text) {
                            Ok(v) => {
                                out.append(name.clone(), v);
                            }
                            Err(_) => {
                                tracing::debug!(header = %name, "expression gave an invalid header value; skipped")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The header names, for removal before adding.
    pub fn names(&self) -> impl Iterator<Item = &HeaderName> {
        self.entries.iter().map(|(n, _)| n)
    }
}
