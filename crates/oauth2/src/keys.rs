//! The token service's signing keys: from a secret (`signingSecretId`: every version of it, as
//! a keystore mapping with several aliases gives, the first active) or from the server's
//! `appsettings.json` (`X509KeyFilePath`, every key of the `.pfx`, the first active).
//!
//! Rotation: a key that appears is published (in the JWK set) at once and signs from
//! `keyPublishDelay` later, so that verifiers that cache the set learn it before they meet it;
//! a key that disappears stops signing at once and stays published for `tokenLifetime`, until
//! the last token it signed has expired.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use gatehouse_core::Clock;
use gatehouse_jose::jwk::JwkSet;
use gatehouse_jose::{SigningKey, VerificationKey};
use gatehouse_secrets::{SecretsProvider, TlsIdentity};

/// Where the keys come from.
pub enum KeySource {
    /// Every version of a secret, the active one first.
    Secret { provider: SecretsProvider, id: String },
    /// Every private key of a PKCS#12 file, the first active.
    Pkcs12 { path: PathBuf, password: String },
}

impl KeySource {
    fn load(&self) -> Result<Vec<SigningKey>, String> {
        let identities: Vec<Arc<TlsIdentity>> = match self {
            KeySource::Secret { provider, id } => provider.identities(id).map_err(|e| e.to_string())?,
            KeySource::Pkcs12 { path, password } => {
                gatehouse_secrets::store::keystore::read_pkcs12_identities(path, password).map_err(|e| e.to_string())?
            }
        };
        identities
            .iter()
            .map(|identity| {
                let chain = identity.chain.iter().map(|c| c.as_ref().to_vec()).collect();
                SigningKey::from_der(identity.key().secret_der(), chain).map_err(|_| {
                    format!(
                        "{}: the signing key is not an RSA (2048 bits or more), EC P-256 or Ed25519 key",
                        self.describe()
                    )
                })
            })
            .collect()
    }

    /// What the source is, for messages (never a password).
    pub fn describe(&self) -> String {
        match self {
            KeySource::Secret { id, .. } => format!("signing secret '{id}'"),
            KeySource::Pkcs12 { path, .. } => path.display().to_string(),
        }
    }

    /// What changes when the keys may have changed.
    fn version(&self) -> u64 {
        match self {
            KeySource::Secret { provider, .. } => provider.generation(),
            KeySource::Pkcs12 { path, .. } => std::fs::metadata(path)
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as u64),
        }
    }
}

struct Entry {
    key: Arc<SigningKey>,
    signs_from: SystemTime,
    retire_at: Option<SystemTime>,
}

struct Ring {
    entries: Vec<Entry>,
    /// The kid of the source's active key.
    active: String,
    version: u64,
}

/// The keys a token service signs with and publishes.
pub struct KeyRing {
    source: KeySource,
    clock: Clock,
    publish_delay: Duration,
    token_lifetime: Duration,
    ring: Mutex<Ring>,
    /// The published verification keys, for verifiers in the same process.
    published: ArcSwap<Vec<VerificationKey>>,
    /// The source version the ring was last built from, and when (epoch seconds) a pending
    /// key starts signing or a retired one leaves: checked without the lock on every call.
    seen: AtomicU64,
    due: AtomicU64,
    /// For file sources: the second of the last `stat` and what it found (one a second).
    stat_at: AtomicU64,
    stat_version: AtomicU64,
}

impl KeyRing {
    /// Loads the keys of `source`; at start every key is published and the first signs.
    pub fn load(
        source: KeySource,
        clock: Clock,
        publish_delay: Duration,
        token_lifetime: Duration,
    ) -> Result<Self, String> {
        let version = source.version();
        let keys = source.load()?;
        let now = clock.now();
        let active = keys.first().map(|k| k.kid().to_string()).unwrap_or_default();
        let entries = keys.into_iter().map(|k| Entry { key: Arc::new(k), signs_from: now, retire_at: None }).collect();
        let ring = Ring { entries, active, version };
        let published = ArcSwap::from_pointee(Self::published_of(&ring, now));
        Ok(KeyRing {
            source,
            clock,
            publish_delay,
            token_lifetime,
            ring: Mutex::new(ring),
            published,
            seen: AtomicU64::new(version),
            due: AtomicU64::new(u64::MAX),
            stat_at: AtomicU64::new(0),
            stat_version: AtomicU64::new(version),
        })
    }

    /// The source's version, reading a key file's stamp at most once a second.
    fn source_version(&self) -> u64 {
        match &self.source {
            KeySource::Secret { .. } => self.source.version(),
            KeySource::Pkcs12 { .. } => {
                let now = self.clock.unix_secs();
                if self.stat_at.swap(now, Ordering::Relaxed) != now {
                    self.stat_version.store(self.source.version(), Ordering::Relaxed);
                }
                self.stat_version.load(Ordering::Relaxed)
            }
        }
    }

    fn published_of(ring: &Ring, now: SystemTime) -> Vec<VerificationKey> {
        ring.entries
            .iter()
            .filter(|e| e.retire_at.is_none_or(|t| t > now))
            .map(|e| e.key.verification_key().clone())
            .collect()
    }

    /// Reloads the keys when the source changed; a source that fails keeps the current keys.
    pub fn refresh(&self) {
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        let version = self.source_version();
        self.seen.store(version, Ordering::Relaxed);
        if version != ring.version {
            ring.version = version;
            match self.source.load() {
                Ok(keys) => self.merge(&mut ring, keys, now),
                Err(e) => tracing::error!("{e}; the token service keeps its current keys"),
            }
        }
        ring.entries.retain(|e| e.retire_at.is_none_or(|t| t > now));
        let next = ring
            .entries
            .iter()
            .flat_map(|e| [Some(e.signs_from).filter(|t| *t > now), e.retire_at])
            .flatten()
            .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .min()
            .unwrap_or(u64::MAX);
        self.due.store(next, Ordering::Relaxed);
        self.published.store(Arc::new(Self::published_of(&ring, now)));
    }

    fn merge(&self, ring: &mut Ring, keys: Vec<SigningKey>, now: SystemTime) {
        let kids: Vec<String> = keys.iter().map(|k| k.kid().to_string()).collect();
        for entry in &mut ring.entries {
            if !kids.contains(&entry.key.kid().to_string()) && entry.retire_at.is_none() {
                tracing::info!(kid = entry.key.kid(), "signing key removed: published until its last token expires");
                entry.retire_at = Some(now + self.token_lifetime);
            }
        }
        for key in keys {
            if !ring.entries.iter().any(|e| e.key.kid() == key.kid()) {
                tracing::info!(kid = key.kid(), delay = ?self.publish_delay, "signing key added: published now, signing after the delay");
                ring.entries.push(Entry { key: Arc::new(key), signs_from: now + self.publish_delay, retire_at: None });
            }
        }
        ring.active = kids.first().cloned().unwrap_or_default();
    }

    /// The key to sign with now: the source's active key once its delay has passed, else the
    /// newest key that may sign.
    pub fn signer(&self) -> Option<Arc<SigningKey>> {
        self.refresh_if_changed();
        let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let now = self.clock.now();
        let ready = |e: &&Entry| e.signs_from <= now && e.retire_at.is_none();
        ring.entries
            .iter()
            .find(|e| e.key.kid() == ring.active && ready(e))
            .or_else(|| ring.entries.iter().rev().find(ready))
            .or_else(|| ring.entries.iter().rev().find(|e| e.signs_from <= now))
            .map(|e| e.key.clone())
    }

    /// Refreshes when the source changed or a timed change is due; two atomic loads otherwise.
    fn refresh_if_changed(&self) {
        let changed = self.source_version() != self.seen.load(Ordering::Relaxed);
        if changed || self.clock.unix_secs() >= self.due.load(Ordering::Relaxed) {
            self.refresh();
        }
    }

    /// The published keys (for the JWK set and in-process verification).
    pub fn published(&self) -> Arc<Vec<VerificationKey>> {
        self.refresh_if_changed();
        self.published.load_full()
    }

    /// The JWK set.
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: self.published().to_vec() }
    }
}
