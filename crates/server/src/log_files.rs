//! Log files that are closed and handed on: when an instance asks for it (an agent whose
//! `EncryptFile` is true), the access log is rotated when it reaches [`Rotation::max_bytes`],
//! at a clean stop, and at start when a previous run left one behind (a crash); each closed
//! file is renamed `access-YYYYMMDDTHHMMSSZ.log` and given to the hook, which encrypts it.
//! The live file is plain and owner-only (mode 0600) while it is written.

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
    /// What to do with each closed file.
    pub on_close: CloseHook,
}

/// Opens `path` for appending: owner-only when it will be rotated. A non-empty file left by a
/// previous run is closed first.
pub(crate) fn open(path: &Path, rotation: Option<&Rotation>, clock: &gatehouse_core::Clock) -> std::io::Result<File> {
    if let Some(r) = rotation {
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

/// Runs the hook on closed files (`stem-*.log`) still beside `path`.
fn retry_closed(path: &Path, rotation: &Rotation) {
    let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) else { return };
    let prefix = format!("{stem}-");
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".log") {
            match (rotation.on_close)(&entry.path()) {
                Ok(done) => tracing::info!("log file closed: {}", done.display()),
                Err(e) => tracing::warn!("closed log file {}: {e}", entry.path().display()),
            }
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
    let taken = |candidate: &Path| {
        let name = candidate.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        std::fs::read_dir(path.parent().unwrap_or(Path::new(".")))
            .map(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with(&name)))
            .unwrap_or(false)
    };
    while taken(&closed) {
        n += 1;
        closed = path.with_file_name(format!("{stem}-{stamp}-{n}.log"));
    }
    if let Err(e) = std::fs::rename(path, &closed) {
        tracing::warn!("cannot close the log file {}: {e}", path.display());
        return;
    }
    match (rotation.on_close)(&closed) {
        Ok(done) => tracing::info!("log file closed: {}", done.display()),
        Err(e) => tracing::warn!("closed log file {}: {e}", closed.display()),
    }
}
