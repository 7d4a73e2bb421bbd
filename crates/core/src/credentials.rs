//! Reading what a client sends about itself: `Cookie` pairs and `Authorization` credentials.
//! One parser each, shared by sessions, expressions and authentication filters, and fuzzed.
//! And checking a secret against its kept hash (OpenID clients' `HashedSecret`, the relay's
//! keys, the console's password): SHA-256, compared in constant time.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use http::header::{AUTHORIZATION, COOKIE};
use http::HeaderMap;

/// The `name=value` pairs of every `Cookie` header, in order. Names and values are trimmed;
/// a value in double quotes loses them. Pairs without `=` and headers that are not visible
/// ASCII are skipped.
pub fn cookies(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).filter_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        let value = value.trim();
        let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
        Some((name.trim(), value))
    })
}

/// The value of the first cookie named `name`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    cookies(headers).find(|(n, _)| *n == name).map(|(_, v)| v)
}

/// Removes every cookie named `name` from the `Cookie` headers, keeping the others (a header
/// left empty goes).
pub fn remove_cookie(headers: &mut HeaderMap, name: &str) {
    if cookie(headers, name).is_none() {
        return;
    }
    let kept: Vec<String> = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .filter(|pair| pair.split_once('=').is_none_or(|(n, _)| n.trim() != name))
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|v| !v.is_empty())
        .collect();
    headers.remove(COOKIE);
    for v in kept {
        if let Ok(v) = http::HeaderValue::from_str(&v) {
            headers.append(COOKIE, v);
        }
    }
}

/// What an `Authorization` header carries.
#[derive(PartialEq, Eq)]
pub enum Credentials<'h> {
    /// `Basic base64(user:password)` (RFC 7617); the password may contain `:`.
    Basic {
        /// The user (for OAuth2 clients, the form-encoded client id).
        user: String,
        /// The password (for OAuth2 clients, the form-encoded secret).
        password: String,
    },
    /// `Bearer <token68>` (RFC 6750).
    Bearer(&'h str),
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        match self {
            Credentials::Basic { user, .. } => f.debug_struct("Basic").field("user", user).finish_non_exhaustive(),
            Credentials::Bearer(_) => f.write_str("Bearer(..)"),
        }
    }
}

/// The credentials of the request's `Authorization` header: `None` when there is none, it
/// is repeated, its scheme is neither Basic nor Bearer (case-insensitive), or its value is
/// malformed (bad base64, not UTF-8, no `:`, a token with characters outside token68).
pub fn authorization(headers: &HeaderMap) -> Option<Credentials<'_>> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return None };
    parse_authorization(value.to_str().ok()?)
}

/// Parses one `Authorization` value (see [`authorization`]).
pub fn parse_authorization(value: &str) -> Option<Credentials<'_>> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    let rest = rest.trim_start();
    if scheme.eq_ignore_ascii_case("basic") {
        let (user, password) = basic_pair(rest)?;
        Some(Credentials::Basic { user, password })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        is_token68(rest).then_some(Credentials::Bearer(rest))
    } else {
        None
    }
}

/// An `Authorization` value for HTTP Basic: `Basic ` and the base64 of `user:password`
/// (the pair as the caller built it, form-encoded or not).
pub fn basic_authorization(user_colon_password: &str) -> String {
    format!("Basic {}", STANDARD.encode(user_colon_password))
}

/// The `user:password` pair of a Basic credential's base64 text (also the relay's
/// `X-Api-Key`, which carries the same value); the password may contain `:`.
pub fn basic_pair(encoded: &str) -> Option<(String, String)> {
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// SHA-256 of `bytes`: how secrets, keys and passwords are kept (their base64 in files).
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// The 32 bytes of a kept hash written as base64, padded or not; `None` when it is not one.
pub fn parse_hashed(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = STANDARD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text.trim_end_matches('='))).ok()?;
    bytes.try_into().ok()
}

/// Whether `secret` hashes to `hashed`, compared in constant time.
pub fn hash_matches(secret: &[u8], hashed: &[u8; 32]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(&sha256(secret), hashed).is_ok()
}

/// RFC 7235 token68: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_token68(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_pairs_across_headers() {
        let h = headers(&[(&COOKIE, "IG=abc; theme=\"dark\";flag"), (&COOKIE, " b = 2 ;x=\"unterminated")]);
        let all: Vec<_> = cookies(&h).collect();
        assert_eq!(all, [("IG", "abc"), ("theme", "dark"), ("b", "2"), ("x", "\"unterminated")]);
        assert_eq!(cookie(&h, "b"), Some("2"));
        assert_eq!(cookie(&h, "flag"), None);
    }

    #[test]
    fn a_cookie_is_removed_and_the_others_kept() {
        let mut h = headers(&[(&COOKIE, "IG=secret; theme=dark"), (&COOKIE, "IG=again"), (&COOKIE, "b=2")]);
        remove_cookie(&mut h, "IG");
        let left: Vec<_> = h.get_all(COOKIE).iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(left, ["theme=dark", "b=2"]);
        remove_cookie(&mut h, "absent");
        assert_eq!(h.get_all(COOKIE).iter().count(), 2);
    }

    #[test]
    fn authorization_reads_basic_and_bearer_and_refuses_the_rest() {
        let basic = parse_authorization;
        assert_eq!(
            basic("Basic Sm9iOnNlY3JldA=="),
            Some(Credentials::Basic { user: "Job".into(), password: "secret".into() })
        );
        assert_eq!(
            basic("basic Sm9iOnM6ZTpj"),
            Some(Credentials::Basic { user: "Job".into(), password: "s:e:c".into() })
        );
        assert_eq!(basic("Bearer abc.def-_~+/=="), Some(Credentials::Bearer("abc.def-_~+/==")));
        for bad in
            ["Basic", "Basic !!!", "Basic Sm9i", "Bearer ", "Bearer a b", "Bearer a,b", "Digest x", "", "Bearer ==="]
        {
            assert_eq!(basic(bad), None, "{bad}");
        }
        let twice = headers(&[(&AUTHORIZATION, "Bearer a"), (&AUTHORIZATION, "Bearer b")]);
        assert_eq!(authorization(&twice), None);
        assert_eq!(format!("{:?}", basic("Basic Sm9iOnNlY3JldA==").unwrap()), "Basic { user: \"Job\", .. }");
        assert_eq!(format!("{:?}", basic("Bearer secret-token").unwrap()), "Bearer(..)");
    }
}
