//! The instance directory, laid out as IG's:
//!
//! ```text
//! INSTANCE/config/admin.json      connectors, admin prefix, PID file mode, admin heap
//! INSTANCE/config/config.json     the root handler (default: a Router over config/routes)
//! INSTANCE/config/routes/*.json   routes, reloaded while the gateway runs
//! INSTANCE/logs/                  access log
//! INSTANCE/tmp/                   temporary files
//! INSTANCE/data/                  embedded stores (the relay's)
//! ```

use std::io;
use std::path::{Path, PathBuf};

/// The paths of one instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// The instance directory.
    pub dir: PathBuf,
}

/// The route a new default instance starts with.
const WELCOME_ROUTE: &str = r#"{
  "name": "00-welcome",
  "condition": "${request.method == 'GET' and request.uri.path == '/'}",
  "handler": {
    "type": "StaticResponseHandler",
    "config": {
      "status": 200,
      "headers": { "Content-Type": [ "text/html; charset=utf-8" ] },
      "entity": [
        "<!DOCTYPE html>",
        "<html><head><meta charset=\"utf-8\"><title>Gatehouse</title></head>",
        "<body><h1>Welcome to Gatehouse</h1>",
        "<p>This page is served by the route <code>${openig.configDirectory}/routes/00-welcome.json</code>.",
        "Edit it, or add routes beside it: they are picked up while the gateway runs.</p>",
        "</body></html>"
      ]
    }
  }
}
"#;

impl Instance {
    /// The instance at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Instance { dir: dir.into() }
    }

    /// `$GATEHOUSE_BASE`, else `$HOME/.gatehouse`.
    pub fn default_dir() -> PathBuf {
        if let Some(base) = std::env::var_os("GATEHOUSE_BASE") {
            return PathBuf::from(base);
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".gatehouse")
    }

    /// `INSTANCE/config`.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// `INSTANCE/config/routes`.
    pub fn routes_dir(&self) -> PathBuf {
        self.config_dir().join("routes")
    }

    /// `INSTANCE/logs`.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// `INSTANCE/tmp`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// `INSTANCE/gatehouse.pid`.
    pub fn pid_file(&self) -> PathBuf {
        self.dir.join("gatehouse.pid")
    }

    /// `INSTANCE/config/<name>`.
    pub fn config_file(&self, name: &str) -> PathBuf {
        self.config_dir().join(name)
    }

    /// `INSTANCE/data`: embedded stores (the relay's).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Creates `logs/`, `tmp/` and `data/` when missing, private to the gateway's user (logs,
    /// spooled bodies and the relay's commands are nobody else's business).
    pub fn ensure_runtime_dirs(&self) -> io::Result<()> {
        private_dir(&self.logs_dir())?;
        private_dir(&self.tmp_dir())?;
        private_dir(&self.data_dir())
    }

    /// Creates a new instance with a welcome route, unless `dir` already exists with something
    /// in it (an empty directory, such as a fresh container volume, gets one too).
    /// Returns whether it created one.
    pub fn create_default(dir: &Path) -> io::Result<bool> {
        if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
            return Ok(false);
        }
        let instance = Instance::new(dir);
        private_dir(&instance.routes_dir())?;
        std::fs::write(instance.routes_dir().join("00-welcome.json"), WELCOME_ROUTE)?;
        instance.ensure_runtime_dirs()?;
        Ok(true)
    }
}

/// Creates `dir` and its missing parents with mode 0700; an existing directory keeps its mode.
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_empty_directory_such_as_a_fresh_volume_becomes_a_welcome_instance_and_a_used_one_does_not() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = std::env::temp_dir().join(format!("gatehouse-instance-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("volume")).unwrap();
        assert!(Instance::create_default(&base.join("volume")).unwrap());
        assert!(base.join("volume/config/routes/00-welcome.json").is_file());
        let mode = std::fs::metadata(base.join("volume/logs")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        std::fs::create_dir_all(base.join("used")).unwrap();
        std::fs::write(base.join("used/notes.txt"), "mine").unwrap();
        assert!(!Instance::create_default(&base.join("used")).unwrap());
        assert!(!base.join("used/config").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
