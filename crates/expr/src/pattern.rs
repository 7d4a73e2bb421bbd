//! Regular expressions in expressions: the `regex` crate (linear time, no backtracking) for
//! every pattern it accepts, and `fancy-regex` only for the patterns that need look-ahead,
//! look-behind or back-references (Java's syntax, common in IG conditions such as
//! `^((?!funds-confirmation).)*$`). The backtracking engine runs with a step limit, so a
//! pathological pattern fails its match instead of spinning.

use std::borrow::Cow;

/// A compiled pattern.
#[derive(Debug)]
pub(crate) enum Regex {
    /// Linear-time matching.
    Linear(regex::Regex),
    /// Backtracking, for look-around and back-references.
    Backtracking(fancy_regex::Regex),
}

/// Steps the backtracking engine may take per match before the match fails.
const BACKTRACK_LIMIT: usize = 1_000_000;

impl Regex {
    /// Compiles `pattern`; the backtracking engine is used only when the linear one refuses a
    /// feature it lacks.
    pub(crate) fn new(pattern: &str) -> Result<Regex, String> {
        match regex::Regex::new(pattern) {
            Ok(r) => Ok(Regex::Linear(r)),
            Err(e) => {
                let text = e.to_string();
                if text.contains("look-around") || text.contains("backreferences") {
                    fancy_regex::RegexBuilder::new(pattern)
                        .backtrack_limit(BACKTRACK_LIMIT)
                        .build()
                        .map(Regex::Backtracking)
                        .map_err(|e| e.to_string())
                } else {
                    Err(text)
                }
            }
        }
    }

    pub(crate) fn is_match(&self, s: &str) -> bool {
        match self {
            Regex::Linear(r) => r.is_match(s),
            Regex::Backtracking(r) => r.is_match(s).unwrap_or(false),
        }
    }

    /// The groups of the first match (group 0 first), `None` for a group that took no part.
    pub(crate) fn captures(&self, s: &str) -> Option<Vec<Option<String>>> {
        match self {
            Regex::Linear(r) => r.captures(s).map(|c| c.iter().map(|m| m.map(|m| m.as_str().to_string())).collect()),
            Regex::Backtracking(r) => {
                r.captures(s).ok().flatten().map(|c| c.iter().map(|m| m.map(|m| m.as_str().to_string())).collect())
            }
        }
    }

    /// Every match replaced by `with` (groups written `$1`, as in Java).
    pub(crate) fn replace_all<'s>(&self, s: &'s str, with: &str) -> Cow<'s, str> {
        match self {
            Regex::Linear(r) => r.replace_all(s, with),
            Regex::Backtracking(r) => r.try_replacen(s, 0, with).unwrap_or(Cow::Borrowed(s)),
        }
    }

    /// The pieces between matches.
    pub(crate) fn split<'s>(&self, s: &'s str) -> Vec<&'s str> {
        match self {
            Regex::Linear(r) => r.split(s).collect(),
            Regex::Backtracking(r) => r.split(s).map_while(Result::ok).collect(),
        }
    }

    /// Where the first match starts and ends.
    pub(crate) fn find(&self, s: &str) -> Option<(usize, usize)> {
        match self {
            Regex::Linear(r) => r.find(s).map(|m| (m.start(), m.end())),
            Regex::Backtracking(r) => r.find(s).ok().flatten().map(|m| (m.start(), m.end())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::Regex;

    #[test]
    fn look_around_uses_backtracking_and_everything_else_stays_linear() {
        let r = Regex::new("^((?!funds-confirmation).)*$").unwrap();
        assert!(matches!(r, Regex::Backtracking(_)));
        assert!(r.is_match("/open-banking/v3.1/aisp/accounts"));
        assert!(!r.is_match("/open-banking/v3.1/cbpii/funds-confirmations"));
        let behind = Regex::new("(?<=/api/)v\\d+").unwrap();
        assert_eq!(behind.find("/api/v2/x"), Some((5, 7)));
        assert_eq!(Regex::new("(a)\\1").unwrap().captures("xaa").unwrap(), vec![Some("aa".into()), Some("a".into())]);
        assert!(matches!(Regex::new("^/api/(\\w+)$").unwrap(), Regex::Linear(_)));
        assert!(Regex::new("(unclosed").is_err());
        // A pathological pattern fails its match instead of running away.
        let evil = Regex::new("^(?=(a+)+$)b").unwrap();
        assert!(!evil.is_match(&"a".repeat(40)));
    }
}
