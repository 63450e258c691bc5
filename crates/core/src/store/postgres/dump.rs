//! Reading and loading a whole database on PostgreSQL, for `zkppd migrate`:
//! the export reads one snapshot; the import refuses a database holding
//! any data and loads everything (the install secret included, so that
//! profile-token hashes and fake salts stay valid) in one transaction.

use super::{PgConn, SIGNUP_LOCK, buckets, sessions::hash32};
use crate::lockout::Counter;
use crate::store::{Dump, InstallSecret, Record, Session};
use crate::{Error, Result};

pub(super) fn export(c: &mut PgConn) -> Result<Dump> {
    let mut tx = c.snapshot()?;
    let secret: Vec<u8> = tx
        .query_one(
            "SELECT value FROM zkppd_meta WHERE key = 'install_secret'",
            &[],
        )?
        .get(0);
    let secret = <[u8; 32]>::try_from(secret.as_slice())
        .map_err(|_| Error::Internal("install secret is not 32 bytes".into()))?;
    let mut dump = Dump {
        install_secret: Some(InstallSecret(secret)),
        ..Dump::default()
    };
    for r in tx.query("SELECT hash, used FROM profile_tokens ORDER BY hash", &[])? {
        dump.profile_tokens.push((hash32(r.get(0)), r.get(1)));
    }
    for r in tx.query("SELECT token FROM signup_tokens ORDER BY slot", &[])? {
        dump.signup_tokens.push(r.get(0));
    }
    for r in tx.query("SELECT id, verifier, salt FROM profiles ORDER BY id", &[])? {
        dump.profiles.push((
            r.get(0),
            Record {
                verifier: r.get(1),
                salt: r.get(2),
            },
        ));
    }
    for r in tx.query(
        "SELECT token_hash, profile_id, expiry, expires_ms, created_ms FROM sessions",
        &[],
    )? {
        dump.sessions.push((
            hash32(r.get(0)),
            Session {
                profile_id: r.get(1),
                expiry: r.get(2),
                expires_ms: r.get(3),
                created_ms: r.get(4),
            },
        ));
    }
    for r in tx.query(
        "SELECT key, failures, locked_until_ms, last_failure_ms FROM lockouts",
        &[],
    )? {
        dump.lockouts.push((
            hash32(r.get(0)),
            Counter {
                failures: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                locked_until_ms: r.get(2),
                last_failure_ms: r.get(3),
            },
        ));
    }
    for r in tx.query(
        "SELECT profile_id, token_hash, expires_ms FROM reset_tokens",
        &[],
    )? {
        dump.reset_tokens
            .push((r.get(0), hash32(r.get(1)), r.get(2)));
    }
    tx.commit()?;
    Ok(dump)
}

pub(super) fn import(c: &mut PgConn, dump: &Dump) -> Result<()> {
    let mut tx = c.client.transaction()?;
    tx.execute(buckets::LOCK, &[&SIGNUP_LOCK])?;
    let held: i64 = tx
        .query_one(
            "SELECT (SELECT count(*) FROM profiles) + (SELECT count(*) FROM profile_tokens)
                  + (SELECT count(*) FROM signup_tokens) + (SELECT count(*) FROM sessions)
                  + (SELECT count(*) FROM lockouts) + (SELECT count(*) FROM reset_tokens)",
            &[],
        )?
        .get(0);
    if held > 0 {
        return Err(Error::Internal(format!(
            "the target database is not empty ({held} rows); migrate only into a new database"
        )));
    }
    if let Some(secret) = &dump.install_secret {
        tx.execute(
            "UPDATE zkppd_meta SET value = $1 WHERE key = 'install_secret'",
            &[&&secret.0[..]],
        )?;
    }
    let hashes: Vec<&[u8]> = dump.profile_tokens.iter().map(|(h, _)| &h[..]).collect();
    let used: Vec<bool> = dump.profile_tokens.iter().map(|(_, u)| *u).collect();
    tx.execute(
        "INSERT INTO profile_tokens (hash, used) SELECT * FROM unnest($1::bytea[], $2::bool[])",
        &[&hashes, &used],
    )?;
    tx.execute(
        "INSERT INTO signup_tokens (slot, token)
         SELECT i - 1, t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i)",
        &[&dump.signup_tokens],
    )?;
    let ids: Vec<&str> = dump.profiles.iter().map(|(i, _)| i.as_str()).collect();
    let verifiers: Vec<&str> = dump
        .profiles
        .iter()
        .map(|(_, r)| r.verifier.as_str())
        .collect();
    let salts: Vec<&str> = dump.profiles.iter().map(|(_, r)| r.salt.as_str()).collect();
    tx.execute(
        "INSERT INTO profiles (id, verifier, salt)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[])",
        &[&ids, &verifiers, &salts],
    )?;
    let s = &dump.sessions;
    let hashes: Vec<&[u8]> = s.iter().map(|(h, _)| &h[..]).collect();
    let pids: Vec<&str> = s.iter().map(|(_, x)| x.profile_id.as_str()).collect();
    let expiry: Vec<&str> = s.iter().map(|(_, x)| x.expiry.as_str()).collect();
    let exp_ms: Vec<i64> = s.iter().map(|(_, x)| x.expires_ms).collect();
    let created: Vec<i64> = s.iter().map(|(_, x)| x.created_ms).collect();
    tx.execute(
        "INSERT INTO sessions (token_hash, profile_id, expiry, expires_ms, created_ms)
         SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::bigint[], $5::bigint[])",
        &[&hashes, &pids, &expiry, &exp_ms, &created],
    )?;
    let l = &dump.lockouts;
    let keys: Vec<&[u8]> = l.iter().map(|(k, _)| &k[..]).collect();
    let failures: Vec<i32> = l
        .iter()
        .map(|(_, c)| i32::try_from(c.failures).unwrap_or(i32::MAX))
        .collect();
    let until: Vec<i64> = l.iter().map(|(_, c)| c.locked_until_ms).collect();
    let last: Vec<i64> = l.iter().map(|(_, c)| c.last_failure_ms).collect();
    tx.execute(
        "INSERT INTO lockouts (key, failures, locked_until_ms, last_failure_ms)
         SELECT * FROM unnest($1::bytea[], $2::integer[], $3::bigint[], $4::bigint[])",
        &[&keys, &failures, &until, &last],
    )?;
    let r = &dump.reset_tokens;
    let pids: Vec<&str> = r.iter().map(|(p, _, _)| p.as_str()).collect();
    let hashes: Vec<&[u8]> = r.iter().map(|(_, h, _)| &h[..]).collect();
    let exp: Vec<i64> = r.iter().map(|(_, _, e)| *e).collect();
    tx.execute(
        "INSERT INTO reset_tokens (profile_id, token_hash, expires_ms)
         SELECT * FROM unnest($1::text[], $2::bytea[], $3::bigint[])",
        &[&pids, &hashes, &exp],
    )?;
    tx.commit()?;
    Ok(())
}
