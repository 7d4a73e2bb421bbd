//! OAuth 2.0 error responses (RFC 6749 section 5.2, RFC 6750 section 3): protocol errors are
//! responses, never gateway errors, and they never say which check failed beyond the code.

use gatehouse_core::{Body, Response};
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use http::{HeaderValue, StatusCode};

/// A token endpoint error: `{"error": code}`; 401 with `WWW-Authenticate: Basic` for
/// `invalid_client`, else 400.
pub fn token_error(code: &'static str, description: Option<&str>, realm: &str) -> Response {
    let status = if code == "invalid_client" { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let mut body = serde_json::json!({ "error": code });
    if let Some(d) = description {
        body["error_description"] = d.into();
    }
    let mut resp = json(status, body.to_string());
    if status == StatusCode::UNAUTHORIZED {
        if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{}\"", quoted(realm))) {
            resp.headers_mut().insert(WWW_AUTHENTICATE, v);
        }
    }
    resp
}

/// A JSON response that no cache keeps (tokens and token errors).
pub fn json(status: StatusCode, body: String) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

/// A resource-server refusal: 401 (`invalid_token`, `invalid_request`, or no error code when
/// the request had no token) or 403 (`insufficient_scope`), with `WWW-Authenticate: Bearer`.
pub fn bearer_error(status: StatusCode, realm: &str, code: Option<&str>, scope: Option<&str>) -> Response {
    let mut challenge = format!("Bearer realm=\"{}\"", quoted(realm));
    if let Some(code) = code {
        challenge.push_str(&format!(", error=\"{code}\""));
    }
    if let Some(scope) = scope {
        challenge.push_str(&format!(", scope=\"{}\"", quoted(scope)));
    }
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp
}

/// A value safe inside a quoted-string.
fn quoted(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).map(|c| if c == '"' || c == '\\' { '\'' } else { c }).collect()
}
