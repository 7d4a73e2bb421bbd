//! IG's client authentication filters for calls to an authorization server's token endpoint:
//! `ClientSecretBasicAuthenticationFilter` (HTTP Basic, RFC 6749 section 2.3.1: the id and
//! secret form-encoded, then base64) and `ClientSecretPostAuthenticationFilter` (`client_id`
//! and `client_secret` added to the form body). The secret is read from the secrets provider
//! on each call, so a rotated secret is used at once.

use bytes::Bytes;
use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_core::credentials::basic_authorization;
use gatehouse_core::{Body, BoxFuture, Context, Filter, Next, Request, Response, Result, Side};
use gatehouse_secrets::{secret_id, SecretsProvider};
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use std::sync::Arc;

/// Where the credentials go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Method {
    /// `client_secret_basic`.
    Basic,
    /// `client_secret_post`.
    Post,
}

/// A client id and the secret id of its secret.
#[derive(Clone)]
pub struct ClientCredentials {
    pub(crate) client_id: String,
    pub(crate) secret_id: String,
    pub(crate) secrets: SecretsProvider,
    pub(crate) method: Method,
}

/// The filter: adds the credentials to each request.
pub struct ClientSecretFilter(pub(crate) ClientCredentials);

fn form(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl ClientCredentials {
    /// Reads `clientId`, `clientSecretId` and `secretsProvider` from `config`.
    pub(crate) fn from_config(
        cx: &BuildCtx<'_>,
        id: &Node,
        secret: &Node,
        provider: Option<&Node>,
        method: Method,
    ) -> std::result::Result<Self, ConfigError> {
        let client_id = cx.string(id)?;
        let secret_id = secret_id(cx, secret)?;
        let secrets = SecretsProvider::from_config(cx, provider)?;
        Ok(ClientCredentials { client_id, secret_id, secrets, method })
    }

    /// Adds the credentials to a token request (its body is a small form, buffered here).
    pub(crate) async fn apply(&self, req: Request) -> std::result::Result<Request, String> {
        let secret = self.secrets.password(&self.secret_id).map_err(|e| e.0)?;
        let secret = secret.expose_str().ok_or_else(|| format!("secret '{}' is not UTF-8 text", self.secret_id))?;
        let (mut parts, body) = req.into_parts();
        match self.method {
            Method::Basic => {
                let pair = format!("{}:{}", form(&self.client_id), form(secret));
                let value = HeaderValue::from_str(&basic_authorization(&pair))
                    .map_err(|_| "the client credentials do not fit a header".to_string())?;
                parts.headers.insert(AUTHORIZATION, value);
                Ok(Request::from_parts(parts, body))
            }
            Method::Post => {
                let body = body.collect(64 * 1024, Side::Downstream).await.map_err(|e| e.to_string())?;
                let mut text = String::from_utf8_lossy(&body).into_owned();
                if !text.is_empty() {
                    text.push('&');
                }
                text.push_str(&format!("client_id={}&client_secret={}", form(&self.client_id), form(secret)));
                parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
                parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
                Ok(Request::from_parts(parts, Body::full(Bytes::from(text))))
            }
        }
    }
}

pub(crate) fn build_basic(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    build(cx, node, Method::Basic)
}

pub(crate) fn build_post(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    build(cx, node, Method::Post)
}

fn build(cx: &BuildCtx<'_>, node: &Node, method: Method) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let credentials = ClientCredentials::from_config(
        cx,
        config.require("clientId")?,
        config.require("clientSecretId")?,
        config.get("secretsProvider"),
        method,
    )?;
    config.finish()?;
    Ok(Object::Filter(Arc::new(ClientSecretFilter(credentials))))
}

impl Filter for ClientSecretFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            match self.0.apply(req).await {
                Ok(req) => next.handle(cx, req).await,
                Err(e) => {
                    tracing::warn!(client = %self.0.client_id, "cannot add the client credentials: {e}");
                    Ok(crate::client_credentials::failure("cannot authenticate to the authorization server"))
                }
            }
        })
    }
}

/// IG's `HttpBasicAuthenticationClientFilter`: outgoing requests carry
/// `Authorization: Basic` with `username` and the password of `passwordSecretId` (read at each
/// request, so a rotated password is used at once); `urlEncodeCredentials` form-encodes both
/// first (default false, as IG).
pub struct HttpBasicClientFilter {
    username: String,
    password_id: String,
    secrets: SecretsProvider,
    url_encode: bool,
}

pub(crate) fn build_http_basic(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let username = cx.string(config.require("username")?)?;
    let password_id = secret_id(cx, config.require("passwordSecretId")?)?;
    let secrets = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
    let url_encode = config.get("urlEncodeCredentials").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    config.finish()?;
    Ok(Object::Filter(Arc::new(HttpBasicClientFilter { username, password_id, secrets, url_encode })))
}

impl HttpBasicClientFilter {
    fn header(&self) -> std::result::Result<HeaderValue, String> {
        let secret = self.secrets.password(&self.password_id).map_err(|e| e.0)?;
        let password = secret.expose_str().ok_or_else(|| format!("secret '{}' is not UTF-8 text", self.password_id))?;
        let pair = if self.url_encode {
            format!("{}:{}", form(&self.username), form(password))
        } else {
            format!("{}:{password}", self.username)
        };
        HeaderValue::from_str(&basic_authorization(&pair)).map_err(|_| "the credentials do not fit a header".into())
    }
}

impl Filter for HttpBasicClientFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, mut req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            match self.header() {
                Ok(v) => {
                    req.headers_mut().insert(AUTHORIZATION, v);
                    next.handle(cx, req).await
                }
                Err(e) => {
                    tracing::warn!(user = %self.username, "HttpBasicAuthenticationClientFilter: {e}");
                    Ok(crate::client_credentials::failure("cannot authenticate to the upstream service"))
                }
            }
        })
    }
}
