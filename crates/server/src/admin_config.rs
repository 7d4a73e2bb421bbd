//! `admin.json`: connectors, the admin prefix, the PID file mode and the admin heap.
//!
//! Without the file, one plain HTTP connector listens on port 8080.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use gatehouse_config::{tokens, BuildCtx, ConfigError, Heap, Node};
use gatehouse_tls::ServerTls;

use crate::pidfile::PidFileMode;

/// One listening connector.
#[derive(Debug, Clone)]
pub struct Connector {
    /// The ports to listen on (0 picks a free one).
    pub ports: Vec<u16>,
    /// The address to bind (default: all interfaces, as IG).
    pub host: IpAddr,
    /// The largest request head accepted; larger gets 431.
    pub max_total_headers_size: usize,
    /// How long in-flight exchanges may run on after a stop begins.
    pub grace_period: Duration,
    /// TLS (`ServerTlsOptions`), or plain HTTP.
    pub tls: Option<Arc<ServerTls>>,
}

/// Whether admin APIs are open to any client or to loopback only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunMode {
    /// `/{prefix}/api/*` only from loopback.
    Production,
    /// Everything open.
    Development,
}

/// The parsed admin.json.
pub struct AdminConfig {
    /// The connectors.
    pub connectors: Vec<Connector>,
    /// The admin path prefix (`openig`).
    pub prefix: String,
    /// What to do with an existing PID file.
    pub pid_file_mode: PidFileMode,
    /// Production or development.
    pub run_mode: RunMode,
    /// The admin heap; it serves the connectors (TLS options live here).
    pub heap: Arc<Heap>,
}

/// IG keys Gatehouse accepts and ignores, each with a warning.
const IGNORED: &[&str] = &[
    "vertx",
    "gatewayUnits",
    "session",
    "streamingEnabled",
    "maxBodyLength",
    "adminMaxBodyLength",
    "auditService",
    "serveDeprecatedPrometheusEndpoint",
    "openTelemetry",
    "studioProtectionFilter",
    "temporaryStorage",
    "preserveOriginalQueryString",
];

/// IG keys Gatehouse does not implement and may not ignore: each would leave the admin
/// endpoints less protected than the file asks.
const REFUSED: &[(&str, &str)] = &[
    ("adminConnector", "the admin endpoints would stay on the main connectors"),
    ("apiProtectionFilter", "the admin API would keep its default protection (loopback clients only)"),
    ("metricsProtectionFilter", "the metrics endpoint would stay unprotected"),
];

impl AdminConfig {
    /// Loads admin.json (`node` is `None` when the file is absent).
    pub fn load(defaults: &Arc<Heap>, file: Arc<str>, node: Option<Node>) -> Result<Self, ConfigError> {
        let mut node =
            node.unwrap_or_else(|| Node::from_json(&serde_json::json!({ "connectors": [{ "port": 8080 }] })));
        let heap = Heap::for_file(defaults, file, &mut node)?;
        let cx = BuildCtx::new(&heap, "admin.json", "admin.json");
        let config = cx.config(&node)?;
        config.get("heap");
        config.get("properties");
        config.ignore(IGNORED);
        for (key, why) in REFUSED {
            config.refuse(key, why)?;
        }
        let mut connectors = Vec::new();
        for c in cx.array(config.require("connectors")?)? {
            connectors.push(connector(&cx, c)?);
        }
        if connectors.is_empty() {
            return Err(cx.err(&node, "admin.json needs at least one connector"));
        }
        let prefix = match config.get("prefix") {
            Some(p) => cx.string(p)?.trim_matches('/').to_string(),
            None => "openig".to_string(),
        };
        if prefix.is_empty() || prefix.contains('/') {
            return Err(cx.err(&node, "prefix must be one non-empty path segment"));
        }
        if let Some(t) = config.get("temporaryDirectory") {
            cx.string(t)?;
        }
        let token = |name: &str| tokens::TokenSource { properties: &[heap.properties()] }.lookup(name);
        let pid_file_mode = match config.get("pidFileMode") {
            Some(n) => {
                let s = cx.string(n)?;
                PidFileMode::parse(&s)
                    .ok_or_else(|| cx.err(n, format!("pidFileMode must be fail or override, not '{s}'")))?
            }
            None => match token("ig.pid.file.mode") {
                Some(s) => PidFileMode::parse(&s)
                    .ok_or_else(|| cx.err(&node, format!("IG_PID_FILE_MODE must be fail or override, not '{s}'")))?,
                None => PidFileMode::Fail,
            },
        };
        let mode_text = match config.get("mode") {
            Some(n) => Some((cx.string(n)?, n)),
            None => token("ig.run.mode").map(|s| (s, &node)),
        };
        let run_mode = match mode_text {
            None => RunMode::Production,
            Some((s, n)) => match s.to_ascii_lowercase().as_str() {
                "production" | "prod" => RunMode::Production,
                "development" | "dev" | "evaluation" => RunMode::Development,
                _ => return Err(cx.err(n, format!("mode must be production or development, not '{s}'"))),
            },
        };
        config.finish()?;
        heap.build_all()?;
        Ok(AdminConfig { connectors, prefix, pid_file_mode, run_mode, heap })
    }
}

fn connector(cx: &BuildCtx<'_>, node: &Node) -> Result<Connector, ConfigError> {
    let config = cx.config(node)?;
    let port_node = config.require("port")?;
    let mut ports = Vec::new();
    for p in port_node.one_or_many() {
        let n = cx.int(p)?;
        ports.push(u16::try_from(n).map_err(|_| cx.err(p, format!("invalid port {n}")))?);
    }
    let host = match config.get("host") {
        Some(h) => {
            let s = cx.string(h)?;
            match s.as_str() {
                "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                _ => s.parse().map_err(|_| cx.err(h, format!("host must be an IP address, not '{s}'")))?,
            }
        }
        None => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let max_total_headers_size = match config.get("maxTotalHeadersSize") {
        Some(n) => usize::try_from(cx.int(n)?).map_err(|_| cx.err(n, "maxTotalHeadersSize must be positive"))?,
        None => 8192,
    };
    let grace_period = match config.get("gracePeriod") {
        Some(n) => cx.duration(n)?.unwrap_or(Duration::from_secs(3600)),
        None => Duration::from_secs(10),
    };
    let tls = config.get("tls").map(|t| cx.other::<ServerTls>(t, "ServerTlsOptions")).transpose()?;
    config.ignore(&["vertx"]);
    config.finish()?;
    Ok(Connector { ports, host, max_total_headers_size, grace_period, tls })
}
