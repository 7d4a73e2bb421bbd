//! `KeyStoreSecretStore`: a PKCS#12 keystore (made by `keytool` or `openssl pkcs12
//! -export`) whose aliases are mapped to secret ids; the first alias of a mapping is the
//! active version. Read at load; reread after a change when `autoRefresh` is on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls_pki_types::CertificateDer;

use crate::provider::{secret_id, SecretStore, SecretsProvider};
use crate::refresh::{self, stamp, Refresh, Stamp};
use crate::secret::{KeyEncoding, Secret, SecretError, SecretValue, TlsIdentity, Versions};

/// The keystore file's stamp when read, and its secrets by id.
type Loaded = (Option<Stamp>, Arc<HashMap<String, Versions>>);

/// A keystore's mapped secrets.
pub struct KeyStoreStore {
    describe: String,
    file: PathBuf,
    passwords: SecretsProvider,
    password_id: String,
    mappings: Vec<(String, Vec<String>)>,
    state: RwLock<Loaded>,
    generation: AtomicU64,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let file = PathBuf::from(cx.string(config.require("file")?)?);
    if let Some(t) = config.get("storeType") {
        let store_type = cx.string(t)?;
        match store_type.to_ascii_uppercase().as_str() {
            "PKCS12" | "PKCS#12" | "P12" => {}
            "JKS" | "JCEKS" => {
                return Err(cx.err(
                    t,
                    format!(
                        "{store_type} keystores are not supported; convert with: keytool -importkeystore \
                         -srckeystore FILE -destkeystore FILE.p12 -deststoretype pkcs12"
                    ),
                ))
            }
            _ => return Err(cx.err(t, format!("storeType must be PKCS12, not '{store_type}'"))),
        }
    }
    let password_node = config.require("storePasswordSecretId")?;
    let password_id = secret_id(cx, password_node)?;
    let passwords = SecretsProvider::from_config(cx, config.get("secretsProvider"))?;
    if let Some(n) = config.get("entryPasswordSecretId") {
        let entry_id = secret_id(cx, n)?;
        let same = passwords.password(&entry_id).map_err(|e| cx.err(n, e.0))?
            == passwords.password(&password_id).map_err(|e| cx.err(password_node, e.0))?;
        if !same {
            return Err(cx.err(n, "a PKCS#12 keystore has one password: the entry password must equal the store's"));
        }
    }
    let mut mappings = Vec::new();
    for m in cx.array(config.require("mappings")?)? {
        let mc = cx.config(m)?;
        let id = secret_id(cx, mc.require("secretId")?)?;
        let aliases_node = mc.require("aliases")?;
        let aliases = cx.array(aliases_node)?.iter().map(|a| cx.string(a)).collect::<Result<Vec<_>, _>>()?;
        if aliases.is_empty() {
            return Err(cx.err(aliases_node, "aliases must name at least one keystore alias"));
        }
        mc.finish()?;
        mappings.push((id, aliases));
    }
    let auto_refresh = refresh::enabled(cx, config.get("autoRefresh"))?;
    config.ignore(&["leaseExpiry", "securityProvider"]);
    config.finish()?;
    let store = Arc::new(KeyStoreStore {
        describe: format!("{} (KeyStoreSecretStore {})", cx.name(), file.display()),
        file,
        passwords,
        password_id,
        mappings,
        state: RwLock::new((None, Arc::new(HashMap::new()))),
        generation: AtomicU64::new(0),
    });
    let loaded = store.load().map_err(|e| cx.err(node, e.0))?;
    *store.state.write().unwrap_or_else(PoisonError::into_inner) = loaded;
    if auto_refresh {
        refresh::watch(&store, cx.name());
    }
    Ok(Object::Other(Arc::new(SecretsProvider::single(store))))
}

impl KeyStoreStore {
    /// Reads and decrypts the keystore and picks the mapped aliases.
    fn load(&self) -> Result<Loaded, SecretError> {
        let stamp = stamp(&self.file);
        let bytes = std::fs::read(&self.file)
            .map_err(|e| SecretError::new(format!("{}: cannot read {}: {e}", self.describe, self.file.display())))?;
        let password = self.passwords.password(&self.password_id)?;
        let password = password.expose_str().ok_or_else(|| {
            SecretError::new(format!("{}: the password '{}' is not UTF-8 text", self.describe, self.password_id))
        })?;
        let parse = |policy| {
            KeyStore::from_pkcs12(&bytes, password, policy).map_err(|e| {
                let why = match e {
                    p12_keystore::error::Error::MacError(_) => "wrong password or corrupted file".to_string(),
                    other => other.to_string(),
                };
                SecretError::new(format!(
                    "{}: cannot open the keystore with the password '{}': {why}",
                    self.describe, self.password_id
                ))
            })
        };
        let strict = parse(Pkcs12ImportPolicy::Relaxed)?;
        // Truststores made by `openssl pkcs12 -export -nokeys` lack Java's "trusted" mark, so
        // their certificates only show up when the bags are read as they are.
        let raw = if self.mappings.iter().flat_map(|(_, a)| a).any(|a| find(&strict, a).is_none()) {
            Some(parse(Pkcs12ImportPolicy::Raw)?)
        } else {
            None
        };
        let mut out = HashMap::new();
        for (id, aliases) in &self.mappings {
            let mut versions = Vec::new();
            for alias in aliases {
                let entry = find(&strict, alias).or_else(|| raw.as_ref().and_then(|r| find(r, alias)));
                let Some(entry) = entry else {
                    let mut known: Vec<&str> = strict.entries().map(|(a, _)| a.as_str()).collect();
                    // Raw parsing lists a key's certificate again as `alias#2`.
                    known.extend(raw.iter().flat_map(|r| r.entries().map(|(a, _)| without_copy_suffix(a))));
                    known.sort_unstable();
                    known.dedup();
                    return Err(SecretError::new(format!(
                        "{}: no alias '{alias}' for secret '{id}' (the keystore has: {})",
                        self.describe,
                        known.join(", ")
                    )));
                };
                versions.push(convert(entry));
            }
            out.insert(id.clone(), Arc::from(versions));
        }
        Ok((stamp, Arc::new(out)))
    }
}

/// `alias#2` -> `alias`.
fn without_copy_suffix(alias: &str) -> &str {
    match alias.rsplit_once('#') {
        Some((base, n)) if n.parse::<u32>().is_ok() => base,
        _ => alias,
    }
}

/// The entry for `alias`; keytool lowercases aliases, so the match ignores case.
fn find<'k>(ks: &'k KeyStore, alias: &str) -> Option<&'k KeyStoreEntry> {
    ks.entry(alias).or_else(|| ks.entries().find(|(a, _)| a.eq_ignore_ascii_case(alias)).map(|(_, e)| e))
}

fn convert(entry: &KeyStoreEntry) -> SecretValue {
    match entry {
        KeyStoreEntry::PrivateKeyChain(chain) => {
            let certs = chain.certs().iter().map(|c| CertificateDer::from(c.as_der().to_vec())).collect();
            let key = Secret::new(chain.key().as_der().to_vec());
            SecretValue::Identity(Arc::new(TlsIdentity::new(certs, key, KeyEncoding::Pkcs8)))
        }
        KeyStoreEntry::Certificate(c) => SecretValue::Certificates(vec![CertificateDer::from(c.as_der().to_vec())]),
        KeyStoreEntry::Secret(s) => SecretValue::Bytes(Secret::new(s.key().to_vec())),
    }
}

impl SecretStore for KeyStoreStore {
    fn describe(&self) -> &str {
        &self.describe
    }

    fn lookup(&self, id: &str) -> Result<Option<Versions>, SecretError> {
        Ok(self.state.read().unwrap_or_else(PoisonError::into_inner).1.get(id).cloned())
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }
}

impl Refresh for KeyStoreStore {
    fn refresh(&self) {
        let seen = self.state.read().unwrap_or_else(PoisonError::into_inner).0;
        let now = stamp(&self.file);
        if now == seen || now.is_none() {
            return;
        }
        match self.load() {
            Ok(loaded) => {
                *self.state.write().unwrap_or_else(PoisonError::into_inner) = loaded;
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::info!("{}: keystore changed; reloaded", self.describe);
            }
            Err(e) => {
                // Keep serving the previous content; look again after the next change.
                self.state.write().unwrap_or_else(PoisonError::into_inner).0 = now;
                tracing::error!("{e}; keeping the previous keystore content");
            }
        }
    }
}
