//! Per-route figures: exchanges by status class and a latency histogram, kept by route name
//! (so that a reloaded route goes on counting). A route looks its stats up once when it
//! loads; an exchange adds to them with relaxed atomics, no lock.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::counters::escape_label;
use crate::histogram::Buckets;

/// One route's figures.
#[derive(Default)]
pub struct RouteStats {
    classes: [AtomicU64; 5],
    latency: Buckets,
    /// Its file and condition, as the version loaded last says.
    about: Mutex<About>,
    /// How many loaded versions of the route exist (serving, or finishing exchanges).
    versions: AtomicUsize,
}

#[derive(Default, Clone)]
struct About {
    file: String,
    condition: Option<String>,
}

/// A loaded version of a route, held by the route: while one exists the route is listed as
/// loaded.
pub struct Loaded(Arc<RouteStats>);

impl Drop for Loaded {
    fn drop(&mut self) {
        self.0.versions.fetch_sub(1, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Loaded")
    }
}

/// What the console shows of a route.
#[derive(Debug, Clone)]
pub struct RouteView {
    /// The route's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// Its condition's source, if it has one.
    pub condition: Option<String>,
    /// Whether a version of it is loaded (a removed route keeps its figures).
    pub loaded: bool,
    /// Exchanges by status class, 1xx to 5xx.
    pub classes: [u64; 5],
    /// Latency bucket counts (see [`Buckets::bounds`]).
    pub latency: [u64; 13],
}

impl std::fmt::Debug for RouteStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteStats")
    }
}

impl RouteStats {
    /// An exchange the route took ended with `status` after `elapsed` (until its body was sent).
    pub fn observe(&self, status: u16, elapsed: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(c) = self.classes.get(class) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.latency.observe(elapsed);
    }

    /// A version of the route loaded from `file` with `condition`; the route holds the
    /// returned guard.
    pub fn loaded(self: &Arc<Self>, file: &str, condition: Option<&str>) -> Loaded {
        *self.about.lock().unwrap_or_else(PoisonError::into_inner) =
            About { file: file.to_string(), condition: condition.map(str::to_string) };
        self.versions.fetch_add(1, Ordering::Relaxed);
        Loaded(self.clone())
    }
}

/// Every route with figures, by name.
pub fn views() -> Vec<RouteView> {
    let routes = ROUTES.lock().unwrap_or_else(PoisonError::into_inner);
    routes
        .iter()
        .map(|(name, s)| {
            let about = s.about.lock().unwrap_or_else(PoisonError::into_inner).clone();
            RouteView {
                name: name.clone(),
                file: about.file,
                condition: about.condition,
                loaded: s.versions.load(Ordering::Relaxed) > 0,
                classes: std::array::from_fn(|i| s.classes[i].load(Ordering::Relaxed)),
                latency: s.latency.counts(),
            }
        })
        .collect()
}

static ROUTES: Mutex<BTreeMap<String, Arc<RouteStats>>> = Mutex::new(BTreeMap::new());

/// The stats of the route named `name` (created on first use).
pub fn for_route(name: &str) -> Arc<RouteStats> {
    ROUTES.lock().unwrap_or_else(PoisonError::into_inner).entry(name.to_string()).or_default().clone()
}

/// Appends `gatehouse_route_requests_total` and `gatehouse_route_request_duration_seconds`.
pub fn render(out: &mut String) {
    let routes = ROUTES.lock().unwrap_or_else(PoisonError::into_inner);
    let _ = writeln!(
        out,
        "# HELP gatehouse_route_requests_total Exchanges each route took, by status class.\n\
         # TYPE gatehouse_route_requests_total counter"
    );
    for (name, stats) in routes.iter() {
        let route = escape_label(name);
        for (i, c) in stats.classes.iter().enumerate() {
            let _ = writeln!(
                out,
                "gatehouse_route_requests_total{{route=\"{route}\",class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
    }
    let name = "gatehouse_route_request_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from an exchange's start to the end of its response body, by the route that took it.\n# TYPE {name} histogram"
    );
    for (route, stats) in routes.iter() {
        stats.latency.render(out, name, &format!("route=\"{}\",", escape_label(route)));
    }
}
