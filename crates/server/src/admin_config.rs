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
    /// How long a new connection may take to send its first byte (after the TLS handshake)
    /// and then its whole request head.
    pub request_header_timeout: Duration,
    /// The longest pause allowed between two reads of a request body.
    pub request_body_timeout: Duration,
    /// How long a connection may stay open with no exchange in progress.
    pub idle_timeout: Duration,
    /// The most connections open at once on one port; more are closed at once and counted.
    pub max_connections: usize,
    /// The longest request target (path and query) accepted; longer gets 414.
    pub max_uri_length: usize,
    /// Whether `%2F` may appear in a path (it then stays encoded inside its segment).
    pub allow_encoded_slash: bool,
    /// Whether `TRACE` is served (refused with 405 by default; `CONNECT` always is).
    pub allow_trace: bool,
    /// Whether the client's `Forwarded`, `X-Forwarded-Host`, `-Port`, `-Proto` and
    /// `X-Real-IP` are kept (only behind a proxy that sets them itself).
    pub trust_forwarded_headers: bool,
    /// Whether this is the `adminConnector`: it serves the admin endpoints and nothing else.
    pub admin: bool,
}

impl Connector {
    /// The largest request head served, on the lean path and through hyper alike:
    /// `maxTotalHeadersSize`, but never below hyper's floor of 8 KiB.
    pub fn max_head(&self) -> usize {
        self.max_total_headers_size.max(8192)
    }
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
    /// `apiProtectionFilter`, `metricsProtectionFilter` and whether there is an
    /// `adminConnector` (the last of `connectors` then).
    pub protection: crate::admin::Protection,
    /// `gatewayUnits`: how many serving threads, each a single-threaded runtime accepting on
    /// every connector (default: the cores this process may run on).
    pub gateway_units: usize,
    /// `accessLog`: rotation of `logs/access.log`.
    pub access_log: Option<AccessLogRotation>,
    /// `logLevel`: the operational log's levels per module (`RUST_LOG` syntax), unless
    /// `RUST_LOG` or `--log-level` says otherwise.
    pub log_level: Option<String>,
    /// `openTelemetry`: trace export, when enabled.
    pub telemetry: Option<crate::otlp::TelemetryConfig>,
}

/// admin.json's `accessLog`: `{ "maxSize": "100 MB", "daily": true, "retain": 14 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessLogRotation {
    /// Close the live file at this size (bytes).
    pub max_bytes: Option<u64>,
    /// Close it when the UTC day changes.
    pub daily: bool,
    /// Keep this many closed files.
    pub retain: Option<usize>,
}

fn access_log(cx: &BuildCtx<'_>, node: &Node) -> Result<AccessLogRotation, ConfigError> {
    let c = cx.config(node)?;
    let max_bytes = match c.get("maxSize") {
        None => None,
        Some(n) => Some(
            match cx.int(n) {
                Ok(v) => u64::try_from(v).ok().filter(|v| *v > 0),
                Err(_) => parse_size(&cx.string(n)?),
            }
            .ok_or_else(|| cx.err(n, "maxSize must be a positive number of bytes, or a size such as \"100 MB\""))?,
        ),
    };
    let daily = c.get("daily").map(|n| cx.bool(n)).transpose()?.unwrap_or(false);
    let retain = match c.get("retain") {
        None => None,
        Some(n) => Some(
            usize::try_from(cx.int(n)?)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| cx.err(n, "retain must be a positive count of files"))?,
        ),
    };
    c.finish()?;
    Ok(AccessLogRotation { max_bytes, daily, retain })
}

/// `"100 MB"`, `"512 KiB"`, `"1 GB"`, `"4096"` (binary units: a MB is 1024 KiB).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(factor).filter(|v| *v > 0)
}

/// IG keys Gatehouse accepts and ignores, each with a warning.
const IGNORED: &[&str] = &[
    "vertx",
    "session",
    "streamingEnabled",
    "maxBodyLength",
    "adminMaxBodyLength",
    "auditService",
    "serveDeprecatedPrometheusEndpoint",
    "studioProtectionFilter",
    "temporaryStorage",
    "preserveOriginalQueryString",
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
        let mut connectors = Vec::new();
        for c in cx.array(config.require("connectors")?)? {
            connectors.push(connector(&cx, c)?);
        }
        if connectors.is_empty() {
            return Err(cx.err(&node, "admin.json needs at least one connector"));
        }
        let separate = match config.get("adminConnector") {
            Some(c) => {
                let mut admin = connector(&cx, c)?;
                admin.admin = true;
                connectors.push(admin);
                true
            }
            None => false,
        };
        let protection = crate::admin::Protection {
            api: config.get("apiProtectionFilter").map(|f| cx.filter(f)).transpose()?,
            metrics: config.get("metricsProtectionFilter").map(|f| cx.filter(f)).transpose()?,
            separate,
            console: config.get("console").map(|n| crate::console::config(&cx, n)).transpose()?.unwrap_or_default(),
        };
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
        let gateway_units = match config.get("gatewayUnits") {
            Some(n) => cx
                .int(n)
                .ok()
                .and_then(|v| usize::try_from(v).ok())
                .filter(|v| (1..=1024).contains(v))
                .ok_or_else(|| cx.err(n, "gatewayUnits must be an integer from 1 to 1024"))?,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let access_log = config.get("accessLog").map(|n| access_log(&cx, n)).transpose()?;
        let telemetry = config.get("openTelemetry").map(|n| crate::otlp::config(&cx, n)).transpose()?.flatten();
        let log_level = match config.get("logLevel") {
            Some(n) => {
                let s = cx.string(n)?;
                tracing_subscriber::EnvFilter::try_new(&s)
                    .map_err(|e| cx.err(n, format!("logLevel '{s}' is not a RUST_LOG filter: {e}")))?;
                Some(s)
            }
            None => None,
        };
        config.finish()?;
        heap.build_all()?;
        Ok(AdminConfig {
            connectors,
            prefix,
            pid_file_mode,
            run_mode,
            heap,
            protection,
            gateway_units,
            access_log,
            log_level,
            telemetry,
        })
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
    let timeout = |key: &str, default: u64| -> Result<Duration, ConfigError> {
        match config.get(key) {
            Some(n) => match cx.duration(n)? {
                Some(d) if !d.is_zero() => Ok(d),
                _ => Err(cx.err(n, format!("{key} must be a positive duration"))),
            },
            None => Ok(Duration::from_secs(default)),
        }
    };
    let request_header_timeout = timeout("requestHeaderTimeout", 30)?;
    let request_body_timeout = timeout("requestBodyTimeout", 30)?;
    let idle_timeout = timeout("idleTimeout", 60)?;
    let positive = |key: &str, default: usize| -> Result<usize, ConfigError> {
        match config.get(key) {
            Some(n) => usize::try_from(cx.int(n)?)
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| cx.err(n, format!("{key} must be a positive integer"))),
            None => Ok(default),
        }
    };
    let max_connections = positive("maxConnections", 10_000)?;
    let max_uri_length = positive("maxUriLength", 8192)?;
    let flag = |key: &str| config.get(key).map(|n| cx.bool(n)).transpose().map(Option::unwrap_or_default);
    let allow_encoded_slash = flag("allowEncodedSlash")?;
    let allow_trace = flag("allowTrace")?;
    let trust_forwarded_headers = flag("trustForwardedHeaders")?;
    config.ignore(&["vertx"]);
    config.finish()?;
    Ok(Connector {
        ports,
        host,
        max_total_headers_size,
        grace_period,
        tls,
        request_header_timeout,
        request_body_timeout,
        idle_timeout,
        max_connections,
        max_uri_length,
        allow_encoded_slash,
        allow_trace,
        trust_forwarded_headers,
        admin: false,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connector with every default, for unit tests.
    pub(crate) fn connector() -> Connector {
        Connector {
            ports: vec![0],
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            max_total_headers_size: 8192,
            grace_period: Duration::from_secs(10),
            tls: None,
            request_header_timeout: Duration::from_secs(30),
            request_body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_uri_length: 8192,
            allow_encoded_slash: false,
            allow_trace: false,
            trust_forwarded_headers: false,
            admin: false,
        }
    }
}
