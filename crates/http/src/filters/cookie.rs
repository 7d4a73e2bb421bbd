//! IG's `CookieFilter`: which cookies the gateway keeps for the user agent. A **managed**
//! cookie set by the upstream is kept in the user's session (never sent to the browser) and
//! added to that user's later requests; a **suppressed** cookie is removed both ways; a
//! **relayed** cookie passes. Cookies not listed take `defaultAction` (`MANAGE`, as IG). The
//! browser cannot send a managed or suppressed cookie upstream itself.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{BoxFuture, Context, Filter, Next, Request, Response, Result};
use http::header::{HeaderValue, COOKIE, SET_COOKIE};
use serde_json::{Map, Value};

/// Where managed cookies live in the session.
const SESSION_KEY: &str = "gatehouse.managedCookies";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Action {
    Manage,
    Suppress,
    Relay,
}

/// The filter.
pub struct CookieFilter {
    managed: Vec<String>,
    suppressed: Vec<String>,
    relayed: Vec<String>,
    default: Action,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let names = |key: &str| -> std::result::Result<Vec<String>, ConfigError> {
        match config.get(key) {
            Some(n) => cx.array(n)?.iter().map(|v| cx.string(v)).collect(),
            None => Ok(Vec::new()),
        }
    };
    let (managed, suppressed, relayed) = (names("managed")?, names("suppressed")?, names("relayed")?);
    let default = match config.get("defaultAction") {
        None => Action::Manage,
        Some(n) => match cx.string(n)?.to_ascii_uppercase().as_str() {
            "MANAGE" => Action::Manage,
            "SUPPRESS" => Action::Suppress,
            "RELAY" => Action::Relay,
            other => return Err(cx.err(n, format!("defaultAction must be MANAGE, SUPPRESS or RELAY, not '{other}'"))),
        },
    };
    config.finish()?;
    Ok(Object::Filter(Arc::new(CookieFilter { managed, suppressed, relayed, default })))
}

impl CookieFilter {
    fn action(&self, name: &str) -> Action {
        let has = |list: &[String]| list.iter().any(|n| n.eq_ignore_ascii_case(name));
        if has(&self.managed) {
            Action::Manage
        } else if has(&self.suppressed) {
            Action::Suppress
        } else if has(&self.relayed) {
            Action::Relay
        } else {
            self.default
        }
    }
}

/// Whether a `Set-Cookie` deletes its cookie (`Max-Age=0` or negative, or `Expires` in 1970).
fn deletes(attributes: &str) -> bool {
    attributes.split(';').map(str::trim).any(|a| {
        let lower = a.to_ascii_lowercase();
        lower.strip_prefix("max-age=").is_some_and(|v| v.trim().parse::<i64>().is_ok_and(|n| n <= 0))
            || (lower.starts_with("expires=") && lower.contains("1970"))
    })
}

impl Filter for CookieFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            // The browser's cookies, without the ones the gateway keeps or drops...
            let mut sent: Vec<String> = gatehouse_core::credentials::cookies(req.headers())
                .filter(|(name, _)| self.action(name) == Action::Relay)
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            // ...and the managed ones the session holds.
            if let Some(Value::Object(kept)) = cx.session.data().get(SESSION_KEY) {
                sent.extend(kept.iter().filter_map(|(n, v)| v.as_str().map(|v| format!("{n}={v}"))));
            }
            req.headers_mut().remove(COOKIE);
            if !sent.is_empty() {
                if let Ok(v) = HeaderValue::from_str(&sent.join("; ")) {
                    req.headers_mut().insert(COOKIE, v);
                }
            }
            let mut resp = next.handle(cx, req).await?;
            let set: Vec<HeaderValue> = resp.headers().get_all(SET_COOKIE).iter().cloned().collect();
            resp.headers_mut().remove(SET_COOKIE);
            let mut changes: Vec<(String, Option<String>)> = Vec::new();
            for value in set {
                let Ok(text) = value.to_str() else { continue };
                let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
                let Some((name, v)) = pair.split_once('=') else { continue };
                let name = name.trim();
                match self.action(name) {
                    Action::Relay => {
                        resp.headers_mut().append(SET_COOKIE, value.clone());
                    }
                    Action::Suppress => {}
                    Action::Manage => {
                        let kept = (!deletes(attributes)).then(|| v.trim().to_string());
                        changes.push((name.to_string(), kept));
                    }
                }
            }
            if !changes.is_empty() {
                let data = cx.session.data_mut();
                let entry = data.entry(SESSION_KEY).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                if let Value::Object(kept) = entry {
                    for (name, value) in changes {
                        match value {
                            Some(v) => kept.insert(name, Value::String(v)),
                            None => kept.remove(&name),
                        };
                    }
                }
            }
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn deletion_attributes() {
        assert!(super::deletes(" Path=/; Max-Age=0"));
        assert!(super::deletes(" Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
        assert!(!super::deletes(" Path=/; Max-Age=3600; HttpOnly"));
    }
}
