//! The relay end to end (post, the device opening its box, the answer, the callback), beside
//! the store's raw durable insert rate measured in the same run. Run through
//! `scripts/bench-relay.sh`, which builds the release binary this starts.
//!
//! Each client thread loops on keep-alive connections: POST a command, GET its box (the
//! delivery: latency from the POST's start to the device holding the command), POST the
//! answer. A small callback receiver in this process counts the callbacks; the run ends when
//! every command's callback has arrived.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const API_KEY: &str =
    "cHJpbWUxOjA3OWI2YTY0ZDc1YjRlOTU4NWJkMGMyNGYzNmE3ZGViYTBhZDAzNDk4ZWNmNGQ2OWI1NzY2ZjI0ZmEwMmUwNDU=";
const KEY: &str = "079b6a64d75b4e9585bd0c24f36a7deba0ad03498ecf4d69b5766f24fa02e045";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A keep-alive HTTP/1.1 client connection.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// Reads a head and a Content-Length body; the status (0 at the end of the stream).
fn read_message(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return (0, String::new());
    }
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut len = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut buf = vec![0; len];
    let _ = reader.read_exact(&mut buf);
    (status, String::from_utf8_lossy(&buf).into_owned())
}

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { writer: s.try_clone().unwrap(), reader: BufReader::new(s) }
    }

    fn call(&mut self, method: &str, path: &str, headers: &str, body: &str) -> (u16, String) {
        // One write, as HTTP clients send a small request: `write!` on the socket would send
        // each formatted piece as a segment of its own (no delay is set).
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len());
        self.writer.write_all(request.as_bytes()).unwrap();
        read_message(&mut self.reader)
    }
}

/// Counts the callbacks (every POST); answers 200 to everything.
fn receiver(count: Arc<AtomicUsize>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let count = count.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut buf = vec![0; len];
                    if reader.read_exact(&mut buf).is_err() {
                        return;
                    }
                    if first.starts_with("POST") {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

fn start_gateway(dir: &std::path::Path, store: &str, callback_port: u16) -> (Child, u16) {
    std::fs::create_dir_all(dir.join("config/routes")).unwrap();
    std::fs::write(dir.join("config/admin.json"), r#"{ "connectors": [ { "port": 0, "host": "127.0.0.1" } ] }"#)
        .unwrap();
    std::fs::write(
        dir.join("config/routes/relay.json"),
        format!(
            r#"{{ "condition": "${{find(request.uri.path, '^/hermod/')}}", "handler": {{ "type": "MessagingRelay", "config": {{ {store}
               "clients": [ {{ "clientId": "prime1", "key": "{KEY}", "callbackUrl": "http://127.0.0.1:{callback_port}/im" }} ] }} }} }}"#
        ),
    )
    .unwrap();
    let bin = std::env::var("GATEHOUSE_BIN").unwrap_or_else(|_| "target/release/gatehouse".into());
    let mut child =
        Command::new(bin).arg("start").arg(dir).env("RUST_LOG", "warn").stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.split('[').nth(1).unwrap().trim_end().trim_end_matches(']').parse().unwrap();
    (child, port)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// The store's raw durable insert: its rate, and the p50 and p99 of one commit (ms).
struct Raw {
    rate: f64,
    p50: f64,
    p99: f64,
}

impl Raw {
    fn of(mut commits: Vec<Duration>, elapsed: Duration) -> Raw {
        let rate = commits.len() as f64 / elapsed.as_secs_f64();
        commits.sort();
        Raw { rate, p50: percentile(&commits, 0.50), p99: percentile(&commits, 0.99) }
    }
}

fn run(name: &str, store: &str, raw: Raw) {
    let (total, threads) = (env("RELAY_COMMANDS", 2000), env("RELAY_THREADS", 8));
    let callbacks = Arc::new(AtomicUsize::new(0));
    let callback_port = receiver(callbacks.clone());
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-relay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut child, port) = start_gateway(&dir, store, callback_port);
    let started = Instant::now();
    let per = total / threads;
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Conn::new(port);
                let mut latencies = Vec::with_capacity(per);
                let key = format!("X-Api-Key: {API_KEY}\r\nContent-Type: application/json\r\n");
                for i in 0..per {
                    let t0 = Instant::now();
                    let body = format!(r#"{{ "commandHeader": {{ "lifespan": 600, "timeout": 300, "externalId": "b{i}" }}, "provCommand": {{ "n": {i} }} }}"#);
                    let (s, answer) = c.call("POST", "/hermod/rest/command/provision", &key, &body);
                    assert_eq!(s, 200, "{answer}");
                    let bid = answer.split("\"bid\":\"").nth(1).unwrap().split('"').next().unwrap().to_string();
                    let (s, _) = c.call("GET", &format!("/hermod/box/{bid}"), "", "");
                    assert_eq!(s, 200);
                    latencies.push(t0.elapsed());
                    let (s, _) = c.call("POST", &format!("/hermod/box/{bid}"), "Content-Type: application/json\r\n", r#"{"ok":true}"#);
                    assert_eq!(s, 200);
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let done = per * threads;
    let deadline = Instant::now() + Duration::from_secs(120);
    while callbacks.load(Ordering::Relaxed) < done && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    latencies.sort();
    let rate = done as f64 / elapsed;
    println!(
        "{name:<11} {done} commands ({threads} clients): {rate:>7.0} commands/s end to end, callbacks {}/{done}; delivery p50 {:.2} ms p99 {:.2} ms; raw durable insert {:.0}/s (one commit p50 {:.2} ms p99 {:.2} ms); ratio {:.2}",
        callbacks.load(Ordering::Relaxed),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        raw.rate,
        raw.p50,
        raw.p99,
        rate / raw.rate
    );
}

/// Inserts one row per transaction with the relay's durability settings: the disk's limit.
fn raw_sqlite_rate(n: usize) -> Raw {
    let path = std::env::temp_dir().join(format!("gatehouse-bench-raw-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, bid TEXT UNIQUE, body TEXT)").unwrap();
    let (t0, mut commits) = (Instant::now(), Vec::with_capacity(n));
    for i in 0..n {
        let t = Instant::now();
        conn.execute(
            "INSERT INTO t (bid, body) VALUES (?1, ?2)",
            rusqlite::params![format!("b{i}"), "{\"provCommand\":{}}"],
        )
        .unwrap();
        commits.push(t.elapsed());
    }
    let raw = Raw::of(commits, t0.elapsed());
    drop(conn);
    let _ = std::fs::remove_file(&path);
    raw
}

fn raw_postgres_rate(config: &str, n: usize) -> Raw {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(config, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("DROP TABLE IF EXISTS gatehouse_bench_raw; CREATE TABLE gatehouse_bench_raw (id BIGSERIAL PRIMARY KEY, bid TEXT UNIQUE, body TEXT)")
            .await
            .unwrap();
        let (t0, mut commits) = (Instant::now(), Vec::with_capacity(n));
        for i in 0..n {
            let t = Instant::now();
            client
                .execute("INSERT INTO gatehouse_bench_raw (bid, body) VALUES ($1, $2)", &[&format!("b{i}"), &"{\"provCommand\":{}}"])
                .await
                .unwrap();
            commits.push(t.elapsed());
        }
        let raw = Raw::of(commits, t0.elapsed());
        client.batch_execute("DROP TABLE gatehouse_bench_raw").await.unwrap();
        raw
    })
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: this one needs the release
    // binary and minutes, so it runs only under `cargo bench` (scripts/bench-relay.sh).
    if !std::env::args().any(|a| a == "--bench") {
        println!("relay benchmark: run scripts/bench-relay.sh");
        return;
    }
    let pg = std::env::var("GATEHOUSE_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres password=postgres dbname=postgres".into());
    let raw = raw_sqlite_rate(env("RELAY_RAW", 2000));
    run("sqlite", "", raw);
    let raw = raw_postgres_rate(&pg, env("RELAY_RAW", 2000));
    let schema = format!("bench_{}", std::process::id());
    run("postgresql", &format!(r#""store": {{ "postgresql": "{pg}", "schema": "{schema}" }},"#), raw);
    drop_schema(&pg, &schema);
}

/// Leaves the database as it was.
fn drop_schema(config: &str, schema: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(config, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await.unwrap();
    })
}
