//! Loading a whole instance: admin.json, then config.json (or its built-in default).

use std::sync::Arc;

use gatehouse_config::{defaults_heap, read_json, BuildCtx, ConfigError, Heap, Loader, Mode, Node, Object, Registry};
use gatehouse_core::{Clock, Handler, Service, SessionManager, SessionManagerRef};

use crate::admin_config::AdminConfig;

/// What a `session` property must name.
pub(crate) const SESSION_KIND: &str = "a session (JwtSession, InMemorySession)";
use crate::instance::Instance;

/// The configuration IG uses when there is no config.json: a Router over config/routes,
/// with a welcome page on `GET /`, 405 for other methods on `/`, and 404 for the rest.
const DEFAULT_CONFIG: &str = r#"{
  "heap": [ {
    "name": "_router",
    "type": "Router",
    "config": {
      "scanInterval": "&{ig.router.scan.interval|10 seconds}",
      "directory": "${openig.configDirectory}/routes",
      "defaultHandler": {
        "type": "DispatchHandler",
        "config": { "bindings": [
          { "condition": "${request.method == 'GET' and request.uri.path == '/'}", "handler": { "type": "WelcomeHandler" } },
          { "condition": "${request.uri.path == '/'}",
            "handler": { "type": "StaticResponseHandler", "config": { "status": 405, "headers": { "Allow": [ "GET" ] } } } },
          { "handler": { "type": "StaticResponseHandler", "config": { "status": 404 } } }
        ] }
      }
    }
  } ],
  "handler": "_router"
}"#;

/// IG keys of config.json that Gatehouse accepts and ignores, with a warning.
const IGNORED: &[&str] = &["temporaryStorage", "globalDecorators", "audit", "auditService", "mode", "monitor"];

/// A loaded instance.
pub struct Gateway {
    /// admin.json.
    pub admin: AdminConfig,
    /// The handler every non-admin request goes to.
    pub root: Arc<dyn Handler>,
    /// The gateway's session (config.json's `session`, else an InMemorySession), which the
    /// edge opens around `root` (no handler of its own: one boxed future less per exchange).
    pub session: Option<Arc<dyn SessionManager>>,
    /// config.json's heap (kept alive while the gateway runs).
    pub heap: Arc<Heap>,
    /// The loader, which collects the errors of routes that failed to load.
    pub loader: Arc<Loader>,
}

impl Gateway {
    /// Loads the instance. admin.json and config.json errors fail the load; route errors
    /// are reported to the loader and the route is skipped.
    pub fn load(instance: &Instance, registry: Registry, mode: Mode, clock: Clock) -> Result<Gateway, ConfigError> {
        registry.check().map_err(|e| ConfigError::file(&Arc::from("<registry>"), e))?;
        let loader = Arc::new(Loader::new(registry, instance.dir.clone(), mode, clock));
        let defaults = defaults_heap(&loader)?;

        let admin_path = instance.config_file("admin.json");
        let admin_file: Arc<str> = Arc::from(admin_path.display().to_string());
        let admin = admin_path
            .exists()
            .then(|| read_json(&admin_path))
            .transpose()
            .and_then(|node| AdminConfig::load(&defaults, admin_file.clone(), node));
        let admin = match admin {
            Ok(admin) => admin,
            // A check goes on with the default admin.json, so that config.json and the routes
            // are checked too (every error at once, as `gatehouse check --report` lists them).
            Err(e) if mode == Mode::Check => {
                loader.report(e);
                AdminConfig::load(&defaults, admin_file, None)?
            }
            Err(e) => return Err(e),
        };
        // Per-unit state (upstream pools) is sized from this when the routes are built.
        gatehouse_core::units::set_count(admin.gateway_units);

        let config_path = instance.config_file("config.json");
        let (file, mut node): (Arc<str>, Node) = if config_path.exists() {
            (Arc::from(config_path.display().to_string()), read_json(&config_path)?)
        } else {
            let file: Arc<str> = Arc::from("<default config.json>");
            let node =
                gatehouse_config::json::parse(DEFAULT_CONFIG).map_err(|e| ConfigError::at(&file, e.pos, e.message))?;
            (file, node)
        };
        gatehouse_config::compat::ig7_secrets(&mut node).map_err(|(pos, e)| ConfigError::at(&file, pos, e))?;
        let heap = Heap::for_file(&defaults, file, &mut node)?;
        let cx = BuildCtx::new(&heap, "config.json", "config.json");
        let config = cx.config(&node)?;
        config.get("heap");
        config.get("properties");
        // The gateway's session: config.json's, else an InMemorySession (IG's default).
        let default_session = Node::from_json(&serde_json::json!({ "type": "InMemorySession" }));
        let session = match config.get("session") {
            Some(s) => Some(cx.other::<SessionManagerRef>(s, SESSION_KIND)?),
            None if loader.registry.get("InMemorySession").is_some() => {
                Some(cx.other::<SessionManagerRef>(&default_session, SESSION_KIND)?)
            }
            None => None,
        };
        config.ignore(IGNORED);
        let mut root = cx.handler(config.require("handler")?)?;
        // Every other key of config.json (`capture`, `baseURI`, ...) decorates the root handler,
        // as on a route.
        root = match config.decorate_rest(Object::Handler(root), "config.json")? {
            Object::Handler(h) => h,
            _ => {
                return Err(ConfigError::at(
                    heap.file(),
                    node.pos,
                    "a decorator turned the handler into something else",
                ))
            }
        };
        heap.build_all()?;
        Ok(Gateway { admin, root, session: session.map(|s| s.0.clone()), heap, loader })
    }

    /// The services of admin.json's and config.json's heaps (the root Router's among them,
    /// which starts its routes'), in the order they must start.
    pub fn services(&self) -> Vec<Arc<dyn Service>> {
        let defaults = self.heap.parent().map(|h| h.services()).unwrap_or_default();
        [defaults, self.admin.heap.services(), self.heap.services()].concat()
    }
}
