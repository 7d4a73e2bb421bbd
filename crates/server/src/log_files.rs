//! Log files that are closed and handed on. admin.json's `accessLog` rotates the access log by
//! size and by day and keeps a number of closed files; an agent whose `EncryptFile` is true
//! adds a hook that encrypts each closed file, and then the file is also closed at a clean stop
//! and at start when a previous run left one behind (a crash). A closed file is renamed
//! `access-YYYYMMDDTHHMMSSZ.log` (`-2`, `-3`, ... when that name is taken). The live file is owner-only
//! (mode 0600) while it is written.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What happens to a closed log file (the agent's: it becomes a CMS file).
pub type CloseHook = Arc<dyn Fn(&Path) -> Result<PathBuf, String> + Send + Sync>;

/// Rotation of a log file.
#[derive(Clone)]
pub struct Rotation {
    /// The size at which the live file is closed.
    pub max_bytes: u64,
    /// Whether the live file is also closed when the UTC day changes.
    pub daily: bool,
    /// How many closed files to keep (the oldest beyond are deleted); `None` keeps all.
    pub retain: Option<usize>,
    /// What to do with each closed file (the agent's encryption); with a hook, a file left by
    /// the previous run is closed at start and the live file at stop.
    pub on_close: Option<CloseHook>,
}

impl Rotation {
    /// Whether the live file, `size` bytes long and begun on UTC day `opened_day`, is due
    /// before a line of day `line_day` (a later day: a line that ended just before midnight
    /// and is written just after stays with its day's file).
    pub(crate) fn due(&self, size: u64, opened_day: u64, line_day: u64) -> bool {
        size >= self.max_bytes || (self.daily && size > 0 && line_day > opened_day)
    }
}

/// The UTC day (days since the epoch) of `t`.
pub(crate) fn day_of(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400)
}

/// Opens `path` for appending: owner-only when it will be rotated. A non-empty file left by a
/// previous run is closed first.
pub(crate) fn open(path: &Path, rotation: Option<&Rotation>, clock: &gatehouse_core::Clock) -> std::io::Result<File> {
    if let Some(r) = rotation.filter(|r| r.on_close.is_some()) {
        // Closed files a failed hook left plain (a full disk, say) get another attempt.
        retry_closed(path, r);
        if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
            close(path, r, clock);
        }
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    if rotation.is_some() {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        return Ok(file);
    }
    options.open(path)
}

/// The closed files beside `path`: `stem-*`, as [`close`] named them, whatever the hook made
/// of them since.
fn closed_files(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else { return Vec::new() };
    let prefix = format!("{stem}-");
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the hook on closed files still plain (`stem-*.log`) beside `path`.
fn retry_closed(path: &Path, rotation: &Rotation) {
    let Some(hook) = &rotation.on_close else { return };
    for plain in closed_files(path).into_iter().filter(|p| p.extension().is_some_and(|x| x == "log")) {
        match hook(&plain) {
            Ok(done) => tracing::info!("log file closed: {}", done.display()),
            Err(e) => tracing::warn!("closed log file {}: {e}", plain.display()),
        }
    }
}

/// Renames the closed file at `path` aside and runs the hook on it (errors are logged: the
/// gateway keeps serving, and the plain file stays for the next attempt at start).
pub(crate) fn close(path: &Path, rotation: &Rotation, clock: &gatehouse_core::Clock) {
    let stamp: String = humantime::format_rfc3339_seconds(clock.now())
        .to_string()
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("log");
    let mut closed = path.with_file_name(format!("{stem}-{stamp}.log"));
    let mut n = 1;
    // Unique also against what the hook made of earlier files (`.log.cms`).
    let existing = closed_files(path);
    let taken = |candidate: &Path| {
        let name = candidate.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        existing.iter().any(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(&name)))
    };
    while taken(&closed) {
        n += 1;
        closed = path.with_file_name(format!("{stem}-{stamp}-{n}.log"));
    }
    if let Err(e) = std::fs::rename(path, &closed) {
        tracing::warn!("cannot close the log file {}: {e}", path.display());
        return;
    }
    match &rotation.on_close {
        Some(hook) => match hook(&closed) {
            Ok(done) => tracing::info!("log file closed: {}", done.display()),
            Err(e) => tracing::warn!("closed log file {}: {e}", closed.display()),
        },
        None => tracing::info!("log file closed: {}", closed.display()),
    }
    if let Some(keep) = rotation.retain {
        prune(path, keep);
    }
}

/// Deletes the oldest closed files of `path` (`stem-*`, whatever the hook made of them) beyond
/// the newest `keep`.
fn prune(path: &Path, keep: usize) {
    // Oldest first by when each was last written (names collide within a second, and a
    // pinned test clock names files out of the file system's order).
    let mut closed: Vec<(std::time::SystemTime, PathBuf)> = closed_files(path)
        .into_iter()
        .map(|p| (std::fs::metadata(&p).and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
        .collect();
    closed.sort();
    let excess = closed.len().saturating_sub(keep);
    for (_, old) in closed.into_iter().take(excess) {
        match std::fs::remove_file(&old) {
            Ok(()) => tracing::info!("log file deleted (retention): {}", old.display()),
            Err(e) => tracing::warn!("cannot delete the old log file {}: {e}", old.display()),
        }
    }
}
