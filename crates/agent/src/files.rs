//! Files the agent writes for itself: created with mode 0600 (owner only), written aside and
//! renamed into place so that a reader never sees half a file.

use std::io::Write as _;
use std::path::Path;

/// Writes `target` (mode 0600, its directory created) through `target.part`, synced and renamed
/// into place only when `write` succeeded; on failure the partial file is removed.
pub fn write_aside(
    target: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), String>,
) -> Result<(), String> {
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut aside = target.as_os_str().to_owned();
    aside.push(".part");
    let aside = std::path::PathBuf::from(aside);
    let file = create_private(&aside).map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let result = write(&mut w)
        .and_then(|()| w.flush().map_err(|e| format!("cannot write {}: {e}", aside.display())))
        .and_then(|()| w.get_ref().sync_all().map_err(|e| format!("cannot write {}: {e}", aside.display())));
    match result {
        Ok(()) => std::fs::rename(&aside, target).map_err(|e| format!("cannot write {}: {e}", target.display())),
        Err(e) => {
            let _ = std::fs::remove_file(&aside);
            Err(e)
        }
    }
}

/// Writes `content` to `path` (mode 0600) through [`write_aside`].
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), String> {
    write_aside(path, |w| w.write_all(content).map_err(|e| format!("cannot write {}: {e}", path.display())))
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

/// Encrypts the file at `path` to `cert` (CMS, RSA-OAEP, AES-256) as `path.cms` (mode 0600,
/// written aside first), then removes the plain file; the encrypted file's path.
pub fn encrypt_in_place(cert: &[u8], path: &Path) -> Result<std::path::PathBuf, String> {
    let mut target = path.as_os_str().to_owned();
    target.push(".cms");
    let target = std::path::PathBuf::from(target);
    let mut input = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let len = input.metadata().map_err(|e| e.to_string())?.len();
    write_aside(&target, |w| {
        crate::cms::encrypt(cert, crate::cms::KeyTransport::Oaep, &mut input, len, w, false).map_err(|e| e.0)
    })?;
    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    Ok(target)
}
