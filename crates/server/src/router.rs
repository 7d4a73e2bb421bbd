//! `Router`: routes from a directory, tried in order of their names; the first whose
//! condition holds handles the request. The directory is scanned again as soon as the OS
//! reports a change in it, and every `scanInterval` as a fallback: new and changed files are loaded to one side and swapped in atomically,
//! a file that fails to load is reported and its previous version keeps serving, and a
//! removed file removes its route. In-flight exchanges keep the route they started with.

mod route;
mod scan;
mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use gatehouse_config::{start_all, stop_all, BuildCtx, ConfigError, Heap, Loader, Node, Object};
use gatehouse_core::{recent, Body, BoxFuture, Context, Handler, Request, Response, Result, Service, Task};
use gatehouse_http::entity::first_match;

pub use route::Route;
use scan::Stamp;

/// The live routes, sorted by name.
struct Table {
    routes: Vec<Arc<Route>>,
}

/// What the last scan saw of each file, and the route it produced (if any).
#[derive(Default)]
struct ScanState {
    files: BTreeMap<PathBuf, (Stamp, Option<Arc<Route>>)>,
}

/// Routes requests to the routes of a directory.
pub struct Router {
    table: ArcSwap<Table>,
    default_handler: Option<Arc<dyn Handler>>,
    directory: PathBuf,
    parent: Weak<Heap>,
    loader: Weak<Loader>,
    state: Mutex<ScanState>,
}

/// Builds a `Router` (also `RouterHandler`).
pub fn build(cx: &BuildCtx<'_>, node: &Node) -> std::result::Result<Object, ConfigError> {
    let config = cx.config(node)?;
    // OpenIG's legacy `routes` object may name the directory.
    let legacy = config.get("routes").map(|r| cx.config(r)).transpose()?;
    let legacy_dir = legacy.as_ref().and_then(|l| l.get("directory"));
    if let Some(l) = legacy {
        l.ignore(&["scanInterval", "defaultHandler"]);
        l.finish()?;
    }
    let directory = match (config.get("directory"), legacy_dir) {
        (Some(d), _) | (None, Some(d)) => PathBuf::from(cx.string(d)?),
        (None, None) => cx.heap().loader().config_dir.join("routes"),
    };
    let scan_interval = match config.get("scanInterval") {
        Some(s) => cx.duration(s)?,
        None => Some(Duration::from_secs(10)),
    };
    let scan_interval = match scan_interval {
        None => return Err(cx.err(node, "scanInterval cannot be unlimited (use \"disabled\")")),
        Some(d) => d,
    };
    if scan::in_progress(&directory) {
        return Err(cx.err(
            node,
            format!(
                "this Router would load its own routes directory {} (a route containing a Router over the directory it is in loads itself forever)",
                directory.display()
            ),
        ));
    }
    let default_handler = config.get("defaultHandler").map(|h| cx.handler(h)).transpose()?;
    config.refuse("openApiValidation", "requests would reach the routes unvalidated")?;
    // A route that fails to load is reported and skipped (and on a reload the previous
    // version keeps serving), whatever this says: the gateway never stops for one route.
    config.ignore(&["failOnRouteError"]);
    config.finish()?;
    let heap = cx.heap();
    let router = Arc::new(Router {
        table: ArcSwap::from_pointee(Table { routes: Vec::new() }),
        default_handler,
        directory,
        parent: Arc::downgrade(heap),
        loader: Arc::downgrade(heap.loader()),
        state: Mutex::new(ScanState::default()),
    });
    // The first scan blocks the load, as in IG: the gateway starts with its routes. Their
    // services start with the Router's own, before the connectors accept.
    if let Some(changes) = router.prepare(heap, heap.loader()) {
        router.commit(changes);
    }
    cx.service(Arc::new(Scanner { router: Arc::downgrade(&router), interval: scan_interval, task: Task::default() }));
    Ok(Object::Handler(router))
}

/// The Router's life: its routes' services, and the task that reloads them.
struct Scanner {
    router: Weak<Router>,
    interval: Duration,
    task: Task,
}

impl Service for Scanner {
    fn name(&self) -> String {
        let dir = self.router.upgrade().map(|r| r.directory.display().to_string()).unwrap_or_default();
        format!("Router over {dir}")
    }

    fn start(&self) -> BoxFuture<'_, std::result::Result<(), String>> {
        Box::pin(async move {
            let Some(router) = self.router.upgrade() else { return Ok(()) };
            let Some(loader) = router.loader.upgrade() else { return Ok(()) };
            // A route whose services do not start is reported and left out, as a route that
            // fails to load.
            let table = router.table.load_full();
            let mut failed = Vec::new();
            for route in &table.routes {
                if let Err(e) = start_all(&route.heap.services()).await {
                    loader.report(ConfigError::file(&route.file, e));
                    failed.push(route.clone());
                }
            }
            if !failed.is_empty() {
                router.forget(&failed);
            }
            if !self.interval.is_zero() {
                // Watching starts now, before the gateway says it started: a change made right
                // after that line is seen even if the task first runs later.
                let (tx, rx) = tokio::sync::mpsc::channel(1);
                let watch = watch::DirWatch::new(&router.directory, tx);
                self.task.spawn(rescan(self.router.clone(), self.interval, watch, rx));
            }
            Ok(())
        })
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.task.stop().await;
            if let Some(router) = self.router.upgrade() {
                for route in router.table.load().routes.iter().rev() {
                    stop_all(route.heap.services()).await;
                }
            }
        })
    }
}

/// Rescans as soon as the directory changes (debounced) and every `interval` as a fallback,
/// until the router is dropped or stopped.
async fn rescan(
    router: Weak<Router>,
    interval: Duration,
    mut watch: watch::DirWatch,
    mut rx: tokio::sync::mpsc::Receiver<()>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            Some(()) = rx.recv() => watch::debounce(&mut rx).await,
        }
        let Some(router) = router.upgrade() else { return };
        let (Some(heap), Some(loader)) = (router.parent.upgrade(), router.loader.upgrade()) else { return };
        router.reload(heap, loader).await;
        watch.refresh();
    }
}

/// What a scan found: the next state of every file, and the routes it loaded.
struct Changes {
    files: BTreeMap<PathBuf, (Stamp, Option<Arc<Route>>)>,
    /// Newly loaded routes, each with the version it replaces.
    loaded: Vec<(PathBuf, Arc<Route>, Option<Arc<Route>>)>,
}

impl Router {
    /// Loads what changed on disk, starts the new routes' services, swaps the new table in,
    /// then stops the services of the routes it replaced or removed.
    async fn reload(self: Arc<Self>, parent: Arc<Heap>, loader: Arc<Loader>) {
        let (router, load) = (self.clone(), loader.clone());
        // Loading reads files and builds objects: keep it off the request threads.
        let Ok(Some(mut changes)) = tokio::task::spawn_blocking(move || router.prepare(&parent, &load)).await else {
            return;
        };
        for (path, route, previous) in std::mem::take(&mut changes.loaded) {
            if let Err(e) = start_all(&route.heap.services()).await {
                loader.report(ConfigError::file(&route.file, e));
                if let Some(entry) = changes.files.get_mut(&path) {
                    entry.1 = previous;
                }
            }
        }
        for route in self.commit(changes) {
            stop_all(route.heap.services()).await;
        }
    }

    /// Loads what changed on disk since the last scan, without serving it yet; `None` when
    /// nothing changed.
    fn prepare(&self, parent: &Arc<Heap>, loader: &Loader) -> Option<Changes> {
        let _scanning = scan::Scanning::enter(&self.directory);
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = scan::list(&self.directory);
        let mut files = state.files.clone();
        let before = files.len();
        let event = |file: &std::path::Path, route: Option<&str>, outcome, message| {
            recent::reload(recent::ReloadEvent {
                at: loader.clock.unix_millis(),
                file: file.display().to_string(),
                route: route.map(str::to_string),
                outcome,
                message,
            });
        };
        files.retain(|path, (_, route)| {
            let keep = seen.contains_key(path);
            if let (false, Some(r)) = (keep, route) {
                tracing::info!(route = %r.name, file = %path.display(), "route removed");
                event(path, Some(&r.name), "removed", None);
            }
            keep
        });
        let mut changed = files.len() != before;
        let mut loaded = Vec::new();
        for (path, stamp) in &seen {
            if files.get(path).is_some_and(|(s, _)| s == stamp) {
                continue;
            }
            changed = true;
            let previous = files.get(path).and_then(|(_, r)| r.clone());
            let route = Route::load(path, parent).and_then(|route| {
                // Two files may not share a route name: the one already serving keeps it.
                let clash =
                    files.iter().find(|(p, (_, r))| *p != path && r.as_ref().is_some_and(|r| r.name == route.name));
                match clash {
                    Some((other, _)) => Err(ConfigError::file(
                        &route.file,
                        format!("route name '{}' is already used by {}", route.name, other.display()),
                    )),
                    None => Ok(Arc::new(route)),
                }
            });
            let route = match route {
                Ok(route) => {
                    crate::metrics::ROUTE_LOADS.inc("loaded");
                    let outcome = if previous.is_some() { "reloaded" } else { "loaded" };
                    tracing::info!(route = %route.name, file = %path.display(), "route {outcome}");
                    event(path, Some(&route.name), outcome, None);
                    loaded.push((path.clone(), route.clone(), previous));
                    Some(route)
                }
                Err(e) => {
                    crate::metrics::ROUTE_LOADS.inc("failed");
                    event(path, previous.as_ref().map(|r| &*r.name), "failed", Some(e.to_string()));
                    loader.report(e);
                    if previous.is_some() {
                        tracing::warn!(file = %path.display(), "keeping the previous version of the route");
                    }
                    previous
                }
            };
            files.insert(path.clone(), (*stamp, route));
        }
        changed.then_some(Changes { files, loaded })
    }

    /// Serves what [`Router::prepare`] loaded; returns the routes no longer served.
    fn commit(&self, changes: Changes) -> Vec<Arc<Route>> {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = std::mem::replace(&mut state.files, changes.files);
        let mut routes: Vec<Arc<Route>> = state.files.values().filter_map(|(_, r)| r.clone()).collect();
        routes.sort_by(|a, b| a.name.cmp(&b.name));
        let dropped =
            old.into_values().filter_map(|(_, r)| r).filter(|r| !routes.iter().any(|n| Arc::ptr_eq(n, r))).collect();
        self.table.store(Arc::new(Table { routes }));
        dropped
    }

    /// Stops serving `routes` (their services did not start); their files are loaded again
    /// when they change.
    fn forget(&self, routes: &[Arc<Route>]) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for (_, route) in state.files.values_mut() {
            if route.as_ref().is_some_and(|r| routes.iter().any(|f| Arc::ptr_eq(f, r))) {
                *route = None;
            }
        }
        let kept =
            self.table.load().routes.iter().filter(|r| !routes.iter().any(|f| Arc::ptr_eq(f, r))).cloned().collect();
        self.table.store(Arc::new(Table { routes: kept }));
    }
}

impl Handler for Router {
    fn handle<'a>(&'a self, cx: &'a mut Context, mut req: Request) -> BoxFuture<'a, Result<Response>> {
        Box::pin(async move {
            // One load per exchange; the Arc keeps this table even if a reload swaps it.
            let table = self.table.load_full();
            match first_match(&table.routes, |r| r.condition.as_ref(), cx, &mut req).await? {
                Some(route) => {
                    cx.route = Some(route.name.clone());
                    cx.route_stats = Some(route.stats.clone());
                    cx.answer_fields_allowed &= route.passes_answer_fields;
                    route.handler.handle(cx, req).await
                }
                None => match &self.default_handler {
                    Some(h) => {
                        cx.answer_fields_allowed &= h.passes_answer_fields();
                        h.handle(cx, req).await
                    }
                    None => {
                        cx.answer_fields_allowed = false;
                        tracing::debug!(request_id = %cx.request_id, "no route matched");
                        let mut resp = Response::new(Body::empty());
                        *resp.status_mut() = http::StatusCode::NOT_FOUND;
                        Ok(resp)
                    }
                },
            }
        })
    }

    /// The edge looks for a router at the root: it passes an answer's fields on as they
    /// came only where a router chose a route that allows it.
    fn as_any(&self) -> Option<&(dyn std::any::Any + Send + Sync)> {
        Some(self)
    }
}
