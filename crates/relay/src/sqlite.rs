//! The embedded store: SQLite in the instance's `data/`, in WAL mode, so that a command is on
//! disk before the relay answers 200 and survives `kill -9`. One writing connection on a
//! thread of its own, committing concurrent writes together (see `group_commit`): SQLite
//! serializes writers anyway, and one fsync per batch instead of per write is what lets
//! acceptances keep up with the disk. A second, read-only connection serves the request path's
//! reads without waiting for a commit.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};

use crate::group_commit::{Sync, Writer};
use crate::store::{
    Answered, Command, Millis, NewCommand, State, Store, StoreError, StoreFuture, Transitions, CALLBACK_LEASE, COLUMNS,
};

/// Commands in a SQLite file.
pub struct SqliteStore {
    writer: Writer,
    /// A second connection for the request path's reads: in WAL mode readers never wait for
    /// the writer, so a device opening its box does not queue behind a batch's fsync. `None`
    /// in memory (one connection sees the data).
    reader: Option<Arc<Mutex<Connection>>>,
}

pub(crate) fn err(e: rusqlite::Error) -> StoreError {
    StoreError(format!("relay store: {e}"))
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS commands (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  client TEXT NOT NULL,
  kind TEXT NOT NULL,
  external_id TEXT,
  bid TEXT NOT NULL UNIQUE,
  body TEXT NOT NULL,
  state TEXT NOT NULL,
  result TEXT,
  created INTEGER NOT NULL,
  session_deadline INTEGER NOT NULL,
  timeout_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,
  callback_pending INTEGER NOT NULL DEFAULT 0,
  callback_attempts INTEGER NOT NULL DEFAULT 0,
  callback_next INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS commands_expires ON commands (expires_at);
CREATE INDEX IF NOT EXISTS commands_open ON commands (state, session_deadline, timeout_at);
CREATE INDEX IF NOT EXISTS commands_callbacks ON commands (callback_pending, callback_next);
";

fn row(r: &Row<'_>) -> rusqlite::Result<Command> {
    let state: String = r.get(6)?;
    Ok(Command {
        id: r.get(0)?,
        new: NewCommand {
            client: r.get(1)?,
            kind: r.get(2)?,
            external_id: r.get(3)?,
            bid: r.get(4)?,
            body: r.get(5)?,
            created: r.get::<_, i64>(8)? as Millis,
            session_deadline: r.get::<_, i64>(9)? as Millis,
            timeout_at: r.get::<_, i64>(10)? as Millis,
            expires_at: r.get::<_, i64>(11)? as Millis,
        },
        state: State::from_name(&state).unwrap_or(State::Cancelled),
        result: r.get(7)?,
        started_at: r.get::<_, Option<i64>>(12)?.map(|v| v as Millis),
        ended_at: r.get::<_, Option<i64>>(13)?.map(|v| v as Millis),
        callback_pending: r.get::<_, i64>(14)? != 0,
        callback_attempts: r.get::<_, i64>(15)? as u32,
    })
}

/// Runs a statement through the connection's cache of prepared statements: the relay's few
/// statements are parsed once per connection, not once per command.
fn exec(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(err)
}

fn by_id(conn: &Connection, id: i64) -> Result<Option<Command>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM commands WHERE id = ?1");
    conn.prepare_cached(&sql).and_then(|mut s| s.query_row(params![id], row)).optional().map_err(err)
}

fn by_bid(conn: &Connection, bid: &str) -> Result<Option<Command>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM commands WHERE bid = ?1");
    conn.prepare_cached(&sql).and_then(|mut s| s.query_row(params![bid], row)).optional().map_err(err)
}

impl SqliteStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        // FULL: a commit is on disk before it returns, in WAL mode too.
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let reader = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
        reader.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
        Ok(SqliteStore { writer: Writer::start(conn)?, reader: Some(Arc::new(Mutex::new(reader))) })
    }

    /// A store in memory (for `gatehouse check`, which must not create files).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(SqliteStore { writer: Writer::start(conn)?, reader: None })
    }

    /// Runs the read `f` on the reader connection (on a blocking thread), or through the
    /// writer when there is none.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let Some(reader) = self.reader.clone() else {
            return self.writer.run(Sync::Lazy, move |conn| f(conn));
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || f(&reader.lock().unwrap_or_else(PoisonError::into_inner)))
                .await
                .map_err(|e| StoreError(format!("relay store task: {e}")))?
        })
    }

    fn run<T: Send + 'static>(
        &self,
        sync: Sync,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        self.writer.run(sync, f)
    }
}

impl Store for SqliteStore {
    fn insert(&self, n: NewCommand) -> StoreFuture<'_, Command> {
        self.run(Sync::Durable, move |conn| {
            exec(conn,
                "INSERT INTO commands (client, kind, external_id, bid, body, state, created, session_deadline, timeout_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7, ?8, ?9)",
                params![
                    n.client,
                    n.kind,
                    n.external_id,
                    n.bid,
                    n.body,
                    n.created as i64,
                    n.session_deadline as i64,
                    n.timeout_at as i64,
                    n.expires_at as i64
                ],
            )?;
            Ok(Command::queued(conn.last_insert_rowid(), n))
        })
    }

    fn get(&self, id: i64) -> StoreFuture<'_, Option<Command>> {
        self.read(move |conn| by_id(conn, id))
    }

    /// Reads the box on the reader; when this opens it, the mark is queued to the writer (a
    /// lazy write, FIFO: it lands before any answer the device sends after this reply) and
    /// the command is returned as the mark makes it.
    fn open(&self, bid: String, now: Millis) -> StoreFuture<'_, Option<Command>> {
        let found = self.read({
            let bid = bid.clone();
            move |conn| by_bid(conn, &bid)
        });
        Box::pin(async move {
            let Some(mut c) = found.await? else { return Ok(None) };
            if c.state == State::Queued && c.new.session_deadline > now && c.new.timeout_at > now {
                // The reply is not awaited: the job is queued now, and its outcome is the
                // state computed here (the UPDATE's condition, which only the first opener meets).
                drop(self.writer.run(Sync::Lazy, move |conn| {
                    exec(
                        conn,
                        "UPDATE commands SET state = 'started', started_at = ?2 WHERE bid = ?1 AND state = 'queued' \
                         AND session_deadline > ?2 AND timeout_at > ?2",
                        params![bid, now as i64],
                    )
                }));
                c.state = State::Started;
                c.started_at = Some(now);
            }
            Ok(Some(c))
        })
    }

    /// The writer runs its jobs in order: once this empty job's batch is committed, every
    /// mark queued before it is too.
    fn flush(&self) -> StoreFuture<'_, ()> {
        self.writer.run(Sync::Lazy, |_| Ok(()))
    }

    fn answer(&self, bid: String, result: String, now: Millis) -> StoreFuture<'_, Answered> {
        self.run(Sync::Durable, move |conn| {
            let changed = exec(conn,
                    "UPDATE commands SET state = 'answered', result = ?2, ended_at = ?3, callback_pending = 1, callback_next = ?4 \
                     WHERE bid = ?1 AND state IN ('queued', 'started') AND timeout_at > ?3",
                    params![bid, result, now as i64, (now + CALLBACK_LEASE) as i64],
                )?;
            Ok(match (changed, by_bid(conn, &bid)?) {
                (1, Some(c)) => Answered::Stored(Box::new(c)),
                (_, Some(_)) => Answered::Gone,
                (_, None) => Answered::Unknown,
            })
        })
    }

    fn cancel(&self, id: i64, client: String, now: Millis) -> StoreFuture<'_, bool> {
        self.run(Sync::Durable, move |conn| {
            let changed = exec(conn,
                    "UPDATE commands SET state = 'cancelled', ended_at = ?3 WHERE id = ?1 AND client = ?2 AND state IN ('queued', 'started')",
                    params![id, client, now as i64],
                )?;
            Ok(changed == 1)
        })
    }

    fn expire(&self, now: Millis) -> StoreFuture<'_, Transitions> {
        self.run(Sync::Lazy, move |conn| {
            let tx: &Connection = conn;
            let mut t = Transitions::default();
            let now = now as i64;
            let collect = |tx: &Connection, sql: &str| -> Result<Vec<(i64, String)>, StoreError> {
                let mut stmt = tx.prepare_cached(sql).map_err(err)?;
                let rows = stmt.query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?))).map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)
            };
            t.session_start_failed =
                collect(tx, "SELECT id, kind FROM commands WHERE state = 'queued' AND session_deadline <= ?1")?;
            exec(
                tx,
                "UPDATE commands SET state = 'failed_session_start', ended_at = ?1, callback_pending = 1, callback_next = ?1 \
                 WHERE state = 'queued' AND session_deadline <= ?1",
                params![now],
            )?;
            t.timed_out = collect(tx, "SELECT id, kind FROM commands WHERE state = 'started' AND timeout_at <= ?1")?;
            exec(
                tx,
                "UPDATE commands SET state = 'failed_timeout', ended_at = ?1, callback_pending = 1, callback_next = ?1 \
                 WHERE state = 'started' AND timeout_at <= ?1",
                params![now],
            )?;
            t.expired = exec(tx, "DELETE FROM commands WHERE expires_at <= ?1", params![now])?;
            Ok(t)
        })
    }

    fn next_deadline(&self) -> StoreFuture<'_, Option<Millis>> {
        self.run(Sync::Lazy, |conn| {
            let next: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(t) FROM (\
                       SELECT MIN(session_deadline) AS t FROM commands WHERE state = 'queued' \
                       UNION ALL SELECT MIN(timeout_at) FROM commands WHERE state = 'started' \
                       UNION ALL SELECT MIN(expires_at) FROM commands \
                       UNION ALL SELECT MIN(callback_next) FROM commands WHERE callback_pending = 1)",
                )
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(err)?;
            Ok(next.map(|v| v as Millis))
        })
    }

    fn claim_callbacks(&self, now: Millis, limit: usize) -> StoreFuture<'_, Vec<Command>> {
        self.run(Sync::Lazy, move |conn| {
            let tx: &Connection = conn;
            let due: Vec<Command> = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM commands WHERE callback_pending = 1 AND callback_next <= ?1 ORDER BY callback_next LIMIT ?2"
                    ))
                    .map_err(err)?;
                let rows = stmt.query_map(params![now as i64, limit as i64], row).map_err(err)?;
                rows.collect::<Result<_, _>>().map_err(err)?
            };
            for c in &due {
                exec(tx, "UPDATE commands SET callback_next = ?2 WHERE id = ?1", params![c.id, (now + CALLBACK_LEASE) as i64])?;
            }
            Ok(due)
        })
    }

    fn callbacks_done(&self, ids: Vec<i64>) -> StoreFuture<'_, ()> {
        self.run(Sync::Lazy, move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE commands SET callback_pending = 0, callback_attempts = callback_attempts + 1 WHERE id = ?1",
                )
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id]).map_err(err)?;
            }
            Ok(())
        })
    }

    fn callback_retry(&self, id: i64, next: Millis) -> StoreFuture<'_, ()> {
        self.run(Sync::Lazy, move |conn| {
            exec(
                conn,
                "UPDATE commands SET callback_attempts = callback_attempts + 1, callback_next = ?2 WHERE id = ?1",
                params![id, next as i64],
            )
            .map(|_| ())
        })
    }

    fn in_boxes(&self) -> StoreFuture<'_, i64> {
        self.run(Sync::Lazy, |conn| {
            conn.prepare_cached("SELECT COUNT(*) FROM commands WHERE state IN ('queued', 'started')")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(err)
        })
    }
}
