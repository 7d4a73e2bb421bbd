//! Counters for the Prometheus endpoint. Relaxed atomics: each is independent.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

use gatehouse_core::counters::LabeledCounter;

/// Upstream failures by kind (`connect`, `timeout`, `protocol`, ...).
pub(crate) static UPSTREAM_ERRORS: LabeledCounter = LabeledCounter::new(
    "gatehouse_upstream_errors_total",
    "Exchanges that failed on the upstream side, by kind.",
    &["kind"],
);
/// Route files loaded by the Router (at start and on every change), by outcome.
pub(crate) static ROUTE_LOADS: LabeledCounter = LabeledCounter::new(
    "gatehouse_route_loads_total",
    "Route files (re)loaded by the Router, by outcome: loaded, or failed (the previous version keeps serving).",
    &["outcome"],
);

/// Process-wide counters.
#[derive(Default)]
pub struct Metrics {
    responses: [AtomicU64; 6],
    in_flight: AtomicI64,
    bytes_sent: AtomicU64,
    connections_total: AtomicU64,
    connections_open: AtomicI64,
    access_log_dropped: AtomicU64,
    tls_handshakes: AtomicU64,
    tls_handshakes_failed: AtomicU64,
    connections_refused: AtomicU64,
    accept_failures: AtomicU64,
}

impl Metrics {
    /// An exchange started.
    pub fn exchange_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    /// An exchange ended with `status` after sending `bytes` of body.
    pub fn exchange_ended(&self, status: u16, bytes: u64) {
        self.in_flight.fetch_sub(1, Relaxed);
        let class = usize::from(status / 100).min(5);
        self.responses[class].fetch_add(1, Relaxed);
        self.bytes_sent.fetch_add(bytes, Relaxed);
    }

    /// A connection was accepted.
    pub fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Relaxed);
        self.connections_open.fetch_add(1, Relaxed);
    }

    /// A connection closed.
    pub fn connection_closed(&self) {
        self.connections_open.fetch_sub(1, Relaxed);
    }

    /// A TLS handshake finished (`ok`) or failed or timed out.
    pub fn tls_handshake(&self, ok: bool) {
        if ok {
            self.tls_handshakes.fetch_add(1, Relaxed);
        } else {
            self.tls_handshakes_failed.fetch_add(1, Relaxed);
        }
    }

    /// A connection was closed at once because its connector was at `maxConnections`.
    pub fn connection_refused(&self) {
        self.connections_refused.fetch_add(1, Relaxed);
    }

    /// `accept` failed (out of file descriptors, ...).
    pub fn accept_failed(&self) {
        self.accept_failures.fetch_add(1, Relaxed);
    }

    /// An access log line was dropped because the writer fell behind.
    pub fn access_log_dropped(&self) {
        self.access_log_dropped.fetch_add(1, Relaxed);
    }

    /// The counters in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP gatehouse_responses_total Responses sent, by status class.\n# TYPE gatehouse_responses_total counter\n");
        for (i, c) in self.responses.iter().enumerate().skip(1) {
            let _ = writeln!(out, "gatehouse_responses_total{{class=\"{i}xx\"}} {}", c.load(Relaxed));
        }
        let gauges = [
            ("gatehouse_exchanges_in_flight", "Exchanges in progress.", "gauge", self.in_flight.load(Relaxed)),
            (
                "gatehouse_connections_open",
                "Downstream connections open.",
                "gauge",
                self.connections_open.load(Relaxed),
            ),
        ];
        for (name, help, kind, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        let counters = [
            ("gatehouse_connections_total", "Downstream connections accepted.", self.connections_total.load(Relaxed)),
            ("gatehouse_response_body_bytes_total", "Response body bytes sent.", self.bytes_sent.load(Relaxed)),
            (
                "gatehouse_access_log_dropped_total",
                "Access log lines dropped under overload.",
                self.access_log_dropped.load(Relaxed),
            ),
            (
                "gatehouse_connections_refused_total",
                "Connections closed at once because the connector was at maxConnections.",
                self.connections_refused.load(Relaxed),
            ),
            (
                "gatehouse_accept_failures_total",
                "Failed accepts (out of file descriptors and the like).",
                self.accept_failures.load(Relaxed),
            ),
            ("gatehouse_tls_handshakes_total", "TLS handshakes completed.", self.tls_handshakes.load(Relaxed)),
            (
                "gatehouse_tls_handshakes_failed_total",
                "TLS handshakes that failed or timed out (bad certificates, old protocols, port scans).",
                self.tls_handshakes_failed.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        gatehouse_core::route_stats::render(&mut out);
        // What the feature crates declared (sessions, tokens, relay, ...).
        gatehouse_core::counters::render_registered(&mut out);
        out
    }
}
