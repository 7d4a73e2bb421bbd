//! Secrets providers: one store or a list of stores tried in order, and the purposes a
//! secret is asked for (password, TLS identity, trust anchors, symmetric keys).

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node};
use rustls_pki_types::CertificateDer;

use crate::pem;
use crate::secret::{check_secret_id, Secret, SecretError, SecretValue, TlsIdentity, Versions};

/// A place secrets come from.
pub trait SecretStore: Send + Sync {
    /// The store's heap name and type, for messages (`SecretsPasswords (FileSystemSecretStore)`).
    fn describe(&self) -> &str;

    /// The versions of secret `id`, active first, or `None` when this store does not have it.
    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError>;

    /// A number that changes whenever the store's content may have changed (autoRefresh).
    fn generation(&self) -> u64 {
        0
    }
}

/// One or several stores, asked in order; the first that has a secret answers.
#[derive(Clone)]
pub struct SecretsProvider {
    stores: Vec<Arc<dyn SecretStore>>,
}

/// IG's `SecretsProvider` object: `stores`, a list of secret stores (names or inline), asked in
/// order. IG 7's config.json `secrets.stores` becomes one named `SecretsService`.
pub(crate) fn build_provider(cx: &BuildCtx<'_>, node: &Node) -> Result<gatehouse_config::Object, ConfigError> {
    let config = cx.config(node)?;
    let stores = config.require("stores")?;
    let provider = SecretsProvider::from_config(cx, Some(stores))?;
    config.finish()?;
    Ok(gatehouse_config::Object::Other(Arc::new(provider)))
}

/// The default provider's heap name (a `SystemAndEnvSecretStore`), as in IG.
pub const DEFAULT_PROVIDER: &str = "SecretsService";

impl SecretsProvider {
    /// A provider of one store.
    pub fn single(store: Arc<dyn SecretStore>) -> Self {
        SecretsProvider { stores: vec![store] }
    }

    /// The stores of several providers, in order (for a value built from several secrets).
    pub fn join<'a>(providers: impl IntoIterator<Item = &'a SecretsProvider>) -> Self {
        SecretsProvider { stores: providers.into_iter().flat_map(|p| p.stores.iter().cloned()).collect() }
    }

    /// Reads a `secretsProvider` property: a store name, an inline store, or an array of
    /// either. Absent, it is the heap's `SecretsService`.
    pub fn from_config(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<Self, ConfigError> {
        let Some(node) = node else {
            let default = Node::from_json(&serde_json::Value::String(DEFAULT_PROVIDER.into()));
            return cx.other::<SecretsProvider>(&default, "a secret store").map(|p| (*p).clone());
        };
        let items = node.one_or_many();
        if items.is_empty() {
            return Err(cx.err(node, "secretsProvider must name at least one secret store"));
        }
        let providers = items
            .iter()
            .map(|item| cx.other::<SecretsProvider>(item, "a secret store"))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SecretsProvider::join(providers.iter().map(|p| &**p)))
    }

    /// Changes whenever any of the stores may have changed.
    pub fn generation(&self) -> u64 {
        self.stores.iter().map(|s| s.generation()).fold(0, u64::wrapping_add)
    }

    /// The versions of `id` from the first store that has it.
    pub fn lookup(&self, id: &str) -> Result<Versions, SecretError> {
        check_secret_id(id)?;
        for store in &self.stores {
            if let Some(v) = store.lookup(id)? {
                if !v.is_empty() {
                    return Ok(v);
                }
            }
        }
        let names: Vec<&str> = self.stores.iter().map(|s| s.describe()).collect();
        Err(SecretError::new(format!("secret '{id}' not found in {}", names.join(", "))))
    }

    /// A password or other generic secret (the active version).
    pub fn password(&self, id: &str) -> Result<Secret, SecretError> {
        match self.lookup(id)?.first() {
            Some(SecretValue::Bytes(b)) => Ok(b.clone()),
            Some(other) => Err(SecretError::new(format!("secret '{id}' is {}, not a password", other.kind_name()))),
            None => Err(SecretError::new(format!("secret '{id}' has no value"))),
        }
    }

    /// Symmetric keys, the active one first.
    pub fn keys(&self, id: &str) -> Result<Vec<Secret>, SecretError> {
        self.lookup(id)?
            .iter()
            .map(|v| match v {
                SecretValue::Bytes(b) => Ok(b.clone()),
                other => Err(SecretError::new(format!("secret '{id}' is {}, not a symmetric key", other.kind_name()))),
            })
            .collect()
    }

    /// A private key with its certificate chain (the active version). Generic secrets that
    /// hold PEM text are parsed.
    pub fn identity(&self, id: &str) -> Result<Arc<TlsIdentity>, SecretError> {
        let versions = self.lookup(id)?;
        let what = format!("secret '{id}'");
        match versions.first().map(|v| as_pem(v, &what)).transpose()? {
            Some(SecretValue::Identity(identity)) => {
                if identity.chain.is_empty() {
                    return Err(SecretError::new(format!("{what} has a private key but no certificate")));
                }
                Ok(identity)
            }
            Some(other) => {
                Err(SecretError::new(format!("{what} is {}, not a private key with certificates", other.kind_name())))
            }
            None => Err(SecretError::new(format!("{what} has no value"))),
        }
    }

    /// Every version of `id` that is a private key with certificates, the active one first
    /// (signing keys: the first signs, all are published for verification).
    pub fn identities(&self, id: &str) -> Result<Vec<Arc<TlsIdentity>>, SecretError> {
        let what = format!("secret '{id}'");
        let mut out = Vec::new();
        for version in self.lookup(id)?.iter() {
            match as_pem(version, &what)? {
                SecretValue::Identity(identity) => out.push(identity),
                other => {
                    return Err(SecretError::new(format!(
                        "{what} has a version that is {}, not a private key with certificates",
                        other.kind_name()
                    )))
                }
            }
        }
        if out.is_empty() {
            return Err(SecretError::new(format!("{what} has no value")));
        }
        Ok(out)
    }

    /// Trust anchors: every certificate of every version (an identity contributes its leaf).
    pub fn trust_anchors(&self, id: &str) -> Result<Vec<CertificateDer<'static>>, SecretError> {
        let what = format!("secret '{id}'");
        let mut certs = Vec::new();
        for version in self.lookup(id)?.iter() {
            match as_pem(version, &what)? {
                SecretValue::Certificates(c) => certs.extend(c),
                SecretValue::Identity(i) => certs.extend(i.chain.first().cloned()),
                SecretValue::Bytes(_) => {
                    return Err(SecretError::new(format!("{what} is a generic secret, not certificates")));
                }
            }
        }
        Ok(certs)
    }
}

/// A generic secret holding PEM text becomes what the PEM holds.
fn as_pem(value: &SecretValue, what: &str) -> Result<SecretValue, SecretError> {
    match value {
        SecretValue::Bytes(b) if pem::looks_like_pem(b.expose()) => pem::parse(b.expose(), what),
        other => Ok(other.clone()),
    }
}

/// Reads a required secret id property.
pub fn secret_id(cx: &BuildCtx<'_>, node: &Node) -> Result<String, ConfigError> {
    let id = cx.string(node)?;
    check_secret_id(&id).map_err(|e| cx.err(node, e.0))?;
    Ok(id)
}
