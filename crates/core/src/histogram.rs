//! Latency histograms for the metrics endpoint: fixed buckets (seconds, Prometheus `le`), one
//! relaxed atomic add per observation, no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::counters::Metric;

/// The bucket bounds, in seconds.
const BOUNDS: [f64; 12] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0];

/// The counts of one histogram series.
pub struct Buckets {
    counts: [AtomicU64; 13],
    sum_micros: AtomicU64,
}

impl Default for Buckets {
    fn default() -> Self {
        Self::new()
    }
}

impl Buckets {
    /// Empty buckets.
    pub const fn new() -> Self {
        Buckets { counts: [const { AtomicU64::new(0) }; 13], sum_micros: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = BOUNDS.iter().position(|b| secs <= *b).unwrap_or(BOUNDS.len());
        if let Some(bucket) = self.counts.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The count in each bucket (not cumulative), the last one above every bound.
    pub fn counts(&self) -> [u64; 13] {
        std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed))
    }

    /// The bucket bounds in seconds (the last bucket has none).
    pub fn bounds() -> &'static [f64] {
        &BOUNDS
    }

    /// The `q` quantile (0 to 1) in seconds, interpolated within its bucket as Prometheus'
    /// `histogram_quantile` does; `None` without observations. Above the last bound it is
    /// that bound.
    pub fn quantile(counts: &[u64; 13], q: f64) -> Option<f64> {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * total as f64;
        let mut below = 0u64;
        for (i, &n) in counts.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let Some(&upper) = BOUNDS.get(i) else { return BOUNDS.last().copied() };
                let lower = if i == 0 { 0.0 } else { BOUNDS[i - 1] };
                return Some(lower + (upper - lower) * ((rank - below as f64) / n as f64).clamp(0.0, 1.0));
            }
            below += n;
        }
        BOUNDS.last().copied()
    }

    /// Appends the series' `_bucket`, `_sum` and `_count` lines; `labels` is `k="v",` or empty.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut total = 0;
        for (i, b) in self.counts.iter().enumerate() {
            total += b.load(Ordering::Relaxed);
            let le = BOUNDS.get(i).map_or("+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels}le=\"{le}\"}} {total}");
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let plain = labels.trim_end_matches(',');
        let braces = if plain.is_empty() { String::new() } else { format!("{{{plain}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}\n{name}_count{braces} {total}");
    }
}

/// A histogram without labels.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    buckets: Buckets,
}

impl Histogram {
    /// A histogram `name` described by `help`.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Histogram { name, help, buckets: Buckets::new() }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        self.buckets.observe(d);
    }
}

impl Metric for Histogram {
    fn name(&self) -> &'static str {
        self.name
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}\n# TYPE {} histogram", self.name, self.help, self.name);
        self.buckets.render(out, self.name, "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let b = Buckets::new();
        b.observe(Duration::from_micros(300));
        b.observe(Duration::from_millis(3));
        b.observe(Duration::from_secs(60));
        let mut out = String::new();
        b.render(&mut out, "x", "route=\"r\",");
        assert!(out.contains("x_bucket{route=\"r\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"r\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"r\",le=\"30\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{route=\"r\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{route=\"r\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{route=\"r\"} 60.0033\n"), "{out}");
    }

    #[test]
    fn quantiles_interpolate_within_their_bucket() {
        let b = Buckets::new();
        assert_eq!(Buckets::quantile(&b.counts(), 0.5), None);
        // 100 observations between 1 and 2 ms: the median is halfway through that bucket.
        for _ in 0..100 {
            b.observe(Duration::from_micros(1500));
        }
        let median = Buckets::quantile(&b.counts(), 0.5).unwrap_or_default();
        assert!((median - 0.0015).abs() < 1e-9, "{median}");
        b.observe(Duration::from_secs(100));
        assert_eq!(Buckets::quantile(&b.counts(), 1.0), Some(30.0));
    }
}
