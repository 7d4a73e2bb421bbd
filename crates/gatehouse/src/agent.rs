//! `gatehouse agent ...`: the agent's command-line tools (see `gatehouse_agent`). Errors are
//! one line each, with what to do about them; no secret is ever printed except the token the
//! user asked for.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bytes::Bytes;
use gatehouse_agent::cms::{self, KeyTransport};
use gatehouse_agent::http_client::{CallError, Http};
use gatehouse_agent::settings::{self, AgentSettings};
use gatehouse_agent::token;

use crate::cli::AgentCommand;

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

/// Runs one agent command; `clock` is the system's unless `GATEHOUSE_TEST_CLOCK` pins it.
pub fn run(dir: &Path, cacert: Option<&Path>, command: AgentCommand, clock: &gatehouse_core::Clock) -> ExitCode {
    let now = || clock.unix_millis() / 1000;
    if let AgentCommand::Init { target, server, client, profile } = &command {
        let what = gatehouse_agent::init::Init { server, client, profile };
        return match gatehouse_agent::init::init(target, &what, now()) {
            Ok(line) => {
                println!("Agent set up in {}. Add this line to the server's XML configuration:", target.display());
                println!("{line}");
                println!(
                    "and copy the server's certificate (its public key) to {}",
                    target.join("identitymanager.cer.pem").display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        };
    }
    let s = match settings::load(dir) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    match command {
        AgentCommand::Encrypt { files, out, pem, pkcs1 } => encrypt(&s, &files, out.as_deref(), pem, pkcs1),
        AgentCommand::Decrypt { files, out } => decrypt(&s, &files, out.as_deref()),
        AgentCommand::Token { client, claims } => online(cacert, |http| async move {
            let t = token::obtain(&http, &s, client.as_deref(), now()).await.map_err(|e| (1, e.to_string()))?;
            if claims {
                println!("{}", serde_json::to_string_pretty(&t.claims).unwrap_or_default());
            } else {
                println!("{}", t.access_token);
            }
            Ok(())
        }),
        AgentCommand::Call { client, method, data, include, url } => online(cacert, |http| async move {
            let t = token::obtain(&http, &s, client.as_deref(), now()).await.map_err(exit_code)?;
            let url = if url.starts_with("http://") || url.starts_with("https://") {
                url
            } else {
                let base = s.application_uri.as_deref().unwrap_or_default().trim_end_matches('/');
                format!("{base}/{}", url.trim_start_matches('/'))
            };
            let body = match data.as_deref() {
                Some(d) if d.starts_with('@') => {
                    Bytes::from(std::fs::read(&d[1..]).map_err(|e| (26, format!("cannot read {}: {e}", &d[1..])))?)
                }
                Some(d) => Bytes::from(d.to_string()),
                None => Bytes::new(),
            };
            let method = method.unwrap_or_else(|| if data.is_some() { "POST".into() } else { "GET".into() });
            let method =
                http::Method::from_bytes(method.as_bytes()).map_err(|_| (2, format!("bad method {method}")))?;
            let mut headers = vec![("authorization", format!("Bearer {}", t.access_token))];
            if data.is_some() {
                headers.push(("content-type", "application/x-www-form-urlencoded".into()));
            }
            let answer = http.send(method, &url, &headers, body).await.map_err(exit_code)?;
            let mut out = std::io::stdout().lock();
            if include {
                let _ = write!(out, "HTTP/1.1 {}\r\n", answer.status);
                for (k, v) in &answer.headers {
                    let _ = write!(out, "{k}: {}\r\n", v.to_str().unwrap_or(""));
                }
                let _ = write!(out, "\r\n");
            }
            let _ = out.write_all(&answer.body);
            let _ = out.flush();
            if answer.status.as_u16() >= 400 {
                return Err((22, format!("the server answered {}", answer.status)));
            }
            Ok(())
        }),
        AgentCommand::Init { .. } => ExitCode::SUCCESS,
    }
}

/// curl's exit codes: 7 for a server that cannot be reached.
fn exit_code(e: CallError) -> (u8, String) {
    match e {
        CallError::Unreachable(s) => (7, s),
        CallError::Other(s) => (1, s),
    }
}

fn online<F, Fut>(cacert: Option<&Path>, f: F) -> ExitCode
where
    F: FnOnce(Http) -> Fut,
    Fut: std::future::Future<Output = Result<(), (u8, String)>>,
{
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    let http = match Http::new(cacert) {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    match runtime.block_on(f(http)) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(code)
        }
    }
}

fn output_for(input: &Path, out: Option<&Path>, many: bool, suffix: Option<&str>) -> Option<PathBuf> {
    let name = input.file_name()?.to_string_lossy().into_owned();
    let name = match suffix {
        Some(s) => format!("{name}{s}"),
        None => name.strip_suffix(".cms").map(str::to_string).unwrap_or(format!("{name}.out")),
    };
    match out {
        Some(o) if many => Some(o.join(name)),
        Some(o) => Some(o.to_path_buf()),
        None if suffix.is_some() => Some(input.with_file_name(name)),
        None => None,
    }
}

fn encrypt(s: &AgentSettings, files: &[PathBuf], out: Option<&Path>, pem: bool, pkcs1: bool) -> ExitCode {
    let identity = match s.file_identity() {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let Some(cert) = identity.chain.first() else { return fail("the file certificate is missing") };
    let transport = if pkcs1 { KeyTransport::Pkcs1 } else { KeyTransport::Oaep };
    for file in files {
        let Some(target) = output_for(file, out, files.len() > 1, Some(if pem { ".pem" } else { ".cms" })) else {
            return fail(format!("{}: not a file name", file.display()));
        };
        let result = std::fs::File::open(file)
            .and_then(|f| f.metadata().map(|m| (f, m.len())))
            .map_err(|e| format!("cannot read {}: {e}", file.display()))
            .and_then(|(mut f, len)| {
                gatehouse_agent::files::write_aside(&target, |w| {
                    cms::encrypt(cert, transport, &mut f, len, w, pem).map_err(|e| e.0)
                })
            });
        if let Err(e) = result {
            return fail(format!("{}: {e}", file.display()));
        }
    }
    ExitCode::SUCCESS
}

fn decrypt(s: &AgentSettings, files: &[PathBuf], out: Option<&Path>) -> ExitCode {
    let identity = match s.file_identity() {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    for file in files {
        let input = match std::fs::File::open(file) {
            Ok(f) => f,
            Err(e) => return fail(format!("cannot read {}: {e}", file.display())),
        };
        let result = match output_for(file, out, files.len() > 1, None) {
            Some(target) => gatehouse_agent::files::write_aside(&target, |w| {
                cms::decrypt(&identity, input, w).map(|_| ()).map_err(|e| e.0)
            }),
            None => {
                let mut stdout = std::io::stdout().lock();
                cms::decrypt(&identity, input, &mut stdout).map(|_| ()).map_err(|e| e.0)
            }
        };
        if let Err(e) = result {
            return fail(format!("{}: {e}", file.display()));
        }
    }
    ExitCode::SUCCESS
}
