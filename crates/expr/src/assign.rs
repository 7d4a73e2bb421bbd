//! Assignment targets: `${attributes.x}`, `${session.x}`, `${request.headers['X']}`,
//! `${request.uri}`, `${request.method}`, `${response.status}`, `${*.entity}`.
//!
//! Assigning is two steps so that borrows stay simple: [`LValue::resolve`] evaluates any
//! dynamic keys against a read-only scope, then [`LValue::assign`] writes. Failures are
//! logged at warn level and never raise, as in IG.

use gatehouse_core::{Body, Context, Request, Response};
use http::header::{HeaderName, HeaderValue};
use serde_json::{Map, Value as Json};

use crate::ast::{Lit, Node, Root};
use crate::{Expression, ParseEnv, ParseError, Part, Scope};

/// Where an assignment writes.
pub struct Target<'a> {
    /// The exchange's context (attributes and session).
    pub cx: &'a mut Context,
    /// The request, when it may be written.
    pub request: Option<&'a mut Request>,
    /// The response, when it may be written.
    pub response: Option<&'a mut Response>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LRoot {
    Attributes,
    Session,
    Request,
    Response,
}

#[derive(Debug)]
enum Seg {
    Key(Box<str>),
    Dyn(Node),
}

/// A parsed assignment target.
#[derive(Debug)]
pub struct LValue {
    source: Box<str>,
    root: LRoot,
    path: Vec<Seg>,
}

impl LValue {
    /// Parses a target: exactly one `${...}` that is a property path.
    pub fn parse(source: &str, env: &ParseEnv<'_>) -> Result<Self, ParseError> {
        let expr = Expression::parse(source, env)?;
        let mut parts = expr.parts.into_iter();
        let (Some(Part::Expr(node)), None) = (parts.next(), parts.next()) else {
            return Err(ParseError::new(0, "an assignment target must be a single ${...} expression"));
        };
        let mut path = Vec::new();
        let mut node = node;
        let root = loop {
            match node {
                Node::Prop(base, key) => {
                    path.push(Seg::Key(key));
                    node = *base;
                }
                Node::Index(base, index) => {
                    path.push(match *index {
                        Node::Lit(Lit::Int(i)) => Seg::Key(i.to_string().into()),
                        other => Seg::Dyn(other),
                    });
                    node = *base;
                }
                Node::Req(access) => {
                    path.extend(access.path().into_iter().rev().map(|k| Seg::Key(k.into())));
                    break LRoot::Request;
                }
                Node::Root(Root::Attributes) => break LRoot::Attributes,
                Node::Root(Root::Session) => break LRoot::Session,
                Node::Root(Root::Request) => break LRoot::Request,
                Node::Root(Root::Response) => break LRoot::Response,
                _ => {
                    return Err(ParseError::new(
                        0,
                        "an assignment target must start with attributes, session, request or response",
                    ))
                }
            }
        };
        path.reverse();
        let writable = match root {
            LRoot::Attributes | LRoot::Session => !path.is_empty(),
            LRoot::Request | LRoot::Response => match path.first() {
                Some(Seg::Key(k)) => matches!(
                    (&**k, path.len(), root),
                    ("headers", 2, _)
                        | ("entity", 1, _)
                        | ("uri" | "method", 1, LRoot::Request)
                        | ("status", 1, LRoot::Response)
                ),
                _ => false,
            },
        };
        if !writable {
            return Err(ParseError::new(0, format!("'{source}' is not a writable target")));
        }
        Ok(LValue { source: source.into(), root, path })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the path's dynamic keys; `None` when one of them is null.
    pub fn resolve(&self, scope: &Scope<'_>) -> Option<Vec<String>> {
        self.path
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) => Some(k.to_string()),
                Seg::Dyn(node) => match crate::eval::eval(node, scope) {
                    Ok(v) if !v.is_null() => Some(v.to_text().into_owned()),
                    _ => None,
                },
            })
            .collect()
    }

    /// Writes `value` at the resolved `keys`.
    pub fn assign(&self, keys: &[String], value: Json, target: Target<'_>) {
        let done = match self.root {
            LRoot::Attributes => put(&mut target.cx.attributes, keys, value),
            LRoot::Session => put(target.cx.session.data_mut(), keys, value),
            LRoot::Request => match target.request {
                Some(r) => set_request(r, keys, value),
                None => false,
            },
            LRoot::Response => match target.response {
                Some(r) if keys[0] == "status" => set_status(r, &value),
                Some(r) => {
                    let mut body = std::mem::take(r.body_mut());
                    let done = set_message(r.headers_mut(), &mut body, keys, value);
                    *r.body_mut() = body;
                    done
                }
                None => false,
            },
        };
        if !done {
            tracing::warn!(target = %self.source, "assignment ignored: the target cannot take this value");
        }
    }
}

/// Puts `value` in nested maps; every map but the last must already exist. Null removes.
fn put(map: &mut Map<String, Json>, keys: &[String], value: Json) -> bool {
    let Some((last, parents)) = keys.split_last() else { return false };
    let mut map = map;
    for k in parents {
        match map.get_mut(k) {
            Some(Json::Object(m)) => map = m,
            _ => return false,
        }
    }
    if value.is_null() {
        map.remove(last);
    } else {
        map.insert(last.clone(), value);
    }
    true
}

fn set_request(r: &mut Request, keys: &[String], value: Json) -> bool {
    match keys[0].as_str() {
        "uri" => match value.as_str().and_then(|s| s.parse::<http::Uri>().ok()) {
            Some(uri) => {
                *r.uri_mut() = uri;
                true
            }
            None => false,
        },
        "method" => match value.as_str().and_then(|s| http::Method::from_bytes(s.as_bytes()).ok()) {
            Some(m) => {
                *r.method_mut() = m;
                true
            }
            None => false,
        },
        _ => {
            // `http::Request` has no split borrow of headers and body: take the body out.
            let mut body = std::mem::take(r.body_mut());
            let done = set_message(r.headers_mut(), &mut body, keys, value);
            *r.body_mut() = body;
            done
        }
    }
}

fn set_status(r: &mut Response, value: &Json) -> bool {
    match value.as_u64().and_then(|c| u16::try_from(c).ok()).and_then(|c| http::StatusCode::from_u16(c).ok()) {
        Some(s) => {
            *r.status_mut() = s;
            true
        }
        None => false,
    }
}

/// Sets a header (a string, or a list of strings; null removes it) or the entity.
fn set_message(headers: &mut http::HeaderMap, body: &mut Body, keys: &[String], value: Json) -> bool {
    match (keys[0].as_str(), keys.get(1)) {
        ("headers", Some(name)) => {
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else { return false };
            let texts: Vec<String> = match value {
                Json::Null => Vec::new(),
                Json::Array(items) => items.iter().map(json_text).collect(),
                other => vec![json_text(&other)],
            };
            let Ok(values) = texts.iter().map(|t| HeaderValue::from_str(t)).collect::<Result<Vec<_>, _>>() else {
                return false;
            };
            headers.remove(&name);
            for v in values {
                headers.append(name.clone(), v);
            }
            true
        }
        ("entity", None) => {
            let text = json_text(&value);
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(text.len()));
            *body = Body::from(text);
            true
        }
        _ => false,
    }
}

fn json_text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}
