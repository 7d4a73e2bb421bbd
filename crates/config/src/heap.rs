//! The heap: named objects declared as `{name, type, config}`, built once per load.
//!
//! A reference is a string naming a heap object or an inline `{type, config}` object. Names
//! resolve in this heap first, then its parent (a route's heap, then config.json's, then the
//! built-in defaults), so declaring a name shadows the parent's object of that name. Objects
//! are built lazily on first reference and then once more for every declared object nobody
//! referenced, so that errors show at load. Extra keys on a declaration are decorators.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_core::{Filter, Handler, Service};
use serde_json::{Map, Value};

use crate::build::BuildCtx;
use crate::error::ConfigError;
use crate::json::{Kind, Node};
use crate::keys::{did_you_mean, is_comment_key};
use crate::registry::Loader;
use crate::tokens;

/// A built heap object.
#[derive(Clone)]
pub enum Object {
    /// Answers requests.
    Handler(Arc<dyn Handler>),
    /// Wraps handlers.
    Filter(Arc<dyn Filter>),
    /// Decorates other objects when its name is used as a key on them.
    Decorator(Arc<dyn Decorator>),
    /// Anything else (secret stores, session managers, TLS options...), downcast by its user.
    Other(Arc<dyn Any + Send + Sync>),
}

impl Object {
    /// What kind of object this is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Object::Handler(_) => "a handler",
            Object::Filter(_) => "a filter",
            Object::Decorator(_) => "a decorator",
            Object::Other(_) => "a configuration object",
        }
    }
}

/// A decorator: `"capture": "all"` on an object applies the heap object named `capture`.
pub trait Decorator: Send + Sync + 'static {
    /// Decorates a handler; `config` is the value of the decorating key.
    fn decorate_handler(
        &self,
        handler: Arc<dyn Handler>,
        config: &Node,
        cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Handler>, ConfigError>;

    /// Decorates a filter; by default the filter is left as it is.
    fn decorate_filter(
        &self,
        filter: Arc<dyn Filter>,
        _config: &Node,
        _cx: &BuildCtx<'_>,
    ) -> Result<Arc<dyn Filter>, ConfigError> {
        Ok(filter)
    }
}

/// How deeply object declarations may nest (inline objects and references to named ones):
/// far above any real configuration, and low enough that building cannot exhaust a stack.
pub const MAX_BUILD_DEPTH: usize = 64;

thread_local! {
    /// The depth of the build in progress on this thread (builds are synchronous).
    static BUILD_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Keys of a declaration that are not decorators.
const RESERVED: &[&str] = &["name", "type", "config", "comment", "_id"];

#[derive(Default)]
struct State {
    built: HashMap<String, Object>,
    building: Vec<String>,
    /// Background work of the objects built here, in build order.
    services: Vec<Arc<dyn Service>>,
}

/// A scope of named objects.
pub struct Heap {
    parent: Option<Arc<Heap>>,
    loader: Arc<Loader>,
    file: Arc<str>,
    decls: Vec<(String, Node)>,
    properties: Map<String, Value>,
    state: Mutex<State>,
}

impl Heap {
    /// A heap of the declarations in `heap` (an array, or an object with `objects`), whose
    /// names fall back to `parent`. `properties` are added to the parent's for expressions.
    pub fn new(
        parent: Option<Arc<Heap>>,
        loader: Arc<Loader>,
        file: Arc<str>,
        heap: Option<&Node>,
        properties: Option<&Map<String, Value>>,
    ) -> Result<Arc<Heap>, ConfigError> {
        let mut decls: Vec<(String, Node)> = Vec::new();
        let items = match heap.map(|h| (&h.kind, h)) {
            None => &[][..],
            Some((Kind::Array(items), _)) => items.as_slice(),
            Some((Kind::Object(_), h)) => match h.get("objects").map(|o| &o.kind) {
                Some(Kind::Array(items)) => items.as_slice(),
                _ => return Err(ConfigError::at(&file, h.pos, "'heap' must be an array of objects")),
            },
            Some((_, h)) => return Err(ConfigError::at(&file, h.pos, "'heap' must be an array of objects")),
        };
        for item in items {
            let Some(name) = item.get("name") else {
                return Err(ConfigError::at(&file, item.pos, "a heap object needs a 'name'"));
            };
            let Some(name_str) = name.as_str() else {
                return Err(ConfigError::at(&file, name.pos, "a heap object's 'name' must be a string"));
            };
            if item.get("type").and_then(Node::as_str).is_none() {
                return Err(ConfigError::at(
                    &file,
                    item.pos,
                    format!("heap object '{name_str}' needs a string 'type'"),
                ));
            }
            if decls.iter().any(|(n, _)| n == name_str) {
                return Err(ConfigError::at(&file, name.pos, format!("duplicate heap object name '{name_str}'")));
            }
            decls.push((name_str.to_string(), item.clone()));
        }
        let mut merged = parent.as_ref().map(|p| p.properties.clone()).unwrap_or_default();
        if let Some(props) = properties {
            merged.extend(props.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(Arc::new(Heap { parent, loader, file, decls, properties: merged, state: Mutex::new(State::default()) }))
    }

    /// The heap of a whole file (admin.json, config.json, a route) under `parent`: the
    /// file's `properties` get their own tokens resolved first (from the parent's), then
    /// every other string's tokens are resolved from them and the parent's, and the heap is
    /// built from the file's `heap` with those properties.
    pub fn for_file(parent: &Arc<Heap>, file: Arc<str>, node: &mut Node) -> Result<Arc<Heap>, ConfigError> {
        let parent_props = parent.properties();
        let mut props_node = node.get("properties").cloned();
        if let Some(p) = props_node.as_mut() {
            tokens::resolve(p, &tokens::TokenSource { properties: &[parent_props] }, &file)?;
        }
        let props = match props_node.as_ref().map(|p| (p, p.to_json())) {
            Some((_, Value::Object(m))) => m,
            Some((p, _)) => return Err(ConfigError::at(&file, p.pos, "'properties' must be an object")),
            None => Map::new(),
        };
        tokens::resolve(node, &tokens::TokenSource { properties: &[&props, parent_props] }, &file)?;
        Heap::new(Some(parent.clone()), parent.loader.clone(), file, node.get("heap"), Some(&props))
    }

    /// The file this heap was declared in.
    pub fn file(&self) -> &Arc<str> {
        &self.file
    }

    /// What the load knows: registry, instance paths, mode.
    pub fn loader(&self) -> &Arc<Loader> {
        &self.loader
    }

    /// Properties visible to expressions in this heap (its own and its parents').
    pub fn properties(&self) -> &Map<String, Value> {
        &self.properties
    }

    /// The parent heap.
    pub fn parent(&self) -> Option<&Arc<Heap>> {
        self.parent.as_ref()
    }

    /// Registers background work of an object built in this heap; it is started with the
    /// configuration this heap belongs to and stopped when that configuration goes.
    pub fn add_service(&self, service: Arc<dyn Service>) {
        self.lock().services.push(service);
    }

    /// The services registered in this heap, in build order.
    pub fn services(&self) -> Vec<Arc<dyn Service>> {
        self.lock().services.clone()
    }

    /// Builds every declared object that has not been built yet, to report errors at load.
    pub fn build_all(self: &Arc<Self>) -> Result<(), ConfigError> {
        let results: Vec<_> = self.decls.iter().map(|(name, _)| self.get_local(name, None).map(|_| ())).collect();
        crate::build::collect_all(&self.loader, results).map(|_| ())
    }

    /// Resolves a reference: a name (looked up through the parents) or an inline object.
    pub fn resolve(self: &Arc<Self>, node: &Node) -> Result<Object, ConfigError> {
        match &node.kind {
            Kind::String(name) => self
                .lookup(name, node)?
                .ok_or_else(|| ConfigError::at(&self.file, node.pos, format!("no heap object named '{name}'"))),
            Kind::Object(_) => {
                let name = node.get("name").and_then(Node::as_str).unwrap_or("");
                self.build_decl(name, node)
            }
            _ => Err(ConfigError::at(
                &self.file,
                node.pos,
                format!("expected a heap object name or an inline object, found {}", node.kind_name()),
            )),
        }
    }

    /// Looks `name` up here, then in the parents. `at` is where it is referenced from.
    pub fn lookup(self: &Arc<Self>, name: &str, at: &Node) -> Result<Option<Object>, ConfigError> {
        let mut heap = Some(self);
        while let Some(h) = heap {
            if let Some(obj) = h.get_local(name, Some((at, &self.file)))? {
                return Ok(Some(obj));
            }
            heap = h.parent.as_ref();
        }
        Ok(None)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a builder panicked; the map itself is still coherent.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The object declared here as `name`, built on first use.
    fn get_local(
        self: &Arc<Self>,
        name: &str,
        from: Option<(&Node, &Arc<str>)>,
    ) -> Result<Option<Object>, ConfigError> {
        let Some((_, decl)) = self.decls.iter().find(|(n, _)| n == name) else { return Ok(None) };
        {
            let mut state = self.lock();
            if let Some(obj) = state.built.get(name) {
                return Ok(Some(obj.clone()));
            }
            if state.building.iter().any(|n| n == name) {
                let (at, file) = from.map_or((decl.pos, &self.file), |(n, f)| (n.pos, f));
                return Err(ConfigError::at(
                    file,
                    at,
                    format!("heap object '{name}' refers to itself (circular reference)"),
                ));
            }
            state.building.push(name.to_string());
        }
        let built = self.build_decl(name, decl);
        let mut state = self.lock();
        state.building.retain(|n| n != name);
        let obj = built?;
        state.built.insert(name.to_string(), obj.clone());
        Ok(Some(obj))
    }

    /// Builds a declaration (named or inline) and applies its decorators, one level deeper.
    fn build_decl(self: &Arc<Self>, name: &str, decl: &Node) -> Result<Object, ConfigError> {
        let depth = BUILD_DEPTH.with(|d| d.get());
        if depth >= MAX_BUILD_DEPTH {
            return Err(ConfigError::at(
                &self.file,
                decl.pos,
                format!("objects nested more than {MAX_BUILD_DEPTH} deep (inline or through references)"),
            ));
        }
        BUILD_DEPTH.with(|d| d.set(depth + 1));
        let built = self.build_decl_here(name, decl);
        BUILD_DEPTH.with(|d| d.set(depth));
        built
    }

    fn build_decl_here(self: &Arc<Self>, name: &str, decl: &Node) -> Result<Object, ConfigError> {
        let type_node =
            decl.get("type").ok_or_else(|| ConfigError::at(&self.file, decl.pos, "an inline object needs a 'type'"))?;
        let type_name =
            type_node.as_str().ok_or_else(|| ConfigError::at(&self.file, type_node.pos, "'type' must be a string"))?;
        let builder = self.loader.registry.get(type_name).ok_or_else(|| {
            let why = match crate::compat::unsupported_type(type_name) {
                Some(why) => format!("type '{type_name}' is not supported: {why}"),
                None => {
                    let names = self.loader.registry.type_names();
                    format!("unknown type '{type_name}'{}", did_you_mean(type_name, names.iter().copied()))
                }
            };
            ConfigError::at(&self.file, type_node.pos, why)
        })?;
        let empty = Node { pos: decl.pos, kind: Kind::Object(Vec::new()) };
        let config = decl.get("config").unwrap_or(&empty);
        let display_name = if name.is_empty() { type_name } else { name };
        let cx = BuildCtx::new(self, display_name, type_name);
        let object = builder(&cx, config)?;
        let decorations = decl.entries().unwrap_or(&[]).iter().filter(|(k, _)| !RESERVED.contains(&k.name.as_str()));
        self.decorate(object, decorations, display_name, RESERVED)
    }

    /// Applies the decorators named by `keys` to `object`, in order. IG's comment keys
    /// (`_x`, `comment`) are skipped; any other key that names no decorator in scope is an
    /// error with the nearest of `known` (the keys the caller understands) or of the heap's
    /// names as a suggestion.
    pub fn decorate<'k>(
        self: &Arc<Self>,
        mut object: Object,
        keys: impl Iterator<Item = &'k (crate::json::Key, Node)>,
        name: &str,
        known: &[&str],
    ) -> Result<Object, ConfigError> {
        for (key, value) in keys.filter(|(k, _)| !is_comment_key(&k.name)) {
            let decorator = match self.lookup(&key.name, value)? {
                Some(Object::Decorator(d)) => d,
                found => {
                    let what = match found {
                        Some(other) => format!("names {} in the heap, not a decorator", other.kind_name()),
                        None => "is neither a property nor a decorator in scope".to_string(),
                    };
                    let names = self.names_in_scope();
                    let hint = did_you_mean(&key.name, known.iter().copied().chain(names.iter().map(String::as_str)));
                    return Err(ConfigError::at(
                        &self.file,
                        key.pos,
                        format!("unknown key '{}' on '{name}': it {what}{hint}", key.name),
                    ));
                }
            };
            let cx = BuildCtx::new(self, name, &key.name);
            object = match object {
                Object::Handler(h) => Object::Handler(decorator.decorate_handler(h, value, &cx)?),
                Object::Filter(f) => Object::Filter(decorator.decorate_filter(f, value, &cx)?),
                other => other,
            };
        }
        Ok(object)
    }

    /// The names declared in this heap and its parents.
    fn names_in_scope(&self) -> Vec<String> {
        let mut names = Vec::new();
        let mut heap = Some(self);
        while let Some(h) = heap {
            names.extend(h.decls.iter().map(|(n, _)| n.clone()));
            heap = h.parent.as_deref();
        }
        names
    }
}
