//! The shared store: PostgreSQL, for several relay instances behind a load balancer. Commands
//! are rows of one table (in a schema of their own); a new command `NOTIFY`s
//! the other instances, whose listening connection wakes their long polls within milliseconds; due
//! callbacks are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so one instance sends
//! each. Commands, answers and cancels commit durably; bookkeeping commits with
//! `synchronous_commit = off` (see the connections below).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify, RwLock};
use tokio_postgres::{NoTls, Row};

use crate::pg_conn::{Conn, Sql};
use crate::store::{
    Answered, Command, Millis, NewCommand, State, Store, StoreError, StoreFuture, Transitions, CALLBACK_LEASE, COLUMNS,
};

/// Commands in PostgreSQL.
pub struct PgStore {
    config: String,
    schema: String,
    /// Every statement, written once for the schema.
    sql: Arc<Statements>,
    /// The request path's connections: one lane per gateway unit, and one for the threads
    /// that are not units (see [`Lane`]).
    lanes: Vec<Lane>,
    /// The worker's passes and callback bookkeeping, apart so that a request's statement never
    /// queues behind a pass in the same backend.
    background: RwLock<Option<Conn>>,
    listener: gatehouse_core::Task,
    /// Boxes opened on this instance whose "started" mark is still to be written (bid, when):
    /// a device's open is a read, and the marks are written in batches by a task of their own
    /// (a lazy write, like the embedded store's), each held for [`MARK_HOLD`] first. An answer
    /// that comes meanwhile takes its box's mark into its own write, so a command answered
    /// soon after its open costs one row version less. The timers' pass and a stop flush them
    /// first, so this instance never fails a box for its session start after it handed the
    /// command over.
    opened: Arc<std::sync::Mutex<HashMap<String, i64>>>,
    /// Wakes the marks' task (when `opened` gets its first entry) or asks it to flush.
    marks: mpsc::UnboundedSender<Mark>,
    pending_marks: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Mark>>>,
    marker: gatehouse_core::Task,
    /// Set after a commit other instances must hear of; the listener's connection sends one
    /// `NOTIFY` for all that gathered. Not inside the commit: PostgreSQL serializes the commits
    /// of notifying transactions on one lock, which would undo the group commit.
    announce: Arc<Notify>,
    /// The runtime that drives the connections: the one the store started on (the gateway's
    /// background runtime), so that a connection remade during a request does not live and
    /// die with that request's gateway unit.
    drivers: std::sync::OnceLock<tokio::runtime::Handle>,
}

/// The request path's connections of one gateway unit, made when it first needs them and
/// driven by that unit's runtime, so that a statement and its answer never cross threads (on
/// a shared runtime each one woke another thread twice). The last lane serves the threads
/// that are not units, driven by the store's own runtime.
struct Lane {
    /// Acceptances and answers: committed durably, through several connections so that
    /// concurrent commits share PostgreSQL's WAL flushes (its group commit) instead of
    /// queueing behind one another on one connection.
    durable: Vec<RwLock<Option<Conn>>>,
    next: AtomicUsize,
    /// Reads (a device opening its box, a status poll). This and `background` commit with
    /// `synchronous_commit = off`: a database crash can undo the last of their writes, which
    /// repeats a callback or reopens a box, never loses a command or an answer.
    lazy: RwLock<Option<Conn>>,
}

impl Lane {
    fn new(durable: usize) -> Self {
        Lane {
            durable: (0..durable).map(|_| RwLock::new(None)).collect(),
            next: AtomicUsize::new(0),
            lazy: RwLock::new(None),
        }
    }
}

/// Which connection a statement goes through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sync {
    Durable,
    Lazy,
    Background,
}

/// For the marks' task: boxes were opened, or a flush, answered once every mark held
/// before it is written.
enum Mark {
    Opened,
    Flush(oneshot::Sender<()>),
}

/// How long an opened box's "started" mark waits before it is written: long enough for a
/// device that answers at once to make it unneeded, short beside any session-start timeout
/// (whole seconds). Another instance's timers could fail a box for its session start in that
/// window; this instance's never do (they flush first).
const MARK_HOLD: std::time::Duration = std::time::Duration::from_millis(20);

/// How long new commands gather before the other instances are told of them (one `NOTIFY`
/// for all): the delay their long polls may add to a delivery through another instance.
const NOTIFY_GATHER: std::time::Duration = std::time::Duration::from_millis(1);

/// Connections for durable commits per instance, shared out among its gateway units' lanes
/// (at least one each).
const DURABLE_CONNECTIONS: usize = 4;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn err(e: tokio_postgres::Error) -> StoreError {
    // A database error's Display is only "db error": its message (never a parameter's value)
    // is in the DbError.
    match e.as_db_error() {
        Some(db) => StoreError(format!("relay store (PostgreSQL): {}: {}", db.severity(), db.message())),
        None => StoreError(format!("relay store (PostgreSQL): {e}")),
    }
}

/// The ids of `table`'s rows matching `condition`, locked in the order of their ids. Every
/// statement that writes several rows locks them this way first: two such statements (the
/// opened boxes' marks and the callbacks' bookkeeping, say) never wait on each other in a
/// cycle, which PostgreSQL would break after a second by failing one of them.
fn in_id_order(table: &str, condition: &str) -> String {
    format!("SELECT id FROM {table} WHERE {condition} ORDER BY id FOR UPDATE")
}

/// The store's statements on `{schema}.commands`, written when the store is made rather than
/// at every call.
struct Statements {
    insert: Sql,
    get: Sql,
    open: Sql,
    answer: Sql,
    known: Sql,
    cancel: Sql,
    fail_session_start: Sql,
    fail_timeout: Sql,
    delete_expired: Sql,
    next_deadline: Sql,
    claim_callbacks: Sql,
    callbacks_done: Sql,
    callback_retry: Sql,
    in_boxes: Sql,
    mark_started: Sql,
}

impl Statements {
    fn new(t: &str) -> Self {
        let mut placed = 0;
        let mut sql = |text: String| {
            placed += 1;
            Sql::new(placed - 1, text)
        };
        Statements {
            insert: sql(format!(
                "INSERT INTO {t} (client, kind, external_id, bid, body, state, created, session_deadline, timeout_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, 'queued', $6, $7, $8, $9) RETURNING id"
            )),
            get: sql(format!("SELECT {COLUMNS} FROM {t} WHERE id = $1")),
            open: sql(format!("SELECT {COLUMNS} FROM {t} WHERE bid = $1")),
            answer: sql(format!(
                "UPDATE {t} SET state = 'answered', result = $2, ended_at = $3, callback_pending = TRUE, callback_next = $4, \
                 started_at = COALESCE(started_at, $5) \
                 WHERE bid = $1 AND state IN ('queued', 'started') AND timeout_at > $3 RETURNING {COLUMNS}"
            )),
            known: sql(format!("SELECT id FROM {t} WHERE bid = $1")),
            cancel: sql(format!(
                "UPDATE {t} SET state = 'cancelled', ended_at = $3 WHERE id = $1 AND client = $2 AND state IN ('queued', 'started')"
            )),
            fail_session_start: sql(format!(
                "UPDATE {t} SET state = 'failed_session_start', ended_at = $1, callback_pending = TRUE, callback_next = $1 \
                 WHERE id IN ({}) AND state = 'queued' AND session_deadline <= $1 RETURNING id, kind",
                in_id_order(t, "state = 'queued' AND session_deadline <= $1")
            )),
            fail_timeout: sql(format!(
                "UPDATE {t} SET state = 'failed_timeout', ended_at = $1, callback_pending = TRUE, callback_next = $1 \
                 WHERE id IN ({}) AND state = 'started' AND timeout_at <= $1 RETURNING id, kind",
                in_id_order(t, "state = 'started' AND timeout_at <= $1")
            )),
            delete_expired: sql(format!("DELETE FROM {t} WHERE id IN ({})", in_id_order(t, "expires_at <= $1"))),
            next_deadline: sql(format!(
                "SELECT MIN(x) FROM (SELECT MIN(session_deadline) AS x FROM {t} WHERE state = 'queued' \
                 UNION ALL SELECT MIN(timeout_at) FROM {t} WHERE state = 'started' \
                 UNION ALL SELECT MIN(expires_at) FROM {t} \
                 UNION ALL SELECT MIN(callback_next) FROM {t} WHERE callback_pending) m"
            )),
            claim_callbacks: sql(format!(
                "UPDATE {t} SET callback_next = $2 WHERE id IN (SELECT id FROM {t} WHERE callback_pending AND callback_next <= $1 \
                 ORDER BY callback_next LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING {COLUMNS}"
            )),
            callbacks_done: sql(format!(
                "UPDATE {t} SET callback_pending = FALSE, callback_attempts = callback_attempts + 1 WHERE id IN ({})",
                in_id_order(t, "id = ANY($1)")
            )),
            callback_retry: sql(format!(
                "UPDATE {t} SET callback_attempts = callback_attempts + 1, callback_next = $2 WHERE id = $1"
            )),
            // One count per partial index (an IN over both would scan the table).
            in_boxes: sql(format!(
                "SELECT (SELECT COUNT(*) FROM {t} WHERE state = 'queued') + (SELECT COUNT(*) FROM {t} WHERE state = 'started')"
            )),
            mark_started: sql(format!(
                "UPDATE {t} SET state = 'started', started_at = v.at FROM unnest($1::text[], $2::bigint[]) AS v(bid, at) \
                 WHERE {t}.bid = v.bid AND {t}.id IN ({}) \
                 AND state = 'queued' AND session_deadline > v.at AND timeout_at > v.at",
                in_id_order(t, "bid = ANY($1) AND state = 'queued'")
            )),
        }
    }
}

fn command(r: &Row) -> Command {
    let state: String = r.get(6);
    Command {
        id: r.get(0),
        new: NewCommand {
            client: r.get(1),
            kind: r.get(2),
            external_id: r.get(3),
            bid: r.get(4),
            body: r.get(5),
            created: r.get::<_, i64>(8) as Millis,
            session_deadline: r.get::<_, i64>(9) as Millis,
            timeout_at: r.get::<_, i64>(10) as Millis,
            expires_at: r.get::<_, i64>(11) as Millis,
        },
        state: State::from_name(&state).unwrap_or(State::Cancelled),
        result: r.get(7),
        started_at: r.get::<_, Option<i64>>(12).map(|v| v as Millis),
        ended_at: r.get::<_, Option<i64>>(13).map(|v| v as Millis),
        callback_pending: r.get(14),
        callback_attempts: r.get::<_, i32>(15) as u32,
    }
}

impl PgStore {
    /// A store at `config` (a libpq connection string or URL) in `schema`; it connects when
    /// the relay starts.
    pub fn new(config: &str, schema: &str) -> Result<Self, StoreError> {
        if schema.is_empty() || !schema.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StoreError(format!("schema '{schema}' must be letters, digits and _")));
        }
        config.parse::<tokio_postgres::Config>().map_err(err)?;
        let (marks, pending_marks) = mpsc::unbounded_channel();
        Ok(PgStore {
            opened: Default::default(),
            marks,
            pending_marks: std::sync::Mutex::new(Some(pending_marks)),
            marker: Default::default(),
            config: config.to_string(),
            schema: schema.to_string(),
            sql: Arc::new(Statements::new(&format!("{schema}.commands"))),
            lanes: {
                let slots = gatehouse_core::units::slots();
                let per_lane = (DURABLE_CONNECTIONS / (slots - 1).max(1)).max(1);
                (0..slots).map(|_| Lane::new(per_lane)).collect()
            },
            background: RwLock::new(None),
            listener: Default::default(),
            announce: Arc::new(Notify::new()),
            drivers: std::sync::OnceLock::new(),
        })
    }

    fn channel(&self) -> String {
        format!("gatehouse_relay_{}", self.schema)
    }

    /// A connection driven by the store's runtime, or by the current one (`on_unit`: a
    /// gateway unit's, for its lane).
    async fn connect(&self, sync: Sync, on_unit: bool) -> Result<Conn, StoreError> {
        let (client, connection) = tokio_postgres::connect(&self.config, NoTls).await.map_err(err)?;
        let driver = async move {
            if let Err(e) = connection.await {
                tracing::warn!("relay store connection ended: {e}");
            }
        };
        if on_unit {
            tokio::spawn(driver);
        } else {
            self.drivers.get_or_init(tokio::runtime::Handle::current).spawn(driver);
        }
        // Every statement of the relay has an index to go through. A new table's statistics
        // say it is empty, and a plan cached then (a sequential scan, or a hash join over one)
        // would be kept until the next ANALYZE: every batch of marks would read the whole table.
        let setup = match sync {
            Sync::Durable => "SET enable_seqscan = off",
            Sync::Lazy | Sync::Background => "SET enable_seqscan = off; SET synchronous_commit = off",
        };
        client.batch_execute(setup).await.map_err(err)?;
        Ok(Conn::new(client))
    }

    /// Holds box `bid`'s "started" mark (opened `at`), waking the marks' task for the first
    /// one held; a box already held keeps its first opening, which is returned.
    fn hold_mark(&self, bid: String, at: i64) -> i64 {
        let mut opened = lock(&self.opened);
        if opened.is_empty() {
            let _ = self.marks.send(Mark::Opened);
        }
        *opened.entry(bid).or_insert(at)
    }

    /// Writes every "started" mark held so far.
    async fn flush_marks(&self) {
        let (flushed, done) = oneshot::channel();
        if self.marks.send(Mark::Flush(flushed)).is_ok() {
            let _ = done.await;
        }
    }

    /// Runs `f` with the connection for `sync`, reconnecting once if it was lost.
    async fn with<T>(
        &self,
        sync: Sync,
        f: impl AsyncFnOnce(&Conn) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let lane = gatehouse_core::units::slot(self.lanes.len());
        let on_unit = sync != Sync::Background && lane + 1 < self.lanes.len();
        let lane = &self.lanes[lane];
        let slot = match sync {
            Sync::Durable => &lane.durable[lane.next.fetch_add(1, Ordering::Relaxed) % lane.durable.len()],
            Sync::Lazy => &lane.lazy,
            Sync::Background => &self.background,
        };
        {
            let guard = slot.read().await;
            if let Some(c) = guard.as_ref().filter(|c| !c.is_closed()) {
                return f(c).await.map_err(err);
            }
        }
        let mut guard = slot.write().await;
        if guard.as_ref().is_none_or(Conn::is_closed) {
            *guard = Some(self.connect(sync, on_unit).await?);
        }
        match guard.as_ref() {
            Some(c) => f(c).await.map_err(err),
            None => Err(StoreError("relay store: not connected".into())),
        }
    }
}

impl Store for PgStore {
    fn start(&self, wake: Arc<Notify>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let client = self.connect(Sync::Durable, false).await?;
            let ddl = format!(
                "CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {t} (
                   id BIGSERIAL PRIMARY KEY, client TEXT NOT NULL, kind TEXT NOT NULL, external_id TEXT,
                   bid TEXT NOT NULL UNIQUE, body TEXT NOT NULL, state TEXT NOT NULL, result TEXT,
                   created BIGINT NOT NULL, session_deadline BIGINT NOT NULL, timeout_at BIGINT NOT NULL,
                   expires_at BIGINT NOT NULL, started_at BIGINT, ended_at BIGINT,
                   callback_pending BOOLEAN NOT NULL DEFAULT FALSE, callback_attempts INTEGER NOT NULL DEFAULT 0,
                   callback_next BIGINT NOT NULL DEFAULT 0);
                 CREATE INDEX IF NOT EXISTS commands_expires ON {t} (expires_at);
                 CREATE INDEX IF NOT EXISTS commands_queued ON {t} (session_deadline) WHERE state = 'queued';
                 CREATE INDEX IF NOT EXISTS commands_started ON {t} (timeout_at) WHERE state = 'started';
                 CREATE INDEX IF NOT EXISTS commands_due ON {t} (callback_next) WHERE callback_pending;
                 DROP INDEX IF EXISTS {s}.commands_open;
                 DROP INDEX IF EXISTS {s}.commands_callbacks;",
                s = self.schema,
                t = format_args!("{}.commands", self.schema)
            );
            // Two instances starting at once may race on CREATE: a lock serializes them.
            client
                .client()
                .batch_execute(&format!("SELECT pg_advisory_lock(7210); {ddl} SELECT pg_advisory_unlock(7210);"))
                .await
                .map_err(err)?;
            // The units' lanes connect when they first need to; the other threads' lane keeps
            // this one.
            if let Some(other) = self.lanes.last() {
                *other.durable[0].write().await = Some(client);
            }
            *self.background.write().await = Some(self.connect(Sync::Background, false).await?);
            let pending = lock(&self.pending_marks).take();
            if let Some(mut pending) = pending {
                let conn = self.connect(Sync::Lazy, false).await?;
                let sql = self.sql.clone();
                let opened = self.opened.clone();
                self.marker.spawn(async move {
                    while let Some(first) = pending.recv().await {
                        let mut flushes = Vec::new();
                        match first {
                            Mark::Flush(done) => flushes.push(done),
                            Mark::Opened => {
                                // Held, unless a flush is asked for meanwhile.
                                let held = tokio::time::sleep(MARK_HOLD);
                                tokio::pin!(held);
                                loop {
                                    tokio::select! {
                                        m = pending.recv() => match m {
                                            Some(Mark::Flush(done)) => {
                                                flushes.push(done);
                                                break;
                                            }
                                            Some(Mark::Opened) => {}
                                            None => break,
                                        },
                                        _ = &mut held => break,
                                    }
                                }
                            }
                        }
                        while let Ok(m) = pending.try_recv() {
                            if let Mark::Flush(done) = m {
                                flushes.push(done);
                            }
                        }
                        let batch = std::mem::take(&mut *lock(&opened));
                        if !batch.is_empty() {
                            let (bids, at): (Vec<String>, Vec<i64>) = batch.into_iter().unzip();
                            // A batch that failed (a deadlock victim, say) is tried again: a box
                            // left unmarked could fail for its session start although opened.
                            for attempt in 1..=3 {
                                match conn.execute(&sql.mark_started, &[&bids, &at]).await {
                                    Ok(_) => break,
                                    Err(e) if attempt == 3 => {
                                        tracing::warn!(
                                            "relay store: cannot mark {} opened boxes: {}",
                                            bids.len(),
                                            err(e)
                                        )
                                    }
                                    Err(_) => {}
                                }
                            }
                        }
                        for done in flushes {
                            let _ = done.send(());
                        }
                    }
                });
            }
            // The listening connection: other instances' NOTIFYs wake this one.
            let (listen, mut connection) = tokio_postgres::connect(&self.config, NoTls).await.map_err(err)?;
            let channel = self.channel();
            let notify = format!("NOTIFY {channel}");
            let announce = self.announce.clone();
            // The store has started once it listens: a command another instance stores from
            // then on wakes this one's long polls.
            let (listening_tx, listening_rx) = oneshot::channel();
            self.listener.spawn(async move {
                let polling = async {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notification(_))) => wake.notify_waiters(),
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::warn!("relay store listener ended: {e}");
                                return;
                            }
                            None => return,
                        }
                    }
                };
                let listening = async {
                    let listened =
                        listen.batch_execute(&format!("SET synchronous_commit = off; LISTEN {channel}")).await;
                    let failed = listened.is_err();
                    let _ = listening_tx.send(listened.map_err(err));
                    if failed {
                        return;
                    }
                    loop {
                        announce.notified().await;
                        // Commands stored meanwhile share this NOTIFY: one transaction for
                        // many instead of about one per command under load.
                        tokio::time::sleep(NOTIFY_GATHER).await;
                        if let Err(e) = listen.batch_execute(&notify).await {
                            tracing::warn!("relay store: cannot notify the other instances: {e}");
                        }
                    }
                };
                tokio::select! {
                    _ = polling => {}
                    _ = listening => {}
                }
            });
            listening_rx.await.map_err(|_| StoreError("relay store: the listening connection ended".into()))?
        })
    }

    fn flush(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.flush_marks().await;
            Ok(())
        })
    }

    fn insert(&self, n: NewCommand) -> StoreFuture<'_, Command> {
        Box::pin(async move {
            let (created, start, timeout, expires) =
                (n.created as i64, n.session_deadline as i64, n.timeout_at as i64, n.expires_at as i64);
            let row = self
                .with(Sync::Durable, async |c| {
                    c.query_one(
                        &self.sql.insert,
                        &[&n.client, &n.kind, &n.external_id, &n.bid, &n.body, &created, &start, &timeout, &expires],
                    )
                    .await
                })
                .await?;
            self.announce.notify_one();
            Ok(Command::queued(row.get(0), n))
        })
    }

    fn get(&self, id: i64) -> StoreFuture<'_, Option<Command>> {
        Box::pin(async move {
            Ok(self.with(Sync::Lazy, async |c| c.query_opt(&self.sql.get, &[&id]).await).await?.map(|r| command(&r)))
        })
    }

    fn open(&self, bid: String, now: Millis) -> StoreFuture<'_, Option<Command>> {
        Box::pin(async move {
            let found = self.with(Sync::Lazy, async |c| c.query_opt(&self.sql.open, &[&bid]).await).await?;
            let Some(mut c) = found.map(|r| command(&r)) else { return Ok(None) };
            if c.state == State::Queued && c.new.session_deadline > now && c.new.timeout_at > now {
                // The mark's condition is the one checked here, so the first opener's view
                // is what the row becomes; an answer that lands first simply wins. A box
                // opened again before its mark is written keeps its first opening.
                let at = self.hold_mark(bid, now as i64);
                c.state = State::Started;
                c.started_at = Some(at as Millis);
            }
            Ok(Some(c))
        })
    }

    fn answer(&self, bid: String, result: String, now: Millis) -> StoreFuture<'_, Answered> {
        Box::pin(async move {
            let (now, lease) = (now as i64, (now + CALLBACK_LEASE) as i64);
            // A box opened here whose mark is still held: the answer writes when it was opened.
            let opened = lock(&self.opened).remove(&bid);
            let stored = self
                .with(Sync::Durable, async |c| {
                    c.query_opt(&self.sql.answer, &[&bid, &result, &now, &lease, &opened]).await
                })
                .await;
            let stored = match (stored, opened) {
                (Ok(stored), _) => stored,
                (Err(e), Some(at)) => {
                    // Not answered: the mark is held again.
                    self.hold_mark(bid, at);
                    return Err(e);
                }
                (Err(e), None) => return Err(e),
            };
            if let Some(row) = stored {
                // No NOTIFY: only new commands wake other instances' long polls (an answered
                // box has no one waiting on it), and each NOTIFY is a transaction of its own.
                return Ok(Answered::Stored(Box::new(command(&row))));
            }
            let known = self.with(Sync::Lazy, async |c| c.query_opt(&self.sql.known, &[&bid]).await).await?;
            Ok(if known.is_some() { Answered::Gone } else { Answered::Unknown })
        })
    }

    fn cancel(&self, id: i64, client: String, now: Millis) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let now = now as i64;
            Ok(self.with(Sync::Durable, async |c| c.execute(&self.sql.cancel, &[&id, &client, &now]).await).await? == 1)
        })
    }

    fn expire(&self, now: Millis) -> StoreFuture<'_, Transitions> {
        Box::pin(async move {
            let now = now as i64;
            self.flush_marks().await;
            self.with(Sync::Background, async |c| {
                let pairs = |rows: Vec<Row>| rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1))).collect();
                Ok(Transitions {
                    session_start_failed: pairs(c.query(&self.sql.fail_session_start, &[&now]).await?),
                    timed_out: pairs(c.query(&self.sql.fail_timeout, &[&now]).await?),
                    expired: c.execute(&self.sql.delete_expired, &[&now]).await? as usize,
                })
            })
            .await
        })
    }

    fn next_deadline(&self) -> StoreFuture<'_, Option<Millis>> {
        Box::pin(async move {
            let next: Option<i64> =
                self.with(Sync::Background, async |c| c.query_one(&self.sql.next_deadline, &[]).await).await?.get(0);
            Ok(next.map(|v| v as Millis))
        })
    }

    fn claim_callbacks(&self, now: Millis, limit: usize) -> StoreFuture<'_, Vec<Command>> {
        Box::pin(async move {
            let (now, lease, limit) = (now as i64, (now + CALLBACK_LEASE) as i64, limit as i64);
            let rows = self
                .with(Sync::Background, async |c| c.query(&self.sql.claim_callbacks, &[&now, &lease, &limit]).await)
                .await?;
            Ok(rows.iter().map(command).collect())
        })
    }

    fn callbacks_done(&self, ids: Vec<i64>) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.with(Sync::Background, async |c| c.execute(&self.sql.callbacks_done, &[&ids]).await).await.map(|_| ())
        })
    }

    fn callback_retry(&self, id: i64, next: Millis) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let next = next as i64;
            self.with(Sync::Background, async |c| c.execute(&self.sql.callback_retry, &[&id, &next]).await)
                .await
                .map(|_| ())
        })
    }

    fn in_boxes(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            Ok(self.with(Sync::Background, async |c| c.query_one(&self.sql.in_boxes, &[]).await).await?.get(0))
        })
    }
}
