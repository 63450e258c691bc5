//! SQL of `profiles` and `reset_tokens` on PostgreSQL, and the sign-up
//! transaction (both buckets and the new profile, all or nothing). Every
//! write that must be atomic is one transaction; the sign-up's under the
//! signup bucket's advisory lock (see `buckets`).

use super::{PgConn, SIGNUP_LOCK, buckets, lockouts, sessions};
use crate::store::{ImportCount, ProfileEntry, Record};
use crate::{Error, Result};

const GET: &str = "SELECT verifier, salt FROM profiles WHERE id = $1";
const INSERT: &str = "INSERT INTO profiles (id, verifier, salt, created_ms)
     VALUES ($1, $2, $3, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)";
const SET: &str = "UPDATE profiles SET verifier = $2, salt = $3 WHERE id = $1";

/// The sign-up: under the signup lock, check the profile token, the id and
/// the bucket, then consume the token, draw a signup token uniformly at
/// random, store the profile; one commit.
pub(super) fn sign_up(
    c: &mut PgConn,
    token_hash: &[u8; 32],
    id: &str,
    record: &Record,
) -> Result<String> {
    let [
        lock,
        usable,
        exists,
        len,
        consume,
        at,
        delete,
        moved,
        insert,
    ] = c.stmts([
        buckets::LOCK,
        "SELECT used FROM profile_tokens WHERE hash = $1",
        "SELECT 1 FROM profiles WHERE id = $1",
        "SELECT max(slot) FROM signup_tokens",
        "UPDATE profile_tokens SET used = true WHERE hash = $1 AND NOT used",
        buckets::SIGNUP_AT,
        buckets::SIGNUP_DELETE,
        buckets::SIGNUP_MOVE,
        INSERT,
    ])?;
    let mut tx = c.client.transaction()?;
    tx.execute(&lock, &[&SIGNUP_LOCK])?;
    let used: Option<bool> = tx
        .query_opt(&usable, &[&&token_hash[..]])?
        .map(|r| r.get(0));
    if used != Some(false) {
        return Err(Error::UnknownProfileToken);
    }
    if tx.query_opt(&exists, &[&id])?.is_some() {
        return Err(Error::DuplicateId);
    }
    let n = buckets::signup_len(&mut tx, &len)?;
    if n == 0 {
        return Err(Error::SignupBucketEmpty);
    }
    if tx.execute(&consume, &[&&token_hash[..]])? != 1 {
        return Err(Error::Internal(
            "profile token vanished inside its transaction".into(),
        ));
    }
    let slot = buckets::random_below(n as u64)? as i64;
    let token: String = tx.query_one(&at, &[&slot])?.get(0);
    tx.execute(&delete, &[&slot])?;
    let last = n - 1;
    if slot != last {
        tx.execute(&moved, &[&slot, &last])?;
    }
    tx.execute(&insert, &[&id, &record.verifier, &record.salt])?;
    tx.commit()?;
    Ok(token)
}

pub(super) fn get(c: &mut PgConn, id: &str) -> Result<Option<Record>> {
    let stmt = c.stmt(GET)?;
    Ok(c.client.query_opt(&stmt, &[&id])?.map(|r| Record {
        verifier: r.get(0),
        salt: r.get(1),
    }))
}

/// Stores profiles as given, in one transaction (see `Store::import_profiles`).
pub(super) fn import(c: &mut PgConn, records: &[(usize, String, Record)]) -> Result<ImportCount> {
    let [get, insert] = c.stmts([GET, INSERT])?;
    let mut tx = c.client.transaction()?;
    let mut count = ImportCount {
        imported: 0,
        unchanged: 0,
    };
    for (line, id, record) in records {
        let old = tx.query_opt(&get, &[id])?;
        match old {
            Some(r)
                if r.get::<_, &str>(0) == record.verifier && r.get::<_, &str>(1) == record.salt =>
            {
                count.unchanged += 1
            }
            Some(_) => {
                return Err(Error::ImportConflict {
                    line: *line,
                    id: id.clone(),
                });
            }
            None => {
                tx.execute(&insert, &[id, &record.verifier, &record.salt])?;
                count.imported += 1;
            }
        }
    }
    tx.commit()?;
    Ok(count)
}

/// Deletes a profile (its sessions and reset token by cascade) and its
/// failure streak; `None` if there was none.
pub(super) fn delete(c: &mut PgConn, id: &str, lockout_key: &[u8; 32]) -> Result<Option<usize>> {
    let [ended, delete, clear] = c.stmts([
        sessions::DELETE_FOR_PROFILE,
        "DELETE FROM profiles WHERE id = $1",
        lockouts::DELETE,
    ])?;
    let mut tx = c.client.transaction()?;
    let n = tx.execute(&ended, &[&id])?;
    if tx.execute(&delete, &[&id])? != 1 {
        return Ok(None);
    }
    tx.execute(&clear, &[&&lockout_key[..]])?;
    tx.commit()?;
    Ok(Some(n as usize))
}

pub(super) fn set_password(
    c: &mut PgConn,
    id: &str,
    record: &Record,
    keep: &[u8; 32],
    lockout_key: &[u8; 32],
) -> Result<bool> {
    let [set, others, clear] = c.stmts([
        SET,
        "DELETE FROM sessions WHERE profile_id = $1 AND token_hash != $2",
        lockouts::DELETE,
    ])?;
    let mut tx = c.client.transaction()?;
    if tx.execute(&set, &[&id, &record.verifier, &record.salt])? != 1 {
        return Ok(false);
    }
    tx.execute(&others, &[&id, &&keep[..]])?;
    tx.execute(&clear, &[&&lockout_key[..]])?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn put_reset_token(
    c: &mut PgConn,
    id: &str,
    hash: &[u8; 32],
    expires_ms: i64,
) -> Result<bool> {
    // The foreign key refuses a missing profile; the INSERT … SELECT makes
    // that a plain "no row" instead of an error.
    let stmt = c.stmt(
        "INSERT INTO reset_tokens (profile_id, token_hash, expires_ms)
         SELECT id, $2, $3 FROM profiles WHERE id = $1
         ON CONFLICT (profile_id) DO UPDATE SET token_hash = $2, expires_ms = $3",
    )?;
    Ok(c.client.execute(&stmt, &[&id, &&hash[..], &expires_ms])? == 1)
}

pub(super) fn reset_password(
    c: &mut PgConn,
    id: &str,
    hash: &[u8; 32],
    now_ms: i64,
    record: &Record,
    lockout_key: &[u8; 32],
) -> Result<bool> {
    let [take, set, ended, clear] = c.stmts([
        "DELETE FROM reset_tokens WHERE profile_id = $1 AND token_hash = $2 AND expires_ms > $3",
        SET,
        sessions::DELETE_FOR_PROFILE,
        lockouts::DELETE,
    ])?;
    let mut tx = c.client.transaction()?;
    if tx.execute(&take, &[&id, &&hash[..], &now_ms])? != 1
        || tx.execute(&set, &[&id, &record.verifier, &record.salt])? != 1
    {
        return Ok(false);
    }
    tx.execute(&ended, &[&id])?;
    tx.execute(&clear, &[&&lockout_key[..]])?;
    tx.commit()?;
    Ok(true)
}

/// Every profile's id and creation time, oldest first.
pub(super) fn list(c: &mut PgConn) -> Result<Vec<ProfileEntry>> {
    let rows = c.client.query(
        "SELECT id, created_ms FROM profiles ORDER BY created_ms, id",
        &[],
    )?;
    Ok(rows
        .iter()
        .map(|r| ProfileEntry {
            id: r.get(0),
            created_ms: r.get(1),
        })
        .collect())
}
