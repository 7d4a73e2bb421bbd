//! `ClientTlsOptions`: how a proxy handler trusts upstream servers (a trust manager, or the
//! system roots), its client certificate, protocols, suites and hostname verification.

use std::sync::{Arc, OnceLock};

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};

use crate::identity::Identity;
use crate::managers::{key_manager, trust_source, Anchors, KeyManager, TrustSource};
use crate::names;
use crate::trust_all::TrustAll;
use crate::verify::ServerVerifier;
use crate::verify::TrustAllVerifier;

/// Whether the server's certificate must name the host we connect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostnameVerifier {
    /// The certificate must match the host (the default).
    Strict,
    /// Any name is accepted; the chain must still be trusted.
    AllowAll,
}

impl HostnameVerifier {
    /// Reads `STRICT` or `ALLOW_ALL`.
    pub fn from_config(cx: &BuildCtx<'_>, node: &Node) -> Result<Self, ConfigError> {
        let s = cx.string(node)?;
        match s.to_ascii_uppercase().as_str() {
            "STRICT" => Ok(HostnameVerifier::Strict),
            "ALLOW_ALL" => Ok(HostnameVerifier::AllowAll),
            _ => Err(cx.err(node, format!("hostnameVerifier must be STRICT or ALLOW_ALL, not '{s}'"))),
        }
    }
}

/// Client TLS settings, turned into a rustls config by [`ClientTls::config`].
pub struct ClientTls {
    crypto: Arc<CryptoProvider>,
    versions: Vec<&'static rustls::SupportedProtocolVersion>,
    trust: Option<TrustSource>,
    /// `TrustAllManager`: no certificate verification at all.
    trust_all: bool,
    key_manager: Option<Arc<KeyManager>>,
    hostname: Option<HostnameVerifier>,
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let crypto = names::provider(cx, config.get("sslCipherSuites").or_else(|| config.get("cipherSuites")))?;
    let versions = names::versions(cx, config.get("sslEnabledProtocols").or_else(|| config.get("protocols")))?;
    let (trust, trust_all) = match config.get("trustManager") {
        Some(t) => trust_choice(cx, t)?,
        None => (None, false),
    };
    let key_manager = config.get("keyManager").map(|k| key_manager(cx, k)).transpose()?;
    let hostname = config.get("hostnameVerifier").map(|h| HostnameVerifier::from_config(cx, h)).transpose()?;
    if let Some(a) = config.get("alpn") {
        let ac = cx.config(a)?;
        ac.ignore(&["enabled"]);
        ac.finish()?;
    }
    config.ignore(&["sslContextAlgorithm"]);
    config.finish()?;
    let tls = ClientTls { crypto, versions, trust, trust_all, key_manager, hostname };
    tls.config(None).map_err(|e| cx.err(node, e))?;
    Ok(Object::Other(Arc::new(tls)))
}

/// A `trustManager`: `TrustAllManager`, or trust managers over secret stores.
fn trust_choice(cx: &BuildCtx<'_>, node: &Node) -> Result<(Option<TrustSource>, bool), ConfigError> {
    if node.one_or_many().len() == 1 && cx.other::<TrustAll>(node.one_or_many().first().unwrap_or(node), "").is_ok() {
        return Ok((None, true));
    }
    Ok((Some(trust_source(cx, node)?), false))
}

impl ClientTls {
    /// IG's deprecated handler-level `trustManager` (on a ClientHandler or
    /// ReverseProxyHandler): the defaults with that trust.
    pub fn from_trust_manager(cx: &BuildCtx<'_>, node: &Node) -> Result<Self, ConfigError> {
        let (trust, trust_all) = trust_choice(cx, node)?;
        let tls = ClientTls { trust, trust_all, ..ClientTls::system_default() };
        tls.config(None).map_err(|e| cx.err(node, e))?;
        Ok(tls)
    }

    /// The defaults: system roots, strict hostnames, TLS 1.2 and 1.3.
    pub fn system_default() -> Self {
        ClientTls {
            crypto: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
            versions: rustls::DEFAULT_VERSIONS.to_vec(),
            trust: None,
            trust_all: false,
            key_manager: None,
            hostname: None,
        }
    }

    /// A rustls client config. `hostname` applies when the options themselves do not say
    /// (IG's deprecated handler-level `hostnameVerifier`).
    pub fn config(&self, hostname: Option<HostnameVerifier>) -> Result<ClientConfig, String> {
        let anchors = match &self.trust {
            Some(source) => Anchors::Stores(source.clone()),
            None => Anchors::System(system_roots()),
        };
        let hostname = self.hostname.or(hostname).unwrap_or(HostnameVerifier::Strict);
        let verifier = ServerVerifier::new(self.crypto.clone(), anchors, hostname)?;
        let builder = ClientConfig::builder_with_provider(self.crypto.clone())
            .with_protocol_versions(&self.versions)
            .map_err(|e| format!("protocols and cipher suites do not fit together: {e}"))?;
        let builder = if self.trust_all {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(TrustAllVerifier::new(self.crypto.clone())))
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier))
        };
        match &self.key_manager {
            None => Ok(builder.with_no_client_auth()),
            Some(km) => {
                let identity = Identity::load(km, &self.crypto).map_err(|e| e.0)?;
                Ok(builder.with_client_cert_resolver(Arc::new(identity)))
            }
        }
    }
}

/// The operating system's trust anchors, read once.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                tracing::warn!("system trust store: {e}");
            }
            let mut roots = RootCertStore::empty();
            let (added, ignored) = roots.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "system trust anchors loaded");
            Arc::new(roots)
        })
        .clone()
}
