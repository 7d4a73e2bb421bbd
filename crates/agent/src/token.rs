//! Tokens for the agent's calls: `POST {ApplicationUri}/connect/token` as the identity
//! manager's agents send it (`client_id=<name>@<host>`, the clear secret, `scope=usercube_api`),
//! checked against the server's certificate before use, and cached on disk in the agent's
//! temporary folder (mode 0600, and as CMS to the file certificate when `EncryptFile` is true).

use std::path::PathBuf;

use bytes::Bytes;
use gatehouse_jose::{jws, VerificationKey};
use http::Method;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::cms::{self, KeyTransport};
use crate::http_client::{CallError, Http};
use crate::settings::AgentSettings;

/// A verified token.
pub struct Token {
    /// The compact JWS.
    pub access_token: String,
    /// Its verified claims.
    pub claims: Value,
}

/// What tokens are verified with: the server's certificate from the agent's files, or (when
/// `IdentityServer` names none) the JWK set the server publishes, fetched over HTTPS.
pub enum ServerKeys {
    /// `IdentityServer.X509KeyFilePath`.
    Certificates(Vec<CertificateDer<'static>>),
    /// `{ApplicationUri}/.well-known/openid-configuration/jwks`.
    JwkSet(Vec<VerificationKey>),
}

impl ServerKeys {
    fn keys(&self, kid: Option<&str>) -> Vec<VerificationKey> {
        match self {
            ServerKeys::Certificates(certs) => certs
                .iter()
                .filter_map(|c| VerificationKey::from_certificate(c.as_ref()).ok())
                .map(|mut k| {
                    if let Some(kid) = kid {
                        k.kid = kid.to_string(); // the certificate is the trust, whatever the server calls its key
                    }
                    k
                })
                .collect(),
            ServerKeys::JwkSet(keys) => keys.clone(),
        }
    }

    fn source(&self) -> &'static str {
        match self {
            ServerKeys::Certificates(_) => "the server's certificate (IdentityServer.X509KeyFilePath)",
            ServerKeys::JwkSet(_) => "the server's JWK set",
        }
    }
}

/// Checks `token`'s signature against the server's keys and its `exp` against `now`.
pub fn verify(token: &str, server: &ServerKeys, now: u64) -> Result<Value, String> {
    let kid = jws::peek_header(token).and_then(|h| h.get("kid").and_then(Value::as_str).map(str::to_string));
    let keys = server.keys(kid.as_deref());
    if keys.is_empty() {
        return Err(format!("{} holds no RSA, EC P-256 or Ed25519 key", server.source()));
    }
    let verified =
        jws::verify(token, &keys).map_err(|_| format!("the token's signature does not match {}", server.source()))?;
    let claims: Value =
        serde_json::from_slice(&verified.payload).map_err(|_| "the token's claims are not JSON".to_string())?;
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) if exp > now => Ok(claims),
        Some(_) => Err("the token has expired".into()),
        None => Err("the token has no exp claim".into()),
    }
}

fn cache_path(s: &AgentSettings, client: &str) -> PathBuf {
    let dir = s.temp_folder.clone().unwrap_or_else(|| s.dir.join("tmp"));
    let encrypted = s.file_certificate.as_ref().is_some_and(|f| f.encrypt_file);
    dir.join(format!("token-{client}.{}", if encrypted { "jwt.cms" } else { "jwt" }))
}

fn read_cache(s: &AgentSettings, client: &str) -> Option<String> {
    let path = cache_path(s, client);
    let bytes = std::fs::read(&path).ok()?;
    if path.extension().is_some_and(|e| e == "cms") {
        let identity = s.file_identity().ok()?;
        let mut out = Vec::new();
        cms::decrypt(&identity, &bytes[..], &mut out).ok()?;
        return String::from_utf8(out).ok();
    }
    String::from_utf8(bytes).ok()
}

fn write_cache(s: &AgentSettings, client: &str, token: &str) -> Result<(), String> {
    let path = cache_path(s, client);
    let mut content = token.as_bytes().to_vec();
    if path.extension().is_some_and(|e| e == "cms") {
        let identity = s.file_identity()?;
        let cert = identity.chain.first().ok_or("the file certificate is missing")?;
        let mut out = Vec::new();
        cms::encrypt(cert, KeyTransport::Oaep, &mut token.as_bytes(), token.len() as u64, &mut out, false)
            .map_err(|e| e.0)?;
        content = out;
    }
    crate::files::write_private(&path, &content)
}

/// The server's published keys (trusted as far as the HTTPS connection that brought them).
async fn jwk_set(http: &Http, base: &str) -> Result<Vec<VerificationKey>, CallError> {
    let url = format!("{base}/.well-known/openid-configuration/jwks");
    let answer = http.send(Method::GET, &url, &[("accept", "application/json".into())], Bytes::new()).await?;
    if !answer.status.is_success() {
        return Err(CallError::Other(format!("{url} answered {}", answer.status)));
    }
    gatehouse_jose::jwk::JwkSet::parse(&answer.body)
        .map(|set| set.keys)
        .map_err(|_| CallError::Other(format!("{url} is not a JWK set with a usable key")))
}

/// The client's token: the cached one while it verifies and has more than 30 s left, else a
/// new one from the server (verified, then cached).
pub async fn obtain(http: &Http, s: &AgentSettings, client: Option<&str>, now: u64) -> Result<Token, CallError> {
    let (name, secret) = s.client(client).map_err(CallError::Other)?;
    let base = s
        .application_uri
        .as_deref()
        .ok_or_else(|| CallError::Other("appsettings.json has no ApplicationUri (the server)".into()))?
        .trim_end_matches('/');
    let server = if s.has_server_key() {
        ServerKeys::Certificates(s.server_certificates().map_err(CallError::Other)?)
    } else {
        ServerKeys::JwkSet(jwk_set(http, base).await?)
    };
    if let Some(cached) = read_cache(s, &name) {
        if let Ok(claims) = verify(cached.trim(), &server, now + 30) {
            return Ok(Token { access_token: cached.trim().to_string(), claims });
        }
    }
    let host = base.parse::<http::Uri>().ok().and_then(|u| u.host().map(str::to_string)).unwrap_or_default();
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &format!("{name}@{host}"))
        .append_pair("client_secret", &secret)
        .append_pair("scope", "usercube_api")
        .append_pair("grant_type", "client_credentials")
        .finish();
    let url = format!("{base}/connect/token");
    let answer = http
        .send(
            Method::POST,
            &url,
            &[("content-type", "application/x-www-form-urlencoded".into()), ("accept", "application/json".into())],
            Bytes::from(form),
        )
        .await?;
    let token = gatehouse_oauth2::client_credentials::token_answer(&url, answer.status, &answer.body)
        .map_err(|e| CallError::Other(format!("client '{name}': {e}")))?
        .access_token;
    let claims = verify(&token, &server, now).map_err(CallError::Other)?;
    if let Err(e) = write_cache(s, &name, &token) {
        eprintln!("warning: cannot cache the token: {e}");
    }
    Ok(Token { access_token: token, claims })
}
