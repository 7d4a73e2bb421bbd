//! Where a resource server finds the keys that verify access tokens:
//! - a `TokenService` in the same process (Gatehouse's `tokenService` shortcut);
//! - IG's `StatelessAccessTokenResolver`: `issuer` and `verificationSecretId` in a
//!   `secretsProvider`, either certificates (a keystore, PEM files) or a
//!   `JwkSetSecretStore` that fetches, caches and refreshes a remote JWK set (`jwkUrl`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{Body, Clock, Context, Handler, Request};
use gatehouse_jose::jwk::JwkSet;
use gatehouse_jose::VerificationKey;
use gatehouse_secrets::{Fresh, SecretsProvider};
use tokio::sync::Mutex;

use crate::token_service::TokenService;

/// The keys and expectations of one resource server.
pub enum Keys {
    /// A token service in this process.
    Local(Arc<TokenService>),
    /// Certificates of a secret, rebuilt when their stores change.
    Certificates(Fresh<Vec<VerificationKey>>, SecretsProvider, String),
    /// A remote JWK set.
    Remote(Arc<JwkSetStore>),
}

/// What a resolver checks besides the signature.
pub struct Resolver {
    /// The keys.
    pub keys: Keys,
    /// `iss` must be this, when set.
    pub issuer: Option<String>,
    /// `exp` and `nbf` are checked with this much leeway.
    pub skew: Duration,
}

impl Resolver {
    /// The keys that may verify a token whose header names `kid`.
    pub async fn keys(&self, kid: Option<&str>) -> Arc<Vec<VerificationKey>> {
        match &self.keys {
            Keys::Local(service) => service.verification_keys(),
            Keys::Certificates(fresh, provider, id) => {
                fresh.get(|| certificate_keys(provider, id).map_err(gatehouse_secrets::SecretError::new))
            }
            Keys::Remote(store) => store.keys(kid).await,
        }
    }

    /// The issuer tokens must name: the resolver's, else a local token service's.
    pub fn expected_issuer(&self) -> Option<&str> {
        match (&self.issuer, &self.keys) {
            (Some(i), _) => Some(i),
            (None, Keys::Local(service)) => service.configured_issuer(),
            _ => None,
        }
    }
}

fn certificate_keys(provider: &SecretsProvider, id: &str) -> Result<Vec<VerificationKey>, String> {
    let certs = provider.trust_anchors(id).map_err(|e| e.to_string())?;
    let keys: Vec<VerificationKey> =
        certs.iter().filter_map(|c| VerificationKey::from_certificate(c.as_ref()).ok()).collect();
    if keys.is_empty() {
        return Err(format!("secret '{id}' holds no RSA, EC P-256 or Ed25519 certificate to verify tokens with"));
    }
    Ok(keys)
}

/// IG's `StatelessAccessTokenResolver`.
pub(crate) fn build_stateless(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let issuer = config.get("issuer").map(|n| cx.string(n)).transpose()?.map(|s| s.trim_end_matches('/').to_string());
    let id_node = config.require("verificationSecretId")?;
    let id = cx.string(id_node)?;
    let skew = match config.get("skewAllowance") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::ZERO),
        None => Duration::from_secs(60),
    };
    let keys = match config.get("secretsProvider") {
        Some(n) if cx.other::<JwkSetStore>(n, "a JwkSetSecretStore").is_ok() => {
            Keys::Remote(cx.other::<JwkSetStore>(n, "a JwkSetSecretStore")?)
        }
        other => {
            let provider = SecretsProvider::from_config(cx, other)?;
            let p = provider.clone();
            let fresh = Fresh::load(provider.clone(), || certificate_keys(&p, &id)).map_err(|e| cx.err(id_node, e))?;
            Keys::Certificates(fresh, provider, id)
        }
    };
    config.finish()?;
    Ok(Object::Other(Arc::new(Resolver { keys, issuer, skew })))
}

/// IG's `JwkSetSecretStore`: the JWK set at `jwkUrl`, fetched through a client handler,
/// cached for `cacheTimeout` and fetched again at once (at most every `cacheMissCacheTime`)
/// when a token names a key it does not hold, so rotated keys are picked up without waiting.
pub struct JwkSetStore {
    url: http::Uri,
    handler: Arc<dyn Handler>,
    timeout: Duration,
    miss_wait: Duration,
    clock: Clock,
    state: Mutex<Cached>,
}

struct Cached {
    keys: Arc<Vec<VerificationKey>>,
    fetched: Option<Instant>,
}

pub(crate) fn build_jwk_store(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let url_node = config.require("jwkUrl")?;
    let url: http::Uri = cx.string(url_node)?.parse().map_err(|_| cx.err(url_node, "jwkUrl is not a URL"))?;
    if url.scheme().is_none() || url.authority().is_none() {
        return Err(cx.err(url_node, "jwkUrl must be an absolute http(s) URL"));
    }
    let default_handler = Node::synthetic(gatehouse_config::Kind::String("ClientHandler".into()));
    let handler = cx.handler(config.get("handler").unwrap_or(&default_handler))?;
    let duration = |key: &str, default: u64| -> Result<Duration, ConfigError> {
        Ok(match config.get(key) {
            Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(default)),
            None => Duration::from_secs(default),
        })
    };
    let timeout = duration("cacheTimeout", 300)?;
    let miss_wait = duration("cacheMissCacheTime", 10)?;
    config.ignore(&["leaseExpiry"]);
    config.finish()?;
    let clock = cx.clock().clone();
    let state = Mutex::new(Cached { keys: Arc::new(Vec::new()), fetched: None });
    Ok(Object::Other(Arc::new(JwkSetStore { url, handler, timeout, miss_wait, clock, state })))
}

impl JwkSetStore {
    /// The cached keys, fetched again when stale or when `kid` is unknown (one fetch at a
    /// time; a failed fetch keeps the cached keys).
    pub async fn keys(&self, kid: Option<&str>) -> Arc<Vec<VerificationKey>> {
        let mut cached = self.state.lock().await;
        let now = self.clock.instant();
        let age = cached.fetched.map(|t| now.saturating_duration_since(t));
        let missing = kid.is_some_and(|kid| !cached.keys.iter().any(|k| k.kid == kid));
        let stale = age.is_none_or(|a| a >= self.timeout) || (missing && age.is_none_or(|a| a >= self.miss_wait));
        if stale {
            match self.fetch().await {
                Ok(set) => cached.keys = Arc::new(set.keys),
                Err(e) => {
                    tracing::warn!(url = %self.url, "cannot fetch the JWK set: {e}; keeping {} cached keys", cached.keys.len())
                }
            }
            cached.fetched = Some(now);
        }
        cached.keys.clone()
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let req: Request = http::Request::builder()
            .method(http::Method::GET)
            .uri(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let mut cx = Context::detached();
        let resp = self.handler.handle(&mut cx, req).await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("the server answered {}", resp.status()));
        }
        let body =
            resp.into_body().collect(1 << 20, gatehouse_core::Side::Upstream).await.map_err(|e| e.to_string())?;
        JwkSet::parse(&body).map_err(|_| "the answer is not a JWK set with a usable key".to_string())
    }
}
