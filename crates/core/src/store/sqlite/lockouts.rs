//! SQL of the `lockouts` table: one row per profile (by keyed hash) with a
//! failure streak; no row means no failures.

use rusqlite::{Connection, OptionalExtension};

use crate::Result;
use crate::lockout::Counter;

/// The schema-2 table, for files made by schema 1.
pub(super) const MIGRATE_FROM_1: &str = "CREATE TABLE lockouts (
    key             BLOB PRIMARY KEY CHECK (length(key) = 32),
    failures        INTEGER NOT NULL,
    locked_until_ms INTEGER NOT NULL,
    last_failure_ms INTEGER NOT NULL
) WITHOUT ROWID;";

pub(super) fn get(conn: &Connection, key: &[u8; 32]) -> Result<Option<Counter>> {
    Ok(conn
        .prepare_cached(
            "SELECT failures, locked_until_ms, last_failure_ms FROM lockouts WHERE key = ?1",
        )?
        .query_row([&key[..]], |r| {
            Ok(Counter {
                failures: r.get(0)?,
                locked_until_ms: r.get(1)?,
                last_failure_ms: r.get(2)?,
            })
        })
        .optional()?)
}

/// Stores the streak; a streak of zero removes the row.
pub(super) fn put(conn: &Connection, key: &[u8; 32], c: &Counter) -> Result<()> {
    if c.failures == 0 {
        conn.prepare_cached("DELETE FROM lockouts WHERE key = ?1")?
            .execute([&key[..]])?;
    } else {
        conn.prepare_cached(
            "INSERT INTO lockouts (key, failures, locked_until_ms, last_failure_ms)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET failures = ?2, locked_until_ms = ?3,
                 last_failure_ms = ?4",
        )?
        .execute(rusqlite::params![
            &key[..],
            c.failures,
            c.locked_until_ms,
            c.last_failure_ms
        ])?;
    }
    Ok(())
}

/// Forgets streaks that are not locked and idle since `idle_before_ms`.
pub(super) fn purge(conn: &Connection, now_ms: i64, idle_before_ms: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM lockouts WHERE locked_until_ms <= ?1 AND last_failure_ms < ?2",
        )?
        .execute([now_ms, idle_before_ms])?)
}

/// Rows kept (for `check` and tests).
pub(super) fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT count(*) FROM lockouts", [], |r| r.get(0))?)
}
