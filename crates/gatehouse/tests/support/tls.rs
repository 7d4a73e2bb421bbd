//! TLS test helpers: the guide's key commands run through a shell, `openssl s_client`, and an
//! independent HTTPS origin (Python's ssl module).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::{curl, TempInstance};

/// Runs `script` with bash in `dir`; panics with its output when it fails.
pub fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash").arg("-ec").arg(script).current_dir(dir).output().expect("bash runs");
    assert!(
        out.status.success(),
        "script failed: {script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The guide's openssl command for a self-signed key and certificate, as PEM files
/// `{name}-key.pem` and `{name}-certificate.pem`, concatenated into `{secret_id}.pem`.
pub fn guide_pem(dir: &Path, subject: &str, name: &str, secret_id: &str) {
    sh(
        dir,
        &format!(
            "openssl req -newkey rsa:2048 -new -nodes -x509 -days 3650 -subj \"{subject}\" \
             -keyout {name}-key.pem -out {name}-certificate.pem 2>/dev/null
             cat {name}-key.pem {name}-certificate.pem > {secret_id}.pem"
        ),
    );
}

/// A guide file with its secrets directory and ports replaced (8080 and 8443 become free
/// ports picked by the gateway).
pub fn guide_file(text: &str, secrets: &Path) -> String {
    let dir = secrets.display().to_string();
    text.replace("/path/to/secrets", &dir)
        .replace("\"path/to/secrets\"", &format!("\"{dir}\""))
        .replace("\"port\": 8080", "\"port\": 0")
        .replace("\"port\": 8443", "\"port\": 0")
}

/// The subject of the certificate the server on `port` presents for `server_name`, in the
/// guide's `/CN=.../O=...` form; `None` when the handshake fails.
pub fn served_subject(port: u16, server_name: Option<&str>) -> Option<String> {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-nameopt", "compat"]);
    match server_name {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd.stdin(Stdio::null()).output().expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().find_map(|l| l.strip_prefix("subject=")).map(|s| s.trim().to_string())
}

/// Whether a handshake with exactly `version` (`-tls1_1`, `-tls1_2`, `-tls1_3`) succeeds.
pub fn handshake_with(port: u16, version: &str) -> bool {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), version, "-servername", "ig.example.com"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("Server certificate")
}

/// An HTTPS origin run by Python's ssl module; killed on drop.
pub struct HttpsOrigin {
    child: Child,
    pub port: u16,
}

impl HttpsOrigin {
    /// Serves with `cert` and `key`; with `client_ca`, requires client certificates.
    pub fn start(cert: &Path, key: &Path, client_ca: Option<&Path>) -> HttpsOrigin {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/https_origin.py");
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(cert).arg(key);
        if let Some(ca) = client_ca {
            cmd.arg(ca);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("origin prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| panic!("origin did not start: {line:?}"));
        HttpsOrigin { child, port }
    }
}

impl Drop for HttpsOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An instance with an empty `secrets/` directory.
pub fn with_secrets(inst: TempInstance) -> (TempInstance, std::path::PathBuf) {
    let secrets = inst.path("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    (inst, secrets)
}

/// The HTTP status of `GET /` over TLS, as client `who` (its `{who}-cert.pem` and
/// `{who}-key.pem` in `secrets`) or with no client certificate; `000` when the handshake fails.
pub fn status_as(port: u16, secrets: &Path, who: Option<&str>) -> String {
    let mut args =
        vec!["-k".to_string(), "-s".into(), "-o".into(), "/dev/null".into(), "-w".into(), "%{http_code}".into()];
    if let Some(who) = who {
        for (flag, file) in [("--cert", format!("{who}-cert.pem")), ("--key", format!("{who}-key.pem"))] {
            args.push(flag.into());
            args.push(secrets.join(file).display().to_string());
        }
    }
    args.push(https(port, "/"));
    curl(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `https://127.0.0.1:{port}{path}`.
pub fn https(port: u16, path: &str) -> String {
    format!("https://127.0.0.1:{port}{path}")
}

/// The guide's keytool command for the server keystore, and its password file.
pub fn guide_keystore(secrets: &Path, cn: &str, file: &str) {
    sh(
        secrets,
        &format!(
            "keytool -genkey -alias https-connector-key -keyalg RSA -keystore {}/{file} \
             -storepass password -keypass password -dname \"CN={cn},O=Example Corp,C=FR\" 2>/dev/null
             echo -n 'password' > keystore.pass",
            secrets.display()
        ),
    );
}

/// The subject of the guide's certificate for ig.example.com, as `openssl -nameopt compat` shows it.
pub const IG_SUBJECT: &str = "/CN=ig.example.com/OU=example/O=com/L=fr/ST=fr/C=fr";

/// A route that shows what the gateway knows about the connection.
pub const ECHO_ROUTE: &str = r#"{
  "handler": { "type": "StaticResponseHandler", "config": { "status": 200,
    "headers": { "Content-Type": [ "text/plain" ] },
    "entity": "secure=${contexts.client.isSecure} sni=${contexts.client.serverName}" } }
}"#;
