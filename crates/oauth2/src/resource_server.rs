//! `OAuth2ResourceServerFilter` in IG's shape: a request passes with a valid bearer access
//! token that has the required scopes (and, Gatehouse's addition, the required profile and
//! context); its verified claims become the exchange's principal and
//! `${contexts.oauth2.accessToken.info.<claim>}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::counters::LabeledCounter;
use gatehouse_core::credentials::{self, Credentials};
use gatehouse_core::{BoxFuture, Context, Filter, Next, Principal, Request, Response, Result};
use gatehouse_jose::jws;
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::errors::bearer_error;
use crate::resolver::{Keys, Resolver};
use crate::token_service::TokenServiceRef;

/// Token verifications at resource-server filters, by outcome.
pub static VERIFICATIONS: LabeledCounter = LabeledCounter::new(
    "gatehouse_token_verifications_total",
    "Access tokens checked by OAuth2ResourceServerFilter, by outcome.",
    &["outcome"],
);

/// Checks bearer access tokens.
pub struct ResourceServerFilter {
    resolver: Arc<Resolver>,
    scopes: Vec<String>,
    realm: String,
    require_https: bool,
    profiles: Vec<String>,
    context: BTreeMap<String, String>,
    /// `aud` must name one of these, when set.
    audience: Vec<String>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let strings = |n: &Node| -> std::result::Result<Vec<String>, ConfigError> {
        cx.array(n)?.iter().map(|s| cx.string(s)).collect()
    };
    let scopes = config.get("scopes").map(strings).transpose()?.unwrap_or_default();
    let realm = config.get("realm").map(|n| cx.string(n)).transpose()?.unwrap_or_else(|| "OpenIG".to_string());
    let require_https = config.get("requireHttps").map(|n| cx.bool(n)).transpose()?.unwrap_or(true);
    let profiles = config.get("requiredProfiles").map(strings).transpose()?.unwrap_or_default();
    let audience = config
        .get("audience")
        .map(|n| n.one_or_many().iter().map(|s| cx.string(s)).collect::<std::result::Result<Vec<_>, _>>())
        .transpose()?;
    let context = match config.get("requiredContext") {
        Some(n) => cx
            .object(n)?
            .iter()
            .map(|(k, v)| Ok((k.name.clone(), cx.string(v)?)))
            .collect::<std::result::Result<_, ConfigError>>()?,
        None => BTreeMap::new(),
    };
    let mut local_audience = None;
    let resolver = match (config.get("tokenService"), config.get("accessTokenResolver")) {
        (Some(_), Some(n)) => return Err(cx.err(n, "set tokenService or accessTokenResolver, not both")),
        (Some(n), None) => {
            let handler = cx.handler(n)?;
            let service = handler
                .as_any()
                .and_then(|a| a.downcast_ref::<TokenServiceRef>())
                .map(|r| r.0.clone())
                .ok_or_else(|| cx.err(n, "tokenService must name a TokenService"))?;
            if audience.is_none() {
                // The service's own audience, when it has one, is what its tokens must carry.
                local_audience = service.configured_audience().map(<[String]>::to_vec);
            }
            Arc::new(Resolver { keys: Keys::Local(service), issuer: None, skew: std::time::Duration::from_secs(60) })
        }
        (None, Some(n)) => cx.other::<Resolver>(n, "an access token resolver (StatelessAccessTokenResolver)")?,
        (None, None) => {
            return Err(cx.err(node, "OAuth2ResourceServerFilter needs accessTokenResolver or tokenService"))
        }
    };
    config.ignore(&["cache", "executor"]);
    config.finish()?;
    let audience = audience.or(local_audience).unwrap_or_default();
    Ok(Object::Filter(Arc::new(ResourceServerFilter {
        resolver,
        scopes,
        realm,
        require_https,
        profiles,
        context,
        audience,
    })))
}

/// Why a token does not pass.
enum Outcome {
    Missing,
    BadRequest,
    Invalid,
    Forbidden,
}

impl ResourceServerFilter {
    fn refuse(&self, outcome: Outcome) -> Response {
        let (label, status, code) = match outcome {
            Outcome::Missing => ("missing", StatusCode::UNAUTHORIZED, None),
            Outcome::BadRequest => ("invalid_request", StatusCode::UNAUTHORIZED, Some("invalid_request")),
            Outcome::Invalid => ("invalid_token", StatusCode::UNAUTHORIZED, Some("invalid_token")),
            Outcome::Forbidden => ("insufficient_scope", StatusCode::FORBIDDEN, Some("insufficient_scope")),
        };
        VERIFICATIONS.inc(label);
        let scope = (status == StatusCode::FORBIDDEN && !self.scopes.is_empty()).then(|| self.scopes.join(" "));
        bearer_error(status, &self.realm, code, scope.as_deref())
    }

    /// The verified claims of `token`, or why it does not pass.
    async fn check(&self, cx: &Context, token: &str) -> std::result::Result<Map<String, Value>, Outcome> {
        let kid = jws::peek_header(token).and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_string));
        let keys = self.resolver.keys(kid.as_deref()).await;
        let verified = jws::verify(token, keys.iter()).map_err(|_| Outcome::Invalid)?;
        let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&verified.payload) else {
            return Err(Outcome::Invalid);
        };
        let now = cx.clock.unix_secs();
        let skew = self.resolver.skew.as_secs();
        let exp = claims.get("exp").and_then(Value::as_u64).ok_or(Outcome::Invalid)?;
        if exp.saturating_add(skew) <= now {
            return Err(Outcome::Invalid);
        }
        if claims.get("nbf").and_then(Value::as_u64).is_some_and(|nbf| nbf > now.saturating_add(skew)) {
            return Err(Outcome::Invalid);
        }
        if let Some(issuer) = self.resolver.expected_issuer() {
            if claims.get("iss").and_then(Value::as_str).map(|i| i.trim_end_matches('/')) != Some(issuer) {
                return Err(Outcome::Invalid);
            }
        }
        if !self.audience.is_empty() {
            let named = |a: &str| self.audience.iter().any(|x| x == a);
            let ok = match claims.get("aud") {
                Some(Value::String(a)) => named(a),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(named),
                _ => false,
            };
            if !ok {
                return Err(Outcome::Invalid);
            }
        }
        let granted = scopes(&claims);
        if self.scopes.iter().any(|s| !granted.contains(s)) {
            return Err(Outcome::Forbidden);
        }
        if !self.profiles.is_empty() {
            let profile = claims.get("profile").and_then(Value::as_str).unwrap_or("");
            if !self.profiles.iter().any(|p| p == profile) {
                return Err(Outcome::Forbidden);
            }
        }
        if !self.context.is_empty() {
            let context = claims.get("context").and_then(Value::as_object);
            let holds = |k: &String, v: &String| context.and_then(|c| c.get(k)).is_some_and(|c| text(c) == *v);
            if !self.context.iter().all(|(k, v)| holds(k, v)) {
                return Err(Outcome::Forbidden);
            }
        }
        Ok(claims)
    }
}

/// The token's scopes: `scope` (space-separated, RFC 9068) or `scp` (an array).
fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => s.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        (_, Some(Value::Array(a))) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Filter for ResourceServerFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            if self.require_https && !cx.client.secure {
                return Ok(self.refuse(Outcome::BadRequest));
            }
            let token = match credentials::authorization(req.headers()) {
                Some(Credentials::Bearer(token)) => token.to_string(),
                Some(_) => return Ok(self.refuse(Outcome::BadRequest)),
                None if req.headers().contains_key(http::header::AUTHORIZATION) => {
                    return Ok(self.refuse(Outcome::BadRequest))
                }
                None => return Ok(self.refuse(Outcome::Missing)),
            };
            let claims = match self.check(cx, &token).await {
                Ok(claims) => claims,
                Err(outcome) => return Ok(self.refuse(outcome)),
            };
            VERIFICATIONS.inc("valid");
            let name = claims
                .get("sub")
                .or_else(|| claims.get("client_id"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let granted = scopes(&claims);
            let expires = claims.get("exp").and_then(Value::as_u64).map(|e| e * 1000);
            cx.set_context(
                "oauth2",
                json!({ "accessToken": { "token": token, "info": claims, "scopes": granted, "expiresAt": expires } }),
            );
            cx.principal = Some(Principal { name, method: "oauth2", attributes: claims });
            next.handle(cx, req).await
        })
    }
}
