//! Configuration tokens: `&{name|default}` inside any string, resolved once at load from the
//! route's `properties`, then the environment variable `NAME` (upper case, dots to
//! underscores), then the system property `name` (see [`set_system_properties`]), then the
//! default. Tokens nest (`&{a.&{b}}`); `\&{` is a literal `&{`.
//! Objects such as `{"$bool": "&{x|true}"}` turn the resolved string into another type.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::error::ConfigError;
use crate::json::{Kind, Node, Pos};

/// Where token values come from.
pub struct TokenSource<'a> {
    /// Properties, most specific first (the route's, then its parents').
    pub properties: &'a [&'a Map<String, Value>],
}

impl TokenSource<'_> {
    /// The value of token `name`, if anything defines it.
    pub fn lookup(&self, name: &str) -> Option<String> {
        for props in self.properties {
            if let Some(v) = lookup_property(props, name) {
                return Some(v);
            }
        }
        let var = name.replace('.', "_").to_ascii_uppercase();
        std::env::var(var).ok().or_else(|| SYSTEM_PROPERTIES.get()?.get(name).cloned())
    }
}

static SYSTEM_PROPERTIES: std::sync::OnceLock<std::collections::HashMap<String, String>> = std::sync::OnceLock::new();

/// Sets the system properties (`-Dname=value` in `IG_OPTS` or `JAVA_OPTS`, from the
/// environment or `bin/env.sh`), which tokens consult by exact name after the environment, as
/// IG's resolvers do. Once per process; later calls are ignored.
pub fn set_system_properties(properties: std::collections::HashMap<String, String>) {
    let _ = SYSTEM_PROPERTIES.set(properties);
}

fn lookup_property(props: &Map<String, Value>, name: &str) -> Option<String> {
    let v = props.get(name).or_else(|| {
        let mut parts = name.split('.');
        let first = props.get(parts.next()?)?;
        parts.try_fold(first, |v, p| v.get(p))
    })?;
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Resolves every token in every string of `node`, and applies `$type` transformations.
pub fn resolve(node: &mut Node, src: &TokenSource<'_>, file: &Arc<str>) -> Result<(), ConfigError> {
    match &mut node.kind {
        Kind::String(s) if s.contains("&{") => {
            *s = resolve_str(s, src).map_err(|m| ConfigError::at(file, node.pos, m))?;
        }
        Kind::Array(items) => {
            for item in items {
                resolve(item, src, file)?;
            }
        }
        Kind::Object(entries) => {
            for (_, v) in entries.iter_mut() {
                resolve(v, src, file)?;
            }
            if let [(key, inner)] = entries.as_slice() {
                if let Some(kind) = transform(&key.name, inner).map_err(|m| ConfigError::at(file, inner.pos, m))? {
                    node.kind = kind;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// How deeply tokens may nest inside token names and defaults (`&{a|&{b|&{c}}}`).
const MAX_TOKEN_NESTING: usize = 32;

/// Resolves the tokens of one string.
pub fn resolve_str(s: &str, src: &TokenSource<'_>) -> Result<String, String> {
    resolve_nested(s, src, 0)
}

fn resolve_nested(s: &str, src: &TokenSource<'_>, depth: usize) -> Result<String, String> {
    if depth > MAX_TOKEN_NESTING {
        return Err(format!("config tokens nested more than {MAX_TOKEN_NESTING} deep"));
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("&{") {
        if rest[..i].ends_with('\\') {
            out.push_str(&rest[..i - 1]);
            out.push_str("&{");
            rest = &rest[i + 2..];
            continue;
        }
        out.push_str(&rest[..i]);
        let body_start = i + 2;
        let end = matching_brace(&rest[body_start..]).ok_or_else(|| format!("unterminated token in '{s}'"))?;
        let body = &rest[body_start..body_start + end];
        // Inner tokens first, so that names and defaults may be built from other tokens.
        let (name, default) = split_default(body);
        let name = resolve_nested(name, src, depth + 1)?;
        let value = match src.lookup(&name) {
            Some(v) => v,
            None => match default {
                Some(d) => resolve_nested(d, src, depth + 1)?,
                None => return Err(format!("config token '&{{{name}}}' has no value and no default")),
            },
        };
        out.push_str(&value);
        rest = &rest[body_start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The offset of the `}` closing a token body, skipping nested tokens.
fn matching_brace(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut depth = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'&' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits `name|default` at the first `|` outside nested tokens.
fn split_default(body: &str) -> (&str, Option<&str>) {
    let bytes = body.as_bytes();
    let mut depth = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b'|' if depth == 0 => return (&body[..i], Some(&body[i + 1..])),
            _ => {}
        }
    }
    (body, None)
}

fn transform(name: &str, inner: &Node) -> Result<Option<Kind>, String> {
    if !name.starts_with('$') {
        return Ok(None);
    }
    let text = || inner.as_str().map(str::to_string).ok_or_else(|| format!("'{name}' takes a string"));
    let kind = match name {
        "$bool" => match text()?.trim().to_ascii_lowercase().as_str() {
            "true" => Kind::Bool(true),
            "false" => Kind::Bool(false),
            other => return Err(format!("'{other}' is not a boolean")),
        },
        "$int" => {
            let t = text()?;
            Kind::Number(t.trim().parse::<i64>().map_err(|_| format!("'{t}' is not an integer"))?.into())
        }
        "$number" => {
            let t = text()?;
            let n: serde_json::Number = serde_json::from_str(t.trim()).map_err(|_| format!("'{t}' is not a number"))?;
            Kind::Number(n)
        }
        "$string" => Kind::String(text()?),
        "$list" => Kind::Array(
            text()?.split(',').map(|s| Node { pos: inner.pos, kind: Kind::String(s.trim().to_string()) }).collect(),
        ),
        "$array" | "$object" => {
            let t = text()?;
            let parsed = crate::json::parse(&t).map_err(|e| format!("'{name}': {}", e.message))?;
            relocate(parsed, inner.pos).kind
        }
        "$encodeBase64" => Kind::String(base64::engine::general_purpose::STANDARD.encode(text()?)),
        "$decodeBase64" => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text()?.trim())
                .map_err(|_| "'$decodeBase64' takes base64 text".to_string())?;
            Kind::String(
                String::from_utf8(bytes).map_err(|_| "'$decodeBase64' decoded to non-UTF-8 bytes".to_string())?,
            )
        }
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

/// Gives every node of a parsed fragment the position of the string it came from.
fn relocate(mut node: Node, pos: Pos) -> Node {
    node.pos = pos;
    node.kind = match node.kind {
        Kind::Array(items) => Kind::Array(items.into_iter().map(|n| relocate(n, pos)).collect()),
        Kind::Object(entries) => Kind::Object(entries.into_iter().map(|(k, v)| (k, relocate(v, pos))).collect()),
        k => k,
    };
    node
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props() -> Map<String, Value> {
        serde_json::json!({"app": {"port": 8081}, "host": "app.example.com", "which": "host"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn tokens_resolve_from_properties_then_env_then_default() {
        let p = props();
        let src = TokenSource { properties: &[&p] };
        assert_eq!(resolve_str("http://&{host}:&{app.port}/", &src).unwrap(), "http://app.example.com:8081/");
        std::env::set_var("GATEHOUSE_TEST_TOKEN_X", "from-env");
        assert_eq!(resolve_str("&{gatehouse.test.token.x|d}", &src).unwrap(), "from-env");
        assert_eq!(resolve_str("&{gatehouse.unset.token|10 seconds}", &src).unwrap(), "10 seconds");
        assert_eq!(resolve_str("&{&{which}}", &src).unwrap(), "app.example.com");
        assert_eq!(resolve_str("&{nope|&{host}}", &src).unwrap(), "app.example.com");
        assert_eq!(resolve_str("\\&{host}", &src).unwrap(), "&{host}");
        assert!(resolve_str("&{gatehouse.unset.token}", &src).unwrap_err().contains("no value"));
    }

    #[test]
    fn transformations_change_the_type() {
        let p = props();
        let src = TokenSource { properties: &[&p] };
        let file: Arc<str> = Arc::from("t.json");
        let mut n = crate::json::parse(
            r#"{"a": {"$bool": "&{x|true}"}, "b": {"$int": "&{app.port}"}, "c": {"$list": "a, b"}}"#,
        )
        .unwrap();
        resolve(&mut n, &src, &file).unwrap();
        assert_eq!(n.to_json(), serde_json::json!({"a": true, "b": 8081, "c": ["a", "b"]}));
        let mut bad = crate::json::parse("{\n \"a\": \"&{missing.token}\"}").unwrap();
        let e = resolve(&mut bad, &src, &file).unwrap_err();
        assert_eq!(e.to_string(), "t.json:2:7: config token '&{missing.token}' has no value and no default");
    }
}
