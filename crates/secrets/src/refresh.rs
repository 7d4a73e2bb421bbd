//! `autoRefresh`: a store watches its files and reloads when they change.
//!
//! Each refreshing store has one thread that looks at the files' modification time, size and
//! inode once a second. It holds the store weakly, so a store dropped by a route reload
//! stops its thread. Polling `stat` is cheap, works on every file system (including the
//! bind mounts and symlink swaps Kubernetes uses for secrets) and needs no extra crate.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Kind, Mode, Node};

/// How often refreshing stores look at their files.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

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

/// Starts watching `store` in the background.
pub(crate) fn watch<T: Refresh>(store: &Arc<T>, name: &str) {
    let weak: Weak<T> = Arc::downgrade(store);
    let spawned = std::thread::Builder::new().name(format!("refresh {name}")).spawn(move || loop {
        std::thread::sleep(INTERVAL);
        match weak.upgrade() {
            Some(store) => store.refresh(),
            None => break,
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the autoRefresh thread of {name}: {e}");
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
