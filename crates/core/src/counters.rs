//! Process-wide counters that feature crates bump and the metrics endpoint reports.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count.
pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicU64::new(0))
    }

    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Session cookies that were present but unusable (expired, tampered, truncated, wrong key).
pub static SESSION_COOKIES_REJECTED: Counter = Counter::new();
