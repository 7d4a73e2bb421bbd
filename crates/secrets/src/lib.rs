//! Secrets for Gatehouse: typed secrets that never print, providers that ask stores in order,
//! and IG's stores: `SystemAndEnvSecretStore`, `Base64EncodedSecretStore`,
//! `FileSystemSecretStore` (with `PemPropertyFormat`) and `KeyStoreSecretStore` (PKCS#12).
//!
//! Every store is built as a [`SecretsProvider`] of one store, so a `secretsProvider`
//! property can name a store, inline one, or list several.

mod format;
mod fresh;
mod pem;
mod provider;
mod refresh;
mod secret;
pub mod store;

use gatehouse_config::Registry;

pub use format::{Encoding, PropertyFormat};
pub use fresh::Fresh;
pub use pem::{looks_like_pem, parse as parse_pem};
pub use provider::{secret_id, SecretStore, SecretsProvider, DEFAULT_PROVIDER};
pub use secret::{check_secret_id, KeyEncoding, Secret, SecretError, SecretValue, TlsIdentity, Versions};

/// Registers the secret stores and property formats, and the default `SecretsService`.
pub fn register(registry: &mut Registry) {
    gatehouse_core::counters::register(&refresh::REFRESHES);
    registry.register(&["SystemAndEnvSecretStore"], store::env::build);
    registry.register(&["Base64EncodedSecretStore"], store::base64::build);
    registry.register(&["FileSystemSecretStore"], store::filesystem::build);
    registry.register(&["KeyStoreSecretStore"], store::keystore::build);
    registry.register(&["SecretsProvider"], provider::build_provider);
    registry.register(&["PemPropertyFormat"], format::build_pem);
    registry.register(&["SecretKeyPropertyFormat"], format::build_secret_key);
    registry.default_object(DEFAULT_PROVIDER, "SystemAndEnvSecretStore");
}
