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

/// Encrypts the file at `path` to `cert` (CMS, RSA-OAEP, AES-256) as `path.cms` (mode 0600,
/// written aside first), then removes the plain file; the encrypted file's path.
pub fn encrypt_in_place(cert: &[u8], path: &Path) -> Result<std::path::PathBuf, String> {
    let mut target = path.as_os_str().to_owned();
    target.push(".cms");
    let target = std::path::PathBuf::from(target);
    let aside = target.with_extension("cms.part");
    let mut input = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let len = input.metadata().map_err(|e| e.to_string())?.len();
    let out = create_private(&aside).map_err(|e| format!("cannot write {}: {e}", aside.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let result = crate::cms::encrypt(cert, crate::cms::KeyTransport::Oaep, &mut input, len, &mut out, false)
        .map_err(|e| e.0)
        .and_then(|()| out.flush().map_err(|e| e.to_string()))
        .and_then(|()| out.get_ref().sync_all().map_err(|e| e.to_string()));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&aside);
        return Err(e);
    }
    std::fs::rename(&aside, &target).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
    Ok(target)
}
