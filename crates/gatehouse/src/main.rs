//! `gatehouse`: the command line.
//!
//! ```text
//! gatehouse start [INSTANCE]   run in the foreground (default instance: $HOME/.gatehouse)
//! gatehouse stop  [INSTANCE]   SIGTERM the running gateway through its PID file, and wait
//! gatehouse check [INSTANCE]   load every file without serving; exit 1 on any error
//! gatehouse agent ...          the agent side: token, call, encrypt, decrypt, init
//! ```

mod agent;
mod cli;
mod logging;
mod report;
mod stop;

use std::process::ExitCode;

use clap::Parser as _;
use gatehouse_config::Registry;
use gatehouse_server::Instance;

use cli::{Cli, Command};

/// Every type the gateway knows, from every crate: the one place that knows them all.
fn registry() -> Registry {
    let mut registry = Registry::new();
    gatehouse_secrets::register(&mut registry);
    gatehouse_tls::register(&mut registry);
    gatehouse_session::register(&mut registry);
    gatehouse_oauth2::register(&mut registry);
    gatehouse_relay::register(&mut registry);
    gatehouse_agent::register(&mut registry);
    gatehouse_http::register(&mut registry);
    gatehouse_server::register(&mut registry);
    registry
}

/// The clock: the system's, unless `GATEHOUSE_TEST_CLOCK` pins it (an RFC 3339 time such as
/// `2030-01-01T00:00:00Z`, or seconds since the epoch) for tests that need to see expiry
/// without waiting; such a gateway also lets loopback clients move it (`api/clock`).
fn test_clock() -> Result<gatehouse_core::Clock, String> {
    let Ok(text) = std::env::var("GATEHOUSE_TEST_CLOCK") else { return Ok(gatehouse_core::Clock::system()) };
    let at = match text.trim().parse::<u64>() {
        Ok(secs) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        Err(_) => humantime::parse_rfc3339_weak(text.trim())
            .map_err(|e| format!("GATEHOUSE_TEST_CLOCK '{text}' is not a time: {e}"))?,
    };
    tracing::warn!("the clock is pinned by GATEHOUSE_TEST_CLOCK: this gateway is for tests");
    Ok(gatehouse_core::Clock::pinned(at))
}

/// An agent instance (an `appsettings.json` with an `EncryptionCertificate` whose
/// `EncryptFile` is true, the default) has its closed log files encrypted to its file
/// certificate: rotated at 16 MiB, at stop, and at start for a file a crash left behind.
fn encrypted_logs(dir: &std::path::Path) -> Result<Option<gatehouse_server::log_files::Rotation>, String> {
    if !dir.join("appsettings.json").exists() {
        return Ok(None);
    }
    let settings = gatehouse_agent::settings::load(dir)?;
    if !settings.file_certificate.as_ref().is_some_and(|f| f.encrypt_file) {
        return Ok(None);
    }
    let identity = settings.file_identity()?;
    let cert = identity.chain.first().ok_or("the file certificate is missing")?.to_vec();
    tracing::info!("EncryptFile: closed log files are encrypted to the agent's file certificate");
    Ok(Some(gatehouse_server::log_files::Rotation {
        max_bytes: 16 << 20,
        daily: false,
        retain: None,
        on_close: Some(std::sync::Arc::new(move |path| gatehouse_agent::files::encrypt_in_place(&cert, path))),
    }))
}

/// IG's startup conventions, before anything else reads the environment (and before any
/// thread exists): the instance's `bin/env.sh` sets variables, and `-Dname=value` in
/// `IG_OPTS`/`JAVA_OPTS` sets system properties for configuration tokens. Returns what to warn.
fn startup_env(dir: &std::path::Path) -> Result<Vec<String>, String> {
    let e = gatehouse_server::env_sh::read(dir, &|k| std::env::var(k).ok())?;
    for (k, v) in &e.vars {
        std::env::set_var(k, v);
    }
    gatehouse_config::tokens::set_system_properties(e.system_properties);
    Ok(e.warnings)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // env.sh may set RUST_LOG: read before the logs start, warned about once they have.
    let startup = match &cli.command {
        Command::Start { instance } | Command::Check { instance, .. } => {
            Some(startup_env(&instance.clone().unwrap_or_else(Instance::default_dir)))
        }
        _ => None,
    };
    logging::init(cli.log_format, cli.log_level.as_deref());
    match startup {
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        Some(Ok(warnings)) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
        }
        None => {}
    }
    match cli.command {
        Command::Start { instance } => {
            let dir = instance.unwrap_or_else(Instance::default_dir);
            match Instance::create_default(&dir) {
                Ok(true) => tracing::info!("created a new instance with a welcome route in {}", dir.display()),
                Ok(false) => {}
                Err(e) => {
                    eprintln!("error: cannot create the instance directory {}: {e}", dir.display());
                    return ExitCode::FAILURE;
                }
            }
            // The main thread's runtime carries the background work (services, reloads,
            // signals); the connectors are served by the gateway units (their own threads).
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let clock = match test_clock() {
                Ok(clock) => clock,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let rotation = match encrypted_logs(&dir) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(gatehouse_server::run(Instance::new(dir), registry(), clock, rotation)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { instance, report } => {
            let dir = instance.unwrap_or_else(Instance::default_dir);
            if !dir.is_dir() {
                eprintln!("error: {} is not a directory", dir.display());
                return ExitCode::FAILURE;
            }
            if report {
                let (errors, ignored) = gatehouse_server::check_with_notes(&Instance::new(&dir), registry());
                let report = report::Report::new(&dir, errors, ignored);
                print!("{}", report.render());
                return if report.blocking() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
            }
            let errors = gatehouse_server::check(&Instance::new(&dir), registry());
            for e in &errors {
                eprintln!("{e}");
            }
            if errors.is_empty() {
                println!("{}: configuration OK", dir.display());
                ExitCode::SUCCESS
            } else {
                eprintln!("{}: {} error(s)", dir.display(), errors.len());
                ExitCode::FAILURE
            }
        }
        Command::NewOpenidSecret { client_secret } => {
            let secret = match client_secret {
                Some(s) => {
                    if let Some(why) = gatehouse_oauth2::secret::weakness(&s) {
                        eprintln!("warning: {why}");
                    }
                    s
                }
                None => match gatehouse_oauth2::secret::generate_secret() {
                    Ok(s) => s,
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                },
            };
            println!("{}", gatehouse_oauth2::secret::shared_secret_line(&secret));
            ExitCode::SUCCESS
        }
        Command::Relay { command: cli::RelayCommand::GenerateClient { id } } => {
            match gatehouse_relay::clients::generate(&id) {
                Ok(entry) => {
                    print!("{entry}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Agent { dir, cacert, command } => match test_clock() {
            Ok(clock) => agent::run(&dir, cacert.as_deref(), command, &clock),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Stop { instance, timeout } => {
            let dir = instance.unwrap_or_else(Instance::default_dir);
            stop::stop(&Instance::new(dir), timeout)
        }
    }
}
