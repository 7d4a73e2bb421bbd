//! One behaviour suite, run against every store: the embedded SQLite file and PostgreSQL
//! (on 127.0.0.1:5432, which `scripts/test-deps.sh` starts when it is not running;
//! `GATEHOUSE_TEST_PG` names another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use gatehouse_relay::postgres::PgStore;
use gatehouse_relay::sqlite::SqliteStore;
use gatehouse_relay::store::{Answered, Millis, NewCommand, State, Store, CALLBACK_LEASE};

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

pub fn pg_config() -> String {
    std::env::var("GATEHOUSE_TEST_PG")
        .unwrap_or_else(|_| "host=127.0.0.1 port=5432 user=postgres password=postgres dbname=postgres".into())
}

/// Drops a test schema (the tests share one database).
async fn drop_schema(schema: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(&pg_config(), tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}

/// Every store, fresh.
async fn stores(name: &str) -> Vec<(&'static str, Arc<dyn Store>)> {
    let path = std::env::temp_dir().join(format!("gatehouse-relay-{name}-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let schema = format!("t_{name}_{}", std::process::id());
    drop_schema(&schema).await;
    let pg: Arc<dyn Store> = Arc::new(PgStore::new(&pg_config(), &schema).unwrap());
    pg.start(Arc::new(tokio::sync::Notify::new()))
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (scripts/test-deps.sh starts it)");
    vec![("sqlite", sqlite), ("postgresql", pg)]
}

#[tokio::test]
async fn a_command_goes_queued_started_answered_with_one_callback() {
    for (name, s) in stores("life").await {
        let c = s.insert(new("b1", 1000)).await.unwrap();
        assert_eq!(c.state, State::Queued, "{name}");
        // What the insert answers is what the store holds.
        assert_eq!(s.get(c.id).await.unwrap().as_ref(), Some(&c), "{name}");
        assert_eq!(s.open("b1".into(), 2000).await.unwrap().unwrap().state, State::Started, "{name}");
        // The answer hands its callback to the caller, leased like a claim.
        let Answered::Stored(answered) = s.answer("b1".into(), "{\"ok\":true}".into(), 3000).await.unwrap() else {
            panic!("{name}: the answer is stored")
        };
        assert_eq!(
            (answered.id, answered.state, answered.result.as_deref()),
            (c.id, State::Answered, Some("{\"ok\":true}"))
        );
        assert_eq!(s.answer("b1".into(), "{}".into(), 3001).await.unwrap(), Answered::Gone, "{name}");
        assert_eq!(s.answer("nope".into(), "{}".into(), 3001).await.unwrap(), Answered::Unknown, "{name}");
        assert!(s.claim_callbacks(3000, 10).await.unwrap().is_empty(), "{name}: leased to the answering instance");
        let due = s.claim_callbacks(3000 + CALLBACK_LEASE, 10).await.unwrap();
        assert_eq!(due.len(), 1, "{name}: the lease ran out, any instance claims it");
        assert_eq!(due[0].result.as_deref(), Some("{\"ok\":true}"), "{name}");
        assert!(
            s.claim_callbacks(3000 + CALLBACK_LEASE, 10).await.unwrap().is_empty(),
            "{name}: claimed for its lease"
        );
        s.callback_retry(c.id, 50_000).await.unwrap();
        assert!(s.claim_callbacks(40_000, 10).await.unwrap().is_empty(), "{name}");
        s.callbacks_done(vec![c.id]).await.unwrap();
        assert!(s.claim_callbacks(100_000, 10).await.unwrap().is_empty(), "{name}");
        assert_eq!(s.get(c.id).await.unwrap().unwrap().callback_attempts, 2, "{name}");
    }
}

#[tokio::test]
async fn an_opened_box_keeps_when_it_was_opened_through_a_quick_answer_and_a_flush() {
    for (name, s) in stores("opened").await {
        let quick = s.insert(new("b1", 0)).await.unwrap();
        let held = s.insert(new("b2", 0)).await.unwrap();
        assert_eq!(s.open("b1".into(), 5).await.unwrap().unwrap().started_at, Some(5), "{name}");
        assert_eq!(s.open("b2".into(), 6).await.unwrap().unwrap().started_at, Some(6), "{name}");
        // Answered before its "started" mark was written (PostgreSQL holds marks briefly):
        // the answer records when the box was opened.
        let Answered::Stored(answered) = s.answer("b1".into(), "{}".into(), 7).await.unwrap() else {
            panic!("{name}: the answer is stored")
        };
        assert_eq!((answered.id, answered.started_at, answered.ended_at), (quick.id, Some(5), Some(7)), "{name}");
        s.flush().await.unwrap();
        let opened = s.get(held.id).await.unwrap().unwrap();
        assert_eq!((opened.state, opened.started_at), (State::Started, Some(6)), "{name}");
        let again = s.open("b2".into(), 8).await.unwrap().unwrap();
        assert_eq!((again.state, again.started_at), (State::Started, Some(6)), "{name}: the first opening counts");
        // The session start passed: an opened box is not failed for it.
        assert!(s.expire(10_000).await.unwrap().session_start_failed.is_empty(), "{name}");
        assert_eq!(s.in_boxes().await.unwrap(), 1, "{name}");
    }
}

#[tokio::test]
async fn timers_fail_unstarted_and_unanswered_commands_and_lifespan_removes_them() {
    for (name, s) in stores("timers").await {
        let unopened = s.insert(new("b1", 0)).await.unwrap();
        let unanswered = s.insert(new("b2", 0)).await.unwrap();
        s.open("b2".into(), 1).await.unwrap();
        assert_eq!(s.next_deadline().await.unwrap(), Some(10_000), "{name}");
        let t = s.expire(10_000).await.unwrap();
        assert_eq!(t.session_start_failed, vec![(unopened.id, "provision".to_string())], "{name}");
        assert!(t.timed_out.is_empty(), "{name}");
        assert_eq!(s.open("b1".into(), 10_001).await.unwrap().unwrap().state, State::FailedSessionStart, "{name}");
        let t = s.expire(60_000).await.unwrap();
        assert_eq!(t.timed_out, vec![(unanswered.id, "provision".to_string())], "{name}");
        assert_eq!(s.answer("b2".into(), "{}".into(), 60_001).await.unwrap(), Answered::Gone, "{name}");
        assert_eq!(s.claim_callbacks(60_000, 10).await.unwrap().len(), 2, "{name}");
        assert_eq!(s.expire(120_000).await.unwrap().expired, 2, "{name}");
        assert!(s.get(unopened.id).await.unwrap().is_none(), "{name}");
    }
}

#[tokio::test]
async fn a_command_can_be_cancelled_only_by_its_client_while_in_its_box() {
    for (name, s) in stores("cancel").await {
        let c = s.insert(new("b1", 0)).await.unwrap();
        assert!(!s.cancel(c.id, "other".into(), 1).await.unwrap(), "{name}");
        assert!(s.cancel(c.id, "im".into(), 1).await.unwrap(), "{name}");
        assert!(!s.cancel(c.id, "im".into(), 2).await.unwrap(), "{name}");
        assert_eq!(s.open("b1".into(), 3).await.unwrap().unwrap().state, State::Cancelled, "{name}");
        assert_eq!(s.in_boxes().await.unwrap(), 0, "{name}");
    }
}

#[tokio::test]
async fn what_was_stored_survives_a_new_connection() {
    let path = std::env::temp_dir().join(format!("gatehouse-relay-reopen-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let s = SqliteStore::open(&path).unwrap();
    let c = s.insert(new("b1", 0)).await.unwrap();
    drop(s);
    assert_eq!(SqliteStore::open(&path).unwrap().get(c.id).await.unwrap().unwrap().new.bid, "b1");
    let schema = format!("t_reopen_{}", std::process::id());
    let pg = PgStore::new(&pg_config(), &schema).unwrap();
    pg.start(Arc::new(tokio::sync::Notify::new())).await.unwrap();
    let c = pg.insert(new("b1", 0)).await.unwrap();
    drop(pg);
    let again = PgStore::new(&pg_config(), &schema).unwrap();
    again.start(Arc::new(tokio::sync::Notify::new())).await.unwrap();
    assert_eq!(again.get(c.id).await.unwrap().unwrap().new.bid, "b1");
}

#[tokio::test]
async fn two_instances_on_postgresql_claim_each_callback_once_and_wake_each_other() {
    let schema = format!("t_two_{}", std::process::id());
    let (wake_a, wake_b) = (Arc::new(tokio::sync::Notify::new()), Arc::new(tokio::sync::Notify::new()));
    let a = PgStore::new(&pg_config(), &schema).unwrap();
    let b = PgStore::new(&pg_config(), &schema).unwrap();
    a.start(wake_a).await.unwrap();
    b.start(wake_b.clone()).await.unwrap();
    // B waits; A stores: B wakes by NOTIFY.
    let woken = wake_b.notified();
    let c = a.insert(new("shared", 0)).await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), woken).await.expect("B was notified");
    assert_eq!(b.open("shared".into(), 1).await.unwrap().unwrap().id, c.id);
    // B took the answer: the callback is B's for its lease; neither claims it meanwhile.
    assert!(matches!(b.answer("shared".into(), "{}".into(), 2).await.unwrap(), Answered::Stored(_)));
    let (from_a, from_b) = tokio::join!(a.claim_callbacks(2, 10), b.claim_callbacks(2, 10));
    assert_eq!(from_a.unwrap().len() + from_b.unwrap().len(), 0, "leased to the instance that took the answer");
    // B died before sending: once the lease runs out, exactly one instance claims it.
    let later = 2 + CALLBACK_LEASE;
    let (from_a, from_b) = tokio::join!(a.claim_callbacks(later, 10), b.claim_callbacks(later, 10));
    assert_eq!(from_a.unwrap().len() + from_b.unwrap().len(), 1, "exactly one instance claims the callback");
}
