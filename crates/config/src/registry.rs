//! The registry of type names and what every build can see: instance paths and mode.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::build::BuildCtx;
use crate::error::ConfigError;
use crate::heap::Object;
use crate::json::Node;

/// Turns a `config` object into a runtime object.
pub type Builder = fn(&BuildCtx<'_>, &Node) -> Result<Object, ConfigError>;

/// Type names to builders, and the default objects every top-level heap provides.
#[derive(Default)]
pub struct Registry {
    builders: HashMap<&'static str, Builder>,
    defaults: Vec<(&'static str, &'static str)>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `builder` under `type_name` (and each alias).
    pub fn register(&mut self, type_names: &[&'static str], builder: Builder) {
        for name in type_names {
            self.builders.insert(name, builder);
        }
    }

    /// Declares a default object `name` of type `type_name`, overridable by declaring the
    /// same name in a heap.
    pub fn default_object(&mut self, name: &'static str, type_name: &'static str) {
        self.defaults.push((name, type_name));
    }

    /// The builder for `type_name`. A Java class name (`org.forgerock...Chain`) resolves by
    /// its last segment, so migrated files keep working.
    pub fn get(&self, type_name: &str) -> Option<Builder> {
        self.builders
            .get(type_name)
            .or_else(|| type_name.rsplit_once('.').and_then(|(_, short)| self.builders.get(short)))
            .copied()
    }

    /// The default objects, as `(name, type)`.
    pub fn defaults(&self) -> &[(&'static str, &'static str)] {
        &self.defaults
    }

    /// Every registered type name, sorted.
    pub fn type_names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.builders.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// Whether a load serves traffic or only checks the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build everything and report errors; start nothing (no scans, no sockets).
    Check,
    /// Build and run.
    Run,
}

/// What every build of one gateway can see.
pub struct Loader {
    /// Errors reported by parts that keep going (a route that fails to load).
    errors: std::sync::Mutex<Vec<ConfigError>>,
    /// Type names to builders.
    pub registry: Registry,
    /// The instance directory.
    pub instance_dir: PathBuf,
    /// `INSTANCE/config`.
    pub config_dir: PathBuf,
    /// Check or run.
    pub mode: Mode,
}

impl Loader {
    /// A loader for the instance at `instance_dir`.
    pub fn new(registry: Registry, instance_dir: PathBuf, mode: Mode) -> Self {
        let config_dir = instance_dir.join("config");
        Loader { errors: std::sync::Mutex::new(Vec::new()), registry, instance_dir, config_dir, mode }
    }

    /// Logs an error that does not stop the load (the old version keeps serving), and keeps
    /// it for `gatehouse check`.
    pub fn report(&self, error: ConfigError) {
        if self.mode == Mode::Run {
            tracing::error!("{error}");
        }
        self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(error);
    }

    /// The errors reported so far, emptied.
    pub fn take_errors(&self) -> Vec<ConfigError> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The properties every heap starts with: IG's `openig` object and built-in tokens.
    pub fn base_properties(&self) -> serde_json::Map<String, serde_json::Value> {
        let instance = self.instance_dir.display().to_string();
        let config = self.config_dir.display().to_string();
        let mut m = serde_json::Map::new();
        m.insert(
            "openig".into(),
            serde_json::json!({
                "baseDirectory": instance,
                "instanceDirectory": instance,
                "configDirectory": config,
                "temporaryDirectory": self.instance_dir.join("tmp").display().to_string(),
            }),
        );
        m.insert("ig.instance.dir".into(), serde_json::Value::String(instance));
        m
    }
}
