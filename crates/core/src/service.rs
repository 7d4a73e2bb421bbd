//! Objects with a life: heap objects that own background work (store refresh, a relay's
//! timers and callback workers, a key set cache) register a [`Service`] when they are built.
//! The server starts the services of a configuration after it built and before the
//! connectors accept (a reloaded route's before it serves), and stops them on shutdown and
//! when a reload drops the route that owns them. `gatehouse check` starts nothing.

use crate::BoxFuture;

/// Background work owned by a heap object.
pub trait Service: Send + Sync + 'static {
    /// What the service is, for logs (`KeyStoreSecretStore 'keystore' refresh`).
    fn name(&self) -> String;

    /// Starts the work. An error fails the load of the configuration that owns it (a
    /// reloaded route then keeps its previous version).
    fn start(&self) -> BoxFuture<'_, Result<(), String>>;

    /// Stops the work and waits for it to end.
    fn stop(&self) -> BoxFuture<'_, ()>;
}
