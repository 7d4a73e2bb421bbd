//! IG's `JwtBuilderFilter`: builds a JWT from `template` (claims whose values are
//! expressions, evaluated per request) and signs it with the key of `signature.secretId`
//! (`algorithm`: RS256 by default, PS256, ES256, EdDSA); the token is
//! `${contexts.jwtBuilder.value}` for the filters and handlers that follow (typically a
//! HeaderFilter that sends it upstream). Without `signature` the JWT is unsigned
//! (`"alg": "none"`), as IG makes it. Encryption is refused: use a signed JWT over TLS.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Kind, Node, Object};
use gatehouse_core::{BoxFuture, Context, Filter, Next, Request, Response, Result};
use gatehouse_expr::{Expression, Scope};
use gatehouse_jose::jws::{self, Alg};
use gatehouse_jose::SigningKey;
use gatehouse_secrets::{secret_id, Fresh, SecretError, SecretsProvider};
use serde_json::{Map, Value};

/// A claim's value: a constant, an expression, or a structure of them.
enum Template {
    Constant(Value),
    Expr(Expression),
    Object(Vec<(String, Template)>),
    Array(Vec<Template>),
}

impl Template {
    fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Template, ConfigError> {
        Ok(match &node.kind {
            Kind::String(s) if s.contains("${") || s.contains("#{") => Template::Expr(cx.expr(node)?),
            Kind::Object(entries) => Template::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.name.clone(), Template::build(cx, v)?)))
                    .collect::<std::result::Result<_, ConfigError>>()?,
            ),
            Kind::Array(items) => {
                Template::Array(items.iter().map(|v| Template::build(cx, v)).collect::<std::result::Result<_, _>>()?)
            }
            _ => Template::Constant(node.to_json()),
        })
    }

    fn eval(&self, scope: &Scope<'_>) -> Value {
        match self {
            Template::Constant(v) => v.clone(),
            Template::Expr(e) => e.eval(scope).to_json(),
            Template::Object(entries) => Value::Object(
                entries.iter().map(|(k, t)| (k.clone(), t.eval(scope))).filter(|(_, v)| !v.is_null()).collect(),
            ),
            Template::Array(items) => Value::Array(items.iter().map(|t| t.eval(scope)).collect()),
        }
    }
}

struct Signer {
    provider: SecretsProvider,
    id: String,
    alg: Alg,
    key: Fresh<SigningKey>,
}

fn signing_key(provider: &SecretsProvider, id: &str, alg: Alg) -> std::result::Result<SigningKey, SecretError> {
    let identity = provider.identity(id)?;
    let chain = identity.chain.iter().map(|c| c.to_vec()).collect();
    SigningKey::from_der(identity.key().secret_der(), chain)
        .and_then(|k| k.with_alg(alg))
        .map_err(|_| SecretError::new(format!("secret '{id}' is not a key that signs with {}", alg.name())))
}

/// The filter.
pub struct JwtBuilderFilter {
    template: Template,
    signer: Option<Signer>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let template = Template::build(cx, config.require("template")?)?;
    let provider = config.get("secretsProvider");
    config.refuse("encryption", "encrypted JWTs are not supported; send a signed JWT over TLS")?;
    let signer = match config.get("signature") {
        None => None,
        Some(sig) => {
            let s = cx.config(sig)?;
            let id_node = s.require("secretId")?;
            let id = secret_id(cx, id_node)?;
            let alg = match s.get("algorithm") {
                Some(a) => {
                    let name = cx.string(a)?;
                    Alg::from_name(&name).ok_or_else(|| {
                        cx.err(a, format!("algorithm must be RS256, PS256, ES256 or EdDSA, not '{name}'"))
                    })?
                }
                None => Alg::RS256,
            };
            s.refuse("encryption", "encrypted JWTs are not supported; send a signed JWT over TLS")?;
            s.finish()?;
            let provider = SecretsProvider::from_config(cx, provider)?;
            let p = provider.clone();
            let key = Fresh::load(provider.clone(), || signing_key(&p, &id, alg)).map_err(|e| cx.err(id_node, e.0))?;
            Some(Signer { provider, id, alg, key })
        }
    };
    config.finish()?;
    Ok(Object::Filter(Arc::new(JwtBuilderFilter { template, signer })))
}

impl JwtBuilderFilter {
    fn token(&self, claims: &Value) -> std::result::Result<String, String> {
        let payload = serde_json::to_vec(claims).map_err(|e| e.to_string())?;
        match &self.signer {
            Some(s) => {
                let key = s.key.get(|| signing_key(&s.provider, &s.id, s.alg));
                jws::sign(&key, Some("JWT"), &Map::new(), &payload).map_err(|_| "cannot sign the JWT".to_string())
            }
            None => {
                use base64::engine::general_purpose::URL_SAFE_NO_PAD;
                use base64::Engine as _;
                Ok(format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
                    URL_SAFE_NO_PAD.encode(payload)
                ))
            }
        }
    }
}

impl Filter for JwtBuilderFilter {
    fn filter<'a>(&'a self, cx: &'a mut Context, req: Request, next: Next<'a>) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            let claims = self.template.eval(&Scope::request(cx, &req));
            match self.token(&claims) {
                Ok(token) => {
                    let mut context = Map::new();
                    context.insert("value".into(), Value::String(token));
                    context.insert("claims".into(), claims);
                    cx.contexts.insert("jwtBuilder".into(), Value::Object(context));
                }
                Err(e) => tracing::warn!("JwtBuilderFilter: {e}"),
            }
            next.handle(cx, req).await
        })
    }
}
