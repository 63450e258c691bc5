//! SQL of `sessions` on PostgreSQL: tokens arrive hashed; expiry kept as
//! the exact string handed out and as milliseconds. Every read goes to the
//! database (no cache), so a revocation on any instance counts at once.

use super::PgConn;
use crate::Result;
use crate::store::Session;

pub(super) const DELETE_FOR_PROFILE: &str = "DELETE FROM sessions WHERE profile_id = $1";

pub(super) fn hash32(v: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    if v.len() == 32 {
        key.copy_from_slice(v);
    }
    key
}

fn row(r: &postgres::Row) -> Session {
    Session {
        profile_id: r.get(0),
        expiry: r.get(1),
        expires_ms: r.get(2),
        created_ms: r.get(3),
    }
}

/// Stores a session and evicts that profile's oldest beyond `max`, if the
/// profile still has `verifier`; the profile row is share-locked, so a
/// password change or a deletion either commits first (and wins) or waits.
pub(super) fn create(
    c: &mut PgConn,
    token_hash: &[u8; 32],
    session: &Session,
    max: u32,
    verifier: &str,
) -> Result<bool> {
    let [check, insert, evict] = c.stmts([
        "SELECT verifier FROM profiles WHERE id = $1 FOR SHARE",
        "INSERT INTO sessions (token_hash, profile_id, expiry, expires_ms, created_ms)
         VALUES ($1, $2, $3, $4, $5)",
        "DELETE FROM sessions WHERE profile_id = $1 AND token_hash != $3
         AND token_hash NOT IN (
             SELECT token_hash FROM sessions WHERE profile_id = $1 AND token_hash != $3
             ORDER BY created_ms DESC, token_hash DESC LIMIT $2)",
    ])?;
    let mut tx = c.client.transaction()?;
    let stored: Option<String> = tx
        .query_opt(&check, &[&session.profile_id])?
        .map(|r| r.get(0));
    if stored.as_deref() != Some(verifier) {
        return Ok(false);
    }
    tx.execute(
        &insert,
        &[
            &&token_hash[..],
            &session.profile_id,
            &session.expiry,
            &session.expires_ms,
            &session.created_ms,
        ],
    )?;
    let keep = i64::from(max.saturating_sub(1));
    tx.execute(&evict, &[&session.profile_id, &keep, &&token_hash[..]])?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn get(c: &mut PgConn, token_hash: &[u8; 32]) -> Result<Option<Session>> {
    let stmt = c.stmt(
        "SELECT profile_id, expiry, expires_ms, created_ms FROM sessions WHERE token_hash = $1",
    )?;
    Ok(c.client
        .query_opt(&stmt, &[&&token_hash[..]])?
        .map(|r| row(&r)))
}

pub(super) fn live_of(
    c: &mut PgConn,
    profile_id: &str,
    now_ms: i64,
) -> Result<Vec<([u8; 32], Session)>> {
    let stmt = c.stmt(
        "SELECT profile_id, expiry, expires_ms, created_ms, token_hash FROM sessions
         WHERE profile_id = $1 AND expires_ms > $2
         ORDER BY created_ms DESC, token_hash DESC",
    )?;
    Ok(c.client
        .query(&stmt, &[&profile_id, &now_ms])?
        .iter()
        .map(|r| (hash32(r.get(4)), row(r)))
        .collect())
}

pub(super) fn delete_live(
    c: &mut PgConn,
    token_hash: &[u8; 32],
    profile_id: &str,
    expiry: &str,
    now_ms: i64,
) -> Result<bool> {
    let stmt = c.stmt(
        "DELETE FROM sessions WHERE token_hash = $1 AND profile_id = $2
         AND expiry = $3 AND expires_ms > $4",
    )?;
    Ok(c.client
        .execute(&stmt, &[&&token_hash[..], &profile_id, &expiry, &now_ms])?
        == 1)
}

pub(super) fn delete_for_profile(c: &mut PgConn, profile_id: &str) -> Result<usize> {
    let stmt = c.stmt(DELETE_FOR_PROFILE)?;
    Ok(c.client.execute(&stmt, &[&profile_id])? as usize)
}

pub(super) fn purge_expired(c: &mut PgConn, before_ms: i64) -> Result<usize> {
    let stmt = c.stmt("DELETE FROM sessions WHERE expires_ms <= $1")?;
    Ok(c.client.execute(&stmt, &[&before_ms])? as usize)
}

pub(super) fn count_live(c: &mut PgConn, now_ms: i64) -> Result<i64> {
    let stmt = c.stmt("SELECT count(*) FROM sessions WHERE expires_ms > $1")?;
    Ok(c.client.query_one(&stmt, &[&now_ms])?.get(0))
}
