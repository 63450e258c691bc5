//! SQL of the `profiles` table and the sign-up transaction, which spans
//! both buckets and the new profile so that it is all or nothing.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::buckets;
use crate::error::Error;

/// A profile's SRP record, as the client sent it at sign-up.
#[derive(Debug, Clone)]
pub struct Record {
    pub verifier: String,
    pub salt: String,
}

/// Why a sign-up was refused (nothing was changed in any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupRefusal {
    InvalidToken,
    DuplicateId,
    BucketEmpty,
}

/// The sign-up: in one `BEGIN IMMEDIATE` transaction, check the profile
/// token, the id, the signup bucket, then consume the token, draw a signup
/// token uniformly at random and store the profile.
pub fn sign_up(
    conn: &mut Connection,
    token_hash: &[u8; 32],
    id: &str,
    record: &Record,
) -> Result<Result<String, SignupRefusal>, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !buckets::profile_token_usable(&tx, token_hash)? {
        return Ok(Err(SignupRefusal::InvalidToken));
    }
    if exists(&tx, id)? {
        return Ok(Err(SignupRefusal::DuplicateId));
    }
    let len = buckets::signup_len(&tx)?;
    if len == 0 {
        return Ok(Err(SignupRefusal::BucketEmpty));
    }
    buckets::consume_profile_token(&tx, token_hash)?;
    let slot = buckets::random_below(len as u64)? as i64;
    let token = buckets::take_signup_token(&tx, slot, len)?;
    insert(&tx, id, record)?;
    tx.commit()?;
    Ok(Ok(token))
}

fn exists(conn: &Connection, id: &str) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM profiles WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Inserts a profile; a second profile with the same id is an error.
pub fn insert(conn: &Connection, id: &str, record: &Record) -> Result<(), Error> {
    conn.prepare_cached("INSERT INTO profiles (id, verifier, salt) VALUES (?1, ?2, ?3)")?
        .execute([id, &record.verifier, &record.salt])?;
    Ok(())
}

/// The SRP record of a profile, if it exists.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Record>, Error> {
    Ok(conn
        .prepare_cached("SELECT verifier, salt FROM profiles WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Record {
                verifier: r.get(0)?,
                salt: r.get(1)?,
            })
        })
        .optional()?)
}

/// Deletes a profile and (by cascade) its sessions; false if it did not exist.
pub fn delete(conn: &Connection, id: &str) -> Result<bool, Error> {
    Ok(conn
        .prepare_cached("DELETE FROM profiles WHERE id = ?1")?
        .execute([id])?
        == 1)
}
