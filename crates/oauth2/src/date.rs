//! `ExpirationDate` as the identity manager's XML writes it: `2030-12-31`,
//! `2030-12-31T23:59:59`, `2030-12-31 23:59:59.5`, `2030-12-31T23:59:59Z` or with an offset
//! (`+02:00`). A date or time without a zone is UTC; a bare date is its first instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses an `ExpirationDate`.
pub fn parse(text: &str) -> Result<SystemTime, String> {
    let bad = || format!("'{text}' is not a date (2030-12-31, 2030-12-31T23:59:59, with Z or +02:00 if not UTC)");
    let t = text.trim();
    let (date, rest) = t.split_at(t.len().min(10));
    let mut parts = date.split('-');
    let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) =
        (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    let rest = rest.trim_start_matches(['T', ' ']);
    if !rest.is_empty() {
        let (time, zone) = match rest.find(['Z', 'z', '+', '-']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let mut hms = time.split(':');
        let h: i64 = hms.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let min: i64 = hms.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let s: f64 = hms.next().map_or(Ok(0.0), str::parse).map_err(|_| bad())?;
        if hms.next().is_some() || h > 23 || min > 59 || !(0.0..61.0).contains(&s) {
            return Err(bad());
        }
        secs += h * 3600 + min * 60 + s as i64;
        match zone {
            "" | "Z" | "z" => {}
            z => {
                let sign = if z.starts_with('-') { -1 } else { 1 };
                let (oh, om) = z[1..].split_once(':').unwrap_or((&z[1..], "0"));
                let (oh, om): (i64, i64) = (oh.parse().map_err(|_| bad())?, om.parse().map_err(|_| bad())?);
                secs -= sign * (oh * 3600 + om * 60);
            }
        }
    }
    match u64::try_from(secs) {
        Ok(s) => Ok(UNIX_EPOCH + Duration::from_secs(s)),
        Err(_) => Err(bad()),
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn secs(t: &str) -> u64 {
        parse(t).unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    #[test]
    fn dates_with_and_without_zones() {
        assert_eq!(secs("1970-01-01"), 0);
        assert_eq!(secs("2030-12-31"), 1_924_905_600);
        assert_eq!(secs("2030-12-31T23:59:59"), 1_924_991_999);
        assert_eq!(secs("2030-12-31 23:59:59.5"), 1_924_991_999);
        assert_eq!(secs("2030-12-31T23:59:59Z"), 1_924_991_999);
        assert_eq!(secs("2030-12-31T23:59:59+02:00"), 1_924_991_999 - 7200);
        assert_eq!(secs("2031-01-01T01:00:00-01:00"), 1_924_992_000 + 7200);
        assert_eq!(secs("2024-02-29"), 1_709_164_800);
        for bad in ["2030-13-01", "2030-02-30", "tomorrow", "2030-12-31T25:00", "2023-02-29", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
