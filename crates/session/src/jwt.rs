//! `JwtSession`: the session as JSON claims in an encrypted JWT cookie (JWE `dir`), readable
//! by every gateway that has the key.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::counters::SESSION_COOKIES_REJECTED;
use gatehouse_core::{Clock, Error, Result, Session, SessionManager, SessionManagerRef, SessionState};
use gatehouse_secrets::{secret_id, Fresh, Secret, SecretError, SecretsProvider};
use http::HeaderMap;
use serde_json::{Map, Value};

use crate::cookie::CookieConfig;
use gatehouse_jose::jwe::{self, Enc};

/// The claim that holds the expiry (seconds since the epoch); reserved in the session.
pub const EXPIRY_CLAIM: &str = "exp";
/// Browsers drop a cookie whose name and value exceed this many bytes.
pub const BROWSER_LIMIT: usize = 4096;
/// Above this size a warning says the session is close to the browser limit.
pub const WARN_SIZE: usize = 3072;

/// Encrypted cookie sessions.
pub struct JwtSession {
    enc: Enc,
    keys: Keys,
    cookie: CookieConfig,
    timeout: Duration,
    persistent: bool,
    skew: Duration,
    compress: bool,
    clock: Clock,
}

/// The keys, the active one first: from a secret (re-read when its store changes) or, without
/// one, generated at startup (a provider without stores never changes, so they stay).
struct Keys {
    secret: Option<(SecretsProvider, String)>,
    current: Fresh<Vec<Secret>>,
}

/// The versions of secret `id`; the active one must fit `enc`.
fn load_keys(provider: &SecretsProvider, id: &str, enc: Enc) -> Result<Vec<Secret>, SecretError> {
    let keys = provider.keys(id)?;
    let active = keys.first().map_or(0, Secret::len);
    if active != enc.key_len() {
        return Err(SecretError::new(format!(
            "secret '{id}' is a {active}-byte key; {} needs {} bytes (a keytool HmacSHA512 512-bit key fits A256CBC-HS512)",
            enc.name(),
            enc.key_len()
        )));
    }
    Ok(keys)
}

/// Legacy (IG 5-7) properties that are refused with a pointer to the current ones.
const LEGACY: &[&str] = &["signatureSecretId", "encryptionSecretId", "keystore", "alias", "password", "sharedSecret"];

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    for key in LEGACY {
        if let Some(n) = config.get(key) {
            return Err(cx.err(
                n,
                format!("'{key}' (legacy JwtSession keys) is not supported; use authenticatedEncryptionSecretId with encryptionMethod"),
            ));
        }
    }
    let enc = match config.get("encryptionMethod") {
        Some(n) => {
            let name = cx.string(n)?;
            Enc::from_name(&name).ok_or_else(|| {
                cx.err(n, format!("encryptionMethod must be A256CBC-HS512, A192CBC-HS384, A128CBC-HS256, A256GCM or A128GCM, not '{name}'"))
            })?
        }
        None => Enc::A256Gcm,
    };
    let keys = match config.get("authenticatedEncryptionSecretId") {
        Some(id_node) => {
            let id = secret_id(cx, id_node)?;
            let provider = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
            let current =
                Fresh::load(provider.clone(), || load_keys(&provider, &id, enc)).map_err(|e| cx.err(id_node, e.0))?;
            Keys { current, secret: Some((provider, id)) }
        }
        None => {
            config.get("secretsProvider");
            tracing::warn!(
                "{}:{}: JwtSession has no authenticatedEncryptionSecretId: a random key is used, so sessions end with \
                 this process and are not shared with other gateways",
                cx.file(),
                node.pos
            );
            let mut key = vec![0u8; enc.key_len()];
            aws_lc_rs::rand::fill(&mut key).map_err(|_| cx.err(node, "cannot generate a session key"))?;
            let current = Fresh::load(SecretsProvider::join([]), || Ok::<_, SecretError>(vec![Secret::new(key)]))
                .map_err(|e| cx.err(node, e.0))?;
            Keys { current, secret: None }
        }
    };
    // The cookie goes on to the upstreams by default: gateways that share the key share the
    // session (the guide's load balancer forwards it to two more instances).
    let mut cookie = CookieConfig::from_config(cx, config.get("cookie"), "IG", true)?;
    // OIG's names for the cookie, kept for migrations.
    if let Some(n) = config.get("cookieName") {
        cookie = CookieConfig::from_config(cx, None, &cx.string(n)?, true)?;
    }
    config.ignore(&["cookieDomain"]);
    let timeout = match config.get("sessionTimeout") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(3650 * 86400)),
        None => Duration::from_secs(30 * 60),
    };
    if timeout.is_zero() {
        return Err(cx.err(node, "sessionTimeout must be longer than zero"));
    }
    let persistent = config.get("persistentCookie").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    let skew = match config.get("skewAllowance") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::ZERO),
        None => Duration::ZERO,
    };
    let compress = config.get("useCompression").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    config.finish()?;
    let session = JwtSession { enc, keys, cookie, timeout, persistent, skew, compress, clock: cx.clock().clone() };
    Ok(Object::Other(Arc::new(SessionManagerRef(Arc::new(session)))))
}

impl JwtSession {
    /// The keys, the active one first; re-read when the store changed (autoRefresh). A new
    /// key that does not fit is logged and the old keys stay.
    fn keys(&self) -> Arc<Vec<Secret>> {
        self.keys.current.get(|| match &self.keys.secret {
            Some((provider, id)) => load_keys(provider, id, self.enc),
            None => Err(SecretError::new("JwtSession: generated keys do not change")),
        })
    }

    /// Decodes a cookie value into the session and its expiry; `None` for anything invalid.
    pub fn decode_cookie(&self, value: &str, now: u64) -> Option<(Map<String, Value>, u64)> {
        let keys = self.keys();
        let key_refs: Vec<&[u8]> = keys.iter().map(Secret::expose).collect();
        let plain = jwe::decrypt(value, &key_refs).ok()?;
        let Value::Object(mut claims) = serde_json::from_slice(&plain).ok()? else { return None };
        let exp = claims.remove(EXPIRY_CLAIM)?.as_u64()?;
        if exp.saturating_add(self.skew.as_secs()) < now {
            return None;
        }
        Some((claims, exp))
    }

    /// Encodes `data` with expiry `exp` into a cookie value.
    pub fn encode(&self, data: &Map<String, Value>, exp: u64) -> Result<String> {
        let mut claims = data.clone();
        claims.insert(EXPIRY_CLAIM.to_string(), Value::from(exp));
        let plain = serde_json::to_vec(&claims).map_err(|e| Error::internal(format!("session is not JSON: {e}")))?;
        let keys = self.keys();
        let key = keys.first().ok_or_else(|| Error::internal("JwtSession has no key"))?;
        jwe::encrypt(self.enc, key.expose(), &plain, self.compress)
            .map_err(|_| Error::internal("JwtSession: encryption failed"))
    }

    fn write(&self, data: &Map<String, Value>, headers: &mut HeaderMap, secure_channel: bool) -> Result<()> {
        let exp = self.clock.unix_secs().saturating_add(self.timeout.as_secs());
        let value = self.encode(data, exp)?;
        let size = self.cookie.name.len() + 1 + value.len();
        if size > BROWSER_LIMIT {
            tracing::error!(
                cookie = %self.cookie.name,
                size,
                "JwtSession: the session cookie would be {size} bytes, over the {BROWSER_LIMIT}-byte browser limit; \
                 the session is not saved and the exchange fails with 500. Keep less in the session."
            );
            return Err(Error::internal("the session is too large for its cookie"));
        }
        if size > WARN_SIZE {
            tracing::warn!(cookie = %self.cookie.name, size, "JwtSession: the session cookie is {size} bytes, close to the {BROWSER_LIMIT}-byte browser limit");
        }
        let max_age = self.persistent.then_some(self.timeout.as_secs());
        CookieConfig::append(headers, &self.cookie.set_cookie(&value, max_age, secure_channel));
        Ok(())
    }
}

impl SessionManager for JwtSession {
    fn find<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.cookie.find(headers)
    }

    fn cookie_to_strip(&self) -> Option<&str> {
        self.cookie.to_strip()
    }

    fn decode(&self, encoded: &str) -> (Map<String, Value>, SessionState) {
        match self.decode_cookie(encoded, self.clock.unix_secs()) {
            Some((data, exp)) => (data, SessionState { existed: true, expires_at: Some(exp), id: None }),
            None => {
                SESSION_COOKIES_REJECTED.inc();
                tracing::debug!(cookie = %self.cookie.name, "JwtSession: the session cookie is expired or invalid; starting an empty session");
                // The stale cookie is cleared if this exchange does not write a new one.
                (Map::new(), SessionState { existed: true, expires_at: None, id: None })
            }
        }
    }

    fn save(&self, session: Session, headers: &mut HeaderMap, secure_channel: bool) -> Result<()> {
        let state = session.state().cloned().unwrap_or_default();
        if session.is_dirty() {
            if session.data().is_empty() {
                if state.existed {
                    self.cookie.clear(headers, secure_channel);
                }
                return Ok(());
            }
            return self.write(session.data(), headers, secure_channel);
        }
        if session.state().is_none() {
            // Never read: nothing to refresh or clear, and nothing was decrypted.
            return Ok(());
        }
        match state.expires_at {
            // Keep an active session alive: rewrite once less than half its lifetime is left.
            Some(exp)
                if exp.saturating_sub(self.clock.unix_secs()) < self.timeout.as_secs() / 2
                    && !session.data().is_empty() =>
            {
                self.write(session.data(), headers, secure_channel)
            }
            None if state.existed => {
                self.cookie.clear(headers, secure_channel);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
