//! Agent/server protection, the server side (and the agent's outgoing calls): machine clients declared as `<OpenIdClient>`
//! in the identity manager's XML (with hashed secrets, a profile and a profile context) get
//! access tokens from a `TokenService` by the client credentials grant, and an
//! `OAuth2ResourceServerFilter` protects routes with those tokens.
//!
//! | type | kind |
//! |---|---|
//! | `TokenService` | handler: `connect/token`, discovery, JWK set |
//! | `OAuth2ResourceServerFilter` | filter |
//! | `StatelessAccessTokenResolver`, `JwkSetSecretStore` | what the filter verifies with |
//! | `ClientCredentialsOAuth2ClientFilter` | filter: the agent side, tokens for outgoing calls |
//! | `ClientSecretBasicAuthenticationFilter`, `ClientSecretPostAuthenticationFilter` | filters: client authentication at a token endpoint |

pub mod appsettings;
mod client_auth;
pub mod client_credentials;
mod date;
mod errors;
pub mod grant;
mod jwt_builder;
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
    registry.register(&["ClientCredentialsOAuth2ClientFilter"], client_credentials::build);
    registry.register(&["ClientSecretBasicAuthenticationFilter"], client_auth::build_basic);
    registry.register(&["ClientSecretPostAuthenticationFilter"], client_auth::build_post);
    registry.register(&["HttpBasicAuthenticationClientFilter"], client_auth::build_http_basic);
    registry.register(&["JwtBuilderFilter"], jwt_builder::build);
    gatehouse_core::counters::register(&client_credentials::TOKEN_REQUESTS);
    gatehouse_core::counters::register(&grant::TOKENS_ISSUED);
    gatehouse_core::counters::register(&grant::TOKENS_REFUSED);
    gatehouse_core::counters::register(&resource_server::VERIFICATIONS);
}
