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

/// The background task of a service: spawned by `start`, aborted and awaited by `stop`.
#[derive(Default)]
pub struct Task(std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>);

impl Task {
    /// Spawns `work` on the current runtime (replacing a task still held).
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(work);
        let old = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).replace(handle);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Aborts the task and waits until it has ended.
    pub fn stop(&self) -> BoxFuture<'static, ()> {
        let handle = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        Box::pin(async move {
            if let Some(handle) = handle {
                handle.abort();
                let _ = handle.await;
            }
        })
    }
}
