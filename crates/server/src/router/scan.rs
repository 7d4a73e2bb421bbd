//! Scanning the routes directory: what changed since the last scan.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

/// What identifies a version of a file: its length and a hash of its contents. Route files
/// are small, and a modification time alone misses two same-length saves within one tick
/// of the file system's clock, which notifications make likely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    hash: u64,
}

/// The `.json` files directly in `dir` (a missing directory is empty), by path.
pub(crate) fn list(dir: &Path) -> BTreeMap<PathBuf, Stamp> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        // Follow links, as editors and deployment tools use them; skip directories.
        if !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        // A file that cannot be read gets a stamp of its own: loading it then reports why,
        // and its previous version keeps serving.
        let stamp = match std::fs::read(&path) {
            Ok(bytes) => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut hasher);
                Stamp { len: bytes.len() as u64, hash: hasher.finish() }
            }
            Err(_) => Stamp { len: u64::MAX, hash: 0 },
        };
        out.insert(path, stamp);
    }
    out
}

thread_local! {
    /// The routes directories whose scan is running on this thread, outermost first. Loading
    /// a route is synchronous, so a Router built while its own directory is being scanned is
    /// found here.
    static SCANNING: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The directory as the scan stack knows it: resolved, so that `routes` and `./routes/`
/// are one directory.
fn key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Whether a scan of `dir` is in progress on this thread.
pub(crate) fn in_progress(dir: &Path) -> bool {
    let dir = key(dir);
    SCANNING.with(|s| s.borrow().contains(&dir))
}

/// Marks a scan of a directory in progress for as long as it lives.
pub(crate) struct Scanning;

impl Scanning {
    pub(crate) fn enter(dir: &Path) -> Scanning {
        let dir = key(dir);
        SCANNING.with(|s| s.borrow_mut().push(dir));
        Scanning
    }
}

impl Drop for Scanning {
    fn drop(&mut self) {
        SCANNING.with(|s| s.borrow_mut().pop());
    }
}
