//! The session cookie: reading it from `Cookie` headers and writing `Set-Cookie`.

use gatehouse_config::{BuildCtx, ConfigError, Node};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};

/// A cookie's name and attributes (`cookie` in the session's config).
#[derive(Debug, Clone)]
pub(crate) struct CookieConfig {
    pub(crate) name: String,
    domain: Option<String>,
    path: String,
    /// `Some(true)`/`Some(false)` as configured; `None`: Secure on HTTPS exchanges.
    secure: Option<bool>,
    http_only: bool,
    same_site: Option<&'static str>,
    /// Whether the cookie is passed on to the routes' upstreams (it is not, by default: the
    /// session is the gateway's).
    forward: bool,
}

impl CookieConfig {
    /// Reads `cookie: { name, domain, path, secure, httpOnly, sameSite, forward }`;
    /// `forward` defaults to `default_forward`.
    pub(crate) fn from_config(
        cx: &BuildCtx<'_>,
        node: Option<&Node>,
        default_name: &str,
        default_forward: bool,
    ) -> Result<Self, ConfigError> {
        let mut cookie = CookieConfig::from_config_default(default_name);
        cookie.forward = default_forward;
        let Some(node) = node else { return Ok(cookie) };
        let c = cx.config(node)?;
        if let Some(n) = c.get("name") {
            cookie.name = cx.string(n)?;
            if cookie.name.is_empty() || !cookie.name.bytes().all(is_token_char) {
                return Err(cx.err(n, format!("'{}' is not a valid cookie name", cookie.name)));
            }
        }
        if let Some(n) = c.get("domain") {
            let d = cx.string(n)?;
            if d.bytes().any(|b| b <= b' ' || b == b';' || b == b',' || b >= 0x7f) {
                return Err(cx.err(n, format!("'{d}' is not a valid cookie domain")));
            }
            cookie.domain = Some(d).filter(|d| !d.is_empty());
        }
        if let Some(n) = c.get("path") {
            cookie.path = cx.string(n)?;
            if !cookie.path.starts_with('/') || cookie.path.bytes().any(|b| b < b' ' || b == b';' || b >= 0x7f) {
                return Err(cx.err(n, format!("'{}' is not a valid cookie path", cookie.path)));
            }
        }
        if let Some(n) = c.get("secure") {
            cookie.secure = Some(cx.bool(n)?);
        }
        if let Some(n) = c.get("forward") {
            cookie.forward = cx.bool(n)?;
        }
        if let Some(n) = c.get("httpOnly") {
            cookie.http_only = cx.bool(n)?;
        }
        if let Some(n) = c.get("sameSite") {
            let s = cx.string(n)?;
            cookie.same_site = Some(match s.to_ascii_uppercase().as_str() {
                "STRICT" => "Strict",
                "LAX" => "Lax",
                "NONE" => {
                    if cookie.secure == Some(false) {
                        tracing::warn!(
                            "{}:{}: browsers refuse SameSite=None cookies that are not secure",
                            cx.file(),
                            n.pos
                        );
                    }
                    "None"
                }
                _ => return Err(cx.err(n, format!("sameSite must be STRICT, LAX or NONE, not '{s}'"))),
            });
        }
        c.finish()?;
        Ok(cookie)
    }

    /// A cookie with the defaults and `name`.
    pub(crate) fn from_config_default(name: &str) -> Self {
        CookieConfig {
            name: name.to_string(),
            domain: None,
            path: "/".to_string(),
            secure: None,
            http_only: true,
            same_site: Some("Lax"),
            forward: false,
        }
    }

    /// The value of this cookie in the request's `Cookie` headers (the first one).
    pub(crate) fn find<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        gatehouse_core::credentials::cookie(headers, &self.name)
    }

    /// The cookie's name when it must be removed from requests before they reach the routes.
    pub(crate) fn to_strip(&self) -> Option<&str> {
        (!self.forward).then_some(self.name.as_str())
    }

    /// `name=value; Path=/; Domain=...; Max-Age=...; Secure; HttpOnly; SameSite=...`;
    /// `secure_channel` says whether the exchange is HTTPS (then `Secure` unless configured
    /// off).
    pub(crate) fn set_cookie(&self, value: &str, max_age: Option<u64>, secure_channel: bool) -> String {
        let mut out = format!("{}={value}; Path={}", self.name, self.path);
        if let Some(d) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(d);
        }
        if let Some(age) = max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure.unwrap_or(secure_channel) {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if let Some(s) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(s);
        }
        out
    }

    /// Appends `Set-Cookie` to `headers`.
    pub(crate) fn append(headers: &mut HeaderMap, cookie: &str) {
        if let Ok(v) = HeaderValue::from_str(cookie) {
            headers.append(SET_COOKIE, v);
        }
    }

    /// Appends a `Set-Cookie` that removes the cookie.
    pub(crate) fn clear(&self, headers: &mut HeaderMap, secure_channel: bool) {
        Self::append(headers, &self.set_cookie("", Some(0), secure_channel));
    }
}

/// RFC 6265 cookie-name (an RFC 7230 token).
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use http::header::COOKIE;

    use super::*;

    fn cookie(domain: Option<&str>) -> CookieConfig {
        CookieConfig {
            name: "IG".into(),
            domain: domain.map(str::to_string),
            path: "/".into(),
            secure: None,
            http_only: true,
            same_site: Some("Lax"),
            forward: false,
        }
    }

    #[test]
    fn finds_the_cookie_among_others_and_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; IGX=2"));
        h.append(COOKIE, HeaderValue::from_static("b=3;IG=abc.def; c=4"));
        assert_eq!(cookie(None).find(&h), Some("abc.def"));
        assert_eq!(cookie(None).find(&HeaderMap::new()), None);
    }

    #[test]
    fn writes_the_attributes_in_the_guides_order() {
        assert_eq!(
            cookie(Some(".example.com")).set_cookie("v", None, false),
            "IG=v; Path=/; Domain=.example.com; HttpOnly; SameSite=Lax"
        );
        let mut c = cookie(None);
        c.same_site = Some("Strict");
        assert_eq!(c.set_cookie("", Some(0), false), "IG=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
    }

    #[test]
    fn cookies_are_secure_on_https_unless_configured_otherwise() {
        let mut c = cookie(None);
        assert_eq!(c.set_cookie("v", None, true), "IG=v; Path=/; Secure; HttpOnly; SameSite=Lax");
        c.secure = Some(false);
        assert_eq!(c.set_cookie("v", None, true), "IG=v; Path=/; HttpOnly; SameSite=Lax");
        c.secure = Some(true);
        assert_eq!(c.set_cookie("v", None, false), "IG=v; Path=/; Secure; HttpOnly; SameSite=Lax");
        assert_eq!(cookie(None).to_strip(), Some("IG"));
        c.forward = true;
        assert_eq!(c.to_strip(), None);
    }
}
