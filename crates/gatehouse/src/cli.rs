//! Command-line arguments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Gatehouse: an identity gateway in one binary.
#[derive(Parser)]
#[command(name = "gatehouse", version = concat!(env!("CARGO_PKG_VERSION"), " (git ", env!("GATEHOUSE_GIT_REV"), ")"), about, long_about = None)]
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
        /// Print a migration report for an existing IG instance instead: what Gatehouse does
        /// not support, grouped, with file and line and the closest alternative, and a summary.
        #[arg(long)]
        report: bool,
    },
    /// Print the HashedSecret of an OpenID client secret (the identity manager's
    /// New-OpenIDSecret); without a secret, generate a strong one.
    #[command(name = "new-openid-secret")]
    NewOpenidSecret {
        /// The clear secret to hash (default: a new 32-character random secret).
        #[arg(long = "client-secret")]
        client_secret: Option<String>,
    },
    /// The agent side of agent/server protection, run in (or pointed at with -C) the agent's
    /// directory, where its appsettings.json and appsettings.agent.json are.
    Agent {
        /// The agent's directory.
        #[arg(short = 'C', long = "dir", default_value = ".", global = true)]
        dir: PathBuf,
        /// PEM certificates to trust for HTTPS (default: the system's, or $SSL_CERT_FILE).
        #[arg(long, global = true)]
        cacert: Option<PathBuf>,
        /// What to do.
        #[command(subcommand)]
        command: AgentCommand,
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

/// `gatehouse agent ...`.
#[derive(Subcommand)]
pub enum AgentCommand {
    /// Get a token (cached in the agent's temporary folder), verify its signature against the
    /// server's certificate, and print it.
    Token {
        /// The OpenID client (default: DefaultOpenIdClient).
        #[arg(long)]
        client: Option<String>,
        /// Print the verified claims instead of the token.
        #[arg(long)]
        claims: bool,
    },
    /// One authenticated call to the server, printing the answer's body (curl-like exit codes:
    /// 0 on 2xx/3xx, 22 on an HTTP error, 7 when the server cannot be reached).
    Call {
        /// The OpenID client (default: DefaultOpenIdClient).
        #[arg(long)]
        client: Option<String>,
        /// The method (default GET, POST with -d).
        #[arg(short = 'X', long = "request")]
        method: Option<String>,
        /// A body to send (`@FILE` reads a file).
        #[arg(short = 'd', long = "data")]
        data: Option<String>,
        /// Print the status line and headers too.
        #[arg(short = 'i', long = "include")]
        include: bool,
        /// An absolute URL, or a path on ApplicationUri.
        url: String,
    },
    /// Encrypt files to the agent's file certificate (CMS EnvelopedData, AES-256-CBC), as
    /// `openssl cms -decrypt` reads them. Writes FILE.cms unless -o says otherwise.
    Encrypt {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The output file (one input) or directory (several).
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
        /// Write PEM (-----BEGIN CMS-----) instead of DER.
        #[arg(long)]
        pem: bool,
        /// Wrap the key with RSA PKCS#1 v1.5 instead of RSA-OAEP (SHA-256).
        #[arg(long)]
        pkcs1: bool,
    },
    /// Decrypt CMS files (DER, BER or PEM) made for the agent's file certificate: by the agent,
    /// or by `openssl cms -encrypt`. Writes to standard output unless -o is given.
    Decrypt {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The output file (one input) or directory (several; FILE.cms becomes FILE).
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
    },
    /// Set up a new agent in DIR: both appsettings files, a fresh file certificate, and the
    /// <OpenIdClient> line to paste into the server's XML.
    Init {
        /// The new agent's directory.
        target: PathBuf,
        /// The server's base URL (ApplicationUri).
        #[arg(long, default_value = "https://localhost:8443")]
        server: String,
        /// The OpenID client's identifier.
        #[arg(long, default_value = "Job")]
        client: String,
        /// Its profile on the server.
        #[arg(long, default_value = "Administrator")]
        profile: String,
    },
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    gatehouse_config::parse_duration(s)?.ok_or_else(|| "the timeout cannot be unlimited".to_string())
}
