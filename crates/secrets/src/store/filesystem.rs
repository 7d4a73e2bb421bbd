//! `FileSystemSecretStore`: one file per secret in a directory, named by the secret id plus
//! a suffix; read on first use, cached, and reread after a change when `autoRefresh` is on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};

use crate::format::{mappings, Encoding, PropertyFormat};
use crate::pem;
use crate::provider::{SecretStore, SecretsProvider};
use crate::refresh::{self, stamp, Refresh, Stamp};
use crate::secret::{SecretError, Versions};

/// Secrets in files.
pub struct FileSystemStore {
    describe: String,
    directory: PathBuf,
    encoding: Encoding,
    suffix: String,
    mappings: HashMap<String, PropertyFormat>,
    cache: Mutex<HashMap<String, (Option<Stamp>, Versions)>>,
    generation: AtomicU64,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let dir_node = config.require("directory")?;
    let directory = PathBuf::from(cx.string(dir_node)?);
    if !directory.is_dir() {
        return Err(cx.err(dir_node, format!("directory {} does not exist", directory.display())));
    }
    cx.heap().loader().secret_path(&directory);
    let encoding = Encoding::from_config(cx, config.get("format"))?;
    let suffix = config.get("suffix").map(|n| cx.string(n)).transpose()?.unwrap_or_default();
    let mappings = mappings(cx, config.get("mappings"))?;
    let auto_refresh = refresh::enabled(cx, config.get("autoRefresh"))?;
    config.ignore(&["leaseExpiry", "versionSuffix"]);
    config.finish()?;
    let store = Arc::new(FileSystemStore {
        describe: format!("{} (FileSystemSecretStore {})", cx.name(), directory.display()),
        directory,
        encoding,
        suffix,
        mappings,
        cache: Mutex::new(HashMap::new()),
        generation: AtomicU64::new(0),
    });
    if auto_refresh {
        refresh::watch(cx, &store);
    }
    Ok(Object::Other(Arc::new(SecretsProvider::single(store))))
}

impl FileSystemStore {
    fn read(&self, id: &str) -> Result<Option<(Option<Stamp>, Versions)>, SecretError> {
        let path = self.directory.join(format!("{id}{}", self.suffix));
        let before = stamp(&path);
        let raw = match std::fs::read(&path) {
            Ok(raw) => crate::Secret::new(raw),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SecretError::new(format!("{}: cannot read {}: {e}", self.describe, path.display()))),
        };
        let what = format!("secret '{id}' ({})", path.display());
        let value = match self.mappings.get(id).copied() {
            Some(PropertyFormat::Pem) if !pem::looks_like_pem(raw.expose()) => {
                pem::parse(self.encoding.decode(raw.expose(), &what)?.expose(), &what)?
            }
            Some(format) => format.decode(raw.expose(), &what)?,
            None => PropertyFormat::Encoded(self.encoding).decode(raw.expose(), &what)?,
        };
        Ok(Some((before, Arc::from(vec![value]))))
    }
}

impl SecretStore for FileSystemStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, v)) = cache.get(id) {
            return Ok(Some(v.clone()));
        }
        let Some((stamp, versions)) = self.read(id)? else { return Ok(None) };
        cache.insert(id.to_string(), (stamp, versions.clone()));
        Ok(Some(versions))
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl Refresh for FileSystemStore {
    fn refresh(&self) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let before = cache.len();
        cache.retain(|id, (seen, _)| stamp(&self.directory.join(format!("{id}{}", self.suffix))) == *seen);
        if cache.len() != before {
            tracing::info!("{}: {} secret file(s) changed; they will be reread", self.describe, before - cache.len());
            self.generation.fetch_add(1, Ordering::AcqRel);
            crate::refresh::REFRESHES.inc("reloaded");
        }
    }
}
