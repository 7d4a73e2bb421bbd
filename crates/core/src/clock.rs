//! Time as a parameter: every piece of code that asks what time it is asks a [`Clock`], so
//! that tests pin time instead of sleeping. This file is the one place that reads the system
//! clock (a clippy `disallowed-methods` rule keeps it so).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The gateway's clock: the system's, or one shifted by an offset that tests set and move.
/// Cloning is free for the system clock (no allocation, no atomic).
#[derive(Clone, Default)]
pub struct Clock {
    /// Nanoseconds added to the system's time; `None` for the plain system clock.
    offset: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock { offset: None }
    }

    /// A clock that reads `at` now and then runs on at the normal rate; [`Clock::advance`]
    /// moves it. Tests start the gateway with one (`GATEHOUSE_TEST_CLOCK`) to see expiry
    /// without waiting.
    pub fn pinned(at: SystemTime) -> Self {
        let offset = match at.duration_since(system_now()) {
            Ok(ahead) => nanos(ahead),
            Err(behind) => -nanos(behind.duration()),
        };
        Clock { offset: Some(Arc::new(AtomicI64::new(offset))) }
    }

    /// Whether this clock can be moved (it is not the system clock).
    pub fn is_adjustable(&self) -> bool {
        self.offset.is_some()
    }

    /// Moves an adjustable clock forward by `by`; the system clock cannot be moved and
    /// returns `false`.
    pub fn advance(&self, by: Duration) -> bool {
        match &self.offset {
            Some(offset) => {
                offset.fetch_add(nanos(by), Ordering::Relaxed);
                true
            }
            None => false,
        }
    }

    fn offset(&self) -> i64 {
        self.offset.as_ref().map_or(0, |o| o.load(Ordering::Relaxed))
    }

    /// The wall-clock time (for expiry written into tokens, cookies and stores).
    pub fn now(&self) -> SystemTime {
        shift(system_now(), self.offset())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_secs(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// A monotonic instant (for durations and in-memory deadlines). A pinned clock that runs
    /// ahead moves its instants ahead by the same amount.
    pub fn instant(&self) -> Instant {
        #[allow(clippy::disallowed_methods)]
        let now = Instant::now();
        match u64::try_from(self.offset()) {
            Ok(ahead) => now.checked_add(Duration::from_nanos(ahead)).unwrap_or(now),
            Err(_) => now,
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.offset {
            None => f.write_str("Clock(system)"),
            Some(_) => write!(f, "Clock(offset {} ns)", self.offset()),
        }
    }
}

#[allow(clippy::disallowed_methods)]
fn system_now() -> SystemTime {
    SystemTime::now()
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn shift(t: SystemTime, offset: i64) -> SystemTime {
    let by = Duration::from_nanos(offset.unsigned_abs());
    let shifted = if offset >= 0 { t.checked_add(by) } else { t.checked_sub(by) };
    shifted.unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_reads_its_time_and_moves_when_advanced() {
        let at = UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let clock = Clock::pinned(at);
        let read = clock.unix_secs();
        assert!((4_000_000_000..4_000_000_005).contains(&read), "{read}");
        let before = clock.instant();
        assert!(clock.advance(Duration::from_secs(3600)));
        assert!(clock.unix_secs() >= read + 3600);
        assert!(clock.instant() >= before + Duration::from_secs(3600));
        let system = Clock::system();
        assert!(!system.advance(Duration::from_secs(1)) && !system.is_adjustable());
        assert!(system.unix_secs() < 4_000_000_000);
    }

    #[test]
    fn a_clock_pinned_in_the_past_reads_the_past() {
        let clock = Clock::pinned(UNIX_EPOCH + Duration::from_secs(1_000_000_000));
        assert!((1_000_000_000..1_000_000_005).contains(&clock.unix_secs()));
    }
}
