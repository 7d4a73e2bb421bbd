//! Operational logs to standard error, as text or JSON.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

/// Installs the global subscriber. When neither `--log-level` nor `RUST_LOG` chose the
/// levels, admin.json's `logLevel` may set them once the instance is read.
pub fn init(format: LogFormat, level: Option<&str>) {
    let chosen = level.map(str::to_string).or_else(|| std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()));
    let filter = match &chosen {
        Some(l) => EnvFilter::new(l),
        None => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let adjustable = chosen.is_none();
    match format {
        LogFormat::Text => {
            let builder = builder.with_target(false).with_filter_reloading();
            if adjustable {
                install_hook(builder.reload_handle());
            }
            builder.init();
        }
        LogFormat::Json => {
            let builder = builder.json().with_filter_reloading();
            if adjustable {
                install_hook(builder.reload_handle());
            }
            builder.init();
        }
    }
}

/// Lets admin.json's `logLevel` replace the filter.
fn install_hook<S: 'static>(handle: tracing_subscriber::reload::Handle<EnvFilter, S>) {
    gatehouse_server::set_log_level_hook(Box::new(move |levels: &str| {
        let filter = EnvFilter::try_new(levels).map_err(|e| e.to_string())?;
        handle.reload(filter).map_err(|e| e.to_string())
    }));
}
