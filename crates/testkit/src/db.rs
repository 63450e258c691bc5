//! The database file as another process sees it: a connection of the
//! test's own (with a busy timeout, since the server writes at the same
//! time), and the few queries the tests repeat. It never writes; a test
//! that must change the file does so itself, in plain SQL.

use std::path::Path;
use std::time::Duration;

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
