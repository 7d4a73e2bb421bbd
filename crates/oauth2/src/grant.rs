//! The client credentials grant: who the client is (HTTP Basic or the form, never both), is
//! its secret right and is it still valid, which scopes it may have, and the access token.

use std::sync::Arc;

use gatehouse_core::counters::{Counter, LabeledCounter};
use gatehouse_core::credentials::{self, Credentials};
use gatehouse_jose::jws;
use http::HeaderMap;
use serde_json::{json, Map, Value};

use crate::registry::{Client, Registry};
use crate::secret;

/// Access tokens issued.
pub static TOKENS_ISSUED: Counter =
    Counter::new("gatehouse_tokens_issued_total", "Access tokens issued by token services.");
/// Token requests refused, by reason (the OAuth 2.0 error code).
pub static TOKENS_REFUSED: LabeledCounter = LabeledCounter::new(
    "gatehouse_tokens_refused_total",
    "Token requests refused, by OAuth 2.0 error code.",
    &["reason"],
);

/// Why a token request is refused: an RFC 6749 section 5.2 code and a safe description.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// `invalid_client`, `invalid_request`, `invalid_scope`, `unsupported_grant_type`, ...
    pub code: &'static str,
    /// Said to the client; never which of identifier or secret was wrong.
    pub description: Option<&'static str>,
}

fn refuse(code: &'static str, description: &'static str) -> Refusal {
    Refusal { code, description: Some(description) }
}

/// What the token service needs to decide a grant.
pub struct Policy<'a> {
    /// The clients.
    pub registry: &'a Registry,
    /// `clientIdDomains`: accepted `@domain` suffixes; empty means any.
    pub domains: &'a [String],
    /// The scopes a client may ask for; asking for none grants them all.
    pub scopes: &'a [String],
}

/// A request's parameters: the form body, decoded.
pub type Form = Vec<(String, String)>;

fn param<'f>(form: &'f Form, name: &str) -> Result<Option<&'f str>, Refusal> {
    let mut values = form.iter().filter(|(k, _)| k == name);
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(refuse("invalid_request", "a parameter is repeated")),
        (v, _) => Ok(v.map(|(_, v)| v.as_str())),
    }
}

/// The authenticated client and the granted scopes.
pub fn authorize(
    policy: &Policy<'_>,
    headers: &HeaderMap,
    form: &Form,
    now: std::time::SystemTime,
) -> Result<(Arc<Client>, Vec<String>), Refusal> {
    match param(form, "grant_type")? {
        Some("client_credentials") => {}
        Some(_) => return Err(refuse("unsupported_grant_type", "only client_credentials is supported")),
        None => return Err(refuse("invalid_request", "grant_type is missing")),
    }
    let basic = match credentials::authorization(headers) {
        Some(Credentials::Basic { user, password }) => Some((form_decode(&user), form_decode(&password))),
        _ => None,
    };
    let posted = match (param(form, "client_id")?, param(form, "client_secret")?) {
        (Some(id), Some(secret)) => Some((id.to_string(), secret.to_string())),
        _ => None,
    };
    let (id, secret) = match (basic, posted) {
        (Some(_), Some(_)) => return Err(refuse("invalid_request", "use one client authentication method")),
        (Some(pair), None) | (None, Some(pair)) => pair,
        (None, None) => return Err(refuse("invalid_client", "client authentication failed")),
    };
    let client = check_client(policy, &id, &secret, now)?;
    let granted = match param(form, "scope")? {
        None => policy.scopes.to_vec(),
        Some(requested) => {
            let requested: Vec<String> = requested.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect();
            if requested.is_empty() || requested.iter().any(|s| !policy.scopes.contains(s)) {
                return Err(refuse("invalid_scope", "a requested scope is not offered"));
            }
            requested
        }
    };
    Ok((client, granted))
}

/// The client `id` (`Job` or `Job@domain`) if `secret` is its secret and it has not expired.
/// An unknown client costs the same hash as a known one.
fn check_client(
    policy: &Policy<'_>,
    id: &str,
    secret: &str,
    now: std::time::SystemTime,
) -> Result<Arc<Client>, Refusal> {
    let failed = || refuse("invalid_client", "client authentication failed");
    let bare = match id.rsplit_once('@') {
        Some((bare, domain)) => {
            if !policy.domains.is_empty() && !policy.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)) {
                secret::matches(secret, &[0u8; 32]);
                return Err(failed());
            }
            bare
        }
        None => id,
    };
    let client = policy.registry.get(bare);
    let hashed = client.map_or([0u8; 32], |c| c.hashed);
    if !secret::matches(secret, &hashed) {
        return Err(failed());
    }
    let client = client.ok_or_else(failed)?;
    if client.expires.is_some_and(|e| e <= now) {
        return Err(refuse("invalid_client", "the client has expired"));
    }
    Ok(client.clone())
}

/// RFC 6749 section 2.3.1: Basic credentials are form-encoded before base64.
fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The access token's claims (RFC 9068 plus the client's profile and context).
pub fn claims(
    issuer: &str,
    audience: &[String],
    client: &Client,
    scopes: &[String],
    now: u64,
    lifetime: u64,
) -> Result<Value, String> {
    let mut jti = [0u8; 16];
    aws_lc_rs::rand::fill(&mut jti).map_err(|_| "the system random generator failed".to_string())?;
    let jti = gatehouse_core::trace::hex(&jti);
    let aud = match audience {
        [one] => Value::from(one.as_str()),
        many => Value::from(many.to_vec()),
    };
    let mut c = json!({
        "iss": issuer, "sub": client.id, "client_id": client.id, "aud": aud,
        "iat": now, "nbf": now, "exp": now + lifetime, "jti": jti,
        "scope": scopes.join(" "), "profile": client.profile,
    });
    if let Some(ctx) = &client.context {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(ctx.id));
        for (k, v) in &ctx.attributes {
            m.insert(k.clone(), Value::from(v.as_str()));
        }
        c["context"] = Value::Object(m);
    }
    Ok(c)
}

/// Signs `claims` as an `at+jwt`.
pub fn sign(key: &gatehouse_jose::SigningKey, claims: &Value) -> Result<String, String> {
    let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
    jws::sign(key, Some("at+jwt"), &Map::new(), &payload).map_err(|_| "signing failed".to_string())
}
