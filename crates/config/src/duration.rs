//! IG durations: `"10 seconds"`, `"1 minute"`, `"2 hours 30 minutes"`, `"500 ms"`,
//! `"unlimited"`, `"zero"`, `"disabled"`.

use std::time::Duration;

/// A parsed duration; `None` is `unlimited`.
pub type IgDuration = Option<Duration>;

/// The longest finite duration: 100 years. Longer values are clamped, because adding a
/// larger duration to a clock reading overflows (and panics) where deadlines are computed.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

/// Parses an IG duration string. A bare integer is a number of seconds (as OIG accepts).
pub fn parse_duration(s: &str) -> Result<IgDuration, String> {
    let t = s.trim().to_ascii_lowercase();
    match t.as_str() {
        "unlimited" | "indefinite" | "infinity" => return Ok(None),
        "zero" | "disabled" | "none" | "0" => return Ok(Some(Duration::ZERO)),
        _ => {}
    }
    if let Ok(secs) = t.parse::<u64>() {
        return Ok(Some(Duration::from_secs(secs).min(MAX_DURATION)));
    }
    let mut total = Duration::ZERO;
    let mut rest = t.as_str();
    let mut any = false;
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        rest = rest.strip_prefix("and ").unwrap_or(rest);
        if rest.is_empty() {
            break;
        }
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration '{s}' (expected e.g. \"10 seconds\")"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("invalid number in duration '{s}'"))?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let d = match unit {
            "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => Duration::from_nanos(n),
            "us" | "micro" | "micros" | "microsecond" | "microseconds" => Duration::from_micros(n),
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => Duration::from_millis(n),
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(n),
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(n.saturating_mul(60)),
            "h" | "hour" | "hours" => Duration::from_secs(n.saturating_mul(3600)),
            "d" | "day" | "days" => Duration::from_secs(n.saturating_mul(86400)),
            _ => return Err(format!("unknown unit '{unit}' in duration '{s}'")),
        };
        total = total.saturating_add(d);
        any = true;
    }
    if any {
        Ok(Some(total.min(MAX_DURATION)))
    } else {
        Err(format!("invalid duration '{s}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ig_duration_forms_parse() {
        assert_eq!(parse_duration("10 seconds"), Ok(Some(Duration::from_secs(10))));
        assert_eq!(parse_duration("1 minute"), Ok(Some(Duration::from_secs(60))));
        assert_eq!(parse_duration("2 hours 30 minutes"), Ok(Some(Duration::from_secs(9000))));
        assert_eq!(parse_duration("2 seconds"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(parse_duration("100 ms"), Ok(Some(Duration::from_millis(100))));
        assert_eq!(parse_duration("5s"), Ok(Some(Duration::from_secs(5))));
        assert_eq!(parse_duration("3"), Ok(Some(Duration::from_secs(3))));
        assert_eq!(parse_duration("unlimited"), Ok(None));
        assert_eq!(parse_duration("disabled"), Ok(Some(Duration::ZERO)));
        assert!(parse_duration("ten seconds").is_err());
        assert!(parse_duration("10 fortnights").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(parse_duration("99999999999999 days"), Ok(Some(MAX_DURATION)), "clamped, never overflowing");
        assert_eq!(parse_duration("18446744073709551615"), Ok(Some(MAX_DURATION)));
    }
}
