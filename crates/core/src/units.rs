//! Gateway units (IG's `gatewayUnits`): the serving threads, each a single-threaded runtime.
//! State that is cheaper kept per unit than shared (upstream connection pools) is picked by
//! [`slot`], without a lock: the current thread's unit, or one more slot for every thread
//! that is not a unit (background work, tests).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Sets how many units serve (read from admin.json before any route is built).
pub fn set_count(units: usize) {
    COUNT.store(units.max(1), Ordering::Relaxed);
}

/// How many per-unit slots to build: one per unit and one for the other threads.
pub fn slots() -> usize {
    COUNT.load(Ordering::Relaxed) + 1
}

/// Marks the current thread as unit `index`.
pub fn enter(index: usize) {
    CURRENT.with(|c| c.set(Some(index)));
}

/// The unit the current thread serves, if it is one.
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// The slot of the current thread, below [`slots`] as it was when the caller built its slots
/// (`built`): its unit's, or the last one.
pub fn slot(built: usize) -> usize {
    let last = built.saturating_sub(1);
    CURRENT.with(Cell::get).map_or(last, |i| i.min(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_get_their_own_slot_and_other_threads_the_last() {
        assert_eq!(slot(3), 2);
        std::thread::spawn(|| {
            enter(1);
            assert_eq!(slot(3), 1);
            // Built for fewer units than run now: the last slot, never out of bounds.
            enter(7);
            assert_eq!(slot(3), 2);
        })
        .join()
        .unwrap_or_else(|_| std::process::abort());
    }
}
