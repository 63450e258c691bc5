//! SQL of the `sessions` table. Tokens arrive already hashed; expiry is
//! kept both as the exact string handed out (compared byte for byte) and as
//! milliseconds (for comparisons and purging).

use rusqlite::{Connection, OptionalExtension};

use crate::Result;
use crate::store::Session;

/// Stores a new session and evicts the oldest of that profile beyond `max`,
/// in one transaction, if the profile still has the verifier the proof was
/// checked against (a password change or a deletion that committed in the
/// meantime wins); false if it has not.
pub(super) fn create(
    tx: &Connection,
    token_hash: &[u8; 32],
    session: &Session,
    max: u32,
    verifier: &str,
) -> Result<bool> {
    match super::profiles::get(tx, &session.profile_id)? {
        Some(r) if r.verifier == verifier => {}
        _ => return Ok(false),
    }
    tx.prepare_cached(
        "INSERT INTO sessions (token_hash, profile_id, expiry, expires_ms, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(rusqlite::params![
        &token_hash[..],
        session.profile_id,
        session.expiry,
        session.expires_ms,
        session.created_ms
    ])?;
    tx.prepare_cached(
        "DELETE FROM sessions WHERE profile_id = ?1 AND token_hash != ?3
         AND token_hash NOT IN (
             SELECT token_hash FROM sessions WHERE profile_id = ?1 AND token_hash != ?3
             ORDER BY created_ms DESC, token_hash DESC LIMIT ?2)",
    )?
    // The new session always stays; the newest `max - 1` others stay with it.
    .execute(rusqlite::params![
        session.profile_id,
        max.saturating_sub(1),
        &token_hash[..]
    ])?;
    Ok(true)
}

/// The session stored under this token hash, if any.
pub(super) fn get(conn: &Connection, token_hash: &[u8; 32]) -> Result<Option<Session>> {
    Ok(conn
        .prepare_cached(
            "SELECT profile_id, expiry, expires_ms, created_ms FROM sessions WHERE token_hash = ?1",
        )?
        .query_row([&token_hash[..]], row)
        .optional()?)
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        profile_id: r.get(0)?,
        expiry: r.get(1)?,
        expires_ms: r.get(2)?,
        created_ms: r.get(3)?,
    })
}

/// A profile's live sessions with their token hashes, newest first.
pub(super) fn live_of(
    conn: &Connection,
    profile_id: &str,
    now_ms: i64,
) -> Result<Vec<([u8; 32], Session)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT profile_id, expiry, expires_ms, created_ms, token_hash FROM sessions
         WHERE profile_id = ?1 AND expires_ms > ?2
         ORDER BY created_ms DESC, token_hash DESC",
    )?;
    let rows = stmt.query_map(rusqlite::params![profile_id, now_ms], |r| {
        let hash: Vec<u8> = r.get(4)?;
        let mut key = [0u8; 32];
        if hash.len() == 32 {
            key.copy_from_slice(&hash);
        }
        Ok((key, row(r)?))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Deletes every session of a profile but the one with `keep`; how many.
pub(super) fn delete_others(conn: &Connection, profile_id: &str, keep: &[u8; 32]) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE profile_id = ?1 AND token_hash != ?2")?
        .execute(rusqlite::params![profile_id, &keep[..]])?)
}

/// Deletes the session with this hash if it belongs to `profile_id`, has
/// this exact expiry and is still live; true if one was deleted.
pub(super) fn delete_live(
    conn: &Connection,
    token_hash: &[u8; 32],
    profile_id: &str,
    expiry: &str,
    now_ms: i64,
) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM sessions WHERE token_hash = ?1 AND profile_id = ?2
             AND expiry = ?3 AND expires_ms > ?4",
        )?
        .execute(rusqlite::params![
            &token_hash[..],
            profile_id,
            expiry,
            now_ms
        ])?
        == 1)
}

/// Deletes every session of a profile; returns how many.
pub(super) fn delete_for_profile(conn: &Connection, profile_id: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE profile_id = ?1")?
        .execute([profile_id])?)
}

/// Deletes sessions that expired before `before_ms`; returns how many.
pub(super) fn purge_expired(conn: &Connection, before_ms: i64) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires_ms <= ?1")?
        .execute([before_ms])?)
}

/// Live sessions (for metrics).
pub(super) fn count_live(conn: &Connection, now_ms: i64) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM sessions WHERE expires_ms > ?1",
        [now_ms],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::with_profiles_a_and_b as store;

    fn hash(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn session(profile: &str, expires_ms: i64, created_ms: i64) -> Session {
        Session {
            profile_id: profile.to_owned(),
            expiry: format!("expiry-{expires_ms}"),
            expires_ms,
            created_ms,
        }
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn create_needs_the_verifier_the_proof_was_checked_against() {
        let s = store();
        let conn = s.connection().unwrap();
        assert!(!create(&conn, &hash(1), &session("a", 10, 1), 4, "stale").unwrap());
        assert!(!create(&conn, &hash(1), &session("gone", 10, 1), 4, "va").unwrap());
        assert_eq!(count(&conn), 0);
        assert!(create(&conn, &hash(1), &session("a", 10, 1), 4, "va").unwrap());
        assert_eq!(get(&conn, &hash(1)).unwrap(), Some(session("a", 10, 1)));
        assert_eq!(get(&conn, &hash(2)).unwrap(), None);
    }

    #[test]
    fn create_evicts_the_oldest_beyond_max() {
        let s = store();
        let conn = s.connection().unwrap();
        for n in 1..=3 {
            assert!(create(&conn, &hash(n), &session("a", 100, i64::from(n)), 2, "va").unwrap());
        }
        assert!(create(&conn, &hash(9), &session("b", 100, 1), 2, "vb").unwrap());
        let live: Vec<_> = live_of(&conn, "a", 0).unwrap();
        assert_eq!(
            live,
            vec![
                (hash(3), session("a", 100, 3)),
                (hash(2), session("a", 100, 2))
            ]
        );
        assert_eq!(get(&conn, &hash(1)).unwrap(), None);
        assert!(
            get(&conn, &hash(9)).unwrap().is_some(),
            "other profiles keep theirs"
        );
    }

    #[test]
    fn live_of_lists_only_unexpired_sessions_newest_first() {
        let s = store();
        let conn = s.connection().unwrap();
        create(&conn, &hash(1), &session("a", 50, 1), 8, "va").unwrap();
        create(&conn, &hash(2), &session("a", 51, 2), 8, "va").unwrap();
        create(&conn, &hash(3), &session("b", 99, 3), 8, "vb").unwrap();
        // expires_ms == now is expired.
        assert_eq!(
            live_of(&conn, "a", 50).unwrap(),
            vec![(hash(2), session("a", 51, 2))]
        );
        assert_eq!(live_of(&conn, "a", 49).unwrap().len(), 2);
        assert!(live_of(&conn, "a", 51).unwrap().is_empty());
    }

    #[test]
    fn delete_others_keeps_one_and_counts() {
        let s = store();
        let conn = s.connection().unwrap();
        for n in 1..=3 {
            create(&conn, &hash(n), &session("a", 100, i64::from(n)), 8, "va").unwrap();
        }
        create(&conn, &hash(9), &session("b", 100, 1), 8, "vb").unwrap();
        assert_eq!(delete_others(&conn, "a", &hash(2)).unwrap(), 2);
        assert_eq!(
            live_of(&conn, "a", 0).unwrap(),
            vec![(hash(2), session("a", 100, 2))]
        );
        assert_eq!(count(&conn), 2);
    }

    #[test]
    fn delete_live_needs_owner_expiry_and_life() {
        let s = store();
        let conn = s.connection().unwrap();
        create(&conn, &hash(1), &session("a", 100, 1), 8, "va").unwrap();
        let e = "expiry-100";
        assert!(!delete_live(&conn, &hash(1), "b", e, 0).unwrap());
        assert!(!delete_live(&conn, &hash(1), "a", "expiry-99", 0).unwrap());
        assert!(!delete_live(&conn, &hash(2), "a", e, 0).unwrap());
        // At its expiry instant it is no longer live.
        assert!(!delete_live(&conn, &hash(1), "a", e, 100).unwrap());
        assert!(delete_live(&conn, &hash(1), "a", e, 99).unwrap());
        assert!(!delete_live(&conn, &hash(1), "a", e, 99).unwrap());
        assert_eq!(count(&conn), 0);
    }

    #[test]
    fn delete_for_profile_ends_all_of_one_profile() {
        let s = store();
        let conn = s.connection().unwrap();
        create(&conn, &hash(1), &session("a", 100, 1), 8, "va").unwrap();
        create(&conn, &hash(2), &session("a", 100, 2), 8, "va").unwrap();
        create(&conn, &hash(3), &session("b", 100, 3), 8, "vb").unwrap();
        assert_eq!(delete_for_profile(&conn, "a").unwrap(), 2);
        assert_eq!(delete_for_profile(&conn, "a").unwrap(), 0);
        assert_eq!(count(&conn), 1);
    }

    /// Purge of expired sessions and the live count, at the expiry instant.
    #[test]
    fn purge_and_count_split_at_the_expiry_instant() {
        let s = store();
        let conn = s.connection().unwrap();
        create(&conn, &hash(1), &session("a", 10, 1), 8, "va").unwrap();
        create(&conn, &hash(2), &session("a", 20, 2), 8, "va").unwrap();
        create(&conn, &hash(3), &session("b", 20, 3), 8, "vb").unwrap();
        create(&conn, &hash(4), &session("b", 21, 4), 8, "vb").unwrap();
        assert_eq!(count_live(&conn, 9).unwrap(), 4);
        assert_eq!(count_live(&conn, 10).unwrap(), 3);
        assert_eq!(count_live(&conn, 20).unwrap(), 1);
        assert_eq!(count_live(&conn, 21).unwrap(), 0);
        assert_eq!(purge_expired(&conn, 9).unwrap(), 0);
        assert_eq!(purge_expired(&conn, 20).unwrap(), 3);
        assert_eq!(count(&conn), 1);
        assert_eq!(count_live(&conn, 0).unwrap(), 1);
        assert_eq!(purge_expired(&conn, 20).unwrap(), 0);
    }
}
