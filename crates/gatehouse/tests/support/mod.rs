//! Test support: instance directories in a temp folder, the real binary on free ports of
//! 127.0.0.1, and plain HTTP clients (curl, and a raw socket for tight loops).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod examples;
pub mod origin;
pub mod scripted;
pub mod tls;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A temporary instance directory, removed on drop.
pub struct TempInstance {
    pub dir: PathBuf,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

impl TempInstance {
    /// An instance whose admin.json listens on a free port of 127.0.0.1.
    pub fn new() -> Self {
        let t = Self::bare();
        t.write("config/admin.json", r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#);
        t
    }

    /// An empty instance directory.
    pub fn bare() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gatehouse-it-{}-{n}-{}", std::process::id(), nanos()));
        std::fs::create_dir_all(dir.join("config/routes")).unwrap();
        TempInstance { dir }
    }

    /// Writes `rel` (relative to the instance) atomically: a temp file, then a rename.
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension("tmp~");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    pub fn route(&self, file: &str, json: &str) {
        self.write(&format!("config/routes/{file}"), json);
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.dir.join(rel)).unwrap();
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }
}

impl Drop for TempInstance {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Runs `gatehouse check DIR` (log level warn); its exit code and stdout+stderr together.
pub fn check(dir: &Path) -> (i32, String) {
    let out = Command::new(BIN).arg("check").arg(dir).env("RUST_LOG", "warn").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

/// A running gateway; killed on drop if still running.
pub struct Gateway {
    pub child: Child,
    pub ports: Vec<u16>,
    pub stderr: Arc<Mutex<String>>,
    pub stdout_line: String,
}

impl Gateway {
    pub fn start(dir: &Path) -> Gateway {
        Self::start_with(dir, &[])
    }

    /// Starts `gatehouse start DIR` and waits (bounded) for its started line.
    pub fn start_with(dir: &Path, env: &[(&str, &str)]) -> Gateway {
        match Self::try_start(dir, env) {
            Ok(g) => g,
            Err(e) => panic!("gateway did not start: {e}"),
        }
    }

    /// Like `start_with`, but returns the exit status and stderr when it fails to start.
    pub fn try_start(dir: &Path, env: &[(&str, &str)]) -> Result<Gateway, String> {
        let mut cmd = Command::new(BIN);
        cmd.arg("start").arg(dir);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Self::spawn(cmd)
    }

    /// Runs a prepared `gatehouse start` command and waits (bounded) for its started line.
    pub fn spawn(mut cmd: Command) -> Result<Gateway, String> {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        if !cmd.get_envs().any(|(k, _)| k == "RUST_LOG") {
            cmd.env("RUST_LOG", "info");
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let err_pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let err_reader = std::thread::spawn(move || {
            for line in BufReader::new(err_pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let out = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send(line);
            // Keep draining so the gateway never blocks on a full pipe.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        if !line.contains("started in") {
            let status = wait_exit(&mut child, Duration::from_secs(10));
            // Exited: its stderr is closed, so the reader ends once it has read every line.
            if status.is_some() {
                let _ = err_reader.join();
            }
            let log = stderr.lock().unwrap().clone();
            return Err(format!("exit {status:?}; stdout {line:?}; stderr:\n{log}"));
        }
        let ports = line
            .split('[')
            .nth(1)
            .and_then(|s| s.split(']').next())
            .map(|s| s.split_whitespace().map(|p| p.parse().unwrap()).collect())
            .unwrap_or_default();
        Ok(Gateway { child, ports, stderr, stdout_line: line })
    }

    pub fn port(&self) -> u16 {
        self.ports[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port())
    }

    pub fn logs(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (bounded) until the logs contain `needle`.
    pub fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.logs().contains(needle) {
            assert!(Instant::now() < deadline, "log never showed {needle:?}; logs:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        wait_exit(&mut self.child, Duration::from_secs(30))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) for the process to exit; its exit code.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "process did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A response read by [`get`].
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A raw HTTP/1.1 request on a fresh connection; `extra` are header lines.
pub fn request(port: u16, method: &str, path: &str, extra: &[&str], body: &str) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for h in extra {
        head.push_str(h);
        head.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_response(&raw)
}

/// Sends `raw` (a whole request, head and body, as written) on a fresh connection and reads
/// the answer until the gateway closes.
pub fn raw_request(port: u16, raw: &str) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    s.write_all(raw.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    parse_response(&out)
}

pub fn get(port: u16, path: &str) -> Resp {
    request(port, "GET", path, &[], "").unwrap()
}

/// Parses one response with a Content-Length body (or a body to the end).
pub fn parse_response(raw: &[u8]) -> std::io::Result<Resp> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) =
        text.split_once("\r\n\r\n").ok_or_else(|| std::io::Error::other(format!("no response head in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("bad status line"))?;
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_string(), v.trim().to_string())).collect();
    Ok(Resp { status, headers, body: body.to_string() })
}

/// Runs curl with `args`; returns stdout. curl must be installed (scripts/test-deps.sh).
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().expect("curl is installed");
    if !out.status.success() {
        eprintln!("curl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls `f` (bounded) until it returns true.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
