//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Gatehouse: an identity gateway in one binary.
#[derive(Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `gatehouse=debug` (default: $RUST_LOG, else info).
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The log line format.
#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway in the foreground on an instance directory.
    Start {
        /// The instance directory (default: $GATEHOUSE_BASE, else $HOME/.gatehouse, created
        /// with a welcome route when missing).
        instance: Option<PathBuf>,
    },
    /// Stop the gateway running on an instance directory and wait for it to exit.
    Stop {
        /// The instance directory.
        instance: Option<PathBuf>,
        /// How long to wait for the gateway to exit.
        #[arg(long, value_parser = parse_timeout, default_value = "60s")]
        timeout: Duration,
    },
    /// Load every configuration file without serving; exit 1 on any error.
    Check {
        /// The instance directory.
        instance: Option<PathBuf>,
    },
    /// Print the HashedSecret of an OpenID client secret (the identity manager's
    /// New-OpenIDSecret); without a secret, generate a strong one.
    #[command(name = "new-openid-secret")]
    NewOpenidSecret {
        /// The clear secret to hash (default: a new 32-character random secret).
        #[arg(long = "client-secret")]
        client_secret: Option<String>,
    },
    /// Messaging relay tools.
    Relay {
        /// What to do.
        #[command(subcommand)]
        command: RelayCommand,
    },
}

/// `gatehouse relay ...`.
#[derive(Subcommand)]
pub enum RelayCommand {
    /// Print a new API client entry (a fresh 64-hex-character key, its hashedKey and the
    /// X-Api-Key value), as the replaced product's util/generateclient/<id> does.
    #[command(name = "generate-client")]
    GenerateClient {
        /// The client id.
        id: String,
    },
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    gatehouse_config::parse_duration(s)?.ok_or_else(|| "the timeout cannot be unlimited".to_string())
}
