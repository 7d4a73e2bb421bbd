//! `TokenService`: an OAuth 2.0 token service for machine clients, mounted by a route. Under
//! the route's path it answers `POST .../connect/token` (client credentials),
//! `GET .../.well-known/openid-configuration` and its `jwks_uri`
//! (`.../.well-known/openid-configuration/jwks`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::{BoxFuture, Context, Handler, Request, Response, Result, Service, Task};
use gatehouse_http::entity::buffer_request;
use gatehouse_secrets::SecretsProvider;
use http::{Method, StatusCode};
use serde_json::json;

use crate::errors::{json, token_error};
use crate::grant::{self, Form, Policy, TOKENS_ISSUED, TOKENS_REFUSED};
use crate::keys::{KeyRing, KeySource};
use crate::registry::{Registry, Sources};

/// The path suffixes the service answers.
const TOKEN: &str = "/connect/token";
const DISCOVERY: &str = "/.well-known/openid-configuration";
const JWKS: &str = "/.well-known/openid-configuration/jwks";

/// The token service.
pub struct TokenService {
    issuer: Option<String>,
    audience: Option<Vec<String>>,
    scopes: Vec<String>,
    domains: Vec<String>,
    lifetime: Duration,
    pub(crate) keys: Arc<KeyRing>,
    registry: Arc<ArcSwap<Registry>>,
}

/// A `TokenService` as a heap object other objects refer to (the resource-server filter's
/// `tokenService`), as well as a handler.
pub struct TokenServiceRef(pub Arc<TokenService>);

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let service = build_service(cx, node)?;
    Ok(Object::Handler(Arc::new(TokenServiceRef(service))))
}

fn paths(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Vec<PathBuf>, ConfigError> {
    let base = cx.heap().loader().instance_dir.clone();
    node.one_or_many().iter().map(|n| Ok(base.join(cx.string(n)?))).collect()
}

fn strings(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Vec<String>, ConfigError> {
    node.one_or_many().iter().map(|n| cx.string(n)).collect()
}

fn build_service(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Arc<TokenService>, ConfigError> {
    let config = cx.config(node)?;
    let issuer = config.get("issuer").map(|n| cx.string(n)).transpose()?.map(|s| s.trim_end_matches('/').to_string());
    let clients_node = config.require("clients")?;
    let appsettings = config.get("appsettings").map(|n| paths(cx, n)).transpose()?.and_then(|p| p.into_iter().next());
    let sources = Sources { paths: paths(cx, clients_node)?, appsettings: appsettings.clone() };
    for path in sources.paths.iter().chain(&sources.appsettings) {
        cx.heap().loader().secret_path(path);
    }
    let (registry, settings) = sources.load().map_err(|e| cx.err(clients_node, e))?;
    let lifetime = match config.get("tokenLifetime") {
        Some(n) => cx
            .duration(n)?
            .filter(|d| !d.is_zero())
            .ok_or_else(|| cx.err(n, "tokenLifetime must be a positive duration"))?,
        None => Duration::from_secs(3600),
    };
    let publish_delay = match config.get("keyPublishDelay") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::ZERO),
        None => Duration::ZERO,
    };
    let source =
        match (config.get("signingSecretId"), settings.signing_key) {
            (Some(id), _) => {
                let provider = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
                KeySource::Secret { provider, id: cx.string(id)? }
            }
            (None, Some((path, password))) => KeySource::Pkcs12 { path, password },
            (None, None) => return Err(cx.err(
                node,
                "TokenService needs signingSecretId, or an appsettings.json whose IdentityServer names X509KeyFilePath",
            )),
        };
    let keys = KeyRing::load(source, cx.clock().clone(), publish_delay, lifetime).map_err(|e| cx.err(node, e))?;
    let audience = config.get("audience").map(|n| strings(cx, n)).transpose()?;
    let scopes = match config.get("scopes") {
        Some(n) => strings(cx, n)?,
        None => vec!["usercube_api".to_string()],
    };
    let domains = config.get("clientIdDomains").map(|n| strings(cx, n)).transpose()?.unwrap_or_default();
    config.finish()?;
    tracing::info!("TokenService {}: {} OpenID clients", cx.name(), registry.len());
    let registry = Arc::new(ArcSwap::from_pointee(registry));
    let service = Arc::new(TokenService {
        issuer,
        audience,
        scopes,
        domains,
        lifetime,
        keys: Arc::new(keys),
        registry: registry.clone(),
    });
    cx.service(Arc::new(Reloader {
        sources,
        registry,
        keys: service.keys.clone(),
        task: Task::default(),
        name: cx.name().to_string(),
    }));
    Ok(service)
}

impl TokenService {
    /// The issuer: configured, else the request's origin and the path the service is
    /// mounted on.
    fn issuer(&self, req: &Request, suffix: &str) -> String {
        if let Some(i) = &self.issuer {
            return i.clone();
        }
        let uri = req.uri();
        let base = uri.path().strip_suffix(suffix).unwrap_or("");
        format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map_or("localhost", |a| a.as_str()),
            base
        )
    }

    /// The configured issuer, if any (verifiers in this process check it when set).
    pub fn configured_issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The configured audience, if any (verifiers in this process check it when set).
    pub fn configured_audience(&self) -> Option<&[String]> {
        self.audience.as_deref()
    }

    /// The keys that verify this service's tokens.
    pub fn verification_keys(&self) -> Arc<Vec<gatehouse_jose::VerificationKey>> {
        self.keys.published()
    }

    async fn token(&self, cx: &mut Context, mut req: Request) -> Result<Response> {
        let issuer = self.issuer(&req, TOKEN);
        if req.method() != Method::POST {
            return Ok(token_error("invalid_request", Some("use POST"), &issuer));
        }
        buffer_request(&mut req).await?;
        let form: Form = form_urlencoded::parse(req.body().as_bytes().unwrap_or_default()).into_owned().collect();
        let registry = self.registry.load();
        let policy = Policy { registry: &registry, domains: &self.domains, scopes: &self.scopes };
        let (client, scopes) = match grant::authorize(&policy, req.headers(), &form, cx.clock.now()) {
            Ok(granted) => granted,
            Err(refusal) => {
                TOKENS_REFUSED.inc(refusal.code);
                tracing::info!(request_id = %cx.request_id, reason = refusal.code, "token refused");
                return Ok(token_error(refusal.code, refusal.description, &issuer));
            }
        };
        let Some(key) = self.keys.signer() else {
            return Err(gatehouse_core::Error::internal("the token service has no signing key"));
        };
        let audience = self.audience.clone().unwrap_or_else(|| scopes.clone());
        let now = cx.clock.unix_secs();
        let claims = grant::claims(&issuer, &audience, &client, &scopes, now, self.lifetime.as_secs())
            .map_err(gatehouse_core::Error::internal)?;
        let token = grant::sign(&key, &claims).map_err(gatehouse_core::Error::internal)?;
        TOKENS_ISSUED.inc();
        cx.principal = Some(gatehouse_core::Principal {
            name: client.id.clone(),
            method: "client_credentials",
            attributes: serde_json::Map::new(),
        });
        let body = json!({
            "access_token": token, "token_type": "Bearer",
            "expires_in": self.lifetime.as_secs(), "scope": scopes.join(" "),
        });
        Ok(json(StatusCode::OK, body.to_string()))
    }

    fn discovery(&self, req: &Request) -> Response {
        let issuer = self.issuer(req, DISCOVERY);
        let algs: Vec<&str> = {
            let mut a: Vec<&str> = self.keys.published().iter().map(|k| k.alg.name()).collect();
            a.dedup();
            a
        };
        let body = json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}{TOKEN}"),
            "jwks_uri": format!("{issuer}{JWKS}"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": self.scopes,
            "response_types_supported": ["token"],
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "id_token_signing_alg_values_supported": algs,
            "claims_supported": ["iss", "sub", "client_id", "aud", "iat", "nbf", "exp", "jti", "scope", "profile", "context"],
        });
        json(StatusCode::OK, body.to_string())
    }

    fn jwks(&self) -> Response {
        json(StatusCode::OK, self.keys.jwks().to_json().to_string())
    }
}

impl Handler for TokenServiceRef {
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }

    fn handle<'a>(&'a self, cx: &'a mut Context, req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let s = &self.0;
            let path = req.uri().path();
            if path.ends_with(TOKEN) {
                s.token(cx, req).await
            } else if path.ends_with(JWKS) {
                Ok(s.jwks())
            } else if path.ends_with(DISCOVERY) {
                Ok(s.discovery(&req))
            } else {
                let mut resp = Response::new(gatehouse_core::Body::empty());
                *resp.status_mut() = StatusCode::NOT_FOUND;
                Ok(resp)
            }
        })
    }
}

/// Reloads the client registry (and a key file) when its files change: a look once a second;
/// a broken file keeps the previous registry and says why.
struct Reloader {
    sources: Sources,
    registry: Arc<ArcSwap<Registry>>,
    keys: Arc<KeyRing>,
    task: Task,
    name: String,
}

impl Service for Reloader {
    fn name(&self) -> String {
        format!("client registry of TokenService '{}'", self.name)
    }

    fn start(&self) -> BoxFuture<'_, std::result::Result<(), String>> {
        let (sources, registry, keys) = (self.sources.clone(), self.registry.clone(), self.keys.clone());
        // Stamped now, before the gateway says it started: a change made after that line is
        // seen even when the task first runs later (the background runtime is one thread).
        let mut seen = sources.stamp();
        self.task.spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            loop {
                ticker.tick().await;
                let (sources, registry, keys, before) = (sources.clone(), registry.clone(), keys.clone(), seen.clone());
                // Reading and parsing files blocks: keep it off the request threads.
                let look = tokio::task::spawn_blocking(move || {
                    let stamp = sources.stamp();
                    if stamp != before {
                        match sources.load() {
                            Ok((new, _)) => {
                                tracing::info!("OpenID client registry reloaded: {} clients", new.len());
                                registry.store(Arc::new(new));
                                keys.refresh();
                            }
                            Err(e) => tracing::error!("{e}; keeping the previous OpenID client registry"),
                        }
                    }
                    stamp
                });
                match look.await {
                    Ok(stamp) => seen = stamp,
                    Err(_) => return,
                }
            }
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        self.task.stop()
    }
}
