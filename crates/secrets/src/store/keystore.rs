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

/// The aliases of one mapping: named (the first is active), or every alias matching one of
/// the patterns (in alphabetical order, the first active).
enum Aliases {
    Named(Vec<String>),
    Matching(Vec<regex::Regex>),
}

/// A keystore's mapped secrets.
pub struct KeyStoreStore {
    describe: String,
    file: PathBuf,
    passwords: SecretsProvider,
    password_id: String,
    mappings: Vec<(String, Aliases)>,
    state: RwLock<Loaded>,
    generation: AtomicU64,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let file = PathBuf::from(cx.string(config.require("file")?)?);
    cx.heap().loader().secret_path(&file);
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
    // IG 7 named it `storePassword` (a secret id too).
    let password_node = match (config.get("storePasswordSecretId"), config.get("storePassword")) {
        (Some(n), None) | (None, Some(n)) => n,
        (Some(_), Some(n)) => return Err(cx.err(n, "set storePasswordSecretId or IG 7's storePassword, not both")),
        (None, None) => return Err(cx.err(node, "KeyStoreSecretStore needs 'storePasswordSecretId'")),
    };
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
        let aliases = match (mc.get("aliases"), mc.get("aliasesMatching")) {
            (Some(node), None) => {
                let names = cx.array(node)?.iter().map(|a| cx.string(a)).collect::<Result<Vec<_>, _>>()?;
                if names.is_empty() {
                    return Err(cx.err(node, "aliases must name at least one keystore alias"));
                }
                Aliases::Named(names)
            }
            (None, Some(node)) => {
                let mut patterns = Vec::new();
                for p in cx.array(node)? {
                    let text = cx.string(p)?;
                    // Java's `matches`: the whole alias.
                    let re = regex::Regex::new(&format!("^(?:{text})$"))
                        .map_err(|e| cx.err(p, format!("invalid regular expression: {e}")))?;
                    patterns.push(re);
                }
                if patterns.is_empty() {
                    return Err(cx.err(node, "aliasesMatching needs at least one pattern"));
                }
                Aliases::Matching(patterns)
            }
            (Some(_), Some(node)) => return Err(cx.err(node, "use aliases or aliasesMatching, not both")),
            (None, None) => return Err(cx.err(m, "a mapping needs aliases or aliasesMatching")),
        };
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
        refresh::watch(cx, &store);
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
        let missing = self.mappings.iter().any(|(_, aliases)| match aliases {
            Aliases::Named(names) => names.iter().any(|a| find(&strict, a).is_none()),
            Aliases::Matching(patterns) => !strict.entries().any(|(a, _)| patterns.iter().any(|p| p.is_match(a))),
        });
        let raw = if missing { Some(parse(Pkcs12ImportPolicy::Raw)?) } else { None };
        let mut out = HashMap::new();
        for (id, aliases) in &self.mappings {
            let names: Vec<String> = match aliases {
                Aliases::Named(names) => names.clone(),
                Aliases::Matching(patterns) => {
                    let matching = |ks: &KeyStore| -> Vec<String> {
                        let mut names: Vec<String> = ks
                            .entries()
                            .map(|(a, _)| without_copy_suffix(a).to_string())
                            .filter(|a| patterns.iter().any(|p| p.is_match(a)))
                            .collect();
                        names.sort_unstable();
                        names.dedup();
                        names
                    };
                    let mut names = matching(&strict);
                    if let (true, Some(r)) = (names.is_empty(), &raw) {
                        names = matching(r);
                    }
                    if names.is_empty() {
                        return Err(SecretError::new(format!(
                            "{}: no alias matches aliasesMatching for secret '{id}' (the keystore has: {})",
                            self.describe,
                            known_aliases(&strict, raw.as_ref()).join(", ")
                        )));
                    }
                    names
                }
            };
            let mut versions = Vec::new();
            for alias in &names {
                let entry = find(&strict, alias).or_else(|| raw.as_ref().and_then(|r| find(r, alias)));
                let Some(entry) = entry else {
                    return Err(SecretError::new(format!(
                        "{}: no alias '{alias}' for secret '{id}' (the keystore has: {})",
                        self.describe,
                        known_aliases(&strict, raw.as_ref()).join(", ")
                    )));
                };
                versions.push(convert(entry));
            }
            out.insert(id.clone(), Arc::from(versions));
        }
        Ok((stamp, Arc::new(out)))
    }
}

/// Every alias of the keystore, for error messages.
fn known_aliases<'k>(strict: &'k KeyStore, raw: Option<&'k KeyStore>) -> Vec<&'k str> {
    let mut known: Vec<&str> = strict.entries().map(|(a, _)| a.as_str()).collect();
    // Raw parsing lists a key's certificate again as `alias#2`.
    known.extend(raw.iter().flat_map(|r| r.entries().map(|(a, _)| without_copy_suffix(a))));
    known.sort_unstable();
    known.dedup();
    known
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
                crate::refresh::REFRESHES.inc("reloaded");
            }
            Err(e) => {
                // Keep serving the previous content; look again after the next change.
                self.state.write().unwrap_or_else(PoisonError::into_inner).0 = now;
                tracing::error!("{e}; keeping the previous keystore content");
                crate::refresh::REFRESHES.inc("failed");
            }
        }
    }
}

/// The private keys with their chains in the PKCS#12 file at `path` (a `.pfx` such as the
/// identity manager's `X509KeyFilePath`), in the file's order. Errors name the file, never
/// the password; a wrong password says so.
pub fn read_pkcs12_identities(path: &std::path::Path, password: &str) -> Result<Vec<Arc<TlsIdentity>>, SecretError> {
    let bytes = std::fs::read(path).map_err(|e| SecretError::new(format!("cannot read {}: {e}", path.display())))?;
    let store = KeyStore::from_pkcs12(&bytes, password, Pkcs12ImportPolicy::Relaxed).map_err(|e| {
        let why = match e {
            p12_keystore::error::Error::MacError(_) => "wrong password or corrupted file".to_string(),
            other => other.to_string(),
        };
        SecretError::new(format!("cannot open {}: {why}", path.display()))
    })?;
    let identities: Vec<Arc<TlsIdentity>> = store
        .entries()
        .filter_map(|(_, e)| match convert(e) {
            SecretValue::Identity(id) => Some(id),
            _ => None,
        })
        .collect();
    if identities.is_empty() {
        return Err(SecretError::new(format!("{} holds no private key", path.display())));
    }
    Ok(identities)
}
