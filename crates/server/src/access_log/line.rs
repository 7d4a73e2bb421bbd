//! One access-log line, written field by field into the writer's buffer.
//!
//! The writer thread formats every exchange's line, on the same cores as the exchanges, so
//! its cost is the proxy's: through `write!` (the formatting machinery, an IPv4 address
//! octet by octet through it, a float rounded by the exact algorithm) a line took about
//! 4,500 instructions, a tenth of a proxied request. Here the timestamp's date and time are
//! formatted once per second, numbers go through `itoa`, and the path is copied as it is
//! when nothing in it needs escaping. The text is the same as `write!` gave (the tests
//! compare both).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use super::Entry;

/// The writer's formatting state: the current second's `YYYY-MM-DDTHH:MM:SS`.
#[derive(Default)]
pub(super) struct Lines {
    second: Option<u64>,
    stamp: String,
}

impl Lines {
    /// Appends `e`'s line, newline included.
    pub(super) fn format(&mut self, out: &mut String, e: &Entry) {
        let r = &e.record;
        self.timestamp(out, e.ended);
        out.push(' ');
        ip(out, r.remote);
        out.push_str(" \"");
        out.push_str(r.method.as_str());
        out.push(' ');
        escaped(out, r.uri.path());
        out.push(' ');
        version(out, r.version);
        out.push_str("\" ");
        out.push_str(itoa::Buffer::new().format(r.status));
        out.push(' ');
        out.push_str(itoa::Buffer::new().format(e.bytes));
        out.push(' ');
        millis(out, e.elapsed);
        out.push_str("ms route=");
        out.push_str(r.route.as_deref().unwrap_or("-"));
        out.push_str(" id=");
        hex8(out, r.id.prefix());
        out.push('-');
        out.push_str(itoa::Buffer::new().format(r.id.seq()));
        if let Some(user) = &r.user {
            out.push_str(" user=");
            escaped(out, user);
        }
        out.push('\n');
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-22T23:45:01.123Z`.
    fn timestamp(&mut self, out: &mut String, at: SystemTime) {
        let Ok(since) = at.duration_since(UNIX_EPOCH) else {
            out.push_str(&humantime::format_rfc3339_millis(at).to_string());
            return;
        };
        let second = since.as_secs();
        if self.second != Some(second) {
            let whole = humantime::format_rfc3339_seconds(at).to_string();
            self.stamp = whole.trim_end_matches('Z').to_string();
            self.second = Some(second);
        }
        out.push_str(&self.stamp);
        out.push('.');
        pad3(out, since.subsec_millis());
        out.push('Z');
    }
}

fn ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `s` as `str::escape_default` gives it (quotes, backslashes, control and non-ASCII
/// characters escaped), copied at once when none of those is in it.
fn escaped(out: &mut String, s: &str) {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'"' | b'\'' | b'\\')) {
        out.push_str(s);
    } else {
        out.extend(s.escape_default());
    }
}

fn version(out: &mut String, v: http::Version) {
    let text = match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        other => {
            use std::fmt::Write as _;
            let _ = write!(out, "{other:?}");
            return;
        }
    };
    out.push_str(text);
}

/// The duration in milliseconds with three decimals (rounded to the microsecond).
fn millis(out: &mut String, d: std::time::Duration) {
    let micros = (d.as_nanos() + 500) / 1000;
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    out.push('.');
    pad3(out, (micros % 1000) as u32);
}

/// `n` (below 1,000) as three digits.
fn pad3(out: &mut String, n: u32) {
    for digit in [n / 100 % 10, n / 10 % 10, n % 10] {
        out.push(char::from(b'0' + digit as u8));
    }
}

/// `n` as eight lower-case hex digits.
fn hex8(out: &mut String, n: u32) {
    for shift in (0..8).rev() {
        let nibble = (n >> (shift * 4)) & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::access_log::Record;
    use std::sync::Arc;
    use std::time::Duration;

    /// The line as `write!` formats it: what the log always printed.
    fn by_write(e: &Entry) -> String {
        use std::fmt::Write as _;
        let r = &e.record;
        let mut out = String::new();
        let ms = e.elapsed.as_secs_f64() * 1e3;
        let route = r.route.as_deref().unwrap_or("-");
        let _ = write!(
            out,
            "{} {} \"{} {} {:?}\" {} {} {ms:.3}ms route={route} id={}",
            humantime::format_rfc3339_millis(e.ended),
            r.remote,
            r.method,
            r.uri.path().escape_default(),
            r.version,
            r.status,
            e.bytes,
            r.id
        );
        if let Some(user) = &r.user {
            let _ = write!(out, " user={}", user.escape_default());
        }
        out.push('\n');
        out
    }

    fn entry(
        remote: &str,
        method: &str,
        path: &str,
        user: Option<&str>,
        ended: SystemTime,
        elapsed: Duration,
    ) -> Entry {
        let clock = gatehouse_core::Clock::system();
        Entry {
            record: Record {
                remote: remote.parse().unwrap(),
                method: method.parse().unwrap(),
                uri: path.parse().unwrap(),
                version: http::Version::HTTP_11,
                status: 503,
                route: Some(Arc::from("00-app")),
                route_stats: None,
                trace: None,
                upstream: None,
                user: user.map(str::to_string),
                id: gatehouse_core::RequestId::new(0x5f2a_9c1e, 17),
                started: clock.instant(),
                clock,
            },
            bytes: 1_234_567,
            ended,
            elapsed,
        }
    }

    #[test]
    fn lines_are_the_text_the_formatting_machinery_gives() {
        let mut lines = Lines::default();
        let day = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let cases = [
            entry(
                "127.0.0.1",
                "GET",
                "/webapp/browsing",
                None,
                day + Duration::from_millis(7),
                Duration::from_micros(412),
            ),
            entry(
                "10.200.3.255",
                "POST",
                "/a%20b/c?secret=1",
                Some("Job"),
                day + Duration::from_millis(999),
                Duration::from_secs(61),
            ),
            entry("::1", "DELETE", "/", Some("ünïcode \"q\" \\"), day + Duration::from_millis(1_000), Duration::ZERO),
            entry(
                "2001:db8::7",
                "PATCH",
                "/x'y",
                None,
                day + Duration::from_secs(86_400),
                Duration::from_nanos(1_234_567_891),
            ),
            entry("0.0.0.0", "GET", "/", Some("a\nb"), UNIX_EPOCH, Duration::from_millis(3)),
            entry(
                "192.168.1.9",
                "OPTIONS",
                "*",
                None,
                day + Duration::from_nanos(123_456_789),
                Duration::from_nanos(999),
            ),
        ];
        for e in &cases {
            let mut out = String::from("kept ");
            lines.format(&mut out, e);
            assert_eq!(out, format!("kept {}", by_write(e)));
        }
        // The cached second is replaced when a later (or earlier) one comes.
        for e in cases.iter().rev() {
            let mut out = String::new();
            lines.format(&mut out, e);
            assert_eq!(out, by_write(e));
        }
    }

    #[test]
    fn every_version_reads_as_before() {
        for v in [
            http::Version::HTTP_09,
            http::Version::HTTP_10,
            http::Version::HTTP_11,
            http::Version::HTTP_2,
            http::Version::HTTP_3,
        ] {
            let mut out = String::new();
            version(&mut out, v);
            assert_eq!(out, format!("{v:?}"));
        }
    }
}
