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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn counter(failures: u32, locked_until_ms: i64, last_failure_ms: i64) -> Counter {
        Counter {
            failures,
            locked_until_ms,
            last_failure_ms,
        }
    }

    #[test]
    fn put_get_and_a_zero_streak_removes_the_row() {
        let s = SqliteStore::open(None).unwrap();
        let conn = s.connection().unwrap();
        assert_eq!(count(&conn).unwrap(), 0);
        put(&conn, &[1; 32], &counter(3, 50, 40)).unwrap();
        put(&conn, &[2; 32], &counter(1, 0, 10)).unwrap();
        put(&conn, &[1; 32], &counter(4, 60, 45)).unwrap();
        assert_eq!(get(&conn, &[1; 32]).unwrap(), Some(counter(4, 60, 45)));
        assert_eq!(count(&conn).unwrap(), 2);
        put(&conn, &[2; 32], &counter(0, 0, 0)).unwrap();
        assert_eq!(get(&conn, &[2; 32]).unwrap(), None);
        assert_eq!(count(&conn).unwrap(), 1);
    }

    #[test]
    fn purge_forgets_only_unlocked_idle_streaks() {
        let s = SqliteStore::open(None).unwrap();
        let conn = s.connection().unwrap();
        put(&conn, &[1; 32], &counter(1, 0, 10)).unwrap(); // idle, unlocked
        put(&conn, &[2; 32], &counter(2, 0, 20)).unwrap(); // idle, unlocked
        put(&conn, &[3; 32], &counter(5, 1000, 10)).unwrap(); // still locked
        put(&conn, &[4; 32], &counter(1, 0, 500)).unwrap(); // recent
        assert_eq!(purge(&conn, 100, 100).unwrap(), 2);
        assert_eq!(count(&conn).unwrap(), 2);
        assert!(get(&conn, &[3; 32]).unwrap().is_some());
        assert!(get(&conn, &[4; 32]).unwrap().is_some());
        assert_eq!(purge(&conn, 100, 100).unwrap(), 0);
        // Once unlocked and idle, it goes too.
        assert_eq!(purge(&conn, 1000, 501).unwrap(), 2);
        assert_eq!(count(&conn).unwrap(), 0);
    }

    /// The inline reads (`*_now`, on the calling thread's own reader) see
    /// what the blocking ones see, including a write committed just before.
    #[test]
    fn the_inline_reads_answer_what_the_pooled_ones_do() {
        use crate::store::{Record, Store};
        let s = SqliteStore::open(None).unwrap();
        assert_eq!(s.lockout_now(&[1; 32]).unwrap().unwrap(), None);
        s.save_lockout(&[1; 32], &counter(3, 50, 40)).unwrap();
        assert_eq!(
            s.lockout_now(&[1; 32]).unwrap().unwrap(),
            Some(counter(3, 50, 40))
        );
        assert_eq!(s.lockout(&[1; 32]).unwrap(), Some(counter(3, 50, 40)));
        assert!(s.profile_now("alice").unwrap().unwrap().is_none());
        let record = Record {
            verifier: "ab".repeat(256),
            salt: "cd".repeat(32),
        };
        s.import_profiles(&[(1, "alice".into(), record.clone())])
            .unwrap();
        let now = s.profile_now("alice").unwrap().unwrap().unwrap();
        assert_eq!(
            (now.verifier.as_str(), now.salt.as_str()),
            (&*record.verifier, &*record.salt)
        );
    }
}
