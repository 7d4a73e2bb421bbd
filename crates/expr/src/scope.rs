//! What an expression can see of an exchange, and how properties resolve on it.

use std::borrow::Cow;
use std::cell::Cell;

use gatehouse_core::{Body, Context, Request, Response};
use http::HeaderMap;
use serde_json::Value as Json;

use crate::value::Value;

/// The exchange as an expression sees it: read-only.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The exchange's context (attributes, session, client).
    pub cx: &'a Context,
    /// The request, when there is one.
    pub request: Option<&'a Request>,
    /// The response, once there is one.
    pub response: Option<&'a Response>,
    /// Set when evaluation reached `request.entity` or a form body that is still streaming:
    /// the caller may buffer the body and evaluate again (see [`crate::Expression::eval_condition`]).
    pub body_wanted: Option<&'a Cell<bool>>,
}

impl<'a> Scope<'a> {
    /// A scope with a request and no response yet.
    pub fn request(cx: &'a Context, request: &'a Request) -> Self {
        Scope { cx, request: Some(request), response: None, body_wanted: None }
    }

    /// A scope with both messages.
    pub fn response(cx: &'a Context, request: Option<&'a Request>, response: &'a Response) -> Self {
        Scope { cx, request, response: Some(response), body_wanted: None }
    }

    /// A scope with no message: configuration expressions evaluated at load.
    pub fn detached(cx: &'a Context) -> Self {
        Scope { cx, request: None, response: None, body_wanted: None }
    }
}

/// A view of part of the exchange that resolves its properties lazily.
#[derive(Debug, Clone)]
#[doc(hidden)]
pub enum Obj<'a> {
    Request(&'a Request, Option<&'a Cell<bool>>),
    Response(&'a Response),
    Uri(&'a http::Uri),
    Headers(&'a HeaderMap),
    Cookies(&'a HeaderMap),
    Cookie(Cow<'a, str>, Cow<'a, str>),
    Params(&'a Request, bool),
    Entity(&'a Body),
    Status(http::StatusCode),
    Contexts(&'a Context, Option<&'a Request>),
    Client(&'a Context, Option<&'a Request>),
    Map(&'a serde_json::Map<String, Json>),
    Env,
    System,
}

impl<'a> Obj<'a> {
    /// The property `key` of this object; a missing property is `null`.
    pub(crate) fn get(self, key: &str) -> Value<'a> {
        match self {
            Obj::Request(r, body_wanted) => match key {
                "method" => Value::Str(Cow::Borrowed(r.method().as_str())),
                "uri" => Value::Obj(Obj::Uri(r.uri())),
                "headers" => Value::Obj(Obj::Headers(r.headers())),
                "cookies" => Value::Obj(Obj::Cookies(r.headers())),
                "entity" => {
                    want_body(r, body_wanted);
                    Value::Obj(Obj::Entity(r.body()))
                }
                "form" => {
                    if is_form(r) {
                        want_body(r, body_wanted);
                    }
                    Value::Obj(Obj::Params(r, true))
                }
                "queryParams" => Value::Obj(Obj::Params(r, false)),
                "version" => Value::Str(Cow::Borrowed(version(r.version()))),
                _ => Value::Null,
            },
            Obj::Response(r) => match key {
                "status" => Value::Obj(Obj::Status(r.status())),
                "headers" => Value::Obj(Obj::Headers(r.headers())),
                "entity" => Value::Obj(Obj::Entity(r.body())),
                "version" => Value::Str(Cow::Borrowed(version(r.version()))),
                _ => Value::Null,
            },
            Obj::Uri(u) => uri_property(u, key),
            Obj::Headers(h) => header_values(h, key),
            Obj::Cookies(h) => {
                let list: Vec<Value<'a>> = cookies(h)
                    .filter(|(n, _)| *n == key)
                    .map(|(n, v)| Value::Obj(Obj::Cookie(Cow::Borrowed(n), Cow::Borrowed(v))))
                    .collect();
                if list.is_empty() {
                    Value::Null
                } else {
                    Value::List(list)
                }
            }
            Obj::Cookie(name, value) => match key {
                "value" => Value::Str(value),
                "name" => Value::Str(name),
                _ => Value::Null,
            },
            Obj::Params(r, with_body) => {
                let list: Vec<Value<'a>> =
                    params(r, with_body).filter(|(n, _)| n == key).map(|(_, v)| Value::Str(v)).collect();
                if list.is_empty() {
                    Value::Null
                } else {
                    Value::List(list)
                }
            }
            Obj::Entity(b) => entity_property(b, key),
            Obj::Status(s) => match key {
                "code" => Value::Int(i64::from(s.as_u16())),
                "reasonPhrase" => s.canonical_reason().map_or(Value::Null, |r| Value::Str(Cow::Borrowed(r))),
                "family" => Value::Str(Cow::Borrowed(family(s))),
                _ => Value::Null,
            },
            Obj::Contexts(cx, req) => match key {
                "client" => Value::Obj(Obj::Client(cx, req)),
                "attributes" => Value::Obj(Obj::Map(&cx.attributes)),
                "session" => Value::Obj(Obj::Map(cx.session.data())),
                "principal" => cx.principal.as_ref().map_or(Value::Null, |p| Value::from_json(p.to_json())),
                // Contexts that feature crates add (`contexts.oauth2`, ...).
                other => cx.contexts.get(other).map_or(Value::Null, Value::from_json_ref),
            },
            Obj::Client(cx, req) => client_property(cx, req, key),
            Obj::Map(m) => match key {
                // `contexts.attributes.attributes` is the attributes map itself.
                "attributes" if !m.contains_key("attributes") => Value::Obj(Obj::Map(m)),
                _ => m.get(key).map_or(Value::Null, Value::from_json_ref),
            },
            Obj::Env => std::env::var(key).map_or(Value::Null, |v| Value::Str(Cow::Owned(v))),
            Obj::System => system_property(key).map_or(Value::Null, |v| Value::Str(Cow::Owned(v))),
        }
    }

    /// Whether the object counts as `empty`.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Obj::Headers(h) => h.is_empty(),
            Obj::Map(m) => m.is_empty(),
            Obj::Entity(b) => b.as_bytes().is_none_or(<[u8]>::is_empty),
            _ => false,
        }
    }

    /// The number of entries, for `length()` and `.size()`.
    pub(crate) fn len(&self) -> Option<usize> {
        match self {
            Obj::Headers(h) => Some(h.keys_len()),
            Obj::Map(m) => Some(m.len()),
            _ => None,
        }
    }

    pub(crate) fn write_text(&self, out: &mut String) {
        match self {
            Obj::Uri(u) => out.push_str(&u.to_string()),
            Obj::Status(s) => out.push_str(&s.to_string()),
            Obj::Cookie(_, v) => out.push_str(v),
            Obj::Entity(b) => out.push_str(&String::from_utf8_lossy(b.as_bytes().unwrap_or(&[]))),
            other => out.push_str(&other.to_json().to_string()),
        }
    }

    pub(crate) fn to_json(&self) -> Json {
        match self {
            Obj::Uri(u) => Json::String(u.to_string()),
            Obj::Status(s) => Json::from(s.as_u16()),
            Obj::Cookie(_, v) => Json::String(v.to_string()),
            Obj::Entity(b) => Json::String(String::from_utf8_lossy(b.as_bytes().unwrap_or(&[])).into_owned()),
            Obj::Headers(h) => {
                let mut m = serde_json::Map::new();
                for name in h.keys() {
                    let values = h
                        .get_all(name)
                        .iter()
                        .map(|v| Json::String(String::from_utf8_lossy(v.as_bytes()).into_owned()));
                    m.insert(name.as_str().to_string(), Json::Array(values.collect()));
                }
                Json::Object(m)
            }
            Obj::Map(m) => Json::Object((*m).clone()),
            _ => Json::Null,
        }
    }
}

fn version(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

fn family(s: http::StatusCode) -> &'static str {
    match s.as_u16() / 100 {
        1 => "INFORMATIONAL",
        2 => "SUCCESSFUL",
        3 => "REDIRECTION",
        4 => "CLIENT_ERROR",
        5 => "SERVER_ERROR",
        _ => "UNKNOWN",
    }
}

/// The properties of a URI, resolved from their names once (at parse time when the path is
/// `request.uri.x`, per access otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UriPart {
    Scheme,
    Host,
    Port,
    Path,
    RawPath,
    Query,
    RawQuery,
    Authority,
    PathElements,
    /// Properties a request URI never has here (`fragment`, `userInfo`): null.
    Absent,
}

impl UriPart {
    pub(crate) fn from_name(key: &str) -> Option<Self> {
        Some(match key {
            "scheme" => UriPart::Scheme,
            "host" => UriPart::Host,
            "port" => UriPart::Port,
            "path" => UriPart::Path,
            "rawPath" => UriPart::RawPath,
            "query" => UriPart::Query,
            "rawQuery" => UriPart::RawQuery,
            "authority" | "rawAuthority" => UriPart::Authority,
            "pathElements" => UriPart::PathElements,
            "fragment" | "rawFragment" | "userInfo" | "rawUserInfo" => UriPart::Absent,
            _ => return None,
        })
    }

    /// The property's name (the first of its aliases).
    pub(crate) fn name(self) -> &'static str {
        match self {
            UriPart::Scheme => "scheme",
            UriPart::Host => "host",
            UriPart::Port => "port",
            UriPart::Path => "path",
            UriPart::RawPath => "rawPath",
            UriPart::Query => "query",
            UriPart::RawQuery => "rawQuery",
            UriPart::Authority => "authority",
            UriPart::PathElements => "pathElements",
            UriPart::Absent => "fragment",
        }
    }
}

fn uri_property<'a>(u: &'a http::Uri, key: &str) -> Value<'a> {
    UriPart::from_name(key).map_or(Value::Null, |part| uri_part(u, part))
}

/// One property of `u`.
pub(crate) fn uri_part<'a>(u: &'a http::Uri, part: UriPart) -> Value<'a> {
    let borrowed = |s: Option<&'a str>| s.map_or(Value::Null, |s| Value::Str(Cow::Borrowed(s)));
    match part {
        UriPart::Scheme => borrowed(u.scheme_str()),
        UriPart::Host => borrowed(u.host()),
        UriPart::Port => Value::Int(u.port_u16().map_or(-1, i64::from)),
        UriPart::Path => Value::Str(percent_decode(u.path())),
        UriPart::RawPath => Value::Str(Cow::Borrowed(u.path())),
        UriPart::Query => u.query().map_or(Value::Null, |q| Value::Str(percent_decode(q))),
        UriPart::RawQuery => borrowed(u.query()),
        UriPart::Authority => borrowed(u.authority().map(|a| a.as_str())),
        UriPart::PathElements => {
            Value::List(u.path().split('/').filter(|s| !s.is_empty()).map(|s| Value::Str(percent_decode(s))).collect())
        }
        UriPart::Absent => Value::Null,
    }
}

/// Decodes `%XX` escapes; most paths have none and are borrowed as they are.
pub(crate) fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    percent_encoding::percent_decode_str(s).decode_utf8_lossy()
}

/// The values of header `name` as a list of strings, or null when absent.
pub(crate) fn header_values<'a, K: http::header::AsHeaderName>(h: &'a HeaderMap, name: K) -> Value<'a> {
    let values: Vec<Value<'a>> =
        h.get_all(name).iter().map(|v| Value::Str(String::from_utf8_lossy(v.as_bytes()))).collect();
    if values.is_empty() {
        Value::Null
    } else {
        Value::List(values)
    }
}

pub(crate) use gatehouse_core::credentials::cookies;

/// Records that evaluation needs the body of `r`, when it is still streaming.
fn want_body(r: &Request, body_wanted: Option<&Cell<bool>>) {
    if let Some(flag) = body_wanted {
        if r.body().as_bytes().is_none() {
            flag.set(true);
        }
    }
}

/// Whether the request body is a form (`application/x-www-form-urlencoded`).
fn is_form(r: &Request) -> bool {
    r.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// Query parameters, then (when `with_body` and the body is a buffered form) body parameters.
fn params(r: &Request, with_body: bool) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    let query = form_urlencoded::parse(r.uri().query().unwrap_or("").as_bytes());
    let body: &[u8] = if with_body && is_form(r) { r.body().as_bytes().unwrap_or(&[]) } else { &[] };
    query.chain(form_urlencoded::parse(body))
}

fn entity_property<'a>(b: &'a Body, key: &str) -> Value<'a> {
    let Some(bytes) = b.as_bytes() else {
        return Value::Null;
    };
    match key {
        "string" => Value::Str(String::from_utf8_lossy(bytes)),
        "json" => serde_json::from_slice::<Json>(bytes).map_or(Value::Null, Value::from_json),
        "bytes" => Value::List(bytes.iter().map(|b| Value::Int(i64::from(*b))).collect()),
        _ => Value::Null,
    }
}

fn client_property<'a>(cx: &'a Context, req: Option<&'a Request>, key: &str) -> Value<'a> {
    let c = &cx.client;
    match key {
        // Written once per connection (it is also the `X-Forwarded-For` the proxy adds).
        "remoteAddress" => c.remote_ip.to_str().map_or(Value::Null, |ip| Value::Str(Cow::Borrowed(ip))),
        "remotePort" => Value::Int(i64::from(c.remote_addr.port())),
        "localAddress" => Value::Str(Cow::Owned(c.local_addr.ip().to_string())),
        "localPort" => Value::Int(i64::from(c.local_addr.port())),
        "isSecure" => Value::Bool(c.secure),
        "serverName" => c.server_name.as_deref().map_or(Value::Null, |s| Value::Str(Cow::Borrowed(s))),
        "certificates" => Value::from_json_ref(&c.certificates),
        "userAgent" => req
            .and_then(|r| r.headers().get(http::header::USER_AGENT))
            .map_or(Value::Null, |v| Value::Str(String::from_utf8_lossy(v.as_bytes()))),
        _ => Value::Null,
    }
}

/// The Java system properties that make sense outside a JVM.
fn system_property(key: &str) -> Option<String> {
    let env = |k: &str| std::env::var(k).ok();
    match key {
        "user.home" => env("HOME"),
        "user.name" => env("USER").or_else(|| env("LOGNAME")),
        "user.dir" => std::env::current_dir().ok().map(|p| p.display().to_string()),
        "java.io.tmpdir" => Some(std::env::temp_dir().display().to_string()),
        "os.name" => Some(std::env::consts::OS.to_string()),
        "os.arch" => Some(std::env::consts::ARCH.to_string()),
        "file.separator" => Some(std::path::MAIN_SEPARATOR.to_string()),
        "line.separator" => Some("\n".into()),
        "path.separator" => Some(":".into()),
        _ => None,
    }
}
