//! TLS for Gatehouse on rustls with the aws-lc-rs provider (the one crypto provider of the
//! whole binary): `ServerTlsOptions` for connectors (SNI, mutual TLS, live certificate
//! reload), `ClientTlsOptions` for proxy handlers, and the `SecretsKeyManager` and
//! `SecretsTrustManager` that take their material from secret stores.

mod client;
mod describe;
mod identity;
mod managers;
mod names;
mod server;
mod trust_all;
mod verify;

use gatehouse_config::Registry;

pub use client::{ClientTls, HostnameVerifier};
pub use describe::describe_certificates;
pub use managers::{KeyManager, TrustManager};
pub use server::ServerTls;

/// Registers the TLS types.
pub fn register(registry: &mut Registry) {
    registry.register(&["ServerTlsOptions"], server::build);
    registry.register(&["ClientTlsOptions"], client::build);
    registry.register(&["SecretsKeyManager"], managers::build_key_manager);
    registry.register(&["SecretsTrustManager"], managers::build_trust_manager);
    registry.register(&["TrustAllManager"], trust_all::build);
}
