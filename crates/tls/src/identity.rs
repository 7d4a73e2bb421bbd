//! A TLS identity (key and certificate chain) from a key manager, reloaded when its store
//! changes: served by connectors (through the SNI resolver) and presented by proxy handlers
//! as their client certificate.

use std::sync::Arc;

use gatehouse_secrets::{Fresh, SecretError};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::SignatureScheme;

use crate::managers::KeyManager;

/// One certificate with its key.
pub(crate) struct Identity {
    manager: KeyManager,
    crypto: Arc<CryptoProvider>,
    key: Fresh<CertifiedKey>,
}

impl Identity {
    /// Loads the identity now; it must be usable.
    pub(crate) fn load(manager: &KeyManager, crypto: &Arc<CryptoProvider>) -> Result<Self, SecretError> {
        let key = Fresh::load(manager.provider.clone(), || certified_key(manager, crypto))?;
        Ok(Identity { manager: manager.clone(), crypto: crypto.clone(), key })
    }

    /// The identity as its store holds it now (the previous one if a reload failed).
    pub(crate) fn current(&self) -> Arc<CertifiedKey> {
        self.key.get(|| certified_key(&self.manager, &self.crypto))
    }
}

/// Builds a signing key and chain from the manager's secret.
fn certified_key(manager: &KeyManager, crypto: &CryptoProvider) -> Result<CertifiedKey, SecretError> {
    let identity = manager.identity()?;
    let key = CertifiedKey::from_der(identity.chain.clone(), identity.key().clone_key(), crypto)
        .map_err(|e| SecretError::new(format!("secret '{}' is not a usable TLS identity: {e}", manager.secret_id)))?;
    if let Some(view) = identity.chain.first().and_then(|leaf| crate::describe::in_use(&manager.secret_id, leaf)) {
        gatehouse_core::certificates::loaded(view);
    }
    Ok(key)
}

impl ResolvesClientCert for Identity {
    fn resolve(&self, _root_hint_subjects: &[&[u8]], _sigschemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("secret_id", &self.manager.secret_id).finish()
    }
}
