//! The store's behaviour, as every store must have it.
#![allow(clippy::unwrap_used)]

use super::*;

fn new(bid: &str, t: Millis) -> NewCommand {
    NewCommand {
        client: "im".into(),
        kind: "provision".into(),
        external_id: Some("x".into()),
        bid: bid.into(),
        body: "{\"provCommand\":{}}".into(),
        created: t,
        session_deadline: t + 10_000,
        timeout_at: t + 60_000,
        expires_at: t + 120_000,
    }
}

fn store(name: &str) -> (SqliteStore, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("gatehouse-relay-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    (SqliteStore::open(&path).unwrap(), path)
}

#[test]
fn a_command_goes_queued_started_answered_with_one_callback() {
    let (s, path) = store("life");
    let c = s.insert(&new("b1", 1000)).unwrap();
    assert_eq!(c.state, State::Queued);
    assert_eq!(s.open("b1", 2000).unwrap().unwrap().state, State::Started);
    assert_eq!(s.answer("b1", "{\"ok\":true}", 3000).unwrap(), Answered::Stored(c.id));
    assert_eq!(s.answer("b1", "{}", 3001).unwrap(), Answered::Gone);
    assert_eq!(s.answer("nope", "{}", 3001).unwrap(), Answered::Unknown);
    let due = s.callbacks_due(3000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].result.as_deref(), Some("{\"ok\":true}"));
    s.callback_retry(c.id, 5000).unwrap();
    assert!(s.callbacks_due(4000, 10).unwrap().is_empty());
    s.callback_done(c.id).unwrap();
    assert!(s.callbacks_due(10_000, 10).unwrap().is_empty());
    assert_eq!(s.get(c.id).unwrap().unwrap().callback_attempts, 2);
    let _ = std::fs::remove_file(path);
}

#[test]
fn timers_fail_unstarted_and_unanswered_commands_and_lifespan_removes_them() {
    let (s, path) = store("timers");
    let unopened = s.insert(&new("b1", 0)).unwrap();
    let unanswered = s.insert(&new("b2", 0)).unwrap();
    s.open("b2", 1).unwrap();
    assert_eq!(s.next_deadline().unwrap(), Some(10_000));
    let t = s.expire(10_000).unwrap();
    assert_eq!(t.session_start_failed, vec![(unopened.id, "provision".to_string())]);
    assert!(t.timed_out.is_empty());
    assert_eq!(s.open("b1", 10_001).unwrap().unwrap().state, State::FailedSessionStart, "out of its box");
    let t = s.expire(60_000).unwrap();
    assert_eq!(t.timed_out, vec![(unanswered.id, "provision".to_string())]);
    assert_eq!(s.answer("b2", "{}", 60_001).unwrap(), Answered::Gone);
    assert_eq!(s.callbacks_due(60_000, 10).unwrap().len(), 2);
    assert_eq!(s.expire(120_000).unwrap().expired, 2);
    assert!(s.get(unopened.id).unwrap().is_none());
    let _ = std::fs::remove_file(path);
}

#[test]
fn a_command_can_be_cancelled_only_by_its_client_while_in_its_box() {
    let (s, path) = store("cancel");
    let c = s.insert(&new("b1", 0)).unwrap();
    assert!(!s.cancel(c.id, "other", 1).unwrap());
    assert!(s.cancel(c.id, "im", 1).unwrap());
    assert!(!s.cancel(c.id, "im", 2).unwrap());
    assert_eq!(s.open("b1", 3).unwrap().unwrap().state, State::Cancelled);
    assert_eq!(s.in_boxes().unwrap(), 0);
    let _ = std::fs::remove_file(path);
}

#[test]
fn what_was_stored_survives_reopening() {
    let (s, path) = store("reopen");
    let c = s.insert(&new("b1", 0)).unwrap();
    drop(s);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(again.get(c.id).unwrap().unwrap().new.bid, "b1");
    let _ = std::fs::remove_file(path);
}
