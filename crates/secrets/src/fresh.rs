//! A value built from secrets (a TLS certificate, a trust store, session keys), rebuilt when
//! its stores report a change (autoRefresh).

use std::sync::Arc;

use crate::{SecretError, SecretsProvider};
use arc_swap::ArcSwap;

/// A cached value and the store generation it was built from.
pub struct Fresh<T> {
    provider: SecretsProvider,
    current: ArcSwap<(u64, Arc<T>)>,
}

impl<T> Fresh<T> {
    /// Builds the value from `provider` now. The stores' generation is read before the
    /// build, so a change that lands while building is picked up by the next `get`.
    pub fn load<E>(provider: SecretsProvider, build: impl FnOnce() -> Result<T, E>) -> Result<Self, E> {
        let generation = provider.generation();
        let value = build()?;
        Ok(Fresh { provider, current: ArcSwap::from_pointee((generation, Arc::new(value))) })
    }

    /// The value, rebuilt first if the stores changed since it was built. A failed rebuild
    /// is logged and the previous value is kept until the stores change again.
    pub fn get(&self, rebuild: impl FnOnce() -> Result<T, SecretError>) -> Arc<T> {
        let current = self.current.load();
        let generation = self.provider.generation();
        if current.0 == generation {
            return current.1.clone();
        }
        let value = match rebuild() {
            Ok(v) => Arc::new(v),
            Err(e) => {
                tracing::error!("{e}; keeping the previous version");
                current.1.clone()
            }
        };
        self.current.store(Arc::new((generation, value.clone())));
        value
    }
}
