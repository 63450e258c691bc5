//! The store's connections: at most `max` open, reused, opened on demand
//! by the thread that needs one, each set up by `init`. Hand-written rather
//! than r2d2 because r2d2 opens connections on its own background threads,
//! and a connection still held by one of those when the process exits is
//! never closed (SQLite then leaves the -wal and -shm files behind); here
//! every connection is closed by whoever drops the pool.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::{Error, Result};

pub(super) struct Conns {
    path: PathBuf,
    init: fn(&mut Connection) -> rusqlite::Result<()>,
    max: usize,
    wait: Duration,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    idle: Vec<Connection>,
    /// Connections open, idle or lent out.
    open: usize,
}

/// A connection lent out; back to the idle list on drop.
pub struct Lent<'a> {
    conns: &'a Conns,
    conn: Option<Connection>,
}

impl Conns {
    pub(super) fn new(
        path: PathBuf,
        init: fn(&mut Connection) -> rusqlite::Result<()>,
        max: usize,
        wait: Duration,
    ) -> Conns {
        Conns {
            path,
            init,
            max: max.max(1),
            wait,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while fewer than `max` are open, or
    /// one returned within the wait; else the store is busy (503).
    pub(super) fn get(&self) -> Result<Lent<'_>> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.state();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(self.lend(conn));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.open() {
                    Ok(conn) => Ok(self.lend(conn)),
                    Err(e) => {
                        self.state().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Unavailable(format!(
                    "all {} database connections stayed busy for {:?}",
                    self.max, self.wait
                )));
            }
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    fn open(&self) -> Result<Connection> {
        let mut conn = Connection::open(&self.path)?;
        (self.init)(&mut conn)?;
        Ok(conn)
    }

    fn lend(&self, conn: Connection) -> Lent<'_> {
        Lent {
            conns: self,
            conn: Some(conn),
        }
    }
}

impl std::ops::Deref for Lent<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        // Only `drop` takes it out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for Lent<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.conns.state().idle.push(conn);
            self.conns.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(_: &mut Connection) -> rusqlite::Result<()> {
        Ok(())
    }

    #[test]
    fn reuses_connections_and_refuses_past_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let conns = Conns::new(dir.path().join("t.db"), init, 2, Duration::from_millis(50));
        let a = conns.get().unwrap();
        let b = conns.get().unwrap();
        let started = Instant::now();
        assert!(matches!(conns.get(), Err(Error::Unavailable(_))));
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(a);
        let c = conns.get().unwrap();
        assert_eq!(conns.state().open, 2);
        drop((b, c));
        assert_eq!(conns.state().idle.len(), 2);
    }

    #[test]
    fn a_failed_open_gives_its_place_back() {
        let dir = tempfile::tempdir().unwrap();
        let conns = Conns::new(
            dir.path().join("missing-dir").join("x.db"),
            |_| Ok(()),
            1,
            Duration::from_millis(20),
        );
        for _ in 0..3 {
            let e = conns.get().err().expect("cannot open");
            assert!(!e.to_string().contains("stayed busy"), "{e}");
        }
        assert_eq!(conns.state().open, 0);
    }
}
