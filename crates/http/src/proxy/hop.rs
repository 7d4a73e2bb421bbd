//! Hop-by-hop headers (RFC 9110 section 7.6.1) and the `X-Forwarded-*` headers.

use gatehouse_core::Context;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection and never cross a proxy.
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
];

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// Adds `X-Forwarded-For` (appended), `X-Forwarded-Proto` and `X-Forwarded-Host`.
pub(crate) fn forwarded(cx: &Context, headers: &mut HeaderMap, original_host: Option<HeaderValue>) {
    let ip = cx.client.remote_addr.ip().to_string();
    let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert("x-forwarded-for", v);
    }
    let proto = if cx.client.secure { "https" } else { "http" };
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    if let Some(host) = original_host {
        headers.insert("x-forwarded-host", host);
    }
}
