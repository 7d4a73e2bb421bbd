//! What a configuration key may be: a property of its type, a decorator in scope, one of
//! IG's comment idioms, or a mistake, for which the nearest known key is suggested.

/// Whether `key` is one of IG's idioms for comments and leftovers: a key starting with `_`
/// (IG users comment a key out by prefixing it) or `comment`. Such keys are ignored silently
/// wherever they appear.
pub fn is_comment_key(key: &str) -> bool {
    key.starts_with('_') || key == "comment"
}

/// The candidate closest to `key`, when one is close enough to be a likely typo: at most a
/// third of the key's characters differ, or the two differ only in case.
pub fn suggest<'c>(key: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    let limit = (key.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty() && *c != key)
        .map(|c| {
            let d = if c.eq_ignore_ascii_case(key) { 0 } else { strsim::damerau_levenshtein(key, c) };
            (d, c)
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `"; did you mean 'x'?"` when a candidate is close to `key`, else nothing.
pub fn did_you_mean<'c>(key: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
    suggest(key, candidates).map_or_else(String::new, |s| format!("; did you mean '{s}'?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_key_and_strangers_get_none() {
        let keys = ["condition", "handler", "heap", "session", "baseURI"];
        assert_eq!(suggest("conditon", keys), Some("condition"));
        assert_eq!(suggest("handelr", keys), Some("handler"));
        assert_eq!(suggest("baseUri", keys), Some("baseURI"));
        assert_eq!(suggest("sesion", keys), Some("session"));
        assert_eq!(suggest("monitorXYZ", keys), None);
        assert_eq!(did_you_mean("zzz", keys), "");
    }

    #[test]
    fn comment_idioms_are_recognised() {
        assert!(is_comment_key("_captureEntity") && is_comment_key("comment") && is_comment_key("_"));
        assert!(!is_comment_key("comments") && !is_comment_key("capture"));
    }
}
