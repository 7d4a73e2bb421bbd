//! The PID file: one gateway per instance directory.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use rustix::process::{test_kill_process, Pid};

/// What to do when a PID file is already there (`pidFileMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFileMode {
    /// Refuse to start (the default).
    Fail,
    /// Replace a stale PID file. A live gateway still blocks the start.
    Override,
}

impl PidFileMode {
    /// Parses `fail` or `override`, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail" => Some(PidFileMode::Fail),
            "override" => Some(PidFileMode::Override),
            _ => None,
        }
    }
}

/// A PID file this process wrote; removed on drop if it still holds our PID.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

/// Reads the PID a PID file holds.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live process running a gatehouse binary.
pub fn is_live_gatehouse(pid: i32) -> bool {
    let Some(p) = Pid::from_raw(pid) else { return false };
    let alive = match test_kill_process(p) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    };
    if !alive {
        return false;
    }
    // A reused PID that now belongs to another program does not count.
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("gatehouse"),
        Err(_) => true,
    }
}

impl PidFile {
    /// Checks the existing PID file against `mode`, then writes ours.
    pub fn acquire(path: &Path, mode: PidFileMode) -> Result<PidFile, String> {
        if path.exists() {
            let holder = read_pid(path);
            match holder {
                Some(pid) if is_live_gatehouse(pid) => {
                    return Err(format!(
                        "Gatehouse is already running for this instance (PID {pid}, PID file {}); stop it with `gatehouse stop`",
                        path.display()
                    ))
                }
                _ if mode == PidFileMode::Fail => {
                    return Err(format!(
                        "the PID file {} exists but no Gatehouse process holds it{}; remove it, or set \"pidFileMode\": \"override\" in admin.json (or IG_PID_FILE_MODE=override)",
                        path.display(),
                        holder.map(|p| format!(" (PID {p} is not running)")).unwrap_or_default()
                    ))
                }
                _ => {
                    tracing::warn!(file = %path.display(), "replacing a stale PID file (pidFileMode override)");
                    std::fs::remove_file(path).map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                }
            }
        }
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| format!("cannot create the PID file {}: {e}", path.display()))?;
        writeln!(f, "{}", std::process::id()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(PidFile { path: path.to_path_buf() })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if read_pid(&self.path) == Some(std::process::id() as i32) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("gatehouse-pid-{name}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        dir.join("gatehouse.pid")
    }

    #[test]
    fn stale_pid_file_fails_unless_override() {
        let path = temp("stale");
        std::fs::write(&path, "999999999\n").unwrap();
        let err = PidFile::acquire(&path, PidFileMode::Fail).unwrap_err();
        assert!(err.contains("pidFileMode"), "{err}");
        let held = PidFile::acquire(&path, PidFileMode::Override).unwrap();
        assert_eq!(read_pid(&path), Some(std::process::id() as i32));
        drop(held);
        assert!(!path.exists(), "the PID file is removed when the gateway stops");
    }

    #[test]
    fn modes_parse_case_insensitively() {
        assert_eq!(PidFileMode::parse("OVERRIDE"), Some(PidFileMode::Override));
        assert_eq!(PidFileMode::parse("fail"), Some(PidFileMode::Fail));
        assert_eq!(PidFileMode::parse("other"), None);
    }
}
