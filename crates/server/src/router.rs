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
use gatehouse_config::{BuildCtx, ConfigError, Heap, Loader, Mode, Node, Object};
use gatehouse_core::{Body, BoxFuture, Context, Handler, Request, Response, Result};
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
    let directory = match config.get("directory") {
        Some(d) => PathBuf::from(cx.string(d)?),
        None => cx.heap().loader().config_dir.join("routes"),
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
    // The first scan blocks the load, as in IG: the gateway starts with its routes.
    router.scan(heap, heap.loader());
    if heap.loader().mode == Mode::Run && !scan_interval.is_zero() {
        spawn_scanner(Arc::downgrade(&router), scan_interval);
    }
    Ok(Object::Handler(router))
}

/// Rescans as soon as the directory changes (debounced) and every `interval` as a fallback,
/// until the router is dropped (its route or config unloaded).
fn spawn_scanner(router: Weak<Router>, interval: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime: routes will not be reloaded");
        return;
    };
    let Some(directory) = router.upgrade().map(|r| r.directory.clone()) else { return };
    rt.spawn(async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let mut watch = watch::DirWatch::new(&directory, tx);
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
            // Loading reads files and builds objects: keep it off the request threads.
            let _ = tokio::task::spawn_blocking(move || router.scan(&heap, &loader)).await;
            watch.refresh();
        }
    });
}

impl Router {
    /// Loads what changed on disk and swaps the new table in.
    pub fn scan(&self, parent: &Arc<Heap>, loader: &Loader) {
        let _scanning = scan::Scanning::enter(&self.directory);
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let seen = scan::list(&self.directory);
        let before = state.files.len();
        let mut changed = false;
        state.files.retain(|path, (_, route)| {
            let keep = seen.contains_key(path);
            if !keep {
                changed = true;
                if let Some(r) = route {
                    tracing::info!(route = %r.name, file = %path.display(), "route removed");
                }
            }
            keep
        });
        changed |= state.files.len() != before;
        for (path, stamp) in &seen {
            if state.files.get(path).is_some_and(|(s, _)| s == stamp) {
                continue;
            }
            changed = true;
            let previous = state.files.get(path).and_then(|(_, r)| r.clone());
            let loaded = Route::load(path, parent).and_then(|route| {
                // Two files may not share a route name: the one already serving keeps it.
                let clash = state
                    .files
                    .iter()
                    .find(|(p, (_, r))| *p != path && r.as_ref().is_some_and(|r| r.name == route.name));
                match clash {
                    Some((other, _)) => Err(ConfigError::file(
                        &route.file,
                        format!("route name '{}' is already used by {}", route.name, other.display()),
                    )),
                    None => Ok(route),
                }
            });
            let route = match loaded {
                Ok(route) => {
                    tracing::info!(route = %route.name, file = %path.display(), "route {}", if previous.is_some() { "reloaded" } else { "loaded" });
                    Some(Arc::new(route))
                }
                Err(e) => {
                    loader.report(e);
                    if previous.is_some() {
                        tracing::warn!(file = %path.display(), "keeping the previous version of the route");
                    }
                    previous
                }
            };
            state.files.insert(path.clone(), (*stamp, route));
        }
        if changed {
            let mut routes: Vec<Arc<Route>> = state.files.values().filter_map(|(_, r)| r.clone()).collect();
            routes.sort_by(|a, b| a.name.cmp(&b.name));
            self.table.store(Arc::new(Table { routes }));
        }
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
                    route.handler.handle(cx, req).await
                }
                None => match &self.default_handler {
                    Some(h) => h.handle(cx, req).await,
                    None => {
                        tracing::debug!(request_id = %cx.request_id, "no route matched");
                        let mut resp = Response::new(Body::empty());
                        *resp.status_mut() = http::StatusCode::NOT_FOUND;
                        Ok(resp)
                    }
                },
            }
        })
    }
}
