//! `ServerTlsOptions`: the certificate to serve (one key manager, or SNI names and
//! wildcards with a default), protocols, cipher suites, ALPN and client authentication.

use std::collections::HashMap;
use std::sync::Arc;

use gatehouse_config::{BuildCtx, ConfigError, Node, Object};
use gatehouse_secrets::{secret_id, SecretsProvider};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::identity::Identity;
use crate::managers::{key_manager, trust_source, KeyManager};
use crate::names;
use crate::verify::ClientVerifier;

/// A connector's TLS: built once at load.
pub struct ServerTls {
    config: Arc<ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("alpn", &self.config.alpn_protocols.len()).finish()
    }
}

impl ServerTls {
    /// The acceptor for new connections.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.config.clone())
    }
}

pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node) -> Result<Object, ConfigError> {
    let config = cx.config(node)?;
    let crypto = names::provider(cx, config.get("sslCipherSuites").or_else(|| config.get("cipherSuites")))?;
    let versions = names::versions(cx, config.get("sslEnabledProtocols").or_else(|| config.get("protocols")))?;
    let km_node = config.get("keyManager");
    let resolver = match (config.get("sni"), km_node) {
        (Some(sni), km) => {
            if let Some(km) = km {
                tracing::warn!("{}:{}: both sni and keyManager are set; sni wins", cx.file(), km.pos);
            }
            sni_resolver(cx, sni, &crypto)?
        }
        (None, Some(km)) => {
            let km = key_manager(cx, km)?;
            let default = Identity::load(&km, &crypto).map_err(|e| cx.err(node, e.0))?;
            Resolver { exact: HashMap::new(), wildcard: HashMap::new(), default: Arc::new(default) }
        }
        (None, None) => return Err(cx.err(node, "ServerTlsOptions needs a keyManager or sni")),
    };
    let client_auth = match config.get("clientAuth") {
        Some(n) => {
            let s = cx.string(n)?;
            match s.to_ascii_uppercase().as_str() {
                "NONE" => None,
                "REQUEST" => Some((false, n)),
                "REQUIRED" | "REQUIRE" | "NEED" => Some((true, n)),
                _ => return Err(cx.err(n, format!("clientAuth must be NONE, REQUEST or REQUIRED, not '{s}'"))),
            }
        }
        None => None,
    };
    let trust = config.get("trustManager").map(|t| trust_source(cx, t)).transpose()?;
    let alpn = match config.get("alpn") {
        Some(a) => {
            let ac = cx.config(a)?;
            let enabled = ac.get("enabled").map(|e| cx.bool(e)).transpose()?.unwrap_or(true);
            ac.finish()?;
            enabled
        }
        None => true,
    };
    config.ignore(&["sslContextAlgorithm", "offloadHandshake", "handshakeTimeout"]);
    config.finish()?;

    let builder = ServerConfig::builder_with_provider(crypto.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| cx.err(node, format!("protocols and cipher suites do not fit together: {e}")))?;
    let builder = match (client_auth, trust) {
        (None, _) => builder.with_no_client_auth(),
        (Some((required, at)), Some(source)) => {
            let verifier = ClientVerifier::new(crypto.clone(), source, required).map_err(|e| cx.err(at, e))?;
            builder.with_client_cert_verifier(Arc::new(verifier))
        }
        (Some((_, at)), None) => return Err(cx.err(at, "clientAuth REQUEST or REQUIRED needs a trustManager")),
    };
    let mut server = builder.with_cert_resolver(Arc::new(resolver));
    // The server's order of suites decides (the configured list, or SHA-256 suites first).
    server.ignore_client_order = true;
    server.alpn_protocols = if alpn { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { Vec::new() };
    match rustls::crypto::aws_lc_rs::Ticketer::new() {
        Ok(t) => server.ticketer = t,
        Err(e) => tracing::warn!("TLS session tickets are off: {e}"),
    }
    Ok(Object::Other(Arc::new(ServerTls { config: Arc::new(server) })))
}

fn sni_resolver(cx: &BuildCtx<'_>, node: &Node, crypto: &Arc<CryptoProvider>) -> Result<Resolver, ConfigError> {
    let sni = cx.config(node)?;
    let provider = SecretsProvider::from_config(cx, Some(sni.require("secretsProvider")?))?;
    let load = |id_node: &Node| -> Result<Arc<Identity>, ConfigError> {
        let km = KeyManager { provider: provider.clone(), secret_id: secret_id(cx, id_node)? };
        Identity::load(&km, crypto).map(Arc::new).map_err(|e| cx.err(id_node, e.0))
    };
    let default = load(sni.require("defaultSecretId")?)?;
    let mut exact = HashMap::new();
    let mut wildcard = HashMap::new();
    if let Some(names) = sni.get("serverNames") {
        for (key, id_node) in cx.object(names)? {
            let name = key.name.trim_end_matches('.').to_ascii_lowercase();
            let identity = load(id_node)?;
            match name.strip_prefix("*.") {
                Some(parent) if !parent.is_empty() && !parent.contains('*') => {
                    wildcard.insert(parent.to_string(), identity)
                }
                _ if !name.is_empty() && !name.contains('*') => exact.insert(name, identity),
                _ => return Err(cx.err(id_node, format!("'{}' is not a server name or a *.wildcard", key.name))),
            };
        }
    }
    sni.finish()?;
    Ok(Resolver { exact, wildcard, default })
}

/// Picks the certificate: exact server name, then `*.parent` (one label), then the default.
#[derive(Debug)]
struct Resolver {
    exact: HashMap<String, Arc<Identity>>,
    wildcard: HashMap<String, Arc<Identity>>,
    default: Arc<Identity>,
}

impl Resolver {
    fn pick(&self, server_name: Option<&str>) -> &Identity {
        let Some(name) = server_name else { return &self.default };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(identity) = self.exact.get(&name) {
            return identity;
        }
        if let Some(identity) = name.split_once('.').and_then(|(_, parent)| self.wildcard.get(parent)) {
            return identity;
        }
        &self.default
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.pick(hello.server_name()).current())
    }
}
