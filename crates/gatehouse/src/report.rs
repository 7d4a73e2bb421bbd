//! `gatehouse check --report IG_INSTANCE`: what an existing IG configuration uses that Gatehouse
//! does not support, grouped so that a person reads it in one screen: unsupported object
//! types (with the closest Gatehouse alternative), unsupported and ignored properties, and the
//! other problems (files and tokens of the old machine), each with file, line and column, then
//! a summary of the routes that load as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gatehouse_config::ConfigError;

/// How many places are listed per item before "and N more".
const PLACES: usize = 3;

/// One finding's kind.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    /// An IG type Gatehouse does not have (`why` says what to use instead).
    UnsupportedType,
    /// A type name neither knows (a typo or a custom Java class).
    UnknownType,
    /// A property of a supported type that Gatehouse refuses or does not know.
    Property,
    /// A property Gatehouse accepts and ignores.
    Ignored,
    /// Anything else: a missing file, an unresolved token, a bad value.
    Other,
}

/// A finding: what, its advice, where.
struct Item {
    kind: Kind,
    what: String,
    advice: String,
    places: Vec<String>,
}

/// The report.
pub struct Report {
    dir: PathBuf,
    items: Vec<Item>,
    routes: usize,
    failing_routes: usize,
}

fn place(dir: &Path, e: &ConfigError) -> String {
    let file = Path::new(&*e.file);
    let file = file.strip_prefix(dir).unwrap_or(file).display();
    match e.pos {
        Some(p) => format!("{file}:{}:{}", p.line, p.col),
        None => file.to_string(),
    }
}

/// Sorts a message into its kind, the item it is about, and the advice it carries.
fn classify(message: &str) -> (Kind, String, String) {
    let quoted = |s: &str| s.split('\'').nth(1).unwrap_or_default().to_string();
    if let Some(rest) = message.strip_prefix("type '") {
        if let Some((name, why)) = rest.split_once("' is not supported: ") {
            return (Kind::UnsupportedType, name.to_string(), why.to_string());
        }
    }
    if message.starts_with("unknown type '") {
        let hint = message.split_once("; did you mean").map(|(_, h)| format!("did you mean{h}")).unwrap_or_default();
        let advice =
            if hint.is_empty() { "neither IG nor Gatehouse has this type (a custom class?)".into() } else { hint };
        return (Kind::UnknownType, quoted(message), advice);
    }
    if let Some(rest) = message.strip_prefix("unknown property '") {
        if let Some((key, tail)) = rest.split_once("' of ") {
            let (type_name, hint) = tail.split_once(';').map_or((tail, ""), |(t, h)| (t, h.trim()));
            return (Kind::Property, format!("{type_name}.{key}"), hint.to_string());
        }
    }
    // A required key missing beside its misspelling: "T needs 'k'; is 'x' a misspelling of it?"
    if let Some((head, tail)) = message.split_once("; is '") {
        if let (Some((type_name, key)), Some((typo, _))) =
            (head.split_once(" needs '"), tail.split_once("' a misspelling"))
        {
            return (
                Kind::Property,
                format!("{type_name}.{typo}"),
                format!("did you mean '{}'?", key.trim_end_matches('\'')),
            );
        }
    }
    if let Some((head, why)) = message.split_once(" is not supported by Gatehouse") {
        let key = quoted(head);
        let type_name = head.rsplit(" of ").next().unwrap_or_default();
        if why == " and is ignored" {
            return (Kind::Ignored, format!("{type_name}.{key}"), "accepted and ignored".into());
        }
        return (Kind::Property, format!("{type_name}.{key}"), why.trim_start_matches(':').trim().to_string());
    }
    (Kind::Other, message.to_string(), String::new())
}

impl Report {
    /// Groups `errors` and `ignored` (from `check_with_notes`) for the instance at `dir`.
    pub fn new(dir: &Path, errors: Vec<ConfigError>, ignored: Vec<ConfigError>) -> Report {
        let mut grouped: BTreeMap<(Kind, String), Item> = BTreeMap::new();
        for e in errors.iter().chain(&ignored) {
            let (kind, what, advice) = classify(&e.message);
            let item =
                grouped.entry((kind, what.clone())).or_insert_with(|| Item { kind, what, advice, places: Vec::new() });
            item.places.push(place(dir, e));
        }
        let routes_dir = dir.join("config").join("routes");
        let routes = json_files(&routes_dir);
        let failing_routes =
            routes.iter().filter(|r| errors.iter().any(|e| Path::new(&*e.file) == r.as_path())).count();
        Report { dir: dir.to_path_buf(), items: grouped.into_values().collect(), routes: routes.len(), failing_routes }
    }

    /// Whether anything keeps part of the configuration from loading.
    pub fn blocking(&self) -> bool {
        self.items.iter().any(|i| i.kind != Kind::Ignored)
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = format!("Migration report for {}\n", self.dir.display());
        let sections = [
            (Kind::UnsupportedType, "Object types Gatehouse does not support"),
            (Kind::UnknownType, "Unknown object types"),
            (Kind::Property, "Properties Gatehouse does not support"),
            (Kind::Ignored, "Properties accepted and ignored"),
            (Kind::Other, "Other problems (files, tokens and values of this machine)"),
        ];
        for (kind, title) in sections {
            let items: Vec<&Item> = self.items.iter().filter(|i| i.kind == kind).collect();
            if items.is_empty() {
                continue;
            }
            let uses: usize = items.iter().map(|i| i.places.len()).sum();
            let _ = writeln!(out, "\n{title} ({} item(s), {uses} use(s)):", items.len());
            for item in items {
                let mut places = item.places.iter().take(PLACES).cloned().collect::<Vec<_>>().join(", ");
                if item.places.len() > PLACES {
                    let _ = write!(places, " and {} more", item.places.len() - PLACES);
                }
                if kind == Kind::Other {
                    let _ = writeln!(out, "  {places}: {}", item.what);
                    continue;
                }
                let _ = writeln!(out, "  {} ({}x) at {places}", item.what, item.places.len());
                if !item.advice.is_empty() {
                    let _ = writeln!(out, "      -> {}", item.advice);
                }
            }
        }
        let count = |k: Kind| self.items.iter().filter(|i| i.kind == k).count();
        let _ = writeln!(
            out,
            "\nSummary: {} of {} route file(s) load as they are. {} unsupported type(s), {} unknown type(s), \
             {} unsupported propert(y/ies), {} ignored propert(y/ies), {} other problem(s).",
            self.routes - self.failing_routes,
            self.routes,
            count(Kind::UnsupportedType),
            count(Kind::UnknownType),
            count(Kind::Property),
            count(Kind::Ignored),
            count(Kind::Other),
        );
        if !self.blocking() {
            out.push_str("Nothing blocks the migration: `gatehouse start` serves this configuration.\n");
        }
        out
    }
}

/// The `.json` files under `dir`, recursively (routes may sit in subdirectories).
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(json_files(&path));
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_sorted_into_what_they_are_about() {
        let (k, what, advice) = classify("type 'ScriptableFilter' is not supported: Groovy scripts are not supported");
        assert_eq!(
            (k, what.as_str(), advice.as_str()),
            (Kind::UnsupportedType, "ScriptableFilter", "Groovy scripts are not supported")
        );
        let (k, what, advice) = classify("unknown property 'baseUrl' of ReverseProxyHandler; did you mean 'baseURI'?");
        assert_eq!(
            (k, what.as_str(), advice.as_str()),
            (Kind::Property, "ReverseProxyHandler.baseUrl", "did you mean 'baseURI'?")
        );
        let (k, what, _) = classify("'vertx' of admin.json is not supported by Gatehouse and is ignored");
        assert_eq!((k, what.as_str()), (Kind::Ignored, "admin.json.vertx"));
        let (k, what, advice) = classify("'requireHttps' of Foo is not supported by Gatehouse: it would weaken");
        assert_eq!((k, what.as_str(), advice.as_str()), (Kind::Property, "Foo.requireHttps", "it would weaken"));
        let (k, what, advice) = classify("StaticResponseHandler needs 'status'; is 'stauts' a misspelling of it?");
        assert_eq!(
            (k, what.as_str(), advice.as_str()),
            (Kind::Property, "StaticResponseHandler.stauts", "did you mean 'status'?")
        );
        assert_eq!(classify("cannot read /x: no such file").0, Kind::Other);
    }
}
