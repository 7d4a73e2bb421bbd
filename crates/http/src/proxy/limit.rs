//! At most `connections` exchanges at once per upstream; the rest wait, for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use gatehouse_core::{Error, ErrorKind, Result, Side};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One semaphore per upstream authority.
pub(crate) struct Limits {
    per_upstream: usize,
    wait: Duration,
    /// The first upstream's, read without a lock: a handler with a `baseURI` has no other,
    /// and its exchanges then take neither the map's lock (shared by the units) nor a hash.
    first: OnceLock<(Box<str>, Arc<Semaphore>)>,
    upstreams: Mutex<HashMap<Box<str>, Arc<Semaphore>>>,
}

impl Limits {
    pub(crate) fn new(per_upstream: usize, wait: Duration) -> Self {
        Limits { per_upstream, wait, first: OnceLock::new(), upstreams: Mutex::new(HashMap::new()) }
    }

    /// `upstream`'s semaphore.
    fn semaphore(&self, upstream: &str) -> Arc<Semaphore> {
        let (first, semaphore) =
            self.first.get_or_init(|| (upstream.into(), Arc::new(Semaphore::new(self.per_upstream))));
        if **first == *upstream {
            return semaphore.clone();
        }
        let mut map = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match map.get(upstream) {
            Some(s) => s.clone(),
            None => map.entry(upstream.into()).or_insert_with(|| Arc::new(Semaphore::new(self.per_upstream))).clone(),
        }
    }

    /// A slot for an exchange with `upstream`; held until the response body is done.
    pub(crate) async fn acquire(&self, upstream: &str) -> Result<OwnedSemaphorePermit> {
        let semaphore = self.semaphore(upstream);
        if let Ok(permit) = semaphore.clone().try_acquire_owned() {
            return Ok(permit);
        }
        match tokio::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Error::with_cause(
                ErrorKind::Overloaded,
                Side::Upstream,
                format!("all connections to {upstream} are busy"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn each_upstream_has_its_own_slots_the_first_as_the_others() {
        let limits = Limits::new(1, Duration::from_millis(10));
        let a = limits.acquire("a:80").await.unwrap();
        let b = limits.acquire("b:80").await.unwrap();
        // Both full: a third exchange with either waits, then is refused.
        assert!(limits.acquire("a:80").await.is_err());
        assert!(limits.acquire("b:80").await.is_err());
        drop(a);
        let _a = limits.acquire("a:80").await.unwrap();
        assert!(limits.acquire("b:80").await.is_err());
        drop(b);
        assert!(limits.acquire("b:80").await.is_ok());
    }
}
