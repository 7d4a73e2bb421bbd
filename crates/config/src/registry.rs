//! The registry of type names and what every build can see: instance paths and mode.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::{Clock, Service};

use crate::build::BuildCtx;
use crate::error::ConfigError;
use crate::heap::Object;
use crate::json::Node;

/// Starts `services` in order. When one fails, those already started are stopped again and
/// the error names the one that failed.
pub async fn start_all(services: &[Arc<dyn Service>]) -> Result<(), String> {
    for (i, service) in services.iter().enumerate() {
        if let Err(e) = service.start().await {
            stop_all(services[..i].to_vec()).await;
            return Err(format!("{} did not start: {e}", service.name()));
        }
        tracing::info!("started {}", service.name());
    }
    Ok(())
}

/// Stops `services`, the last started first.
pub async fn stop_all(services: Vec<Arc<dyn Service>>) {
    for service in services.into_iter().rev() {
        service.stop().await;
        tracing::info!("stopped {}", service.name());
    }
}

/// Turns a `config` object into a runtime object.
pub type Builder = fn(&BuildCtx<'_>, &Node) -> Result<Object, ConfigError>;

/// Type names to builders, and the default objects every top-level heap provides.
#[derive(Default)]
pub struct Registry {
    builders: HashMap<&'static str, Builder>,
    defaults: Vec<(&'static str, &'static str)>,
    duplicates: Vec<&'static str>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Registers `builder` under `type_name` (and each alias). A name registered twice is
    /// kept once and reported by [`Registry::check`]: two crates may not claim one type.
    pub fn register(&mut self, type_names: &[&'static str], builder: Builder) {
        for name in type_names {
            if self.builders.insert(name, builder).is_some() {
                self.duplicates.push(name);
            }
        }
    }

    /// Fails when a type name was registered twice.
    pub fn check(&self) -> Result<(), String> {
        match self.duplicates.as_slice() {
            [] => Ok(()),
            names => Err(format!("type names registered twice: {}", names.join(", "))),
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
    /// `INSTANCE/data`: where embedded stores keep their files.
    pub data_dir: PathBuf,
    /// Check or run.
    pub mode: Mode,
    /// The gateway's clock; builders hand it to whatever decides expiry.
    pub clock: Clock,
    /// The services started with this configuration, to stop on shutdown.
    services: std::sync::Mutex<Vec<Arc<dyn Service>>>,
    /// Files and directories that hold secrets (keystores, secret directories, client
    /// registries), for the start's check of who may read them.
    secret_paths: std::sync::Mutex<std::collections::BTreeSet<PathBuf>>,
    /// IG properties accepted and ignored (warned about), for `gatehouse check --report`.
    ignored: std::sync::Mutex<Vec<ConfigError>>,
}

impl Loader {
    /// A loader for the instance at `instance_dir`.
    pub fn new(registry: Registry, instance_dir: PathBuf, mode: Mode, clock: Clock) -> Self {
        let config_dir = instance_dir.join("config");
        let data_dir = instance_dir.join("data");
        Loader {
            errors: std::sync::Mutex::new(Vec::new()),
            registry,
            instance_dir,
            config_dir,
            data_dir,
            mode,
            clock,
            services: std::sync::Mutex::new(Vec::new()),
            secret_paths: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            ignored: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Warns about an IG property that is accepted and ignored, and keeps the note for
    /// `gatehouse check --report`.
    pub fn note_ignored(&self, note: ConfigError) {
        tracing::warn!("{note}");
        self.ignored.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(note);
    }

    /// The notes of [`Loader::note_ignored`], emptied.
    pub fn take_ignored(&self) -> Vec<ConfigError> {
        std::mem::take(&mut *self.ignored.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Notes that `path` (a file, or a directory of files) holds secrets.
    pub fn secret_path(&self, path: &std::path::Path) {
        self.secret_paths.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(path.to_path_buf());
    }

    /// The paths noted by [`Loader::secret_path`].
    pub fn secret_paths(&self) -> Vec<PathBuf> {
        self.secret_paths.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().cloned().collect()
    }

    /// Keeps services started outside any route (admin.json's and config.json's heaps) to
    /// stop them with [`Loader::stop_services`].
    pub fn keep_services(&self, services: Vec<Arc<dyn Service>>) {
        self.services.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(services);
    }

    /// Stops the kept services, the last started first.
    pub async fn stop_services(&self) {
        let services = std::mem::take(&mut *self.services.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        stop_all(services).await;
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use gatehouse_core::BoxFuture;

    use super::*;

    #[test]
    fn a_type_name_registered_twice_is_an_error() {
        fn build(_: &BuildCtx<'_>, _: &Node) -> Result<Object, ConfigError> {
            Err(ConfigError::file(&Arc::from("x"), "unused"))
        }
        let mut registry = Registry::new();
        registry.register(&["A", "B"], build);
        assert!(registry.check().is_ok());
        registry.register(&["B", "C"], build);
        assert_eq!(registry.check().unwrap_err(), "type names registered twice: B");
    }

    struct Recorder {
        name: &'static str,
        fail: bool,
        log: Arc<Mutex<Vec<String>>>,
    }

    impl Service for Recorder {
        fn name(&self) -> String {
            self.name.to_string()
        }

        fn start(&self) -> BoxFuture<'_, Result<(), String>> {
            self.log.lock().unwrap().push(format!("start {}", self.name));
            let result = if self.fail { Err("no database".to_string()) } else { Ok(()) };
            Box::pin(std::future::ready(result))
        }

        fn stop(&self) -> BoxFuture<'_, ()> {
            self.log.lock().unwrap().push(format!("stop {}", self.name));
            Box::pin(std::future::ready(()))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        // The services here answer at once: one poll is enough.
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => unreachable!("the test services are ready at once"),
        }
    }

    #[test]
    fn services_start_in_order_stop_in_reverse_and_a_failed_start_rolls_back() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let service = |name, fail| Arc::new(Recorder { name, fail, log: log.clone() }) as Arc<dyn Service>;
        let ok = vec![service("a", false), service("b", false)];
        block_on(start_all(&ok)).unwrap();
        block_on(stop_all(ok));
        assert_eq!(*log.lock().unwrap(), ["start a", "start b", "stop b", "stop a"]);

        log.lock().unwrap().clear();
        let failing = vec![service("a", false), service("b", false), service("c", true), service("d", false)];
        assert_eq!(block_on(start_all(&failing)).unwrap_err(), "c did not start: no database");
        assert_eq!(*log.lock().unwrap(), ["start a", "start b", "start c", "stop b", "stop a"]);
    }
}
