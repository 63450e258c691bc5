//! SQL of the state every instance shares for sign-in: the failure streaks
//! (`lockouts`) and the pending handshakes (`handshakes`). A guess is
//! checked and counted in one `INSERT … ON CONFLICT DO UPDATE … WHERE`
//! statement: the row lock serialises concurrent guesses on any instance,
//! and a locked row is left as it is (nothing returned).

use super::PgConn;
use crate::Result;
use crate::lockout::{Counter, FREE_FAILURES, MAX_DELAY};
use crate::store::{Guess, PendingHandshake};

pub(super) const DELETE: &str = "DELETE FROM lockouts WHERE key = $1";

// The first failure of a streak never locks (the insert arm relies on it).
const _: () = assert!(FREE_FAILURES > 1);

/// The delay rule of `lockout::delay_after` in SQL: after the
/// `FREE_FAILURES`-th failure, 2^(n − FREE_FAILURES) s, at most `MAX_DELAY`.
const COUNT: &str = "INSERT INTO lockouts AS l (key, failures, locked_until_ms, last_failure_ms)
     VALUES ($1, 1, 0, $2)
     ON CONFLICT (key) DO UPDATE SET
         failures = l.failures + 1,
         last_failure_ms = $2,
         locked_until_ms = CASE WHEN l.failures + 1 >= $3::integer
             THEN $2 + 1000 * LEAST($4::bigint, 1::bigint << LEAST(l.failures + 1 - $3::integer, 20))
             ELSE l.locked_until_ms END
     WHERE l.locked_until_ms <= $2
     RETURNING failures";

pub(super) fn count_guess(c: &mut PgConn, key: &[u8; 32], now_ms: i64) -> Result<Guess> {
    let [count, get] = c.stmts([COUNT, "SELECT locked_until_ms FROM lockouts WHERE key = $1"])?;
    let free = FREE_FAILURES as i32;
    let max = MAX_DELAY.as_secs() as i64;
    if let Some(r) = c
        .client
        .query_opt(&count, &[&&key[..], &now_ms, &free, &max])?
    {
        let failures: i32 = r.get(0);
        let failures = u32::try_from(failures).unwrap_or(0);
        return Ok(Guess::Counted {
            prior: failures.saturating_sub(1),
            failures,
        });
    }
    let until: i64 = c
        .client
        .query_opt(&get, &[&&key[..]])?
        .map_or(0, |r| r.get(0));
    let left = until - now_ms;
    Ok(Guess::Locked(
        u64::try_from((left + 999) / 1000).unwrap_or(1).max(1),
    ))
}

pub(super) fn get(c: &mut PgConn, key: &[u8; 32]) -> Result<Option<Counter>> {
    let stmt =
        c.stmt("SELECT failures, locked_until_ms, last_failure_ms FROM lockouts WHERE key = $1")?;
    Ok(c.client.query_opt(&stmt, &[&&key[..]])?.map(|r| Counter {
        failures: u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
        locked_until_ms: r.get(1),
        last_failure_ms: r.get(2),
    }))
}

/// Stores a streak; zero failures removes it.
pub(super) fn put(c: &mut PgConn, key: &[u8; 32], counter: &Counter) -> Result<()> {
    if counter.failures == 0 {
        let stmt = c.stmt(DELETE)?;
        c.client.execute(&stmt, &[&&key[..]])?;
        return Ok(());
    }
    let stmt = c.stmt(
        "INSERT INTO lockouts (key, failures, locked_until_ms, last_failure_ms)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = $2, locked_until_ms = $3,
             last_failure_ms = $4",
    )?;
    let failures = i32::try_from(counter.failures).unwrap_or(i32::MAX);
    c.client.execute(
        &stmt,
        &[
            &&key[..],
            &failures,
            &counter.locked_until_ms,
            &counter.last_failure_ms,
        ],
    )?;
    Ok(())
}

pub(super) fn purge(c: &mut PgConn, now_ms: i64, idle_before_ms: i64) -> Result<usize> {
    let stmt =
        c.stmt("DELETE FROM lockouts WHERE locked_until_ms <= $1 AND last_failure_ms < $2")?;
    Ok(c.client.execute(&stmt, &[&now_ms, &idle_before_ms])? as usize)
}

pub(super) fn put_handshake(c: &mut PgConn, key: &[u8; 32], p: &PendingHandshake) -> Result<()> {
    let stmt = c.stmt(
        "INSERT INTO handshakes (key, nonce, a, big_b, salt, verifier, expires_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (key) DO UPDATE SET nonce = EXCLUDED.nonce, a = EXCLUDED.a,
             big_b = EXCLUDED.big_b, salt = EXCLUDED.salt, verifier = EXCLUDED.verifier,
             expires_ms = EXCLUDED.expires_ms",
    )?;
    c.client.execute(
        &stmt,
        &[
            &&key[..],
            &&p.nonce[..],
            &p.a,
            &p.big_b,
            &p.salt,
            &p.verifier,
            &p.expires_ms,
        ],
    )?;
    Ok(())
}

/// Deletes the row and returns it if it has not expired: one statement,
/// so two instances taking the same handshake cannot both get it.
pub(super) fn take_handshake(
    c: &mut PgConn,
    key: &[u8; 32],
    now_ms: i64,
) -> Result<Option<PendingHandshake>> {
    let stmt = c.stmt(
        "DELETE FROM handshakes WHERE key = $1
         RETURNING nonce, a, big_b, salt, verifier, expires_ms",
    )?;
    let Some(r) = c.client.query_opt(&stmt, &[&&key[..]])? else {
        return Ok(None);
    };
    let expires_ms: i64 = r.get(5);
    if expires_ms <= now_ms {
        return Ok(None);
    }
    Ok(Some(PendingHandshake {
        nonce: super::sessions::hash32(r.get(0)),
        a: r.get(1),
        big_b: r.get(2),
        salt: r.get(3),
        verifier: r.get(4),
        expires_ms,
    }))
}

pub(super) fn purge_handshakes(c: &mut PgConn, now_ms: i64) -> Result<usize> {
    let stmt = c.stmt("DELETE FROM handshakes WHERE expires_ms <= $1")?;
    Ok(c.client.execute(&stmt, &[&now_ms])? as usize)
}
