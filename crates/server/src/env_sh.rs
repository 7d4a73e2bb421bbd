//! `INSTANCE/bin/env.sh`, read at start as IG's `start.sh` sources it: variable assignments
//! (`NAME=value`, `export NAME=value`, `export "NAME=value"`) with `$NAME`, `${NAME}` and
//! `${NAME:-default}` expanded from the lines above and the environment, in single or double
//! quotes or none. Nothing is executed: a line that is not an assignment is skipped with a
//! warning naming its line. Java options in `IG_OPTS` and `JAVA_OPTS` (`-Dname=value`) become
//! system properties, which configuration tokens consult after the environment, as IG's
//! resolvers do; the other JVM options (`-Xmx2048m`) have no meaning here and are ignored
//! with one warning.

use std::collections::HashMap;
use std::path::Path;

/// What env.sh and the Java options say.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct EnvSh {
    /// The variables assigned, in order (set in the process environment at start).
    pub vars: Vec<(String, String)>,
    /// `-Dname=value` from `IG_OPTS` and `JAVA_OPTS`.
    pub system_properties: HashMap<String, String>,
    /// What was skipped, one line each.
    pub warnings: Vec<String>,
}

/// Reads `dir/bin/env.sh` (as empty when there is none), and the Java options of the
/// result and the environment. `env` is the process environment.
pub fn read(dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<EnvSh, String> {
    let path = dir.join("bin").join("env.sh");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    Ok(parse(&text, &path.display().to_string(), env))
}

/// Parses env.sh's `text` (named `file` in warnings).
pub fn parse(text: &str, file: &str, env: &dyn Fn(&str) -> Option<String>) -> EnvSh {
    let mut out = EnvSh::default();
    for (n, line) in text.lines().enumerate() {
        let words = match words(line, &|name| value(&out.vars, env, name)) {
            Ok(w) => w,
            Err(e) => {
                out.warnings.push(format!("{file}:{}: {e}; the line is ignored", n + 1));
                continue;
            }
        };
        let assignments = match words.first().map(String::as_str) {
            None => continue,
            Some("export") => &words[1..],
            Some(_) => &words[..],
        };
        let parsed: Option<Vec<(String, String)>> = assignments.iter().map(|w| assignment(w)).collect();
        match parsed {
            Some(vars) => out.vars.extend(vars),
            // `export NAME` exports what is already set: nothing to do here.
            None if words[0] == "export" && assignments.iter().all(|w| is_name(w)) => {}
            None => out
                .warnings
                .push(format!("{file}:{}: only variable assignments are read from env.sh; the line is ignored", n + 1)),
        }
    }
    let mut jvm = Vec::new();
    for var in ["JAVA_OPTS", "IG_OPTS"] {
        for opt in value(&out.vars, env, var).unwrap_or_default().split_whitespace() {
            match opt.strip_prefix("-D").and_then(|p| p.split_once('=')) {
                Some((k, v)) if !k.is_empty() => {
                    out.system_properties.insert(k.to_string(), v.to_string());
                }
                _ => jvm.push(opt.to_string()),
            }
        }
    }
    if !jvm.is_empty() {
        out.warnings.push(format!(
            "JVM options have no meaning for Gatehouse and are ignored: {} (system properties, -Dname=value, are read)",
            jvm.join(" ")
        ));
    }
    out
}

/// `name`'s value: its last assignment so far, else the environment's.
fn value(vars: &[(String, String)], env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    vars.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| env(name))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    is_name(name).then(|| (name.to_string(), value.to_string()))
}

/// Splits a line into words as a shell would (quotes, expansions, a `#` comment), without
/// running anything.
fn words(line: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if let Some(w) = word.take() {
                    out.push(w);
                }
            }
            '#' if word.is_none() => break,
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => w.push(e),
                            Some(other) => {
                                w.push('\\');
                                w.push(other);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some('$') => w.push_str(&expand(&mut chars, lookup)?),
                        Some('`') => return Err("command substitution is not run".into()),
                        Some(c) => w.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    word.get_or_insert_with(String::new).push(e);
                }
            }
            '$' => {
                let v = expand(&mut chars, lookup)?;
                word.get_or_insert_with(String::new).push_str(&v);
            }
            '`' | ';' | '|' | '&' | '(' | ')' | '<' | '>' => {
                return Err(format!("'{c}' is shell syntax that is not run"));
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        out.push(w);
    }
    Ok(out)
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` or `${NAME-default}` after the `$`.
fn expand(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    if chars.peek() == Some(&'(') {
        return Err("command substitution is not run".into());
    }
    if chars.peek() == Some(&'{') {
        chars.next();
        let mut inner = String::new();
        loop {
            match chars.next() {
                Some('}') => break,
                Some(c) => inner.push(c),
                None => return Err("a ${ is not closed".into()),
            }
        }
        let (name, default) = match inner.split_once(":-").or_else(|| inner.split_once('-')) {
            Some((n, d)) => (n, Some(d)),
            None => (inner.as_str(), None),
        };
        if !is_name(name) {
            return Err(format!("${{{inner}}} is not a variable this reader expands"));
        }
        let value = lookup(name).filter(|v| !(v.is_empty() && inner.contains(":-")));
        return Ok(value.or_else(|| default.map(str::to_string)).unwrap_or_default());
    }
    let mut name = String::new();
    while let Some(&c) = chars.peek() {
        if c == '_' || c.is_ascii_alphanumeric() {
            name.push(c);
            chars.next();
        } else {
            break;
        }
    }
    if name.is_empty() {
        return Ok("$".into());
    }
    Ok(lookup(&name).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/ig".into()),
            "IG_OPTS" => Some("-Dfrom.environment=yes".into()),
            _ => None,
        }
    }

    #[test]
    fn the_reference_guides_env_sh_is_read_and_its_jvm_options_are_named_once() {
        // The reference guide's example, verbatim (shared with the integration test), then
        // the other forms.
        let guide = include_str!("../../gatehouse/tests/fixtures/guide/env.sh");
        let text = format!(
            "{guide}export \"ROUTES=$HOME/routes\"\nexport IG_ROUTER_SCAN_INTERVAL='2 seconds' GREETING=hi\\ there # a comment\n"
        );
        let e = parse(&text, "env.sh", &env);
        let get = |k: &str| e.vars.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("IG_OPTS"), Some("-Dfrom.environment=yes -Xms256m -Xmx2048m -Djdk.tls.ephemeralDHKeySize=2048"));
        assert_eq!(get("ROUTES"), Some("/home/ig/routes"));
        assert_eq!(get("IG_ROUTER_SCAN_INTERVAL"), Some("2 seconds"));
        assert_eq!(get("GREETING"), Some("hi there"));
        assert_eq!(e.system_properties.get("jdk.tls.ephemeralDHKeySize").map(String::as_str), Some("2048"));
        assert_eq!(e.system_properties.get("from.environment").map(String::as_str), Some("yes"));
        // The guide's comment wraps onto a line that is not shell: one warning for it, one for
        // the JVM options.
        assert_eq!(e.warnings.len(), 2, "{:?}", e.warnings);
        assert!(e.warnings[0].starts_with("env.sh:5:"), "{:?}", e.warnings);
        assert!(e.warnings[1].contains("-Xms256m -Xmx2048m"), "{:?}", e.warnings);
    }

    #[test]
    fn nothing_is_run_and_defaults_expand() {
        let e = parse("A=$(rm -rf /)\nB=`id`\nC=${NOPE:-fallback}\nD=${HOME:-x}\nls -l\nexport C\n", "env.sh", &env);
        assert_eq!(e.vars, vec![("C".into(), "fallback".into()), ("D".into(), "/home/ig".into())]);
        let lines: Vec<&str> = e.warnings.iter().map(|w| w.split(':').nth(1).unwrap_or("")).collect();
        assert_eq!(lines, ["1", "2", "5"], "{:?}", e.warnings);
    }
}
