//! Reloading as soon as a routes file changes: the OS's file notifications (inotify, kqueue,
//! FSEvents through `notify`) wake the scanner, debounced so that an editor's save (write a
//! temporary file, rename it over the old one) is one reload. The scan interval stays as the
//! fallback for file systems that do not notify (NFS, some container mounts).

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the directory must stay quiet after a notification before the scan runs.
pub(crate) const QUIET: Duration = Duration::from_millis(25);
/// The longest a burst of notifications may delay the scan.
pub(crate) const MAX_DELAY: Duration = Duration::from_millis(75);

/// Watches one routes directory (or, while it does not exist, its parent, so that its
/// creation is seen); dropping it stops the watch.
pub(crate) struct DirWatch {
    watcher: Option<notify::RecommendedWatcher>,
    watching: Option<PathBuf>,
    dir: PathBuf,
    tx: mpsc::Sender<()>,
}

impl DirWatch {
    /// A watch of `dir` that sends a unit on `tx` for every change.
    pub(crate) fn new(dir: &Path, tx: mpsc::Sender<()>) -> Self {
        let mut watch = DirWatch { watcher: None, watching: None, dir: dir.to_path_buf(), tx };
        watch.refresh();
        watch
    }

    /// Watches the directory if it exists now, else its parent; called after every scan.
    pub(crate) fn refresh(&mut self) {
        let target = if self.dir.is_dir() { Some(self.dir.clone()) } else { self.dir.parent().map(Path::to_path_buf) };
        if target == self.watching {
            return;
        }
        self.watcher = None;
        self.watching = None;
        let Some(target) = target else { return };
        let tx = self.tx.clone();
        // A full channel already holds a wake-up; dropping this one loses nothing.
        let handler = move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| !e.kind.is_access()) {
                let _ = tx.try_send(());
            }
        };
        match notify::recommended_watcher(handler).and_then(|mut w| {
            w.watch(&target, RecursiveMode::NonRecursive)?;
            Ok(w)
        }) {
            Ok(w) => {
                tracing::debug!(directory = %target.display(), "watching for route changes");
                self.watcher = Some(w);
                self.watching = Some(target);
            }
            Err(e) => tracing::warn!(
                directory = %target.display(),
                "cannot watch for route changes ({e}); they are picked up at the scan interval"
            ),
        }
    }
}

/// Waits until the notifications on `rx` have been quiet for [`QUIET`] (at most
/// [`MAX_DELAY`] in all), draining them: one scan for one burst.
pub(crate) async fn debounce(rx: &mut mpsc::Receiver<()>) {
    let deadline = tokio::time::Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (tokio::time::Instant::now() + QUIET).min(deadline);
        match tokio::time::timeout_at(quiet_until, rx.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < deadline => continue,
            _ => return,
        }
    }
}
