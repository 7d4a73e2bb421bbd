//! The reference guide's "secure the configuration and logs": at start, one warning names the
//! files other users of the machine can read, in the instance directory and wherever the
//! configuration keeps secrets (keystores, secret directories, client registries).
//!
//! A file counts when its mode lets others read it and every directory above it lets them
//! through (`o+x`): a private instance directory (the default one is created `0700`) makes
//! everything under it private, whatever the files' own modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// How deep and how many entries the walk visits: an instance is small; a mistaken path to
/// `/` must not turn the start into a disk scan.
const MAX_DEPTH: usize = 12;
const MAX_ENTRIES: usize = 20_000;

/// The files under `instance` and `secret_paths` that other users can read, sorted.
pub fn readable_by_others(instance: &Path, secret_paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut budget = MAX_ENTRIES;
    for root in std::iter::once(instance).chain(secret_paths.iter().map(PathBuf::as_path)) {
        if ancestors_let_others_through(root) {
            walk(root, 0, &mut budget, &mut found);
        }
    }
    found.sort();
    found.dedup();
    found
}

fn others(path: &Path, bit: u32) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & bit != 0)
}

fn ancestors_let_others_through(path: &Path) -> bool {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    absolute.ancestors().skip(1).all(|dir| others(dir, 0o001))
}

fn walk(path: &Path, depth: usize, budget: &mut usize, found: &mut Vec<PathBuf>) {
    if *budget == 0 {
        return;
    }
    *budget -= 1;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return };
    let mode = meta.permissions().mode();
    if meta.is_dir() {
        if mode & 0o001 == 0 || depth >= MAX_DEPTH {
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else { return };
        for entry in entries.flatten() {
            walk(&entry.path(), depth + 1, budget, found);
        }
    } else if meta.is_file() && mode & 0o004 != 0 && path.file_name().is_none_or(|n| n != "gatehouse.pid") {
        found.push(path.to_path_buf());
    } else if meta.file_type().is_symlink() && others(path, 0o004) && std::fs::metadata(path).is_ok_and(|m| m.is_file())
    {
        // A link to a key elsewhere: the target's mode is what matters.
        found.push(path.to_path_buf());
    }
}

/// The warning for `files`, relative to `instance` where they are inside it, or `None`.
pub fn warning(instance: &Path, files: &[PathBuf]) -> Option<String> {
    const SHOWN: usize = 8;
    if files.is_empty() {
        return None;
    }
    let names: Vec<String> =
        files.iter().take(SHOWN).map(|f| f.strip_prefix(instance).unwrap_or(f).display().to_string()).collect();
    let more = if files.len() > SHOWN { format!(" and {} more", files.len() - SHOWN) } else { String::new() };
    Some(format!(
        "{} file(s) with configuration, secrets or logs are readable by other users: {}{more}; \
         secure them (chmod o-rwx on the instance directory {}, or on each file)",
        files.len(),
        names.join(", "),
        instance.display()
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn readable_files_are_named_unless_a_directory_above_keeps_others_out() {
        let base = std::env::temp_dir().join(format!("gatehouse-perm-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let inst = base.join("instance");
        std::fs::create_dir_all(inst.join("config")).unwrap();
        std::fs::create_dir_all(inst.join("secrets")).unwrap();
        std::fs::create_dir_all(base.join("keys")).unwrap();
        chmod(&base, 0o755);
        chmod(&inst, 0o755);
        for (f, mode) in [("config/admin.json", 0o644), ("secrets/key.pem", 0o600), ("gatehouse.pid", 0o644)] {
            std::fs::write(inst.join(f), "x").unwrap();
            chmod(&inst.join(f), mode);
        }
        std::fs::write(base.join("keys/store.p12"), "x").unwrap();
        chmod(&base.join("keys/store.p12"), 0o644);
        chmod(&inst.join("config"), 0o755);
        chmod(&inst.join("secrets"), 0o755);
        let outside = [base.join("keys/store.p12")];
        let found = readable_by_others(&inst, &outside);
        assert_eq!(found, vec![inst.join("config/admin.json"), base.join("keys/store.p12")]);
        let w = warning(&inst, &found).unwrap();
        assert!(w.contains("config/admin.json") && w.contains("keys/store.p12"), "{w}");
        // A private instance directory keeps everything in it private.
        chmod(&inst, 0o700);
        assert_eq!(readable_by_others(&inst, &outside), vec![base.join("keys/store.p12")]);
        chmod(&base.join("keys"), 0o750);
        assert!(readable_by_others(&inst, &outside).is_empty());
        assert_eq!(warning(&inst, &[]), None);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
