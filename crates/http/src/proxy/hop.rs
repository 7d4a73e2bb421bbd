//! Hop-by-hop headers (RFC 9110 section 7.6.1) and the `X-Forwarded-*` headers.
//!
//! `Trailer` is not hop-by-hop in RFC 9110 (it was in RFC 2616): it declares the trailer
//! fields that follow the body, and hyper sends only declared trailers, so it is kept.

use gatehouse_core::Context;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

// Names are constants: a `&str` name is parsed and hashed anew on every call.
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");

/// Headers that describe one connection and never cross a proxy. A `static`: a `const`
/// array of names is built and dropped anew wherever it is used.
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
];

/// Whether a name `len` bytes long can be one of [`HOP_BY_HOP`] (most names cannot, and a
/// length is cheaper to compare than a name; a test holds this to the list).
fn may_be_hop_by_hop(len: usize) -> bool {
    matches!(len, 2 | 7 | 10 | 16..=19)
}

/// Whether `name` (as it came, in any case) is one of [`HOP_BY_HOP`] (a test holds the two
/// to the same names): by its length first, then at most two comparisons.
pub(crate) fn is_hop_by_hop(name: &[u8]) -> bool {
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        2 => is(b"te"),
        7 => is(b"upgrade"),
        10 => is(b"connection") || is(b"keep-alive"),
        16 => is(b"proxy-connection"),
        17 => is(b"transfer-encoding"),
        18 => is(b"proxy-authenticate"),
        19 => is(b"proxy-authorization"),
        _ => false,
    }
}

/// What of the hop-by-hop headers a request carries that the proxy passes on.
pub(crate) struct Carried {
    /// The client accepts trailers (`TE: trailers`), which the upstream needs to know.
    trailers: bool,
    /// The `Upgrade` value of a WebSocket upgrade being passed through.
    upgrade: Option<HeaderValue>,
}

/// The protocol a message upgrades to (`Connection: upgrade` + `Upgrade: x`), lower case.
pub(crate) fn upgrade_protocol(headers: &HeaderMap) -> Option<String> {
    if !has_token(headers, &header::CONNECTION, "upgrade") {
        return None;
    }
    let value = headers.get(header::UPGRADE)?.to_str().ok()?;
    // `websocket/13` and `WebSocket` are the same protocol.
    Some(value.split([',', '/']).next()?.trim().to_ascii_lowercase())
}

/// The comma-separated tokens of every `name` header, trimmed.
fn tokens<'h>(headers: &'h HeaderMap, name: &HeaderName) -> impl Iterator<Item = &'h str> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim)
}

/// Whether a `name` header lists `token`, case-insensitively.
fn has_token(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    tokens(headers, name).any(|t| t.eq_ignore_ascii_case(token))
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip(headers: &mut HeaderMap) {
    // `keep-alive` and `close` name no header but `Keep-Alive`, removed below: the common
    // `Connection` values cost no allocation.
    let names_others = tokens(headers, &header::CONNECTION)
        .any(|t| !t.is_empty() && !t.eq_ignore_ascii_case("keep-alive") && !t.eq_ignore_ascii_case("close"));
    if names_others {
        let named: Vec<HeaderName> =
            tokens(headers, &header::CONNECTION).filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok()).collect();
        for name in &named {
            headers.remove(name);
        }
    }
    // Most messages carry one of them at most (an answer's `Connection: keep-alive`): one
    // pass over the few headers present finds which, and only those are removed (a hashed
    // removal costs more than the pass).
    let mut present = [false; 8];
    for key in headers.keys() {
        if may_be_hop_by_hop(key.as_str().len()) {
            if let Some(i) = HOP_BY_HOP.iter().position(|h| h == key) {
                present[i] = true;
            }
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

/// Strips a request's hop-by-hop headers and `Expect` (the gateway answers the expectation
/// itself), remembering what must be passed on.
pub(crate) fn strip_request(headers: &mut HeaderMap, upgrade: bool) -> Carried {
    // Most requests carry none of them: one pass over the few fields present says so, and
    // then no name is looked up (hashed) at all.
    let any =
        headers.keys().any(|k| (may_be_hop_by_hop(k.as_str().len()) && HOP_BY_HOP.contains(k)) || *k == header::EXPECT);
    if !any {
        return Carried { trailers: false, upgrade: None };
    }
    let trailers = has_token(headers, &header::TE, "trailers");
    let upgrade = if upgrade { headers.get(header::UPGRADE).cloned() } else { None };
    strip(headers);
    headers.remove(header::EXPECT);
    Carried { trailers, upgrade }
}

/// Puts back what [`strip_request`] kept.
pub(crate) fn restore(headers: &mut HeaderMap, carried: Carried) {
    if carried.trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let Some(up) = carried.upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, up);
    }
}

/// This process's `Via` pseudonym (`gatehouse-<random>`): proxied requests carry it, and the
/// edge refuses a request that carries it already (508), so a route that proxies to the
/// gateway itself costs one hop instead of every connection slot.
fn via_token() -> &'static str {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN.get_or_init(|| {
        // Not a secret, only unique per process: std's hasher keys are random per process.
        use std::hash::{BuildHasher, Hasher};
        let random = std::collections::hash_map::RandomState::new().build_hasher().finish();
        format!("gatehouse-{:012x}", random & 0xffff_ffff_ffff)
    })
}

/// Whether a request's `Via` names this gateway.
pub fn came_through_this_gateway(headers: &HeaderMap) -> bool {
    tokens(headers, &header::VIA).any(|hop| hop.split_whitespace().nth(1) == Some(via_token()))
}

/// This gateway's `Via` entry (RFC 9110 section 7.6.3), which every proxied request gets
/// appended. Built once: a clone of a shared value costs no allocation per request.
pub(crate) fn via_value() -> Option<&'static HeaderValue> {
    static HOP: std::sync::OnceLock<Option<HeaderValue>> = std::sync::OnceLock::new();
    HOP.get_or_init(|| HeaderValue::from_str(&format!("1.1 {}", via_token())).ok()).as_ref()
}

/// Appends this gateway to the request's `Via`.
pub(crate) fn via(headers: &mut HeaderMap) {
    if let Some(v) = via_value() {
        headers.append(header::VIA, v.clone());
    }
}

/// `X-Forwarded-For` (the client's address appended), `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `X-Forwarded-Port`, from what the gateway served (the request URI
/// before any `baseURI`), never from what the client wrote: they replace any the request has.
pub(crate) struct Forwarded {
    list: Option<HeaderValue>,
    proto: HeaderValue,
    host: Option<HeaderValue>,
    port: HeaderValue,
}

impl Forwarded {
    /// The values for a request with `headers`, whose `Host` is `original_host`.
    pub(crate) fn new(cx: &Context, headers: &HeaderMap, original_host: Option<&HeaderValue>) -> Self {
        // The connection's address text, shared (no allocation), unless a proxy before us
        // wrote its own list: then one allocation, handed to the header without a copy.
        let list = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) => {
                let ip = cx.client.remote_ip.as_bytes();
                let mut list = Vec::with_capacity(prev.len() + 2 + ip.len());
                list.extend_from_slice(prev.as_bytes());
                list.extend_from_slice(b", ");
                list.extend_from_slice(ip);
                HeaderValue::from_maybe_shared(bytes::Bytes::from(list)).ok()
            }
            None => Some(cx.client.remote_ip.clone()),
        };
        let proto = HeaderValue::from_static(if cx.client.secure { "https" } else { "http" });
        let served = cx.original_uri.as_ref().and_then(|u| u.authority());
        // The client's `Host` is usually the served authority as it is: shared, not copied.
        let host = served.and_then(|a| match original_host {
            Some(h) if h.as_bytes() == a.as_str().as_bytes() => Some(h.clone()),
            _ => HeaderValue::from_str(a.as_str()).ok(),
        });
        let port = served.and_then(|a| port_of(a.as_str())).unwrap_or(if cx.client.secure { 443 } else { 80 });
        let port = match port {
            // The usual ports, and the port the connection came to, cost no allocation.
            80 => HeaderValue::from_static("80"),
            443 => HeaderValue::from_static("443"),
            port if port == cx.client.local_addr.port() => cx.client.local_port.clone(),
            port => HeaderValue::from(port),
        };
        Forwarded { list, proto, host, port }
    }

    /// Puts them in `headers`, in place of any the request had.
    pub(crate) fn insert_into(self, headers: &mut HeaderMap) {
        if let Some(v) = self.list {
            headers.insert(X_FORWARDED_FOR, v);
        }
        headers.insert(X_FORWARDED_PROTO, self.proto);
        match self.host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host),
            None => headers.remove(X_FORWARDED_HOST),
        };
        headers.insert(X_FORWARDED_PORT, self.port);
    }

    /// Them as fields, for a head whose request fields named as they are
    /// ([`Forwarded::replaces`]) were left out.
    pub(crate) fn fields(&self) -> impl Iterator<Item = (HeaderName, &HeaderValue)> {
        [
            (X_FORWARDED_FOR, self.list.as_ref()),
            (X_FORWARDED_PROTO, Some(&self.proto)),
            (X_FORWARDED_HOST, self.host.as_ref()),
            (X_FORWARDED_PORT, Some(&self.port)),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
    }

    /// Whether a request field named `name` gives way to these.
    pub(crate) fn replaces(name: &HeaderName) -> bool {
        let name = name.as_str();
        // Most names are not 15 to 17 bytes long, and a length is cheaper to compare.
        (15..=17).contains(&name.len())
            && [&X_FORWARDED_FOR, &X_FORWARDED_PROTO, &X_FORWARDED_HOST, &X_FORWARDED_PORT]
                .iter()
                .any(|n| n.as_str() == name)
    }
}

/// The port an authority names (`host:port`, `[v6]:port`), if any: what `Authority::port_u16`
/// gives, found with a byte search from the end (http's own searches char by char: about 300
/// instructions a request in the profile, where this is about 100).
fn port_of(authority: &str) -> Option<u16> {
    let (_, port) = authority.rsplit_once(':')?;
    if port.contains(']') {
        return None;
    }
    port.parse().ok()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn every_hop_by_hop_name_passes_the_length_filter() {
        for name in &HOP_BY_HOP {
            assert!(may_be_hop_by_hop(name.as_str().len()), "{name}");
        }
    }

    #[test]
    fn hop_by_hop_names_are_found_in_any_case() {
        for name in &HOP_BY_HOP {
            assert!(is_hop_by_hop(name.as_str().as_bytes()), "{name}");
            assert!(is_hop_by_hop(name.as_str().to_ascii_uppercase().as_bytes()), "{name}");
        }
        for name in ["Connection", "TE", "transfer-encoding", "Keep-Alive", "PROXY-CONNECTION", "Upgrade"] {
            assert!(is_hop_by_hop(name.as_bytes()), "{name}");
        }
        for name in ["Content-Length", "Trailer", "X-Connection", "Date", "T"] {
            assert!(!is_hop_by_hop(name.as_bytes()), "{name}");
        }
    }

    /// An exchange's context on a plain connection from and to `addr` (a test's).
    pub(crate) fn context_on(addr: std::net::SocketAddr) -> Context {
        use gatehouse_core::{ClientInfo, Clock, RequestId};
        let client = ClientInfo {
            remote_addr: addr,
            remote_ip: ClientInfo::ip_value(addr),
            local_addr: addr,
            local_port: HeaderValue::from(addr.port()),
            secure: false,
            server_name: None,
            certificates: serde_json::Value::Null,
        };
        Context::new(RequestId::new(0, 1), std::sync::Arc::new(client), Clock::system())
    }

    #[test]
    fn forwarded_port_is_the_served_port_shared_when_it_is_the_connection_s() {
        let mut cx = context_on(std::net::SocketAddr::from(([127, 0, 0, 1], 8443)));
        for (served, port) in [("h:8443", "8443"), ("h:9000", "9000"), ("h", "80")] {
            cx.original_uri = Some(format!("http://{served}/").parse().unwrap());
            let mut h = HeaderMap::new();
            Forwarded::new(&cx, &h, None).insert_into(&mut h);
            assert_eq!(h[X_FORWARDED_PORT], port, "{served}");
            assert_eq!(h[X_FORWARDED_HOST], served);
        }
    }

    #[test]
    fn connection_named_headers_and_hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, X-Private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers, deflate"));
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        let carried = strip_request(&mut h, false);
        restore(&mut h, carried);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(h.get(header::TE).unwrap(), "trailers");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn a_request_without_hop_by_hop_fields_is_left_as_it_is() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("x"));
        h.insert(header::USER_AGENT, HeaderValue::from_static("curl"));
        h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        let carried = strip_request(&mut h, false);
        assert!(!carried.trailers && carried.upgrade.is_none());
        assert_eq!(h.len(), 3);
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
        strip_request(&mut h, false);
        assert_eq!(h.len(), 3, "Expect goes");
    }

    #[test]
    fn upgrades_keep_their_upgrade_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(upgrade_protocol(&h).as_deref(), Some("websocket"));
        let carried = strip_request(&mut h, true);
        restore(&mut h, carried);
        assert_eq!(h.get(header::UPGRADE).unwrap(), "websocket");
        assert_eq!(h.get(header::CONNECTION).unwrap(), "upgrade");
    }
}
