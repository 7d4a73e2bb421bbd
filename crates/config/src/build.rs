//! What a builder sees: its heap, typed reads of its config that report positions, and
//! an unknown-key check.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::{Context, Filter, Handler};
use gatehouse_expr::{Expression, LValue, ParseEnv, ParseError, Scope};

use crate::duration::{parse_duration, IgDuration};
use crate::error::ConfigError;
use crate::heap::{Heap, Object};
use crate::json::{Key, Kind, Node, Pos};
use crate::keys::{did_you_mean, is_comment_key};

/// The context of one object's build.
pub struct BuildCtx<'h> {
    heap: &'h Arc<Heap>,
    name: String,
    type_name: String,
}

impl<'h> BuildCtx<'h> {
    /// A build context for object `name` of type `type_name` in `heap`.
    pub fn new(heap: &'h Arc<Heap>, name: &str, type_name: &str) -> Self {
        BuildCtx { heap, name: name.to_string(), type_name: type_name.to_string() }
    }

    /// The heap the object is built in.
    pub fn heap(&self) -> &'h Arc<Heap> {
        self.heap
    }

    /// The object's name (its type when inline and unnamed).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file being loaded.
    pub fn file(&self) -> &Arc<str> {
        self.heap.file()
    }

    /// The gateway's clock.
    pub fn clock(&self) -> &gatehouse_core::Clock {
        &self.heap.loader().clock
    }

    /// Registers background work of the object being built: started by the server before
    /// the configuration serves (never by `gatehouse check`), stopped when it goes.
    pub fn service(&self, service: Arc<dyn gatehouse_core::Service>) {
        self.heap.add_service(service);
    }

    /// An error at `node`.
    pub fn err(&self, node: &Node, msg: impl Into<String>) -> ConfigError {
        ConfigError::at(self.file(), node.pos, msg)
    }

    /// Reads `node` as this object's config object.
    pub fn config<'n>(&self, node: &'n Node) -> Result<ObjConfig<'n, '_>, ConfigError> {
        let entries = node
            .entries()
            .ok_or_else(|| self.err(node, format!("the config of {} must be an object", self.type_name)))?;
        Ok(ObjConfig {
            cx: self,
            node,
            entries,
            used: entries.iter().map(|_| Cell::new(false)).collect(),
            known: RefCell::new(Vec::new()),
        })
    }

    /// Resolves a reference to a handler.
    pub fn handler(&self, node: &Node) -> Result<Arc<dyn Handler>, ConfigError> {
        match self.heap.resolve(node)? {
            Object::Handler(h) => Ok(h),
            other => Err(self.err(node, format!("expected a handler, found {}", other.kind_name()))),
        }
    }

    /// Resolves a reference to a filter.
    pub fn filter(&self, node: &Node) -> Result<Arc<dyn Filter>, ConfigError> {
        match self.heap.resolve(node)? {
            Object::Filter(f) => Ok(f),
            other => Err(self.err(node, format!("expected a filter, found {}", other.kind_name()))),
        }
    }

    /// Resolves a reference to a configuration object of type `T`.
    pub fn other<T: Send + Sync + 'static>(&self, node: &Node, what: &str) -> Result<Arc<T>, ConfigError> {
        match self.heap.resolve(node)? {
            Object::Other(o) => o.downcast::<T>().map_err(|_| self.err(node, format!("expected {what}"))),
            other => Err(self.err(node, format!("expected {what}, found {}", other.kind_name()))),
        }
    }

    /// Every item's result: the values when all succeeded, else the first error, with the
    /// others reported to the loader, so that `gatehouse check` lists every broken filter,
    /// binding or heap object of a file in one run rather than the first.
    pub fn all<T>(&self, results: impl IntoIterator<Item = Result<T, ConfigError>>) -> Result<Vec<T>, ConfigError> {
        collect_all(self.heap.loader(), results)
    }

    /// Parses a runtime expression or template.
    pub fn expr(&self, node: &Node) -> Result<Expression, ConfigError> {
        let src = self.str(node)?;
        let env = ParseEnv { constants: Some(self.heap.properties()), files: Some(&self.heap.loader().instance_dir) };
        let expr = Expression::parse(src, &env).map_err(|e| self.expr_err(node, src, &e))?;
        for w in expr.warnings() {
            tracing::warn!("{}:{}: {w} in '{src}'", self.file(), node.pos);
        }
        Ok(expr)
    }

    /// Parses an assignment target such as `${session.authUsername}`.
    pub fn lvalue(&self, node: &Node) -> Result<LValue, ConfigError> {
        let src = self.str(node)?;
        let env = ParseEnv { constants: Some(self.heap.properties()), files: Some(&self.heap.loader().instance_dir) };
        LValue::parse(src, &env).map_err(|e| self.expr_err(node, src, &e))
    }

    /// Maps an offset in an expression to a position in the file (exact when the string
    /// has no escapes).
    fn expr_err(&self, node: &Node, src: &str, e: &ParseError) -> ConfigError {
        let chars = src.get(..e.offset).map_or(0, |s| s.chars().count()) as u32;
        let pos = Pos { line: node.pos.line, col: node.pos.col + 1 + chars };
        ConfigError::at(self.file(), pos, format!("invalid expression: {}", e.message))
    }

    /// A string value, without evaluating anything.
    pub fn str<'n>(&self, node: &'n Node) -> Result<&'n str, ConfigError> {
        node.as_str().ok_or_else(|| self.err(node, format!("expected a string, found {}", node.kind_name())))
    }

    /// A configuration expression evaluated once at load: a string whose `${...}` may use
    /// `env`, `system` and properties, but no request.
    pub fn string(&self, node: &Node) -> Result<String, ConfigError> {
        let src = self.str(node)?;
        if !src.contains("${") && !src.contains("#{") {
            return Ok(src.to_string());
        }
        let expr = self.expr(node)?;
        let cx = Context::detached();
        let value = expr.eval(&Scope::detached(&cx));
        if value.is_null() {
            return Err(self.err(node, format!("'{src}' evaluates to null")));
        }
        Ok(value.to_text().into_owned())
    }

    /// An integer, written as a number or a string (possibly a configuration expression).
    pub fn int(&self, node: &Node) -> Result<i64, ConfigError> {
        match &node.kind {
            Kind::Number(n) => n.as_i64().ok_or_else(|| self.err(node, "expected an integer")),
            Kind::String(_) => {
                let s = self.string(node)?;
                s.trim().parse().map_err(|_| self.err(node, format!("'{s}' is not an integer")))
            }
            _ => Err(self.err(node, format!("expected an integer, found {}", node.kind_name()))),
        }
    }

    /// A boolean, written as a boolean or a string.
    pub fn bool(&self, node: &Node) -> Result<bool, ConfigError> {
        match &node.kind {
            Kind::Bool(b) => Ok(*b),
            Kind::String(_) => match self.string(node)?.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(self.err(node, format!("'{other}' is not a boolean"))),
            },
            _ => Err(self.err(node, format!("expected a boolean, found {}", node.kind_name()))),
        }
    }

    /// An IG duration (`"10 seconds"`); `None` means unlimited.
    pub fn duration(&self, node: &Node) -> Result<IgDuration, ConfigError> {
        match &node.kind {
            Kind::Number(n) => {
                Ok(Some(Duration::from_secs(n.as_u64().unwrap_or(0)).min(crate::duration::MAX_DURATION)))
            }
            _ => parse_duration(&self.string(node)?).map_err(|m| self.err(node, m)),
        }
    }

    /// The items of an array.
    pub fn array<'n>(&self, node: &'n Node) -> Result<&'n [Node], ConfigError> {
        match &node.kind {
            Kind::Array(items) => Ok(items),
            _ => Err(self.err(node, format!("expected an array, found {}", node.kind_name()))),
        }
    }

    /// The entries of an object.
    pub fn object<'n>(&self, node: &'n Node) -> Result<&'n [(Key, Node)], ConfigError> {
        node.entries().ok_or_else(|| self.err(node, format!("expected an object, found {}", node.kind_name())))
    }
}

/// An object's config being read: every key read is marked, and [`ObjConfig::finish`]
/// rejects the rest, naming where they are and the known key each most resembles. Keys of
/// IG's comment idioms (`_anything`, `comment`) are accepted silently.
pub struct ObjConfig<'n, 'c> {
    cx: &'c BuildCtx<'c>,
    node: &'n Node,
    entries: &'n [(Key, Node)],
    used: Vec<Cell<bool>>,
    /// Every key the builder asked for, present or not: the type's properties.
    known: RefCell<Vec<String>>,
}

impl<'n> ObjConfig<'n, '_> {
    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.known.borrow_mut().push(key.to_string());
        let i = self.entries.iter().position(|(k, _)| k.name == key)?;
        self.used[i].set(true);
        Some(&self.entries[i].1)
    }

    /// The value of `key`, which must be present.
    pub fn require(&self, key: &str) -> Result<&'n Node, ConfigError> {
        self.get(key).ok_or_else(|| {
            // A misspelt required key: point at it rather than at the object.
            let names = self.entries.iter().map(|(k, _)| k.name.as_str());
            match crate::keys::suggest(key, names).and_then(|typo| self.entries.iter().find(|(k, _)| k.name == typo)) {
                Some((typo, _)) => ConfigError::at(
                    self.cx.file(),
                    typo.pos,
                    format!("{} needs '{key}'; is '{}' a misspelling of it?", self.cx.type_name, typo.name),
                ),
                None => self.cx.err(self.node, format!("{} needs '{key}'", self.cx.type_name)),
            }
        })
    }

    /// Marks keys that IG accepts and Gatehouse deliberately ignores, with a warning.
    pub fn ignore(&self, keys: &[&str]) {
        for key in keys {
            if let Some(n) = self.get(key) {
                let note = ConfigError::at(
                    self.cx.file(),
                    n.pos,
                    format!("'{key}' of {} is not supported by Gatehouse and is ignored", self.cx.type_name),
                );
                self.cx.heap.loader().note_ignored(note);
            }
        }
    }

    /// Refuses an IG property Gatehouse does not implement because ignoring it would weaken
    /// security (the gateway would quietly protect less than the file says): an error when
    /// `key` is present with a value other than `false` or `null` (which ask for nothing).
    pub fn refuse(&self, key: &str, why: &str) -> Result<(), ConfigError> {
        let asks_for_nothing = |n: &Node| match &n.kind {
            Kind::Null | Kind::Bool(false) => true,
            Kind::String(s) => s.trim().eq_ignore_ascii_case("false"),
            _ => false,
        };
        match self.get(key) {
            Some(n) if !asks_for_nothing(n) => {
                Err(self.cx.err(n, format!("'{key}' of {} is not supported by Gatehouse: {why}", self.cx.type_name)))
            }
            _ => Ok(()),
        }
    }

    /// Applies every key not read (beside IG's comment idioms) as a decorator of `object`, as
    /// IG does on a route or a heap declaration (`"capture": "all"` on a DispatchHandler binding
    /// or inside a Chain's config); a key that names no decorator is an error naming the
    /// properties this object knows.
    pub fn decorate_rest(self, object: Object, name: &str) -> Result<Object, ConfigError> {
        let rest: Vec<&(Key, Node)> = self
            .entries
            .iter()
            .zip(&self.used)
            .filter(|((k, _), used)| !used.get() && !is_comment_key(&k.name))
            .map(|(e, _)| e)
            .collect();
        for u in &self.used {
            u.set(true);
        }
        let known = self.known.borrow().clone();
        let known: Vec<&str> = known.iter().map(String::as_str).collect();
        self.cx.heap.decorate(object, rest.into_iter(), name, &known)
    }

    /// Fails on any key that was not read, except IG's comment idioms.
    pub fn finish(self) -> Result<(), ConfigError> {
        let known = self.known.borrow();
        let unknown =
            self.entries.iter().zip(&self.used).filter(|((key, _), used)| !used.get() && !is_comment_key(&key.name));
        // Every unknown key of the object: the first fails the build, the others are reported.
        let errors = unknown.map(|((key, _), _)| {
            let hint = did_you_mean(&key.name, known.iter().map(String::as_str));
            Err::<(), _>(ConfigError::at(
                self.cx.file(),
                key.pos,
                format!("unknown property '{}' of {}{hint}", key.name, self.cx.type_name),
            ))
        });
        collect_all(self.cx.heap.loader(), errors.collect::<Vec<_>>()).map(|_| ())
    }
}

/// See [`BuildCtx::all`].
pub(crate) fn collect_all<T>(
    loader: &crate::Loader,
    results: impl IntoIterator<Item = Result<T, ConfigError>>,
) -> Result<Vec<T>, ConfigError> {
    let mut values = Vec::new();
    let mut first = None;
    for r in results {
        match r {
            Ok(v) => values.push(v),
            Err(e) if first.is_none() => first = Some(e),
            Err(e) => loader.report(e),
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(values),
    }
}
