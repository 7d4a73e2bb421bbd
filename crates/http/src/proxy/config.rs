//! The configuration shared by `ReverseProxyHandler` and `ClientHandler`, with IG's property
//! names where IG has one.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{BuildCtx, ConfigError, Kind, Node};
use gatehouse_tls::{ClientTls, HostnameVerifier};

use super::client::ProxyKind;

/// Parsed proxy settings.
#[derive(Clone)]
pub(crate) struct ProxyConfig {
    /// Concurrent exchanges (and pooled connections) per upstream.
    pub connections: usize,
    /// TCP connect timeout.
    pub connect_timeout: Option<Duration>,
    /// Wait for the response head, and longest silence while a body streams either way.
    pub so_timeout: Option<Duration>,
    /// The whole exchange, head to last body byte; `None` is unlimited.
    pub total_timeout: Option<Duration>,
    /// How long an exchange waits for one of the `connections` slots.
    pub queue_timeout: Duration,
    /// Upstream over h2c with prior knowledge.
    pub http2: bool,
    /// No keep-alive pool.
    pub no_reuse: bool,
    /// The `Upgrade` protocols passed through (lower case): `websocket` when `websocket` is
    /// on, plus `allowedUpgrades`.
    pub upgrades: Vec<String>,
    /// Send a request wherever its own URI says when no `baseURI` rebased it (IG's
    /// behaviour: an open proxy unless something else restricts Host).
    pub client_chosen_upstream: bool,
    /// Read the whole request body (memory, then a file in `tmp/`) before taking an upstream
    /// connection slot, so a slow client cannot hold one while it trickles.
    pub request_buffering: bool,
    /// Where spooled request bodies go.
    pub spool_dir: std::path::PathBuf,
    /// Add `X-Forwarded-For`, `-Proto`, `-Host`.
    pub forwarded_headers: bool,
    /// Keep the downstream `Host` instead of the upstream's.
    pub preserve_host: bool,
    /// TLS to `https` upstreams: `ClientTlsOptions`, or the system roots.
    pub tls: Option<Arc<ClientTls>>,
    /// IG's deprecated handler-level `hostnameVerifier`, used when `tls` does not say.
    pub hostname_verifier: Option<HostnameVerifier>,
}

/// IG properties accepted and ignored, each with a warning.
const IGNORED: &[&str] = &[
    "temporaryStorage",
    "asyncBehavior",
    "numberOfWorkers",
    "vertx",
    "waitQueueSize",
    "connectionTimeToLive",
    "propagateDisconnection",
    "retries",
    "circuitBreaker",
    "proxyOptions",
    "systemProxy",
    "stateTrackingEnabled",
];

impl ProxyConfig {
    pub(crate) fn build(cx: &BuildCtx<'_>, node: &Node, kind: ProxyKind) -> Result<Self, ConfigError> {
        let config = cx.config(node)?;
        let connections = match config.get("connections") {
            Some(n) => match usize::try_from(cx.int(n)?) {
                Ok(c) if c > 0 => c,
                _ => return Err(cx.err(n, "connections must be a positive integer")),
            },
            None => 64,
        };
        let duration = |key: &str, default: Option<u64>| -> Result<Option<Duration>, ConfigError> {
            match config.get(key) {
                Some(n) => Ok(cx.duration(n)?.filter(|d| !d.is_zero())),
                None => Ok(default.map(Duration::from_secs)),
            }
        };
        let connect_timeout = duration("connectionTimeout", Some(10))?;
        let so_timeout = duration("soTimeout", Some(10))?;
        let total_timeout = duration("totalTimeout", None)?;
        let queue_timeout = duration("queueTimeout", Some(10))?.unwrap_or(Duration::from_secs(3600));
        let flag = |key: &str, default: bool| -> Result<bool, ConfigError> {
            config.get(key).map(|n| cx.bool(n)).transpose().map(|b| b.unwrap_or(default))
        };
        let http2_version = match config.get("protocolVersion") {
            Some(n) => match cx.string(n)?.to_ascii_uppercase().as_str() {
                "HTTP/1.1" | "HTTP/1" => false,
                "HTTP/2" | "HTTP/2.0" => true,
                other => return Err(cx.err(n, format!("protocolVersion must be HTTP/1.1 or HTTP/2, not '{other}'"))),
            },
            None => false,
        };
        // Read the flag even when the version already says HTTP/2, so that it is known.
        let prior_knowledge = flag("http2PriorKnowledge", false)?;
        let http2 = http2_version || prior_knowledge;
        let no_reuse = flag("disableReuseConnection", false)?;
        let websocket = match config.get("websocket") {
            None => kind == ProxyKind::Reverse,
            Some(n @ Node { kind: Kind::Object(_), .. }) => {
                let ws = cx.config(n)?;
                let enabled = ws.get("enabled").map(|e| cx.bool(e)).transpose()?.unwrap_or(false);
                ws.ignore(&["connectionTimeout", "soTimeout", "numberOfSelectors", "tls", "vertx"]);
                ws.finish()?;
                enabled
            }
            Some(n) => cx.bool(n)?,
        };
        let mut upgrades: Vec<String> = if websocket { vec!["websocket".into()] } else { Vec::new() };
        if let Some(n) = config.get("allowedUpgrades") {
            for p in cx.array(n)? {
                upgrades.push(cx.string(p)?.to_ascii_lowercase());
            }
        }
        let client_chosen_upstream = flag("allowClientChosenUpstream", false)?;
        if client_chosen_upstream {
            tracing::warn!(
                "{}:{}: allowClientChosenUpstream: requests without a baseURI go wherever their Host header says (IG's behaviour): anyone who can reach the gateway can reach any host it can",
                cx.file(),
                node.pos
            );
        }
        let request_buffering = flag("requestBuffering", true)?;
        let spool_dir = cx.heap().loader().instance_dir.join("tmp");
        let forwarded_headers = flag("forwardedHeaders", kind == ProxyKind::Reverse)?;
        let preserve_host = flag("preserveHost", false)?;
        let tls = match (config.get("tls"), config.get("trustManager")) {
            (Some(_), Some(t)) => {
                return Err(cx.err(t, "set tls (ClientTlsOptions) or the deprecated trustManager, not both"))
            }
            (Some(t), None) => Some(cx.other::<ClientTls>(t, "ClientTlsOptions")?),
            // IG's deprecated handler-level trust manager (TrustAllManager in many test setups).
            (None, Some(t)) => Some(Arc::new(ClientTls::from_trust_manager(cx, t)?)),
            (None, None) => None,
        };
        // Gatehouse never retries a request on its own, which is what this asks for.
        let _ = flag("disableRetries", true)?;
        let hostname_verifier =
            config.get("hostnameVerifier").map(|h| HostnameVerifier::from_config(cx, h)).transpose()?;
        config.ignore(IGNORED);
        config.finish()?;
        Ok(ProxyConfig {
            connections,
            connect_timeout,
            so_timeout,
            total_timeout,
            queue_timeout,
            http2,
            no_reuse,
            upgrades,
            client_chosen_upstream,
            request_buffering,
            spool_dir,
            forwarded_headers,
            preserve_host,
            tls,
            hostname_verifier,
        })
    }
}
