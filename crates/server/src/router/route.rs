//! One route file: `name`, `condition`, `baseURI`, `heap`, `properties`, `handler`, and
//! decorator keys such as `capture`.

use std::path::Path;
use std::sync::Arc;

use gatehouse_config::{read_json, BuildCtx, ConfigError, Heap, Object};
use gatehouse_core::{Handler, SessionHandler, SessionManagerRef};
use gatehouse_expr::Expression;

use crate::gateway::SESSION_KIND;

/// A loaded route.
pub struct Route {
    /// The route's name (default: the file name without `.json`); routes are tried in
    /// the order of their names.
    pub name: Arc<str>,
    /// The file it came from.
    pub file: Arc<str>,
    /// When it applies; absent means always.
    pub condition: Option<Expression>,
    /// The decorated top-level handler.
    pub handler: Arc<dyn Handler>,
    /// The route's heap, kept alive as long as the route serves.
    pub heap: Arc<Heap>,
    /// Whether its handler reads and rewrites no answer field, so that its proxy may pass
    /// the upstream's fields on as bytes (no route `session`, whose manager may).
    pub passes_answer_fields: bool,
    /// Its exchanges by status class and latency (kept by name across reloads).
    pub stats: Arc<gatehouse_core::route_stats::RouteStats>,
    /// Lists the route as loaded (for the console) while this version exists.
    _loaded: gatehouse_core::route_stats::Loaded,
}

/// Top-level keys with a meaning of their own; every other key is a decorator.
const RESERVED: &[&str] = &["name", "condition", "heap", "handler", "session", "properties", "_id", "comment"];
/// IG keys Gatehouse accepts and ignores, with a warning.
const IGNORED: &[&str] = &["monitor", "auditService", "globalDecorators"];

impl Route {
    /// Loads the route in `path`; its heap is a child of `parent`.
    pub fn load(path: &Path, parent: &Arc<Heap>) -> Result<Route, ConfigError> {
        let file: Arc<str> = Arc::from(path.display().to_string());
        let mut node = read_json(path)?;
        if node.entries().is_none() {
            return Err(ConfigError::at(&file, node.pos, "a route must be a JSON object"));
        }
        let heap = Heap::for_file(parent, file.clone(), &mut node)?;
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let name: Arc<str> = match node.get("name") {
            Some(n) => Arc::from(n.as_str().ok_or_else(|| ConfigError::at(&file, n.pos, "'name' must be a string"))?),
            None => Arc::from(stem),
        };
        let cx = BuildCtx::new(&heap, &name, "route");
        let condition = node.get("condition").map(|c| cx.expr(c)).transpose();
        let session = node.get("session").map(|s| cx.other::<SessionManagerRef>(s, SESSION_KIND)).transpose();
        let handler_node =
            node.get("handler").ok_or_else(|| ConfigError::at(&file, node.pos, "a route needs a 'handler'"))?;
        let handler = cx.handler(handler_node);
        // Every error of the file in one run: the first fails the route, the others are reported.
        let (condition, session, handler) = match (condition, session, handler) {
            (Ok(c), Ok(s), Ok(h)) => (c, s, h),
            (c, s, h) => {
                let failed = [c.err(), s.err(), h.err(), heap.build_all().err()];
                cx.all(failed.into_iter().flatten().map(Err::<(), _>))?;
                return Err(ConfigError::at(&file, node.pos, "the route failed to load"));
            }
        };
        let entries = node.entries().unwrap_or(&[]);
        for (key, _) in entries.iter().filter(|(k, _)| IGNORED.contains(&k.name.as_str())) {
            let note = ConfigError::at(
                &file,
                key.pos,
                format!("'{}' of route is not supported by Gatehouse and is ignored", key.name),
            );
            heap.loader().note_ignored(note);
        }
        let decorations =
            entries.iter().filter(|(k, _)| !RESERVED.contains(&k.name.as_str()) && !IGNORED.contains(&k.name.as_str()));
        let known: Vec<&str> = RESERVED.iter().chain(IGNORED).copied().collect();
        let handler = match heap.decorate(Object::Handler(handler), decorations, &name, &known)? {
            Object::Handler(h) => h,
            _ => {
                return Err(ConfigError::at(
                    &file,
                    handler_node.pos,
                    "a decorator turned the handler into something else",
                ))
            }
        };
        // The route's own session replaces the gateway's while the route runs.
        let handler: Arc<dyn Handler> = match session {
            Some(s) => Arc::new(SessionHandler::new(s.0.clone(), handler)),
            None => handler,
        };
        let passes_answer_fields = handler.passes_answer_fields();
        heap.build_all()?;
        let stats = gatehouse_core::route_stats::for_route(&name);
        let _loaded = stats.loaded(&file, condition.as_ref().map(Expression::source));
        Ok(Route { name, file, condition, handler, passes_answer_fields, heap, stats, _loaded })
    }
}
