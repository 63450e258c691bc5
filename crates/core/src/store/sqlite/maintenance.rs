//! SQL of whole-file maintenance for the admin commands and the operator
//! endpoints: integrity checks, the schema version, row counts, and the
//! online backup. Nothing here runs on a request's hot path.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::backup::{Backup, StepResult};

use crate::{Error, Result};

/// `PRAGMA integrity_check`: `["ok"]` for a sound file, else the problems.
pub(super) fn integrity_check(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rows that break a foreign key (sessions of a missing profile), as
/// `table rowid` descriptions; empty for a sound file.
pub(super) fn foreign_key_check(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let rows = stmt.query_map([], |r| {
        Ok(format!(
            "{} row {} → {}",
            r.get::<_, String>(0)?,
            r.get::<_, Option<i64>>(1)?.unwrap_or(-1),
            r.get::<_, String>(2)?
        ))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `PRAGMA user_version` and `PRAGMA application_id`.
pub(super) fn version(conn: &Connection) -> Result<(i64, i64)> {
    let user_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let application_id = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    Ok((user_version, application_id))
}

/// Number of profiles.
pub(super) fn profile_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT count(*) FROM profiles")?
        .query_row([], |r| r.get(0))?)
}

/// The cheapest statement that proves the file answers (for `/healthz`).
pub(super) fn ping(conn: &Connection) -> Result<()> {
    conn.prepare_cached("SELECT 1 FROM meta LIMIT 1")?
        .query_row([], |_| Ok(()))?;
    Ok(())
}

/// The health check's write probe: one committed row in `meta` (the time,
/// nothing secret), so that a full disk or a file that turned read-only
/// shows as a failure.
pub(super) fn probe(conn: &Connection) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('health_probe', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([now.to_le_bytes()])?;
    Ok(())
}

/// Copies the whole database behind `src` into the (new, empty) file at
/// `dest` with SQLite's online backup API. All pages are copied in one step,
/// inside one read transaction, so the copy is a consistent snapshot even
/// while other connections write (WAL readers do not block writers, and a
/// single step cannot be restarted by their writes). Busy and locked steps
/// are retried for up to `patience`.
pub(super) fn backup(src: &Connection, dest: &Path, patience: Duration) -> Result<()> {
    let mut dst = Connection::open(dest)?;
    let started = std::time::Instant::now();
    {
        let backup = Backup::new(src, &mut dst)?;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More | StepResult::Busy | StepResult::Locked
                    if started.elapsed() < patience =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    return Err(Error::Unavailable(format!(
                        "backup did not finish within {patience:?}: the database stayed busy"
                    )));
                }
            }
        }
    }
    dst.close().map_err(|(_, e)| e)?;
    Ok(())
}
