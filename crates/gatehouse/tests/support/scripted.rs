//! A scripted HTTP/1.1 origin on raw sockets, for what a well-behaved server rarely does
//! while a proxy has its connections pooled: closing an idle keep-alive connection, or
//! dropping a request without an answer.
//!
//! | path | answer |
//! |---|---|
//! | `/drop-once...` | the first time: read, then close the connection without an answer; then 200 |
//! | `/then-close` | 200 on a keep-alive connection, then the origin closes it (counted in `closed`) |
//! | `/pad/N` | 200 with an `X-Pad` header of N bytes, the path as its body |
//! | `/fields...` | 200 `ok` with [`FIELDS`]: names in mixed case, hop-by-hop ones, a repeated name |
//! | anything else | 200 `ok`; to `HEAD`, `Content-Length: 100` and no body |
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Log {
    /// `METHOD path` of every request read, in order.
    seen: Mutex<Vec<String>>,
    dropped: Mutex<HashSet<String>>,
    connections: AtomicUsize,
    closed: AtomicUsize,
}

/// The fields `/fields` answers with, in order, before its `Content-Length`.
pub const FIELDS: &str = "Server: scripted\r\nSet-Cookie: a=1\r\nX-Mixed-Case: v\r\nConnection: keep-alive\r\n\
    Keep-Alive: timeout=5\r\nSet-Cookie: b=2\r\nDate: Mon, 30 Nov 2026 10:00:00 GMT\r\n";

pub struct Scripted {
    pub addr: SocketAddr,
    log: Arc<Log>,
}

impl Scripted {
    pub fn start() -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Log::default());
        let l = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                l.connections.fetch_add(1, Ordering::SeqCst);
                let l = l.clone();
                std::thread::spawn(move || serve(stream, &l));
            }
        });
        Scripted { addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<String> {
        self.log.seen.lock().unwrap().clone()
    }

    pub fn connections(&self) -> usize {
        self.log.connections.load(Ordering::SeqCst)
    }

    /// Idle connections the origin closed after `/then-close`.
    pub fn closed(&self) -> usize {
        self.log.closed.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, log: &Log) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut length = 0usize;
        loop {
            let mut field = String::new();
            if reader.read_line(&mut field).unwrap_or(0) == 0 {
                return;
            }
            if field == "\r\n" {
                break;
            }
            if let Some((name, value)) = field.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap();
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        log.seen.lock().unwrap().push(format!("{method} {path}"));
        if path.starts_with("/drop-once") && log.dropped.lock().unwrap().insert(path.clone()) {
            return;
        }
        let padded = path.strip_prefix("/pad/").and_then(|n| n.parse::<usize>().ok()).map(|n| {
            let pad = "p".repeat(n);
            format!("HTTP/1.1 200 OK\r\nX-Pad: {pad}\r\nContent-Length: {}\r\n\r\n{path}", path.len()).into_bytes()
        });
        let fields = path.starts_with("/fields").then(|| {
            format!("HTTP/1.1 200 OK\r\n{FIELDS}Content-Length: {}\r\n\r\n", if method == "HEAD" { 100 } else { 2 })
        });
        let fields = fields.map(|head| if method == "HEAD" { head } else { head + "ok" }.into_bytes());
        let answer: &[u8] = if let Some(padded) = &padded {
            padded
        } else if let Some(fields) = &fields {
            fields
        } else if method == "HEAD" {
            b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        };
        if out.write_all(answer).is_err() {
            return;
        }
        if path == "/then-close" {
            drop(out);
            drop(reader);
            log.closed.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
}
