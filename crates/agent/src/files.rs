//! Files the agent writes for itself: created with mode 0600 (owner only), written aside and
//! renamed into place so that a reader never sees half a file.

use std::io::Write as _;
use std::path::Path;

/// Writes `content` to `path` (mode 0600), creating its directory.
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let aside = path.with_extension(format!("{}.part", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    let mut f = create_private(&aside).map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    f.write_all(content).and_then(|()| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    std::fs::rename(&aside, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Creates (truncating) a file only its owner can read.
pub fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}
