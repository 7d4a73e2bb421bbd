//! The identity manager server's `appsettings.json`: its `IdentityServer` block names the
//! signing key (`X509KeyFilePath`, a PKCS#12 file, and `X509KeyFilePassword`), and its
//! `OpenIdClients` block overrides clients' hashed secrets. .NET reads these files with
//! comments and case-insensitive keys, and so does Gatehouse.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// What Gatehouse uses of an `appsettings.json`.
#[derive(Debug, Default)]
pub struct AppSettings {
    /// The signing key file and its password, when `IdentityServer` names one.
    pub signing_key: Option<(PathBuf, String)>,
    /// `OpenIdClients`: client identifier to hashed secret.
    pub hashed_secrets: HashMap<String, String>,
}

/// Reads `path`. Relative key paths are relative to the file's directory.
pub fn read(path: &Path) -> Result<AppSettings, String> {
    let root = &read_json(path)?;
    let mut settings = AppSettings::default();
    if let Some(server) = get(root, "IdentityServer").and_then(Value::as_object) {
        if let Some(file) = get(server, "X509KeyFilePath").and_then(Value::as_str) {
            let password = get(server, "X509KeyFilePassword").and_then(Value::as_str).unwrap_or("").to_string();
            let file = path.parent().unwrap_or(Path::new(".")).join(file);
            settings.signing_key = Some((file, password));
        } else if get(server, "X509StoreLocation").is_some() || get(server, "X509Thumbprint").is_some() {
            return Err(format!(
                "{}: IdentityServer names a Windows certificate store; Gatehouse reads the key from a file: set X509KeyFilePath and X509KeyFilePassword",
                path.display()
            ));
        }
    }
    if let Some(clients) = get(root, "OpenIdClients").and_then(Value::as_object) {
        for (id, client) in clients {
            let hashed = client
                .as_object()
                .and_then(|c| get(c, "HashedSecret"))
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{}: OpenIdClients.{id} needs a HashedSecret", path.display()))?;
            settings.hashed_secrets.insert(id.clone(), hashed.to_string());
        }
    }
    Ok(settings)
}

/// An `appsettings*.json` file as .NET reads it (comments allowed): its top-level object.
pub fn read_json(path: &Path) -> Result<Map<String, Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let value: Value = serde_json::from_str(&strip_comments(&text))
        .map_err(|e| format!("{}:{}:{}: {e}", path.display(), e.line(), e.column()))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(format!("{}: not a JSON object", path.display())),
    }
}

/// A key, case-insensitively (as .NET's configuration reads it).
pub fn get<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| map.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Removes `//` and `/* */` comments outside strings, keeping line breaks (so positions stay).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                while chars.peek().is_some_and(|c| *c != '\n') {
                    chars.next();
                }
            }
            ('/', Some('*')) => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_reference_blocks_with_comments() {
        let dir = std::env::temp_dir().join(format!("gatehouse-appsettings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("appsettings.json");
        std::fs::write(
            &path,
            r#"{
  // the signing key
  "IdentityServer": { "X509KeyFilePath": "./identitymanager.pfx", "X509KeyFilePassword": "secret" },
  /* overrides */ "openIdClients": { "Job": { "HashedSecret": "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols" } },
  "Url": "http://x//y"
}"#,
        )
        .unwrap();
        let s = read(&path).unwrap();
        let (file, password) = s.signing_key.unwrap();
        assert_eq!(file, dir.join("./identitymanager.pfx"));
        assert_eq!(password, "secret");
        assert_eq!(s.hashed_secrets["Job"], "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols");
        std::fs::write(&path, r#"{ "IdentityServer": { "X509Thumbprint": "ab" } }"#).unwrap();
        assert!(read(&path).unwrap_err().contains("X509KeyFilePath"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
