//! IG's `ClientCredentialsOAuth2ClientFilter`: gets an access token from `tokenEndpoint` with
//! the client credentials grant (the client authenticated by the `endpointHandler`, usually a
//! `Chain` with a `ClientSecretBasicAuthenticationFilter`), caches it until shortly before it
//! expires, and sends requests on with `Authorization: Bearer`. However many requests wait for
//! a token, one request goes to the token endpoint; a 401 from the server refreshes the token
//! once and replays the request when its body could be kept.
//!
//! With this filter in front of a `ReverseProxyHandler`, a Gatehouse instance is an agent:
//! local jobs call it without credentials and it calls the server with a valid token.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Kind, Node, Object};
use gatehouse_core::counters::LabeledCounter;
use gatehouse_core::{Body, BoxFuture, Clock, Context, Filter, Handler, Next, Request, Response, Result, Side};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use http::StatusCode;
use serde_json::Value;

use crate::client_auth::{ClientCredentials, Method};

/// Token requests made by `ClientCredentialsOAuth2ClientFilter`s, by outcome.
pub static TOKEN_REQUESTS: LabeledCounter = LabeledCounter::new(
    "gatehouse_client_token_requests_total",
    "Token requests sent by ClientCredentialsOAuth2ClientFilter, by outcome (obtained, failed).",
    &["outcome"],
);

/// Bodies up to this size are kept so that the request can be replayed after a 401.
const REPLAYABLE: usize = 1 << 20;

/// A token and when to stop using it.
pub(crate) struct Cached {
    pub(crate) value: HeaderValue,
    refresh_at: Option<Instant>,
}

/// The filter.
pub struct ClientCredentialsFilter {
    endpoint: http::Uri,
    scopes: Vec<String>,
    handler: Arc<dyn Handler>,
    /// IG's deprecated `clientId` / `clientSecretId` on the filter itself (HTTP Basic).
    credentials: Option<ClientCredentials>,
    clock: Clock,
    current: Mutex<Option<Arc<Cached>>>,
    /// Held while one request fetches a token; the others wait on it, then use its token.
    fetching: tokio::sync::Mutex<()>,
    /// The number of fetches that ended, and why the last one failed (if it did).
    last_failure: Mutex<(u64, Option<String>)>,
}

/// A plain 500 with a message that names no secret: the request cannot go on without a token.
pub(crate) fn failure(msg: &str) -> Response {
    let mut resp = Response::new(Body::from(format!("{msg}\n")));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let endpoint_node = config.require("tokenEndpoint")?;
    let endpoint: http::Uri =
        cx.string(endpoint_node)?.parse().map_err(|_| cx.err(endpoint_node, "tokenEndpoint is not a URL"))?;
    if endpoint.scheme().is_none() || endpoint.authority().is_none() {
        return Err(cx.err(endpoint_node, "tokenEndpoint must be an absolute http(s) URL"));
    }
    let scopes = match config.get("scopes") {
        Some(n) => cx.array(n)?.iter().map(|s| cx.string(s)).collect::<std::result::Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let default = Node::synthetic(Kind::String("ForgeRockClientHandler".into()));
    let handler = match (config.get("endpointHandler"), config.get("handler")) {
        (Some(_), Some(n)) => return Err(cx.err(n, "set endpointHandler, or the deprecated handler, not both")),
        (Some(n), None) | (None, Some(n)) => cx.handler(n)?,
        (None, None) => cx.handler(&default)?,
    };
    let credentials = match (config.get("clientId"), config.get("clientSecretId")) {
        (Some(id), Some(secret)) => {
            Some(ClientCredentials::from_config(cx, id, secret, config.get("secretsProvider"), Method::Basic)?)
        }
        (None, None) => {
            // Required by IG; the endpoint handler's authentication filter uses its own.
            config.get("secretsProvider");
            None
        }
        (Some(n), None) => return Err(cx.err(n, "clientId needs clientSecretId (or use endpointHandler)")),
        (None, Some(n)) => return Err(cx.err(n, "clientSecretId needs clientId (or use endpointHandler)")),
    };
    config.finish()?;
    Ok(Object::Filter(Arc::new(ClientCredentialsFilter {
        endpoint,
        scopes,
        handler,
        credentials,
        clock: cx.clock().clone(),
        current: Mutex::new(None),
        fetching: tokio::sync::Mutex::new(()),
        last_failure: Mutex::new((0, None)),
    })))
}

impl ClientCredentialsFilter {
    /// The cached token unless it is due for refresh or is `stale` (the one a 401 refused).
    fn usable(&self, stale: Option<&Arc<Cached>>) -> Option<Arc<Cached>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()?;
        if stale.is_some_and(|s| Arc::ptr_eq(s, &current)) {
            return None;
        }
        match current.refresh_at {
            Some(at) if at <= self.clock.instant() => None,
            _ => Some(current),
        }
    }

    /// A usable token: the cached one, or one fetched by this call or the call it waited for.
    pub(crate) async fn token(&self, stale: Option<&Arc<Cached>>) -> std::result::Result<Arc<Cached>, String> {
        if let Some(t) = self.usable(stale) {
            return Ok(t);
        }
        let seen = self.last_failure.lock().unwrap_or_else(PoisonError::into_inner).0;
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(t) = self.usable(stale) {
            return Ok(t);
        }
        // A fetch that failed while this call waited answers it too: a down server gets one
        // request per wave of callers, not one per caller.
        if let (ended, Some(why)) = &*self.last_failure.lock().unwrap_or_else(PoisonError::into_inner) {
            if *ended != seen {
                return Err(why.clone());
            }
        }
        let result = self.fetch().await;
        let mut last = self.last_failure.lock().unwrap_or_else(PoisonError::into_inner);
        last.0 += 1;
        last.1 = result.as_ref().err().cloned();
        drop(last);
        match result {
            Ok(t) => {
                TOKEN_REQUESTS.inc_labels(&["obtained"]);
                let t = Arc::new(t);
                *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(t.clone());
                Ok(t)
            }
            Err(e) => {
                TOKEN_REQUESTS.inc_labels(&["failed"]);
                Err(e)
            }
        }
    }

    async fn fetch(&self) -> std::result::Result<Cached, String> {
        let form = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "client_credentials");
            if !self.scopes.is_empty() {
                form.append_pair("scope", &self.scopes.join(" "));
            }
            form.finish()
        };
        let req = http::Request::builder()
            .method(http::Method::POST)
            .uri(self.endpoint.clone())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .header(CONTENT_LENGTH, form.len())
            .body(Body::full(Bytes::from(form)))
            .map_err(|e| e.to_string())?;
        let req = match &self.credentials {
            Some(c) => c.apply(req).await?,
            None => req,
        };
        let asked = self.clock.instant();
        let mut cx = Context::detached();
        let resp = self.handler.handle(&mut cx, req).await.map_err(|e| format!("{}: {e}", self.endpoint))?;
        let status = resp.status();
        let body = resp.into_body().collect(64 * 1024, Side::Upstream).await.map_err(|e| e.to_string())?;
        let answer = token_answer(&self.endpoint.to_string(), status, &body)?;
        let value = HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
            .map_err(|_| format!("{} answered an access token that cannot be a header", self.endpoint))?;
        // Refreshed shortly before it expires: 30 s early, or half the lifetime when shorter.
        let refresh_at = answer.expires_in.map(|secs| {
            let life = Duration::from_secs(secs);
            asked + life.saturating_sub(Duration::from_secs(30).min(life / 2))
        });
        Ok(Cached { value, refresh_at })
    }
}

/// What a token endpoint answered (RFC 6749 section 5.1).
pub struct TokenAnswer {
    /// The access token.
    pub access_token: String,
    /// Its lifetime in seconds, when the server said.
    pub expires_in: Option<u64>,
}

/// Reads a token endpoint's answer; an error (section 5.2) or an answer without a token is a
/// message naming `endpoint` and the OAuth 2.0 error code, never a secret.
pub fn token_answer(endpoint: &str, status: StatusCode, body: &[u8]) -> std::result::Result<TokenAnswer, String> {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if !status.is_success() {
        let error = json.get("error").and_then(Value::as_str).unwrap_or("no OAuth 2.0 error");
        return Err(format!("{endpoint} answered {status} ({error})"));
    }
    let access_token = json
        .get("access_token")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{endpoint} answered without an access_token"))?
        .to_string();
    Ok(TokenAnswer { access_token, expires_in: json.get("expires_in").and_then(Value::as_u64) })
}

/// A copy of a request whose body is kept in memory.
fn replay(parts: &http::request::Parts, body: &Bytes) -> Request {
    let mut req = Request::new(Body::full(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    req
}

impl Filter for ClientCredentialsFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let token = match self.token(None).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("ClientCredentialsOAuth2ClientFilter: cannot obtain an access token: {e}");
                    return Ok(failure("cannot obtain an access token"));
                }
            };
            // Small bodies are kept so that a 401 can be answered by a replay.
            let known =
                req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
            let keep = req.body().as_bytes().is_some() || known.is_some_and(|n| n <= REPLAYABLE);
            if !keep {
                let mut req = req;
                req.headers_mut().insert(AUTHORIZATION, token.value.clone());
                return next.handle(cx, req).await;
            }
            let (mut parts, body) = req.into_parts();
            let body = body.collect(REPLAYABLE, Side::Downstream).await?;
            parts.headers.insert(AUTHORIZATION, token.value.clone());
            let resp = next.handle(cx, replay(&parts, &body)).await?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let fresh = match self.token(Some(&token)).await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("ClientCredentialsOAuth2ClientFilter: the server refused the token and a new one cannot be obtained: {e}");
                    return Ok(resp);
                }
            };
            parts.headers.insert(AUTHORIZATION, fresh.value.clone());
            next.handle(cx, replay(&parts, &body)).await
        })
    }
}
