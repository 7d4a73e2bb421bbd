//! Group commit for the embedded store. One thread owns the SQLite connection; callers queue
//! jobs and await their results. The thread takes every job waiting, runs each in a savepoint
//! of one transaction (a job alone needs none) and commits once, so concurrent acceptances
//! share one fsync instead of queueing for one each: while a commit is on its way to the disk
//! the next batch gathers, with no timer added to anyone's latency. A job's result is released
//! only after the commit that holds it returned, so "accepted" still means "on disk".

use std::sync::mpsc::{Receiver, Sender};

use rusqlite::Connection;

use crate::sqlite::err;
use crate::store::{StoreError, StoreFuture};

/// How a write must reach the disk. Acceptances, answers and cancels are what clients were
/// told is kept: `Durable` (the batch commits with `synchronous=FULL`, fsync before the commit
/// returns). State marks and callback bookkeeping are `Lazy` (`synchronous=NORMAL`): in WAL
/// mode they survive a killed process (they are in the OS's cache) and only a power loss can
/// undo them, which at worst repeats a callback (at least once anyway) or lets a device open a
/// box again. A batch with one durable job commits durably as a whole.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Sync {
    Durable,
    Lazy,
}

/// What a job hands back after running: whether its savepoint is kept, and how to deliver its
/// result once the batch's commit is known.
type Reply = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// A job runs on the connection, or is handed the error that kept its batch from starting.
type Job = Box<dyn FnOnce(Result<&mut Connection, StoreError>) -> (bool, Reply) + Send>;

/// The most jobs one transaction takes; a bound on how long a batch holds the write lock.
const MAX_BATCH: usize = 256;

/// The queue to the connection's thread. Dropping it ends the thread.
pub(crate) struct Writer {
    jobs: Sender<(Sync, Job)>,
}

impl Writer {
    /// Moves `conn` (in WAL mode, `synchronous=FULL`) to a thread of its own.
    pub(crate) fn start(conn: Connection) -> Result<Writer, StoreError> {
        let (jobs, queue) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("relay-store".into())
            .spawn(move || serve(conn, queue))
            .map_err(|e| StoreError(format!("relay store: cannot start its thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `f` in the next batch; the result comes once that batch is committed.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        sync: Sync,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = conn.and_then(f);
            let keep = out.is_ok();
            let reply: Reply = Box::new(move |committed| {
                let _ = tx.send(committed.and(out));
            });
            (keep, reply)
        });
        let queued = self.jobs.send((sync, job)).map_err(|_| StoreError("relay store: its thread has stopped".into()));
        Box::pin(async move {
            queued?;
            rx.await.map_err(|_| StoreError("relay store: its thread has stopped".into()))?
        })
    }
}

/// The connection's thread: batches until every queue handle is dropped.
fn serve(mut conn: Connection, queue: Receiver<(Sync, Job)>) {
    conn.set_prepared_statement_cache_capacity(64);
    let mut full = true;
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let durable = batch.iter().any(|(sync, _)| *sync == Sync::Durable);
        let ready = if durable == full {
            Ok(())
        } else {
            // Through the statement cache: batches alternate between the two often.
            cached(&conn, if durable { "PRAGMA synchronous = FULL" } else { "PRAGMA synchronous = NORMAL" })
                .map_err(err)
        };
        if ready.is_ok() {
            full = durable;
        }
        let begun = ready.and_then(|()| cached(&conn, "BEGIN IMMEDIATE").map_err(err));
        if let Err(e) = begun {
            fail(batch, &e);
            continue;
        }
        // A job alone in its transaction needs no savepoint: if it fails, the transaction is
        // rolled back instead of committed (two statements and the savepoint's copies of the
        // pages it changes fewer; at light load most batches hold one job).
        let alone = batch.len() == 1;
        let mut failed_alone = false;
        let mut replies = Vec::with_capacity(batch.len());
        for (_, job) in batch {
            if !alone {
                if let Err(e) = cached(&conn, "SAVEPOINT job").map_err(err) {
                    let (_, reply) = job(Err(e));
                    replies.push(reply);
                    continue;
                }
            }
            let (keep, reply) = job(Ok(&mut conn));
            if alone {
                failed_alone = !keep;
            } else {
                let ended = if keep {
                    cached(&conn, "RELEASE job")
                } else {
                    conn.execute_batch("ROLLBACK TO job; RELEASE job")
                };
                if let Err(e) = ended {
                    tracing::warn!("relay store: ending a savepoint: {e}");
                }
            }
            replies.push(reply);
        }
        let committed = if failed_alone {
            // Its own error is in its result.
            let _ = conn.execute_batch("ROLLBACK");
            Ok(())
        } else {
            let committed = cached(&conn, "COMMIT").map_err(err);
            if committed.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            committed
        };
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// A transaction-control statement through the connection's statement cache (parsed once).
fn cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ())
}

/// Answers every job of a batch that could not begin with `e`.
fn fail(batch: Vec<(Sync, Job)>, e: &StoreError) {
    for (_, job) in batch {
        let (_, reply) = job(Err(e.clone()));
        reply(Ok(()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every value in the table, in order.
    async fn kept(w: &Writer) -> Vec<i64> {
        w.run(Sync::Lazy, |c| {
            let mut s = c.prepare("SELECT v FROM t ORDER BY v").map_err(err)?;
            let rows = s.query_map([], |r| r.get(0)).map_err(err)?;
            rows.collect::<Result<_, _>>().map_err(err)
        })
        .await
        .unwrap()
    }

    fn writer() -> Writer {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER)").unwrap();
        Writer::start(conn).unwrap()
    }

    #[tokio::test]
    async fn a_failed_job_rolls_back_alone_and_the_batch_commits() {
        let w = writer();
        // Queue everything before awaiting, so the jobs share batches.
        let mut pending = Vec::new();
        for v in 0..100i64 {
            pending.push(w.run(Sync::Durable, move |c| {
                c.execute("INSERT INTO t (v) VALUES (?1)", [v]).map_err(err)?;
                if v % 10 == 3 {
                    return Err(StoreError(format!("job {v} refuses")));
                }
                Ok(v)
            }));
        }
        let mut failed = 0;
        for (v, p) in pending.into_iter().enumerate() {
            match p.await {
                Ok(got) => assert_eq!(got, v as i64),
                Err(e) => {
                    assert_eq!(e.0, format!("job {v} refuses"));
                    failed += 1;
                }
            }
        }
        assert_eq!(failed, 10);
        let kept = kept(&w).await;
        assert_eq!(kept.len(), 90);
        assert!(kept.iter().all(|v| v % 10 != 3));
    }

    #[tokio::test]
    async fn a_job_alone_in_its_batch_commits_or_rolls_back_whole() {
        let w = writer();
        // Each awaited before the next: every batch holds one job (no savepoint).
        for v in 0..6i64 {
            let got = w
                .run(Sync::Durable, move |c| {
                    c.execute("INSERT INTO t (v) VALUES (?1)", [v]).map_err(err)?;
                    c.execute("INSERT INTO t (v) VALUES (?1)", [v + 100]).map_err(err)?;
                    if v % 2 == 1 {
                        return Err(StoreError(format!("job {v} refuses")));
                    }
                    Ok(v)
                })
                .await;
            match got {
                Ok(got) => assert_eq!(got, v),
                Err(e) => assert_eq!((v % 2, e.0), (1, format!("job {v} refuses"))),
            }
        }
        let kept = kept(&w).await;
        // Both writes of each job that succeeded, neither of one that failed.
        assert_eq!(kept, vec![0, 2, 4, 100, 102, 104]);
    }
}
