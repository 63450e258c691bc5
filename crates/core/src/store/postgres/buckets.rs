//! SQL of the two token buckets on PostgreSQL. The signup bucket keeps the
//! SQLite store's dense slots (a uniform draw is primary-key lookups only,
//! O(log n)); since instances draw at once, every draw and every fill of
//! it holds one transaction-scoped advisory lock (`SIGNUP_LOCK`), which
//! makes "the largest slot" and "the next free slot" stable for its
//! duration. Reads of the sizes need no lock.

use std::collections::HashSet;

use postgres::Transaction;

use super::{PgConn, SIGNUP_LOCK};
use crate::store::{BucketSizes, FillCount};
use crate::{Error, Result};

pub(super) const LOCK: &str = "SELECT pg_advisory_xact_lock($1)";
const SIGNUP_LEN: &str = "SELECT max(slot) FROM signup_tokens";
pub(super) const SIGNUP_AT: &str = "SELECT token FROM signup_tokens WHERE slot = $1";
pub(super) const SIGNUP_DELETE: &str = "DELETE FROM signup_tokens WHERE slot = $1";
pub(super) const SIGNUP_MOVE: &str = "UPDATE signup_tokens SET slot = $1 WHERE slot = $2";

/// Every statement of a draw, so that a test can check each one's plan
/// uses the primary key, never a scan.
pub const DRAW_QUERIES: [&str; 4] = [SIGNUP_LEN, SIGNUP_AT, SIGNUP_DELETE, SIGNUP_MOVE];

/// Adds profile-token hashes in one statement; a hash already present (or
/// repeated in the request) counts as a duplicate.
pub(super) fn fill_profile(c: &mut PgConn, hashes: &[[u8; 32]]) -> Result<FillCount> {
    let stmt = c.stmt(
        "INSERT INTO profile_tokens (hash) SELECT unnest($1::bytea[]) ON CONFLICT DO NOTHING",
    )?;
    let rows: Vec<&[u8]> = hashes.iter().map(|h| &h[..]).collect();
    let inserted = c.client.execute(&stmt, &[&rows])?;
    Ok(FillCount {
        inserted,
        duplicates: hashes.len() as u64 - inserted,
    })
}

/// Adds signup tokens at the next free slots, in one transaction under the
/// bucket's lock; tokens already there or repeated are duplicates.
pub(super) fn fill_signup(c: &mut PgConn, tokens: &[String]) -> Result<FillCount> {
    let [lock, len, present, insert] = c.stmts([
        LOCK,
        SIGNUP_LEN,
        "SELECT token FROM signup_tokens WHERE token = ANY($1)",
        "INSERT INTO signup_tokens (slot, token)
         SELECT $1 + i - 1, t FROM unnest($2::text[]) WITH ORDINALITY AS u(t, i)",
    ])?;
    let mut tx = c.client.transaction()?;
    tx.execute(&lock, &[&SIGNUP_LOCK])?;
    let next = signup_len(&mut tx, &len)?;
    let there: HashSet<String> = tx
        .query(&present, &[&tokens])?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let mut seen = HashSet::new();
    let new: Vec<&str> = tokens
        .iter()
        .filter(|t| !there.contains(t.as_str()) && seen.insert(t.as_str()))
        .map(String::as_str)
        .collect();
    let inserted = tx.execute(&insert, &[&next, &new])?;
    tx.commit()?;
    Ok(FillCount {
        inserted,
        duplicates: tokens.len() as u64 - inserted,
    })
}

/// Tokens in the signup bucket: the largest slot plus one (slots are dense
/// while the lock is held), found on the primary key.
pub(super) fn signup_len(tx: &mut Transaction<'_>, len: &postgres::Statement) -> Result<i64> {
    let max: Option<i64> = tx.query_one(len, &[])?.get(0);
    Ok(max.map_or(0, |m| m + 1))
}

/// Unused tokens per bucket, in one snapshot.
pub(super) fn sizes(c: &mut PgConn) -> Result<BucketSizes> {
    let [len, profile] = c.stmts([
        SIGNUP_LEN,
        "SELECT count(*) FROM profile_tokens WHERE NOT used",
    ])?;
    let mut tx = c.snapshot()?;
    let sizes = BucketSizes {
        profile: tx.query_one(&profile, &[])?.get(0),
        signup: signup_len(&mut tx, &len)?,
    };
    tx.commit()?;
    Ok(sizes)
}

/// A uniformly random integer in `0..n` (n > 0) from the OS CSPRNG.
pub(super) fn random_below(n: u64) -> Result<u64> {
    debug_assert!(n > 0);
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let mut buf = [0u8; 8];
        getrandom::fill(&mut buf).map_err(Error::rng)?;
        let r = u64::from_le_bytes(buf);
        if r < zone {
            return Ok(r % n);
        }
    }
}
