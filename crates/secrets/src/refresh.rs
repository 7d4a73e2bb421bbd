//! `autoRefresh`: a store watches its files and reloads when they change.
//!
//! Each refreshing store registers a service: a task that looks at the files' modification
//! time, size and inode once a second. It starts with the configuration that declares the
//! store and stops with it (a route reload that drops the store stops it); it also holds the
//! store weakly. Polling `stat` is cheap, works on every file system (including the bind
//! mounts and symlink swaps Kubernetes uses for secrets) and needs no extra crate.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Kind, Mode, Node};
use gatehouse_core::{BoxFuture, Service, Task};

/// How often refreshing stores look at their files.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// Secret store refreshes that found a change: `reloaded`, or `failed` (the previous content
/// kept).
pub(crate) static REFRESHES: gatehouse_core::counters::LabeledCounter = gatehouse_core::counters::LabeledCounter::new(
    "gatehouse_secret_store_refreshes_total",
    "Secret store refreshes (autoRefresh) that found a change, by outcome.",
    &["outcome"],
);

/// A store that can look for changes.
pub(crate) trait Refresh: Send + Sync + 'static {
    /// Reloads what changed since the last look.
    fn refresh(&self);
}

/// What identifies a version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    modified: i64,
    modified_ns: i64,
    len: u64,
    inode: u64,
}

/// The file's stamp, or `None` when it cannot be read.
pub(crate) fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: m.mtime(), modified_ns: m.mtime_nsec(), len: m.len(), inode: m.ino() })
}

/// Registers the service that watches `store` while its configuration runs.
pub(crate) fn watch<T: Refresh>(cx: &BuildCtx<'_>, store: &Arc<T>) {
    let weak: Weak<dyn Refresh> = Arc::downgrade(store) as Weak<dyn Refresh>;
    cx.service(Arc::new(Refresher { store: weak, name: cx.name().to_string(), task: Task::default() }));
}

/// The autoRefresh service of one store.
struct Refresher {
    store: Weak<dyn Refresh>,
    name: String,
    task: Task,
}

impl Service for Refresher {
    fn name(&self) -> String {
        format!("autoRefresh of '{}'", self.name)
    }

    fn start(&self) -> BoxFuture<'_, Result<(), String>> {
        let store = self.store.clone();
        self.task.spawn(async move {
            let mut ticker = tokio::time::interval(INTERVAL);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(store) = store.upgrade() else { return };
                // Reading and parsing key files blocks: keep it off the request threads.
                let _ = tokio::task::spawn_blocking(move || store.refresh()).await;
            }
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn stop(&self) -> BoxFuture<'_, ()> {
        self.task.stop()
    }
}

/// Reads `autoRefresh`: a boolean, or IG's `{ "enabled": bool, "executor": ref }`. A check
/// run never refreshes.
pub(crate) fn enabled(cx: &BuildCtx<'_>, node: Option<&Node>) -> Result<bool, ConfigError> {
    let enabled = match node {
        None => false,
        Some(n @ Node { kind: Kind::Object(_), .. }) => {
            let c = cx.config(n)?;
            let enabled = c.get("enabled").map(|e| cx.bool(e)).transpose()?.unwrap_or(true);
            c.ignore(&["executor"]);
            c.finish()?;
            enabled
        }
        Some(n) => cx.bool(n)?,
    };
    Ok(enabled && cx.heap().loader().mode == Mode::Run)
}
