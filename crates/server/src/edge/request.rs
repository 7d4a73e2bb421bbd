//! What the edge decides about a request before any route reads it: the absolute URI with
//! its path normalized, the methods and sizes refused, and the headers a client may not set
//! for the gateway (those it names in `Connection`, and forwarding headers).

use std::net::SocketAddr;

use gatehouse_core::ClientInfo;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Method, StatusCode, Version};

use crate::admin_config::Connector;
use crate::normalize::normalize;

/// Why the edge answers instead of a route.
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) reason: String,
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal { status, reason: reason.into() }
}

/// Checks the request line and makes the URI absolute, as IG sees it: scheme from the
/// connection, host and port from `Host` (HTTP/1) or `:authority` (HTTP/2), and the path
/// normalized (see [`crate::normalize`]).
pub(crate) fn target(parts: &http::request::Parts, client: &ClientInfo, connector: &Connector) -> Result<Uri, Refusal> {
    match parts.method {
        Method::CONNECT => return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "CONNECT is not served")),
        Method::TRACE if !connector.allow_trace => {
            return Err(refuse(StatusCode::METHOD_NOT_ALLOWED, "TRACE is not served (allowTrace)"))
        }
        _ => {}
    }
    let raw = parts.uri.path_and_query().map_or("/", PathAndQuery::as_str);
    if raw.len() > connector.max_uri_length {
        return Err(refuse(StatusCode::URI_TOO_LONG, format!("request target of {} bytes", raw.len())));
    }
    let scheme = if client.secure { Scheme::HTTPS } else { Scheme::HTTP };
    let bad = |reason: &str| refuse(StatusCode::BAD_REQUEST, reason);
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    let (host, more) = (hosts.next(), hosts.next().is_some());
    if more {
        return Err(bad("more than one Host header"));
    }
    // Whether the authority is the URI's own (the lean parser's URI carries the Host value's
    // bytes): then a URI with the connection's scheme and a path already normal is the
    // absolute one as it is.
    let (authority, uri_s_own) = match host {
        Some(h) => match parts.uri.authority() {
            Some(a) if a.as_str().as_bytes() == h.as_bytes() => (a.clone(), true),
            _ => (Authority::try_from(h.as_bytes()).map_err(|_| bad("invalid Host header"))?, false),
        },
        None => match parts.uri.authority() {
            Some(a) => (a.clone(), true),
            None if parts.version == Version::HTTP_10 || parts.version == Version::HTTP_09 => {
                (authority_of(client.local_addr).ok_or_else(|| bad("cannot name the local address"))?, false)
            }
            None => return Err(bad("missing Host header")),
        },
    };
    let path = parts.uri.path();
    let path_and_query = match normalize(path, connector.allow_encoded_slash) {
        Err(why) => return Err(bad(&why.to_string())),
        Ok(None) if uri_s_own && parts.uri.scheme() == Some(&scheme) => return Ok(parts.uri.clone()),
        Ok(None) => parts.uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/")),
        Ok(Some(normal)) => {
            let text = match parts.uri.query() {
                Some(q) => format!("{normal}?{q}"),
                None => normal,
            };
            PathAndQuery::try_from(text).map_err(|_| bad("invalid request URI"))?
        }
    };
    Uri::builder()
        .scheme(scheme)
        .authority(authority)
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| bad("invalid request URI"))
}

fn authority_of(addr: SocketAddr) -> Option<Authority> {
    Authority::try_from(addr.to_string().as_str()).ok()
}

/// Whether the request has no Transfer-Encoding, or exactly one `chunked`.
pub(crate) fn plain_chunked(headers: &HeaderMap) -> bool {
    let mut te = headers.get_all(header::TRANSFER_ENCODING).iter();
    match (te.next(), te.next()) {
        (None, _) => true,
        (Some(v), None) => v.as_bytes().trim_ascii().eq_ignore_ascii_case(b"chunked"),
        _ => false,
    }
}

/// `Connection` tokens that name no end-to-end header: they stay in `Connection`.
const CONNECTION_OPTIONS: [&str; 4] = ["close", "keep-alive", "upgrade", "te"];

/// Forwarding headers only the gateway may write (unless the connector trusts a proxy in
/// front of it). A `static`: a `const` array of names is built and dropped wherever used.
static FORWARDING: [HeaderName; 5] = [
    header::FORWARDED,
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-real-ip"),
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Marks an admin request that came with forwarding headers (`Forwarded`, `X-Forwarded-*`,
/// `X-Real-IP`), as [`scrub_headers`] saw them before removing them: a proxy relayed it for
/// someone else, so a loopback peer does not make it local (the console's rule).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Relayed;

/// Removes what a client may not decide for the gateway, before any filter runs:
/// - the headers it names in `Connection` (`Connection: close, Authorization` would make the
///   proxy strip an `Authorization` a filter adds later), leaving only the connection
///   options in `Connection`;
/// - the forwarding headers, which the proxy writes from what the gateway saw.
///
/// Returns whether the request came with forwarding headers (a proxy relayed it).
pub(crate) fn scrub_headers(headers: &mut HeaderMap, connector: &Connector) -> bool {
    // One pass over the names present instead of a hashed lookup for each.
    let (mut connection, mut forwarding, mut xff) = (false, false, false);
    for key in headers.keys() {
        connection |= key == header::CONNECTION;
        forwarding |= FORWARDING.contains(key);
        xff |= key == X_FORWARDED_FOR;
    }
    if connection {
        let tokens: Vec<String> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        let (options, named): (Vec<&String>, Vec<&String>) =
            tokens.iter().partition(|t| CONNECTION_OPTIONS.contains(&t.as_str()));
        for name in named {
            if let Ok(name) = HeaderName::from_bytes(name.as_bytes()) {
                if name != header::HOST {
                    headers.remove(name);
                }
            }
        }
        headers.remove(header::CONNECTION);
        let kept = options.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
        if let Ok(v) = HeaderValue::from_str(&kept) {
            if !kept.is_empty() {
                headers.insert(header::CONNECTION, v);
            }
        }
    }
    let relayed = forwarding || xff;
    if !connector.trust_forwarded_headers && forwarding {
        for name in &FORWARDING {
            headers.remove(name);
        }
    }
    relayed
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn connector() -> Connector {
        crate::admin_config::tests::connector()
    }

    #[test]
    fn headers_named_in_connection_go_before_filters_and_connection_keeps_only_options() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("close, X-Auth-User, Authorization"));
        h.insert("x-auth-user", HeaderValue::from_static("forged"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer forged"));
        h.insert(header::FORWARDED, HeaderValue::from_static("for=1.2.3.4;host=evil"));
        h.insert("x-forwarded-host", HeaderValue::from_static("evil.example"));
        h.insert("x-real-ip", HeaderValue::from_static("1.2.3.4"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        assert!(scrub_headers(&mut h, &connector()), "relayed, by the headers it removed");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "close");
        assert_eq!(h.len(), 2, "{h:?}");
        assert!(h.contains_key("x-kept"));

        let mut trusted = connector();
        trusted.trust_forwarded_headers = true;
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-host", HeaderValue::from_static("lb.example"));
        assert!(scrub_headers(&mut h, &trusted));
        assert_eq!(h.get("x-forwarded-host").unwrap(), "lb.example");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        assert!(scrub_headers(&mut h, &connector()), "X-Forwarded-For is kept, and tells");
        assert!(h.contains_key("x-forwarded-for"));
        assert!(!scrub_headers(&mut HeaderMap::new(), &connector()));
    }
}
