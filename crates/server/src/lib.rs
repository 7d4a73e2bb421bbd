//! The Gatehouse server: it loads an instance directory and serves it.
//!
//! [`run`] loads admin.json and config.json, takes the PID file, binds the connectors,
//! prints the started line, and serves until SIGTERM or SIGINT, when in-flight exchanges
//! get their grace period. [`check`] loads everything without serving and returns every
//! error with its file, line and column.

mod access_log;
mod admin;
mod admin_config;
pub mod console;
mod edge;
pub mod env_sh;
mod gateway;
mod h1;
mod instance;
mod listener;
pub mod log_files;
mod metrics;
pub mod normalize;
pub mod otlp;
mod permissions;
mod pidfile;
pub mod router;
mod watchdog;

use std::sync::Arc;

use gatehouse_config::{start_all, ConfigError, Mode, Registry};
use gatehouse_core::Clock;

pub use admin_config::{AdminConfig, Connector, RunMode};
pub use gateway::Gateway;
pub use instance::Instance;
pub use pidfile::{is_live_gatehouse, read_pid, PidFile, PidFileMode};

/// Sets the operational log's filter (`RUST_LOG` syntax); installed by the command line when
/// neither `RUST_LOG` nor `--log-level` chose one, so that admin.json's `logLevel` applies.
pub type LogLevelHook = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

static LOG_LEVEL_HOOK: std::sync::OnceLock<LogLevelHook> = std::sync::OnceLock::new();

/// Installs the [`LogLevelHook`] (once per process).
pub fn set_log_level_hook(hook: LogLevelHook) {
    let _ = LOG_LEVEL_HOOK.set(hook);
}

/// Registers the types of this crate (`Router`).
pub fn register(registry: &mut Registry) {
    for metric in [
        &metrics::UPSTREAM_ERRORS as &dyn gatehouse_core::counters::Metric,
        &metrics::ROUTE_LOADS,
        &otlp::SPANS_EXPORTED,
        &otlp::SPANS_DROPPED,
    ] {
        gatehouse_core::counters::register(metric);
    }
    registry.register(&["Router", "RouterHandler"], router::build);
}

/// Runs the gateway in the foreground until SIGTERM or SIGINT.
pub async fn run(
    instance: Instance,
    registry: Registry,
    clock: Clock,
    rotation: Option<log_files::Rotation>,
) -> Result<(), String> {
    let started = clock.instant();
    instance
        .ensure_runtime_dirs()
        .map_err(|e| format!("cannot create logs/, tmp/ and data/ in {}: {e}", instance.dir.display()))?;
    let gateway = Gateway::load(&instance, registry, Mode::Run, clock.clone()).map_err(|e| e.to_string())?;
    let pid_file = PidFile::acquire(&instance.pid_file(), gateway.admin.pid_file_mode)?;
    if let (Some(level), Some(hook)) = (&gateway.admin.log_level, LOG_LEVEL_HOOK.get()) {
        match hook(level) {
            Ok(()) => tracing::info!("log levels from admin.json: {level}"),
            Err(e) => tracing::warn!("admin.json logLevel: {e}"),
        }
    }
    let exposed = permissions::readable_by_others(&instance.dir, &gateway.loader.secret_paths());
    if let Some(w) = permissions::warning(&instance.dir, &exposed) {
        tracing::warn!("{w}");
    }
    // Background work starts once everything built, before the connectors accept.
    let services = gateway.services();
    start_all(&services).await?;
    gateway.loader.keep_services(services);
    let bound = match listener::bind(&gateway.admin.connectors).await {
        Ok(bound) => bound,
        Err(e) => {
            gateway.loader.stop_services().await;
            return Err(e);
        }
    };

    let metrics = Arc::new(metrics::Metrics::default());
    let access_path = instance.logs_dir().join("access.log");
    let rotation = merge_rotation(gateway.admin.access_log, rotation);
    let (access_log, writer) = access_log::AccessLog::open(&access_path, metrics.clone(), rotation, clock.clone())
        .map_err(|e| format!("cannot open {}: {e}", access_path.display()))?;
    // Trace export runs on this (the background) runtime.
    let (exporter, export_task) = match gateway.admin.telemetry.clone() {
        Some(config) => {
            let (exporter, task) = otlp::Exporter::start(config);
            (Some(exporter), Some(task))
        }
        None => (None, None),
    };
    let access_log = access_log.with_traces(exporter);
    let admin = admin::Admin::new(
        &gateway.admin.prefix,
        gateway.admin.run_mode,
        metrics.clone(),
        clock.clone(),
        gateway.admin.protection.clone(),
    );
    let edge = Arc::new(edge::Edge::new(
        gateway.root.clone(),
        gateway.session.clone(),
        admin,
        metrics,
        access_log,
        clock.clone(),
    ));

    let signals = listen_for_signals();
    let ports: Vec<String> = bound.ports().iter().map(u16::to_string).collect();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let units = match listener::start_units(bound, edge, stop_rx, gateway.admin.gateway_units) {
        Ok(units) => units,
        Err(e) => {
            // Units already started stop with the sender; then the services.
            drop(stop_tx);
            gateway.loader.stop_services().await;
            return Err(e);
        }
    };
    let line = format!(
        "Gatehouse {} started in {}ms on ports : [{}]",
        env!("CARGO_PKG_VERSION"),
        clock.instant().saturating_duration_since(started).as_millis(),
        ports.join(" ")
    );
    tracing::info!(instance = %instance.dir.display(), "{line}");
    println!("{line}");

    tokio::spawn(async move {
        wait_for_signal(signals).await;
        tracing::info!("stopping: draining in-flight exchanges");
        let _ = stop_tx.send(true);
    });
    units.wait().await;
    gateway.loader.stop_services().await;
    drop(gateway);
    // The access log senders live in the edge and the exchanges; all are gone now.
    writer.finish();
    // The exporter's last batch: every sender is gone with the units.
    if let Some(task) = export_task {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), task).await;
    }
    drop(pid_file);
    tracing::info!("stopped");
    Ok(())
}

/// admin.json's `accessLog` over the instance's own rotation (an agent's encryption hook and
/// size), the configured figures winning.
fn merge_rotation(
    config: Option<admin_config::AccessLogRotation>,
    base: Option<log_files::Rotation>,
) -> Option<log_files::Rotation> {
    let Some(c) = config else { return base };
    let base = base.unwrap_or(log_files::Rotation { max_bytes: u64::MAX, daily: false, retain: None, on_close: None });
    Some(log_files::Rotation {
        max_bytes: c.max_bytes.unwrap_or(base.max_bytes),
        daily: c.daily,
        retain: c.retain,
        on_close: base.on_close,
    })
}

/// SIGTERM and SIGINT, listened to from now on: made before the started line, so that a stop
/// sent as soon as that line shows is never the default action (an exit without draining).
type Signals = (std::io::Result<tokio::signal::unix::Signal>, std::io::Result<tokio::signal::unix::Signal>);

fn listen_for_signals() -> Signals {
    use tokio::signal::unix::{signal, SignalKind};
    (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
}

async fn wait_for_signal(signals: Signals) {
    match signals {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::error!("cannot listen for signals; stop with SIGKILL");
            std::future::pending::<()>().await;
        }
    }
}

/// Loads the whole instance without serving: every error, with file, line and column.
pub fn check(instance: &Instance, registry: Registry) -> Vec<ConfigError> {
    check_with_notes(instance, registry).0
}

/// [`check`], and the IG properties that were accepted and ignored (for the migration report).
pub fn check_with_notes(instance: &Instance, registry: Registry) -> (Vec<ConfigError>, Vec<ConfigError>) {
    let (mut errors, mut ignored) = match Gateway::load(instance, registry, Mode::Check, Clock::system()) {
        Ok(gateway) => (gateway.loader.take_errors(), gateway.loader.take_ignored()),
        Err(e) => (vec![e], Vec::new()),
    };
    sort_errors(&mut ignored);
    sort_errors(&mut errors);
    (errors, ignored)
}

fn sort_errors(errors: &mut Vec<ConfigError>) {
    // By file, then position: a file's errors read top to bottom.
    errors.sort_by(|a, b| {
        let at = |e: &ConfigError| e.pos.map(|p| (p.line, p.col)).unwrap_or((0, 0));
        a.file.cmp(&b.file).then(at(a).cmp(&at(b)))
    });
    errors.dedup_by(|a, b| a.file == b.file && a.pos == b.pos && a.message == b.message);
}

/// The lean HTTP/1.1 path's request parser, for the fuzz targets (`gatehouse-fuzz`): whether
/// the first request in `data` is served on the lean path, and how many bytes are left after
/// it (all of them when it goes to hyper).
#[doc(hidden)]
pub fn parse_http1(data: &[u8]) -> (bool, usize) {
    h1::parse_for_fuzzing(data)
}
