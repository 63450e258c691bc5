//! The database file as another process sees it: a connection of the
//! test's own (with a busy timeout, since the server writes at the same
//! time), and the few queries the tests repeat. It never writes; a test
//! that must change the file does so itself, in plain SQL.
//!
//! [`Database`] is the same for a test written once for both stores: a
//! SQLite file or a PostgreSQL database of the shared server, the `--db`
//! flags a real binary needs to serve it, and the reads the tests repeat
//! in SQL both understand.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::Backend;
use crate::postgres::Postgres;

/// A database a real `zkppd` serves, on either store.
pub enum Database {
    File(PathBuf),
    Postgres {
        pg: Arc<Postgres>,
        name: String,
        /// The `--handshake-key-file` every instance on it is given.
        key: PathBuf,
    },
}

impl Database {
    /// A new, empty database on `backend`: `dir/zkppd.db`, or a database
    /// of its own on the shared PostgreSQL (its handshake key in `dir`).
    pub fn new(backend: Backend, dir: &Path) -> Database {
        match backend {
            Backend::Sqlite => Database::File(dir.join("zkppd.db")),
            Backend::Postgres => {
                let pg = Postgres::shared();
                let name = pg.database().expect("create a database");
                let key = dir.join("handshake-key");
                std::fs::write(
                    &key,
                    format!(
                        "{:016x}{:016x}{:016x}{:016x}\n",
                        crate::random_u64(),
                        crate::random_u64(),
                        crate::random_u64(),
                        crate::random_u64()
                    ),
                )
                .expect("write the handshake key");
                Database::Postgres { pg, name, key }
            }
        }
    }

    /// The flags that make `zkppd` serve it: `--db` (and the key file).
    pub fn flags(&self) -> Vec<OsString> {
        match self {
            Database::File(path) => vec!["--db".into(), path.into()],
            Database::Postgres { pg, name, key } => vec![
                "--db".into(),
                pg.url(name).into(),
                "--handshake-key-file".into(),
                key.into(),
            ],
        }
    }

    /// The single integer `sql` selects (on PostgreSQL a bigint, an
    /// integer or a boolean as 0/1).
    #[track_caller]
    pub fn count(&self, sql: &str) -> i64 {
        match self {
            Database::File(path) => count(&open(path), sql),
            Database::Postgres { pg, name, .. } => pg.count(name, sql),
        }
    }

    /// All values of the first (text) column of `sql`.
    #[track_caller]
    pub fn strings(&self, sql: &str) -> Vec<String> {
        match self {
            Database::File(path) => strings(&open(path), sql),
            Database::Postgres { pg, name, .. } => pg.strings(name, sql),
        }
    }
}

/// A connection to the database file, as another process would open it.
pub fn open(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db)
        .unwrap_or_else(|e| panic!("open the database file {}: {e}", db.display()));
    c.busy_timeout(Duration::from_secs(10))
        .expect("set a busy timeout");
    c
}

/// The single integer `sql` selects.
pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// All values of the first (text) column of `sql`.
pub fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `PRAGMA integrity_check` of the file; panics unless it says `ok`.
pub fn assert_integrity(db: &Path) {
    let rows = strings(&open(db), "PRAGMA integrity_check");
    assert_eq!(rows, ["ok"], "integrity_check of {}", db.display());
}
