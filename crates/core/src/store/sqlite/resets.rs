//! SQL of the `reset_tokens` table: at most one operator reset token per
//! profile, kept as a keyed hash with its expiry.

use rusqlite::Connection;

use crate::Result;

/// The schema-3 table, for files made by an older schema.
pub(super) const MIGRATE_TO_3: &str = "CREATE TABLE reset_tokens (
    profile_id TEXT PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL CHECK (length(token_hash) = 32),
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;";

/// Stores the reset token of a profile, replacing an older one.
pub(super) fn put(conn: &Connection, id: &str, hash: &[u8; 32], expires_ms: i64) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO reset_tokens (profile_id, token_hash, expires_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (profile_id) DO UPDATE SET token_hash = ?2, expires_ms = ?3",
    )?
    .execute(rusqlite::params![id, &hash[..], expires_ms])?;
    Ok(())
}

/// Deletes the profile's reset token if it is `hash` and not expired; true
/// if one was (so it is consumed by this call).
pub(super) fn take(conn: &Connection, id: &str, hash: &[u8; 32], now_ms: i64) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM reset_tokens WHERE profile_id = ?1 AND token_hash = ?2
             AND expires_ms > ?3",
        )?
        .execute(rusqlite::params![id, &hash[..], now_ms])?
        == 1)
}

/// Whether a profile has a reset token (the tests' view of the table).
#[cfg(test)]
pub(super) fn exists(conn: &Connection, id: &str) -> Result<bool> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .prepare_cached("SELECT 1 FROM reset_tokens WHERE profile_id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::with_profiles_a_and_b as store;

    #[test]
    fn a_token_is_taken_once_by_its_profile_before_expiry() {
        let s = store();
        let conn = s.connection().unwrap();
        assert!(!exists(&conn, "a").unwrap());
        put(&conn, "a", &[1; 32], 100).unwrap();
        put(&conn, "b", &[1; 32], 100).unwrap();
        assert!(exists(&conn, "a").unwrap());
        assert!(!take(&conn, "a", &[2; 32], 0).unwrap(), "wrong token");
        assert!(!take(&conn, "c", &[1; 32], 0).unwrap(), "wrong profile");
        assert!(
            !take(&conn, "a", &[1; 32], 100).unwrap(),
            "expired at its instant"
        );
        assert!(take(&conn, "a", &[1; 32], 99).unwrap());
        assert!(!take(&conn, "a", &[1; 32], 99).unwrap(), "consumed");
        assert!(!exists(&conn, "a").unwrap());
        assert!(exists(&conn, "b").unwrap(), "another profile's is kept");
    }

    #[test]
    fn put_replaces_the_older_token() {
        let s = store();
        let conn = s.connection().unwrap();
        put(&conn, "a", &[1; 32], 100).unwrap();
        put(&conn, "a", &[2; 32], 200).unwrap();
        assert!(!take(&conn, "a", &[1; 32], 0).unwrap());
        assert!(take(&conn, "a", &[2; 32], 150).unwrap());
    }

    #[test]
    fn deleting_the_profile_deletes_its_token() {
        let s = store();
        let conn = s.connection().unwrap();
        put(&conn, "a", &[1; 32], 100).unwrap();
        conn.execute("DELETE FROM profiles WHERE id = 'a'", [])
            .unwrap();
        assert!(!exists(&conn, "a").unwrap());
    }
}
