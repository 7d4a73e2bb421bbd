//! Scanning the routes directory: what changed since the last scan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What identifies a version of a file: its modification time and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
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
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.is_file() {
            out.insert(path, Stamp { modified: meta.modified().ok(), len: meta.len() });
        }
    }
    out
}
