//! Agent/server protection, the server side: machine clients declared as `<OpenIdClient>`
//! in the identity manager's XML (with hashed secrets, a profile and a profile context) get
//! access tokens from a `TokenService` by the client credentials grant, and an
//! `OAuth2ResourceServerFilter` protects routes with those tokens.
//!
//! | type | kind |
//! |---|---|
//! | `TokenService` | handler: `connect/token`, discovery, JWK set |
//! | `OAuth2ResourceServerFilter` | filter |
//! | `StatelessAccessTokenResolver`, `JwkSetSecretStore` | what the filter verifies with |

mod appsettings;
mod date;
mod errors;
pub mod grant;
mod keys;
pub mod registry;
mod resolver;
mod resource_server;
pub mod secret;
mod token_service;
mod xml;

use gatehouse_config::Registry;

pub use token_service::TokenService;

/// Registers the types of this crate and its metrics.
pub fn register(registry: &mut Registry) {
    registry.register(&["TokenService"], token_service::build);
    registry.register(&["OAuth2ResourceServerFilter"], resource_server::build);
    registry.register(&["StatelessAccessTokenResolver"], resolver::build_stateless);
    registry.register(&["JwkSetSecretStore"], resolver::build_jwk_store);
    gatehouse_core::counters::register(&grant::TOKENS_ISSUED);
    gatehouse_core::counters::register(&grant::TOKENS_REFUSED);
    gatehouse_core::counters::register(&resource_server::VERIFICATIONS);
}
