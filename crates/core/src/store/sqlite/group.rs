//! Group commit: this process's writers share one transaction and one
//! fsync. A writer queues its job and takes the writer turn; whoever holds
//! the turn runs every queued job inside one `BEGIN IMMEDIATE`, each in a
//! savepoint of its own (a failing job rolls back only itself), commits
//! once, and hands each job its outcome. A writer that finds its job done
//! when it gets the turn returns at once. Each answer still goes out only
//! after the commit that holds it is durable (`synchronous=FULL`), so a
//! crash loses nothing acknowledged; what changes is that N concurrent
//! sign-ins cost one fsync instead of N.
//!
//! Hand-written because it is a few dozen lines tied to SQLite's
//! transaction rules; the turn is the one the WAL checkpoint takes too.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::Connection;

use crate::{Error, Result};

/// Most jobs one transaction takes (a bound on one batch's latency).
const MAX_BATCH: usize = 64;

/// A queued write, with its result type erased.
trait Job: Send {
    /// Runs the job on the open transaction; true if it succeeded (its
    /// savepoint is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// The commit failed: a success becomes that error.
    fn fail(&mut self, error: &dyn Fn() -> Error);
}

type Slot<T> = Arc<Mutex<Option<Result<T>>>>;

struct Typed<T, F> {
    f: Option<F>,
    slot: Slot<T>,
}

impl<T: Send, F: FnOnce(&Connection) -> Result<T> + Send> Job for Typed<T, F> {
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let result = f(conn);
        let ok = result.is_ok();
        *lock(&self.slot) = Some(result);
        ok
    }

    fn fail(&mut self, error: &dyn Fn() -> Error) {
        let mut slot = lock(&self.slot);
        if matches!(*slot, Some(Ok(_)) | None) {
            *slot = Some(Err(error()));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The queue of writes and the writer turn.
#[derive(Default)]
pub(super) struct Group {
    queue: Mutex<VecDeque<Box<dyn Job>>>,
    turn: Mutex<()>,
    /// Transactions committed (one fsync each): writes ÷ commits is what
    /// group commit saves.
    commits: std::sync::atomic::AtomicU64,
}

impl Group {
    /// Transactions committed so far.
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The writer turn alone, for work that must run outside a transaction
    /// (a WAL checkpoint); queued writes wait for it.
    pub(super) fn turn(&self) -> MutexGuard<'_, ()> {
        lock(&self.turn)
    }

    /// Runs `f` in a transaction shared with the other writers queued
    /// meanwhile; returns once that transaction is committed (or with
    /// `f`'s own error, its changes rolled back). `conn` gives a connection
    /// when this call runs a batch.
    pub(super) fn write<'c, T, F, C>(&self, conn: C, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        C: Fn() -> Result<super::conns::Lent<'c>>,
    {
        let slot: Slot<T> = Arc::new(Mutex::new(None));
        lock(&self.queue).push_back(Box::new(Typed {
            f: Some(f),
            slot: slot.clone(),
        }));
        loop {
            let _turn = lock(&self.turn);
            if let Some(done) = lock(&slot).take() {
                return done;
            }
            // Ours is still queued: run the queue (ours is in the first
            // batch unless more than a batch was queued before it).
            let mut batch: Vec<Box<dyn Job>> = {
                let mut queue = lock(&self.queue);
                let n = queue.len().min(MAX_BATCH);
                queue.drain(..n).collect()
            };
            if batch.is_empty() {
                return Err(Error::Internal("a queued write was lost".into()));
            }
            match conn() {
                Ok(conn) => {
                    if run_batch(&conn, &mut batch) {
                        self.commits
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                Err(e) => fail_all(&mut batch, &e),
            }
        }
    }
}

/// The same error again, for each job of a batch that shares it.
fn again(e: &Error) -> Error {
    match e {
        Error::Unavailable(text) => Error::Unavailable(text.clone()),
        other => Error::Internal(other.to_string()),
    }
}

fn fail_all(batch: &mut [Box<dyn Job>], e: &Error) {
    for job in batch {
        job.fail(&|| again(e));
    }
}

/// One transaction for the whole batch, a savepoint per job; true if it
/// committed.
fn run_batch(conn: &Connection, batch: &mut [Box<dyn Job>]) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        fail_all(batch, &Error::from(e));
        return false;
    }
    for job in batch.iter_mut() {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            let e = Error::from(e);
            job.fail(&|| again(&e));
            continue;
        }
        let kept = job.run(conn);
        let end = if kept {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        if let Err(e) = conn.execute_batch(end) {
            let e = Error::from(e);
            job.fail(&|| again(&e));
        }
        if conn.is_autocommit() {
            // SQLite rolled the whole transaction back (a full disk, an
            // I/O error): every job of the batch lost its changes.
            let e = Error::Unavailable("the database rolled a write batch back".into());
            fail_all(batch, &e);
            return false;
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        // Nothing of the batch is durable: every success becomes the error.
        let _ = conn.execute_batch("ROLLBACK");
        fail_all(batch, &Error::from(e));
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::conns::Conns;

    fn init(conn: &mut Connection) -> rusqlite::Result<()> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
    }

    #[test]
    fn concurrent_writes_share_commits_and_a_failing_one_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let conns = Conns::new(
            dir.path().join("g.db"),
            init,
            4,
            std::time::Duration::from_secs(5),
        );
        conns
            .get()
            .unwrap()
            .execute_batch("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .unwrap();
        let group = Group::default();
        let results: Vec<Result<i64>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32i64)
                .map(|i| {
                    let (group, conns) = (&group, &conns);
                    s.spawn(move || {
                        group.write(
                            || conns.get(),
                            move |tx| {
                                tx.execute("INSERT INTO t (x) VALUES (?1)", [i])?;
                                if i % 8 == 3 {
                                    return Err(Error::Malformed("test"));
                                }
                                Ok(i)
                            },
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(x) => assert_eq!(*x, i as i64),
                Err(e) => {
                    assert_eq!(i % 8, 3, "{e}");
                    assert!(matches!(e, Error::Malformed(_)));
                }
            }
        }
        let conn = conns.get().unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        let failed: i64 = conn
            .query_row("SELECT count(*) FROM t WHERE x % 8 = 3", [], |r| r.get(0))
            .unwrap();
        assert_eq!((rows, failed), (28, 0));
        // Every write committed, in at most one transaction each.
        let commits = group.commits();
        assert!((1..=32).contains(&commits), "{commits} commits");
    }

    #[test]
    fn sequential_writes_commit_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let conns = Conns::new(
            dir.path().join("g.db"),
            init,
            2,
            std::time::Duration::from_secs(5),
        );
        let group = Group::default();
        assert_eq!(group.commits(), 0);
        for i in 0..3i64 {
            let got = group.write(
                || conns.get(),
                move |tx| {
                    tx.execute_batch("CREATE TABLE IF NOT EXISTS t (x INTEGER)")?;
                    tx.execute("INSERT INTO t (x) VALUES (?1)", [i])?;
                    Ok(i * 10)
                },
            );
            assert_eq!(got.unwrap(), i * 10);
        }
        assert_eq!(group.commits(), 3);
    }

    #[test]
    fn no_connection_fails_the_job_with_that_error() {
        let group = Group::default();
        let got: Result<i64> = group.write(
            || Err(Error::Unavailable("no connection".into())),
            |_| Ok(1),
        );
        match got {
            Err(Error::Unavailable(text)) => assert_eq!(text, "no connection"),
            other => panic!("{other:?}"),
        }
        assert_eq!(group.commits(), 0);
    }
}
