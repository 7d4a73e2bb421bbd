//! The relay's metrics: commands by type and state, commands in boxes, callbacks, the
//! health of each client's callback URL, and how long commands wait for a device.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use gatehouse_core::counters::{escape_label, Counter, Gauge, LabeledCounter, Metric};

/// Commands by type and state reached.
pub static COMMANDS: LabeledCounter = LabeledCounter::new(
    "gatehouse_relay_commands_total",
    "Relay commands by type and the state they reached.",
    &["type", "state"],
);
/// Commands in their boxes (queued or started).
pub static IN_BOXES: Gauge =
    Gauge::new("gatehouse_relay_commands_in_boxes", "Relay commands waiting in their boxes (queued or started).");
/// Callback attempts.
pub static CALLBACK_ATTEMPTS: Counter =
    Counter::new("gatehouse_relay_callback_attempts_total", "Relay callback attempts.");
/// Callback attempts that failed (they are retried until the command's lifespan).
pub static CALLBACK_FAILURES: Counter =
    Counter::new("gatehouse_relay_callback_failures_total", "Relay callback attempts that failed.");
/// Whether each client's callback base answered its alive check.
pub static ALIVE: Alive = Alive(Mutex::new(BTreeMap::new()));
/// From accepted to fetched by a device.
pub static DELIVERY: Histogram =
    Histogram::new("gatehouse_relay_delivery_seconds", "Time from a command's acceptance to a device fetching it.");

/// The alive check of each client's callback URL: 1 up, 0 down.
pub struct Alive(Mutex<BTreeMap<String, bool>>);

impl Alive {
    /// Records the outcome of `client`'s check.
    pub fn set(&self, client: &str, up: bool) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(client.to_string(), up);
    }
}

impl gatehouse_core::counters::HealthReport for Alive {
    fn checks(&self) -> Vec<(String, bool)> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(client, up)| (format!("relay.callback.{client}"), *up))
            .collect()
    }
}

impl Metric for Alive {
    fn name(&self) -> &'static str {
        "gatehouse_relay_callback_alive"
    }

    fn render(&self, out: &mut String) {
        out.push_str("# HELP gatehouse_relay_callback_alive Whether each client's callback URL answered its last alive check.\n# TYPE gatehouse_relay_callback_alive gauge\n");
        for (client, up) in self.0.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let client = escape_label(client);
            let _ = writeln!(out, "gatehouse_relay_callback_alive{{client=\"{client}\"}} {}", u8::from(*up));
        }
    }
}

const BOUNDS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// A latency histogram with fixed buckets (seconds).
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    buckets: [AtomicU64; 11],
    sum_micros: AtomicU64,
}

impl Histogram {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Histogram { name, help, buckets: [const { AtomicU64::new(0) }; 11], sum_micros: AtomicU64::new(0) }
    }

    /// Records one observation of `millis`.
    pub fn observe_millis(&self, millis: u64) {
        let secs = millis as f64 / 1000.0;
        let i = BOUNDS.iter().position(|b| secs <= *b).unwrap_or(BOUNDS.len());
        if let Some(bucket) = self.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(millis.saturating_mul(1000), Ordering::Relaxed);
    }
}

impl Metric for Histogram {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} histogram", self.name, self.help, self.name);
        let mut total = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{}_bucket{{le=\"{le}\"}} {total}", self.name);
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{}_sum {sum}\n{}_count {total}", self.name, self.name);
    }
}
