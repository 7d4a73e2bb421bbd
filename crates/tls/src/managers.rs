//! `SecretsKeyManager` (a TLS identity by secret id) and `SecretsTrustManager` (trust
//! anchors by secret id), shared by server and client TLS options.

use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_secrets::{secret_id, SecretError, SecretsProvider, TlsIdentity};
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

/// Where a TLS identity comes from.
#[derive(Clone)]
pub struct KeyManager {
    /// The stores.
    pub provider: SecretsProvider,
    /// The identity's secret id.
    pub secret_id: String,
}

/// Where trust anchors come from.
#[derive(Clone)]
pub struct TrustManager {
    provider: SecretsProvider,
    secret_id: String,
}

pub(crate) fn build_key_manager(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let id_node = config.require("signingSecretId")?;
    let secret_id = secret_id(cx, id_node)?;
    let provider = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
    config.finish()?;
    // Keys must be there at startup: fail the load, naming the store and the id.
    provider.identity(&secret_id).map_err(|e| cx.err(id_node, e.0))?;
    Ok(Object::Other(Arc::new(KeyManager { provider, secret_id })))
}

pub(crate) fn build_trust_manager(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    // IG 2023.11 renamed it `certificateVerificationSecretId`.
    let id_node = match (config.get("verificationSecretId"), config.get("certificateVerificationSecretId")) {
        (Some(n), None) | (None, Some(n)) => n,
        (Some(_), Some(n)) => {
            return Err(cx.err(n, "set verificationSecretId or certificateVerificationSecretId, not both"))
        }
        (None, None) => return Err(cx.err(node, "SecretsTrustManager needs 'certificateVerificationSecretId'")),
    };
    let secret_id = secret_id(cx, id_node)?;
    let provider = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
    config.refuse("checkRevocation", "revoked certificates would be trusted; set it to false to accept that")?;
    config.finish()?;
    let manager = TrustManager { provider, secret_id };
    manager.anchors().map_err(|e| cx.err(id_node, e.0))?;
    Ok(Object::Other(Arc::new(manager)))
}

impl KeyManager {
    /// The identity as the stores hold it now.
    pub fn identity(&self) -> Result<Arc<TlsIdentity>, SecretError> {
        self.provider.identity(&self.secret_id)
    }
}

impl TrustManager {
    /// The certificates this manager trusts.
    pub fn anchors(&self) -> Result<Vec<CertificateDer<'static>>, SecretError> {
        let certs = self.provider.trust_anchors(&self.secret_id)?;
        if certs.is_empty() {
            return Err(SecretError::new(format!("secret '{}' holds no certificate", self.secret_id)));
        }
        Ok(certs)
    }
}

/// Reads a `keyManager` property: one reference, or an array whose first element is used.
pub(crate) fn key_manager(cx: &BuildCtx<'_>, node: &Node) -> Result<Arc<KeyManager>, ConfigError> {
    let items = node.one_or_many();
    if items.len() > 1 {
        tracing::warn!("{}:{}: only the first keyManager is used", cx.file(), node.pos);
    }
    let first = items.first().ok_or_else(|| cx.err(node, "keyManager is an empty array"))?;
    cx.other::<KeyManager>(first, "a key manager (SecretsKeyManager)")
}

/// Trust material: webpki roots, and the same certificates for pinning (see `verify`).
pub(crate) struct Trust {
    pub(crate) roots: Arc<RootCertStore>,
    pub(crate) pinned: Arc<[CertificateDer<'static>]>,
}

/// The trust managers of one `trustManager` property, reloaded when their stores change.
#[derive(Clone)]
pub(crate) struct TrustSource {
    managers: Vec<Arc<TrustManager>>,
    /// All the managers' stores, for change detection.
    provider: SecretsProvider,
}

impl TrustSource {
    /// Reads every manager's certificates into a root store.
    pub(crate) fn load(&self) -> Result<Trust, SecretError> {
        let mut roots = RootCertStore::empty();
        let mut pinned = Vec::new();
        for manager in &self.managers {
            for cert in manager.anchors()? {
                roots.add(cert.clone()).map_err(|e| {
                    SecretError::new(format!("cannot trust a certificate of secret '{}': {e}", manager.secret_id))
                })?;
                pinned.push(cert);
            }
        }
        if roots.is_empty() {
            return Err(SecretError::new("the trust managers hold no certificate"));
        }
        Ok(Trust { roots: Arc::new(roots), pinned: Arc::from(pinned) })
    }
}

/// Where a verifier's trust comes from.
#[derive(Clone)]
pub(crate) enum Anchors {
    /// Trust managers over secret stores, reloaded when the stores change.
    Stores(TrustSource),
    /// The operating system's roots, read once.
    System(Arc<RootCertStore>),
}

impl Anchors {
    /// The trust material as it is now.
    pub(crate) fn load(&self) -> Result<Trust, SecretError> {
        match self {
            Anchors::Stores(source) => source.load(),
            Anchors::System(roots) => Ok(Trust { roots: roots.clone(), pinned: Arc::from(Vec::new()) }),
        }
    }

    /// The stores to watch for changes (none for the system roots).
    pub(crate) fn provider(&self) -> SecretsProvider {
        match self {
            Anchors::Stores(source) => source.provider.clone(),
            Anchors::System(_) => SecretsProvider::join([]),
        }
    }
}

/// Reads a `trustManager` property (one reference or several), loading it once so that
/// errors point at the property.
pub(crate) fn trust_source(cx: &BuildCtx<'_>, node: &Node) -> Result<TrustSource, ConfigError> {
    let managers = node
        .one_or_many()
        .iter()
        .map(|item| cx.other::<TrustManager>(item, "a trust manager (SecretsTrustManager)"))
        .collect::<Result<Vec<_>, _>>()?;
    let provider = SecretsProvider::join(managers.iter().map(|m| &m.provider));
    let source = TrustSource { managers, provider };
    source.load().map_err(|e| cx.err(node, e.0))?;
    Ok(source)
}
