//! Per-thread reader connections for the reads an async worker may do
//! itself (verify's primary-key lookup): no pool, no hand-off, and a busy
//! timeout of zero so that the thread never sleeps in SQLite — a busy
//! answer sends the caller to the blocking path instead. Each thread keeps
//! one connection per store it has read, closed when the thread ends (the
//! runtime's workers end with it).

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::Connection;

use crate::Result;

thread_local! {
    static READERS: RefCell<Vec<(u64, Connection)>> = const { RefCell::new(Vec::new()) };
}

static NEXT_STORE: AtomicU64 = AtomicU64::new(1);

/// A fresh id for a store (its readers are kept under it).
pub(super) fn next_store_id() -> u64 {
    NEXT_STORE.fetch_add(1, Ordering::Relaxed)
}

/// Runs `f` on this thread's reader of store `id` (opened on first use).
pub(super) fn with_reader<T>(
    id: u64,
    path: &Path,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    READERS.with(|readers| {
        let mut readers = readers.borrow_mut();
        let at = match readers.iter().position(|(store, _)| *store == id) {
            Some(at) => at,
            None => {
                let conn = Connection::open(path)?;
                conn.busy_timeout(std::time::Duration::ZERO)?;
                // A primary-key read touches a few pages; the OS page
                // cache holds the rest. Small, as there is one per thread.
                conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -256;")?;
                readers.push((id, conn));
                readers.len() - 1
            }
        };
        f(&readers[at].1)
    })
}
