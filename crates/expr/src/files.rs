//! `read('file')` and `readProperties('file')`: a file's text, or its Java properties as a
//! map, read once when the expression is parsed (a load), never per request. The name must be
//! a string literal (an exchange can never choose what is read) and the file must be under the
//! instance directory (relative names are relative to it); a file that cannot be read is a
//! load error naming it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::ast::{Func, Lit, Node};

pub(crate) fn read_at_load(func: Func, args: &[Node], instance: Option<&Path>) -> Result<Node, String> {
    let name = match args.first() {
        Some(Node::Lit(Lit::Str(s))) => s.to_string(),
        _ => return Err(format!("{}() takes a file name as a string literal", func.name())),
    };
    let base = instance.ok_or_else(|| format!("{}() is only available in configuration files", func.name()))?;
    let path = resolve(base, &name)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("{}('{name}'): cannot read {}: {e}", func.name(), path.display()))?;
    Ok(Node::Lit(match func {
        Func::ReadProperties => Lit::Json(Value::Object(properties(&text))),
        _ => Lit::Str(text.into()),
    }))
}

/// `name` under `base`, refusing anything that resolves outside it.
fn resolve(base: &Path, name: &str) -> Result<PathBuf, String> {
    let root = base.canonicalize().map_err(|e| format!("the instance directory {}: {e}", base.display()))?;
    let path = root.join(name).canonicalize().map_err(|e| format!("cannot read '{name}': {e}"))?;
    if !path.starts_with(&root) {
        return Err(format!("'{name}' is outside the instance directory {}: not read", root.display()));
    }
    Ok(path)
}

/// Java's properties format: `key=value`, `key: value` or `key value`; `#` and `!` comments;
/// a trailing `\` continues the line; `\t`, `\n`, `\uXXXX` and `\x` escapes.
pub(crate) fn properties(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        let continued = line.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1;
        logical.push_str(if continued { &line[..line.len() - 1] } else { line });
        if continued {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        let mut key = String::new();
        let mut chars = entry.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => key.push(unescape(chars.next(), &mut chars)),
                '=' | ':' => break,
                c if c.is_whitespace() => {
                    while chars.peek().is_some_and(|c| c.is_whitespace()) {
                        chars.next();
                    }
                    if matches!(chars.peek(), Some('=' | ':')) {
                        chars.next();
                    }
                    break;
                }
                c => key.push(c),
            }
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            value.push(if c == '\\' { unescape(chars.next(), &mut chars) } else { c });
        }
        out.insert(key, Value::String(value));
    }
    out
}

fn unescape(c: Option<char>, rest: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
    match c {
        Some('t') => '\t',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('f') => '\u{c}',
        Some('u') => {
            let hex: String = (0..4).filter_map(|_| rest.next()).collect();
            u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}')
        }
        Some(other) => other,
        None => '\\',
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_properties() {
        let p = super::properties(
            "# c\n! c\na=1\nb : two words\nc three\nlong = a\\\n    b\nesc=tab\\there\\u00e9\nk\\=x=y\n",
        );
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "two words");
        assert_eq!(p["c"], "three");
        assert_eq!(p["long"], "ab");
        assert_eq!(p["esc"], "tab\there\u{e9}");
        assert_eq!(p["k=x"], "y");
    }
}
