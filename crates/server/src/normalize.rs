//! The path every route decides on, normalized once at the edge and forwarded as normalized,
//! so that the path a route's condition saw is the path the upstream serves.
//!
//! RFC 3986: percent-encoded unreserved characters are decoded (`%2e` is `.`, `%41` is `A`),
//! other escapes get upper-case hex, repeated slashes collapse, and `.` and `..` segments are
//! removed (section 5.2.4). Refused with 400, as nothing safe can be made of them: a
//! backslash (raw or `%5C`, which some servers read as `/`), `%00`, a malformed escape, a
//! `..` that climbs above the root, and an encoded slash `%2F` unless the connector allows it
//! (it then stays encoded, inside its segment).

use std::fmt;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `\` or `%5C`.
    Backslash,
    /// `%00`.
    Nul,
    /// `%` not followed by two hex digits.
    BadEscape,
    /// `%2F` on a connector that does not allow encoded slashes.
    EncodedSlash,
    /// `..` above the root.
    AboveRoot,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refused::Backslash => "a backslash in the path",
            Refused::Nul => "an encoded NUL in the path",
            Refused::BadEscape => "a malformed percent escape in the path",
            Refused::EncodedSlash => "an encoded slash in the path",
            Refused::AboveRoot => "a path that climbs above the root",
        })
    }
}

/// The normalized form of `path`, or `None` when it is already normal (the common case,
/// which allocates nothing).
pub fn normalize(path: &str, allow_encoded_slash: bool) -> Result<Option<String>, Refused> {
    if path == "*" || is_normal(path) {
        return Ok(None);
    }
    let decoded = decode_unreserved(path, allow_encoded_slash)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = decoded.ends_with('/');
    for segment in decoded.split('/') {
        match segment {
            "" => {}
            "." => trailing_slash = true,
            ".." => {
                segments.pop().ok_or(Refused::AboveRoot)?;
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    trailing_slash |= decoded.ends_with('/');
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok((out != path).then_some(out))
}

/// Whether `path` has nothing to normalize: no escape, backslash, empty or dot segment.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return false;
    }
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' | b'\\' => return false,
            b'/' => match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(b'/'), _) => return false,
                (Some(b'.'), None | Some(b'/' | b'.')) => return false,
                _ => {}
            },
            _ => {}
        }
    }
    true
}

/// Decodes escapes of unreserved characters, upper-cases the hex of the others, and refuses
/// what [`Refused`] lists.
fn decode_unreserved(path: &str, allow_encoded_slash: bool) -> Result<String, Refused> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 1);
    if bytes.first() != Some(&b'/') {
        out.push('/');
    }
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            return Err(Refused::Backslash);
        }
        if b != b'%' {
            // Not an escape: copy the whole UTF-8 character.
            let len = path[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&path[i..i + len]);
            i += len;
            continue;
        }
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else { return Err(Refused::BadEscape) };
        let c = (hi * 16 + lo) as u8;
        match c {
            0 => return Err(Refused::Nul),
            b'\\' => return Err(Refused::Backslash),
            b'/' if !allow_encoded_slash => return Err(Refused::EncodedSlash),
            c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => out.push(c as char),
            c => {
                out.push('%');
                out.push_str(&format!("{c:02X}"));
            }
        }
        i += 3;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> Result<String, Refused> {
        normalize(p, false).map(|n| n.unwrap_or_else(|| p.to_string()))
    }

    #[test]
    fn attacks_on_path_rules_normalize_to_the_path_they_mean() {
        for (attack, meant) in [
            ("/public/../admin/", "/admin/"),
            ("//admin/", "/admin/"),
            ("/./admin/", "/admin/"),
            ("/public/%2e%2e/admin/", "/admin/"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/.%2e/admin", "/admin"),
            ("/admin/.", "/admin/"),
            ("/admin/x/..", "/admin/"),
            ("/%61dmin/", "/admin/"),
            ("///a//b///", "/a/b/"),
            ("/a/b%3fc", "/a/b%3Fc"),
            ("/caf%c3%a9", "/caf%C3%A9"),
            ("/..a/.b/c..", "/..a/.b/c.."),
        ] {
            assert_eq!(norm(attack).as_deref(), Ok(meant), "{attack}");
        }
    }

    #[test]
    fn what_cannot_be_normalized_safely_is_refused() {
        for (path, why) in [
            ("/x\\..\\admin", Refused::Backslash),
            ("/x%5c..%5cadmin", Refused::Backslash),
            ("/../admin", Refused::AboveRoot),
            ("/a/../../admin", Refused::AboveRoot),
            ("/%2e%2e/admin", Refused::AboveRoot),
            ("/admin%2Fx", Refused::EncodedSlash),
            ("/a%00b", Refused::Nul),
            ("/a%zz", Refused::BadEscape),
            ("/a%2", Refused::BadEscape),
        ] {
            assert_eq!(norm(path), Err(why), "{path}");
        }
        assert_eq!(normalize("/a%2fb/../c", true), Ok(Some("/c".to_string())));
        assert_eq!(normalize("/a%2fb", true), Ok(Some("/a%2Fb".to_string())));
    }

    #[test]
    fn normal_paths_are_left_alone_without_allocating() {
        for path in ["/", "/a", "/a/b/", "/a.b/c..d/.e", "/é", "*"] {
            assert_eq!(normalize(path, false), Ok(None), "{path}");
        }
    }
}
