//! At most `connections` exchanges at once per upstream; the rest wait, for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_core::{Error, ErrorKind, Result, Side};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// One semaphore per upstream authority.
pub(crate) struct Limits {
    per_upstream: usize,
    wait: Duration,
    upstreams: Mutex<HashMap<Box<str>, Arc<Semaphore>>>,
}

impl Limits {
    pub(crate) fn new(per_upstream: usize, wait: Duration) -> Self {
        Limits { per_upstream, wait, upstreams: Mutex::new(HashMap::new()) }
    }

    /// A slot for an exchange with `upstream`; held until the response body is done.
    pub(crate) async fn acquire(&self, upstream: &str) -> Result<OwnedSemaphorePermit> {
        let semaphore = {
            let mut map = self.upstreams.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match map.get(upstream) {
                Some(s) => s.clone(),
                None => {
                    map.entry(upstream.into()).or_insert_with(|| Arc::new(Semaphore::new(self.per_upstream))).clone()
                }
            }
        };
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
