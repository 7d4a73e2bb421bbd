//! The relay's JSON written straight into bytes.
//!
//! A command's content is opaque to the relay: it is stored as the server sent it and handed
//! to the device, and a device's answer to the server, as JSON text checked once, never
//! rebuilt as a tree of values and printed again (what `serde_json::Value` did per request:
//! a fifth of the relay's own instructions per command). Keys come in the order
//! `serde_json`'s map printed them (sorted), so the answers read as they did.

use serde_json::value::RawValue;

/// A JSON object being written.
pub(crate) struct Obj {
    out: Vec<u8>,
    first: bool,
}

impl Obj {
    pub(crate) fn new() -> Self {
        Obj { out: Vec::with_capacity(192), first: true }
    }

    fn key(&mut self, key: &str) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        string(&mut self.out, key);
        self.out.push(b':');
    }

    /// `key: "value"`.
    pub(crate) fn str(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        string(&mut self.out, value);
        self
    }

    /// `key: "value"` or `key: null`.
    pub(crate) fn opt_str(self, key: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// `key: n`.
    pub(crate) fn num(self, key: &str, n: u64) -> Self {
        self.raw(key, itoa::Buffer::new().format(n))
    }

    /// `key: n` or `key: null`.
    pub(crate) fn opt_num(self, key: &str, value: Option<u64>) -> Self {
        match value {
            Some(n) => self.num(key, n),
            None => self.raw(key, "null"),
        }
    }

    /// `key: result`: a stored answer, itself when it is JSON (the relay checked it when the
    /// device sent it), a string otherwise, or null before there is one.
    pub(crate) fn result(self, key: &str, result: Option<&str>) -> Self {
        match result {
            None => self.raw(key, "null"),
            Some(r) => match valid(r) {
                Some(json) => self.raw(key, json),
                None => self.str(key, r),
            },
        }
    }

    /// `key: value`, where `value` is JSON text already ([`valid`]).
    pub(crate) fn raw(mut self, key: &str, value: &str) -> Self {
        self.key(key);
        self.out.extend_from_slice(value.as_bytes());
        self
    }

    /// The object's text.
    pub(crate) fn finish_string(self) -> String {
        String::from_utf8(self.finish()).unwrap_or_default()
    }

    /// The object's bytes.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        if self.first {
            self.out.push(b'{');
        }
        self.out.push(b'}');
        self.out
    }
}

/// `s` as a JSON string, escaped as `serde_json` escapes it.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if let Ok(escaped) = serde_json::to_string(s) {
        out.extend_from_slice(escaped.as_bytes());
    }
}

/// `text` without the white space around it, if it is one JSON value (checked without
/// building it).
pub(crate) fn valid(text: &str) -> Option<&str> {
    serde_json::from_str::<&RawValue>(text).ok().map(RawValue::get)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn objects_read_as_serde_json_prints_them() {
        let text = Obj::new()
            .str("a", "plain")
            .str("b", "quote \" back\\slash \n newline \u{1} control é")
            .opt_str("c", None)
            .raw("d", r#"{"x": [1, 2.5e3, "y"]}"#)
            .opt_num("e", Some(u64::MAX))
            .opt_num("f", None)
            .finish();
        let parsed: Value = serde_json::from_slice(&text).unwrap_or_default();
        let expected = json!({
            "a": "plain", "b": "quote \" back\\slash \n newline \u{1} control é", "c": null,
            "d": { "x": [1, 2.5e3, "y"] }, "e": u64::MAX, "f": null
        });
        assert_eq!(parsed, expected);
        // Strings are escaped byte for byte as serde_json escapes them.
        let escaped = Obj::new().str("b", "q\"\n\u{1}é").finish();
        assert_eq!(String::from_utf8_lossy(&escaped), json!({ "b": "q\"\n\u{1}é" }).to_string());
        assert_eq!(Obj::new().finish(), b"{}");
    }

    #[test]
    fn results_are_spliced_when_json_and_quoted_otherwise() {
        let of = |r: Option<&str>| Obj::new().result("r", r).finish_string();
        assert_eq!(of(Some(" {\"ok\": true} \n")), r#"{"r":{"ok": true}}"#);
        assert_eq!(of(Some("not json")), r#"{"r":"not json"}"#);
        assert_eq!(of(Some("{\"a\":1} trailing")), r#"{"r":"{\"a\":1} trailing"}"#);
        assert_eq!(of(None), r#"{"r":null}"#);
    }
}
