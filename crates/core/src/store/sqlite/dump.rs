//! Reading and loading a whole SQLite database, for `zkppd migrate`: the
//! export reads one snapshot; the import refuses a file holding any data
//! and loads everything (the install secret included) in one transaction.

use rusqlite::{Connection, TransactionBehavior};

use crate::lockout::Counter;
use crate::store::{Dump, InstallSecret, Record, Session};
use crate::{Error, Result};

fn hash32(v: Vec<u8>) -> [u8; 32] {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(&v);
    }
    h
}

pub(super) fn export(conn: &mut Connection) -> Result<Dump> {
    let tx = conn.transaction()?;
    let secret: Vec<u8> = tx.query_row(
        "SELECT value FROM meta WHERE key = 'install_secret'",
        [],
        |r| r.get(0),
    )?;
    let secret = <[u8; 32]>::try_from(secret.as_slice())
        .map_err(|_| Error::Internal("install secret is not 32 bytes".into()))?;
    let mut dump = Dump {
        install_secret: Some(InstallSecret(secret)),
        ..Dump::default()
    };
    {
        let mut s = tx.prepare("SELECT hash, used FROM profile_tokens ORDER BY hash")?;
        for r in s.query_map([], |r| Ok((hash32(r.get(0)?), r.get::<_, i64>(1)? != 0)))? {
            dump.profile_tokens.push(r?);
        }
        let mut s = tx.prepare("SELECT token FROM signup_tokens ORDER BY slot")?;
        for r in s.query_map([], |r| r.get(0))? {
            dump.signup_tokens.push(r?);
        }
        let mut s = tx.prepare("SELECT id, verifier, salt FROM profiles ORDER BY id")?;
        for r in s.query_map([], |r| {
            Ok((
                r.get(0)?,
                Record {
                    verifier: r.get(1)?,
                    salt: r.get(2)?,
                },
            ))
        })? {
            dump.profiles.push(r?);
        }
        let mut s = tx.prepare(
            "SELECT token_hash, profile_id, expiry, expires_ms, created_ms FROM sessions",
        )?;
        for r in s.query_map([], |r| {
            Ok((
                hash32(r.get(0)?),
                Session {
                    profile_id: r.get(1)?,
                    expiry: r.get(2)?,
                    expires_ms: r.get(3)?,
                    created_ms: r.get(4)?,
                },
            ))
        })? {
            dump.sessions.push(r?);
        }
        let mut s =
            tx.prepare("SELECT key, failures, locked_until_ms, last_failure_ms FROM lockouts")?;
        for r in s.query_map([], |r| {
            Ok((
                hash32(r.get(0)?),
                Counter {
                    failures: r.get(1)?,
                    locked_until_ms: r.get(2)?,
                    last_failure_ms: r.get(3)?,
                },
            ))
        })? {
            dump.lockouts.push(r?);
        }
        let mut s = tx.prepare("SELECT profile_id, token_hash, expires_ms FROM reset_tokens")?;
        for r in s.query_map([], |r| Ok((r.get(0)?, hash32(r.get(1)?), r.get(2)?)))? {
            dump.reset_tokens.push(r?);
        }
    }
    tx.commit()?;
    Ok(dump)
}

pub(super) fn import(conn: &mut Connection, dump: &Dump) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let held: i64 = tx.query_row(
        "SELECT (SELECT count(*) FROM profiles) + (SELECT count(*) FROM profile_tokens)
              + (SELECT count(*) FROM signup_tokens) + (SELECT count(*) FROM sessions)
              + (SELECT count(*) FROM lockouts) + (SELECT count(*) FROM reset_tokens)",
        [],
        |r| r.get(0),
    )?;
    if held > 0 {
        return Err(Error::Internal(format!(
            "the target database is not empty ({held} rows); migrate only into a new database"
        )));
    }
    if let Some(secret) = &dump.install_secret {
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'install_secret'",
            [&secret.0[..]],
        )?;
    }
    {
        let mut s = tx.prepare("INSERT INTO profile_tokens (hash, used) VALUES (?1, ?2)")?;
        for (h, used) in &dump.profile_tokens {
            s.execute(rusqlite::params![&h[..], *used as i64])?;
        }
        let mut s = tx.prepare("INSERT INTO signup_tokens (slot, token) VALUES (?1, ?2)")?;
        for (i, t) in dump.signup_tokens.iter().enumerate() {
            s.execute(rusqlite::params![i as i64, t])?;
        }
        let mut s = tx.prepare("INSERT INTO profiles (id, verifier, salt) VALUES (?1, ?2, ?3)")?;
        for (id, r) in &dump.profiles {
            s.execute([id, &r.verifier, &r.salt])?;
        }
        let mut s = tx.prepare(
            "INSERT INTO sessions (token_hash, profile_id, expiry, expires_ms, created_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (h, x) in &dump.sessions {
            s.execute(rusqlite::params![
                &h[..],
                x.profile_id,
                x.expiry,
                x.expires_ms,
                x.created_ms
            ])?;
        }
        let mut s = tx.prepare(
            "INSERT INTO lockouts (key, failures, locked_until_ms, last_failure_ms)
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (k, c) in &dump.lockouts {
            s.execute(rusqlite::params![
                &k[..],
                c.failures,
                c.locked_until_ms,
                c.last_failure_ms
            ])?;
        }
        let mut s = tx.prepare(
            "INSERT INTO reset_tokens (profile_id, token_hash, expires_ms) VALUES (?1, ?2, ?3)",
        )?;
        for (p, h, e) in &dump.reset_tokens {
            s.execute(rusqlite::params![p, &h[..], e])?;
        }
    }
    tx.commit()?;
    Ok(())
}
