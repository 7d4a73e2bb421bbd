//! W3C Trace Context (`traceparent`): the trace an exchange belongs to, taken from the client
//! when it sends a valid header, and the span the gateway opens for the exchange, which the
//! proxy names as the parent of the upstream request.

/// An exchange's place in a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace (the client's, or a new one).
    pub trace_id: [u8; 16],
    /// The gateway's span for this exchange.
    pub span_id: [u8; 8],
    /// The client's span, when it sent one.
    pub parent_span_id: Option<[u8; 8]>,
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex (two digits a byte, from a table: no formatting machinery per byte).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

impl TraceContext {
    /// Reads a `traceparent` value: `version-traceid-parentid-flags`, lower-case hex, ids not
    /// all zero; version `ff` is invalid, and a version other than `00` is read by its first
    /// four fields (the spec's forward compatibility).
    pub fn parse(value: &str) -> Option<([u8; 16], [u8; 8], u8)> {
        let mut parts = value.trim().split('-');
        let version = parts.next()?;
        let (trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || version == "ff" || hex_bytes::<1>(version).is_none() {
            return None;
        }
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = hex_bytes::<16>(trace).filter(|t| t.iter().any(|b| *b != 0))?;
        let parent = hex_bytes::<8>(parent).filter(|p| p.iter().any(|b| *b != 0))?;
        let [flags] = hex_bytes::<1>(flags)?;
        Some((trace_id, parent, flags))
    }

    /// The exchange's context: under the client's trace when `incoming` is a valid
    /// `traceparent`, else a new sampled trace; `random` fills new ids.
    pub fn start(incoming: Option<&str>, mut random: impl FnMut(&mut [u8])) -> TraceContext {
        let mut span_id = [0u8; 8];
        while span_id == [0; 8] {
            random(&mut span_id);
        }
        match incoming.and_then(TraceContext::parse) {
            Some((trace_id, parent, flags)) => TraceContext { trace_id, span_id, parent_span_id: Some(parent), flags },
            None => {
                let mut trace_id = [0u8; 16];
                while trace_id == [0; 16] {
                    random(&mut trace_id);
                }
                TraceContext { trace_id, span_id, parent_span_id: None, flags: 1 }
            }
        }
    }

    /// The `traceparent` for the upstream request: this exchange's span as the parent.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{:02x}", hex(&self.trace_id), hex(&self.span_id), self.flags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_is_continued_and_anything_else_starts_a_trace() {
        let mut n = 0u8;
        let counter = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                n = n.wrapping_add(1);
                *b = n;
            }
        };
        let t = TraceContext::start(Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), counter);
        assert_eq!(hex(&t.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id.map(|p| hex(&p)).as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(t.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-0102030405060708-01");
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "garbage",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        assert!(TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more").is_some());
        let fresh = TraceContext::start(Some("garbage"), |b: &mut [u8]| b.fill(7));
        assert_eq!((fresh.parent_span_id, fresh.flags), (None, 1));
        assert_eq!(hex(&fresh.trace_id), "07".repeat(16));
    }
}
