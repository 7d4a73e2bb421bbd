//! Process-wide metrics that feature crates declare and bump, and the metrics endpoint
//! renders: a crate declares a `static`, registers it once from its `register`, and the
//! Prometheus endpoint shows it without the server knowing the crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Something the metrics endpoint renders.
pub trait Metric: Send + Sync + 'static {
    /// The metric's name (`gatehouse_..._total`).
    fn name(&self) -> &'static str;
    /// Appends the metric in the Prometheus text format (0.0.4), with HELP and TYPE.
    fn render(&self, out: &mut String);
}

/// A monotonically increasing count.
pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    /// A counter `name` described by `help`.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Counter { name, help, value: AtomicU64::new(0) }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    /// The count.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", self.get());
    }
}

/// A value that goes up and down (queue depth, open things).
pub struct Gauge {
    name: &'static str,
    help: &'static str,
    value: AtomicI64,
}

impl Gauge {
    /// A gauge `name` described by `help`.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Gauge { name, help, value: AtomicI64::new(0) }
    }

    /// Adds `by` (negative to subtract).
    pub fn add(&self, by: i64) {
        self.value.fetch_add(by, Ordering::Relaxed);
    }

    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
    }

    /// The value.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", self.get());
    }
}

/// Counters by the values of one or more labels (`reason`; `type` and `state`): for events
/// that are not on the hot path, since each increment takes a lock.
pub struct LabeledCounter {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, u64>>,
}

impl LabeledCounter {
    /// A counter family `name` split by `labels`.
    pub const fn new(name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Self {
        LabeledCounter { name, help, labels, values: Mutex::new(BTreeMap::new()) }
    }

    /// Adds one for `value` of a single label.
    pub fn inc(&self, value: &str) {
        self.inc_labels(&[value]);
    }

    /// Adds one for `values`, one per label in order.
    pub fn inc_labels(&self, values: &[&str]) {
        let key = values.iter().map(|v| (*v).to_string()).collect();
        *self.values.lock().unwrap_or_else(PoisonError::into_inner).entry(key).or_default() += 1;
    }

    /// The count for `value` of a single label.
    pub fn get(&self, value: &str) -> u64 {
        self.values.lock().unwrap_or_else(PoisonError::into_inner).get(&vec![value.to_string()]).copied().unwrap_or(0)
    }
}

/// A label value in the Prometheus text format: `\`, `"` and newlines escaped.
pub fn escape_label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metric for LabeledCounter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        for (values, count) in self.values.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let pairs: Vec<String> = self
                .labels
                .iter()
                .zip(values)
                .map(|(label, value)| format!("{label}=\"{}\"", escape_label(value)))
                .collect();
            let _ = writeln!(out, "{name}{{{}}} {count}", pairs.join(","));
        }
    }
}

static REGISTERED: Mutex<Vec<&'static dyn Metric>> = Mutex::new(Vec::new());

/// Registers `metric` for the metrics endpoint; registering a name again is ignored.
pub fn register(metric: &'static dyn Metric) {
    let mut all = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    if !all.iter().any(|m| m.name() == metric.name()) {
        all.push(metric);
    }
}

/// Appends every registered metric, in registration order.
pub fn render_registered(out: &mut String) {
    for metric in REGISTERED.lock().unwrap_or_else(PoisonError::into_inner).iter() {
        metric.render(out);
    }
}

/// Something the health endpoint reports: named checks, each up or down (the relay's
/// callback URLs). They inform; they do not make the gateway unready.
pub trait HealthReport: Send + Sync + 'static {
    /// `(check name, up)` pairs.
    fn checks(&self) -> Vec<(String, bool)>;
}

static HEALTH: Mutex<Vec<&'static dyn HealthReport>> = Mutex::new(Vec::new());

/// Registers `report` for the health endpoint (once per process).
pub fn register_health(report: &'static dyn HealthReport) {
    let mut all = HEALTH.lock().unwrap_or_else(PoisonError::into_inner);
    if !all.iter().any(|r| std::ptr::addr_eq(*r, report)) {
        all.push(report);
    }
}

/// Every registered check, in registration order.
pub fn health_checks() -> Vec<(String, bool)> {
    HEALTH.lock().unwrap_or_else(PoisonError::into_inner).iter().flat_map(|r| r.checks()).collect()
}

/// Session cookies that were present but unusable (expired, tampered, truncated, wrong key).
pub static SESSION_COOKIES_REJECTED: Counter = Counter::new(
    "gatehouse_session_cookies_rejected_total",
    "Session cookies that were expired, tampered with, truncated or under an unknown key.",
);

#[cfg(test)]
mod tests {
    use super::*;

    static EVENTS: LabeledCounter = LabeledCounter::new("test_events_total", "Events by reason.", &["reason"]);
    static DEPTH: Gauge = Gauge::new("test_depth", "Depth.");

    #[test]
    fn registered_metrics_render_in_the_prometheus_format() {
        register(&EVENTS);
        register(&EVENTS);
        register(&DEPTH);
        EVENTS.inc("invalid_client");
        EVENTS.inc("invalid_client");
        EVENTS.inc("bad \"quote\"");
        DEPTH.add(3);
        DEPTH.add(-1);
        let mut out = String::new();
        render_registered(&mut out);
        assert_eq!(out.matches("# TYPE test_events_total counter").count(), 1);
        assert!(out.contains("test_events_total{reason=\"invalid_client\"} 2\n"), "{out}");
        assert!(out.contains("test_events_total{reason=\"bad \\\"quote\\\"\"} 1\n"), "{out}");
        assert!(out.contains("# TYPE test_depth gauge\ntest_depth 2\n"), "{out}");
    }
}
