//! The relay's metrics: commands by type and state, commands in boxes, callbacks, the
//! health of each client's callback URL, and how long commands wait for a device.

use std::collections::BTreeMap;
use std::fmt::Write as _;
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
pub static DELIVERY: gatehouse_core::histogram::Histogram = gatehouse_core::histogram::Histogram::new(
    "gatehouse_relay_delivery_seconds",
    "Time from a command's acceptance to a device fetching it.",
);

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
