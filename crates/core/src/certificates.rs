//! The certificates the gateway presents (connectors' server certificates and proxies'
//! client certificates), as last loaded from their key managers, for the console's expiry
//! list. Keyed by the secret they came from; a reload replaces the entry.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// One certificate in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateView {
    /// The secret (alias or secret id) it was loaded from.
    pub secret_id: String,
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// Its subject alternative names.
    pub names: Vec<String>,
    /// Not valid before (seconds since the Unix epoch).
    pub not_before: i64,
    /// Not valid after (seconds since the Unix epoch).
    pub not_after: i64,
}

static IN_USE: Mutex<BTreeMap<String, CertificateView>> = Mutex::new(BTreeMap::new());

/// Records (or replaces) the certificate loaded from `view.secret_id`.
pub fn loaded(view: CertificateView) {
    IN_USE.lock().unwrap_or_else(PoisonError::into_inner).insert(view.secret_id.clone(), view);
}

/// The certificates in use, soonest expiry first.
pub fn in_use() -> Vec<CertificateView> {
    let mut all: Vec<CertificateView> =
        IN_USE.lock().unwrap_or_else(PoisonError::into_inner).values().cloned().collect();
    all.sort_by_key(|c| c.not_after);
    all
}
