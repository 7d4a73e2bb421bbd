//! Sessions for Gatehouse: `JwtSession` keeps the session in an encrypted JWT cookie (JWE,
//! `alg: dir`), so several gateways that share the key share the session; `InMemorySession`
//! keeps it in this process behind a random cookie.

mod cookie;
mod jwt;
mod lru;
mod memory;

use gatehouse_config::Registry;

/// Registers `JwtSession` (alias `JwtSessionManager`) and `InMemorySession` (alias
/// `InMemorySessionManager`).
pub fn register(registry: &mut Registry) {
    gatehouse_core::counters::register(&gatehouse_core::counters::SESSION_COOKIES_REJECTED);
    gatehouse_core::counters::register(&memory::SESSIONS_EVICTED);
    registry.register(&["JwtSession", "JwtSessionManager"], jwt::build);
    registry.register(&["InMemorySession", "InMemorySessionManager"], memory::build);
}
