//! The messaging relay: an identity manager (the server) sends commands to desktop and mobile
//! apps (the devices) through the relay, which both reach; neither reaches the other. It
//! speaks the API of the product it replaces (Hermod), so identity managers only change the
//! host name.
//!
//! - `relay.rs`: `MessagingRelay`, the handler (server API, device boxes);
//! - `store.rs`: the storage trait; `sqlite.rs`: the embedded durable store; `postgres.rs`:
//!   the shared store for several instances (`pg_conn.rs`: a connection with its prepared
//!   statements); `group_commit.rs`: the embedded store's writer
//!   thread, one fsync per batch;
//! - `worker.rs`: timers, callbacks and alive checks; `clients.rs`: API clients and keys;
//! - `metrics.rs`: what the relay reports.

pub mod clients;
mod group_commit;
mod json;
mod metrics;
mod pg_conn;
pub mod postgres;
mod relay;
pub mod sqlite;
pub mod store;
mod worker;

use gatehouse_config::Registry;

/// Registers `MessagingRelay` and the relay's metrics.
pub fn register(registry: &mut Registry) {
    registry.register(&["MessagingRelay"], relay::build);
    use gatehouse_core::counters::register as metric;
    metric(&metrics::COMMANDS);
    metric(&metrics::IN_BOXES);
    metric(&metrics::CALLBACK_ATTEMPTS);
    metric(&metrics::CALLBACK_FAILURES);
    metric(&metrics::ALIVE);
    metric(&metrics::DELIVERY);
    gatehouse_core::counters::register_health(&metrics::ALIVE);
}
