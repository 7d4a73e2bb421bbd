//! The last events an operator looks for first, kept in memory for the console: exchanges
//! that ended in a server error, and route loads (loaded, reloaded, removed, failed). Each
//! list keeps its newest [`KEPT`] entries; nothing here is durable (the logs are).

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};

/// Entries each list keeps.
pub const KEPT: usize = 50;

/// An exchange that ended in a 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorEvent {
    /// When it ended (milliseconds since the Unix epoch, the gateway's clock).
    pub at: u64,
    /// The route that took it, if one did.
    pub route: Option<String>,
    /// The status sent.
    pub status: u16,
    /// The request method.
    pub method: String,
    /// The request path, without its query (queries may carry credentials).
    pub path: String,
    /// The request id, to find the exchange in the logs.
    pub request_id: String,
}

/// What a route load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadEvent {
    /// When (milliseconds since the Unix epoch).
    pub at: u64,
    /// The route file.
    pub file: String,
    /// The route's name, when it loaded.
    pub route: Option<String>,
    /// `loaded`, `reloaded`, `removed` or `failed`.
    pub outcome: &'static str,
    /// Why it failed (file, line, column and reason), for `failed`.
    pub message: Option<String>,
}

static ERRORS: Mutex<VecDeque<ErrorEvent>> = Mutex::new(VecDeque::new());
static RELOADS: Mutex<VecDeque<ReloadEvent>> = Mutex::new(VecDeque::new());

fn push<T>(list: &Mutex<VecDeque<T>>, event: T) {
    let mut list = list.lock().unwrap_or_else(PoisonError::into_inner);
    if list.len() == KEPT {
        list.pop_front();
    }
    list.push_back(event);
}

fn newest_first<T: Clone>(list: &Mutex<VecDeque<T>>) -> Vec<T> {
    list.lock().unwrap_or_else(PoisonError::into_inner).iter().rev().cloned().collect()
}

/// Records a server error.
pub fn error(event: ErrorEvent) {
    push(&ERRORS, event);
}

/// Records a route load.
pub fn reload(event: ReloadEvent) {
    push(&RELOADS, event);
}

/// The recent server errors, newest first.
pub fn errors() -> Vec<ErrorEvent> {
    newest_first(&ERRORS)
}

/// The recent route loads, newest first.
pub fn reloads() -> Vec<ReloadEvent> {
    newest_first(&RELOADS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_keep_the_newest_entries_newest_first() {
        let list = Mutex::new(VecDeque::new());
        for i in 0..KEPT + 5 {
            push(&list, i);
        }
        let kept = newest_first(&list);
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept.first(), Some(&(KEPT + 4)));
        assert_eq!(kept.last(), Some(&5));
    }
}
