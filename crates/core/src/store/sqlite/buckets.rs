//! SQL of the two token buckets. `profile_tokens` holds keyed hashes (the
//! caller hashes); `signup_tokens` holds tokens verbatim in dense slots so
//! that a uniformly random one is drawn with primary-key lookups only.

use rusqlite::{Connection, OptionalExtension};

use crate::store::{BucketSizes, FillCount};
use crate::{Error, Result};

const SIGNUP_LEN: &str = "SELECT max(slot) FROM signup_tokens";
const SIGNUP_AT: &str = "SELECT token FROM signup_tokens WHERE slot = ?1";
const SIGNUP_DELETE: &str = "DELETE FROM signup_tokens WHERE slot = ?1";
const SIGNUP_MOVE: &str = "UPDATE signup_tokens SET slot = ?1 WHERE slot = ?2";

/// Every statement of a draw, so that a test can check each one's query
/// plan is a primary-key search (O(log n)), never a scan.
pub(crate) const DRAW_QUERIES: [&str; 4] = [SIGNUP_LEN, SIGNUP_AT, SIGNUP_DELETE, SIGNUP_MOVE];

/// Adds profile-token hashes (in the caller's transaction); a hash already
/// present (unused or consumed) counts as a duplicate.
pub(super) fn fill_profile(tx: &Connection, hashes: &[[u8; 32]]) -> Result<FillCount> {
    let mut count = FillCount {
        inserted: 0,
        duplicates: 0,
    };
    {
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO profile_tokens (hash, used) VALUES (?1, 0)")?;
        for hash in hashes {
            if insert.execute([&hash[..]])? == 1 {
                count.inserted += 1;
            } else {
                count.duplicates += 1;
            }
        }
    }
    Ok(count)
}

/// Adds signup tokens (in the caller's transaction), each at the next free
/// slot.
pub(super) fn fill_signup(tx: &Connection, tokens: &[String]) -> Result<FillCount> {
    let mut count = FillCount {
        inserted: 0,
        duplicates: 0,
    };
    let mut next = signup_len(tx)?;
    {
        let mut insert =
            tx.prepare_cached("INSERT OR IGNORE INTO signup_tokens (slot, token) VALUES (?1, ?2)")?;
        for token in tokens {
            if insert.execute(rusqlite::params![next, token])? == 1 {
                count.inserted += 1;
                next += 1;
            } else {
                count.duplicates += 1;
            }
        }
    }
    Ok(count)
}

/// Number of tokens in the signup bucket: slots are dense, so this is the
/// largest slot plus one, found on the primary key without a scan.
pub(super) fn signup_len(conn: &Connection) -> Result<i64> {
    let max: Option<i64> = conn
        .prepare_cached(SIGNUP_LEN)?
        .query_row([], |r| r.get(0))?;
    Ok(max.map_or(0, |m| m + 1))
}

/// Unused tokens in the profile bucket (a full count: admin use only).
pub(super) fn profile_len(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT count(*) FROM profile_tokens WHERE used = 0",
        [],
        |r| r.get(0),
    )?)
}

/// Unused tokens per bucket, read in one transaction so that the two
/// counts agree with each other.
pub(super) fn sizes(conn: &mut Connection) -> Result<BucketSizes> {
    let tx = conn.transaction()?;
    let sizes = BucketSizes {
        profile: profile_len(&tx)?,
        signup: signup_len(&tx)?,
    };
    tx.commit()?;
    Ok(sizes)
}

/// Whether this profile-token hash is in the bucket and unused.
pub(super) fn profile_token_usable(tx: &Connection, hash: &[u8; 32]) -> Result<bool> {
    let used: Option<i64> = tx
        .prepare_cached("SELECT used FROM profile_tokens WHERE hash = ?1")?
        .query_row([&hash[..]], |r| r.get(0))
        .optional()?;
    Ok(used == Some(0))
}

/// Marks a profile token consumed; it stays so it can never be refilled.
pub(super) fn consume_profile_token(tx: &Connection, hash: &[u8; 32]) -> Result<()> {
    let n = tx
        .prepare_cached("UPDATE profile_tokens SET used = 1 WHERE hash = ?1 AND used = 0")?
        .execute([&hash[..]])?;
    if n == 1 {
        Ok(())
    } else {
        Err(Error::Internal(
            "profile token vanished inside its transaction".into(),
        ))
    }
}

/// Removes and returns the token at `slot` (0 ≤ slot < len), moving the
/// last token into the hole so that slots stay dense.
pub(super) fn take_signup_token(tx: &Connection, slot: i64, len: i64) -> Result<String> {
    let token: String = tx
        .prepare_cached(SIGNUP_AT)?
        .query_row([slot], |r| r.get(0))?;
    tx.prepare_cached(SIGNUP_DELETE)?.execute([slot])?;
    let last = len - 1;
    if slot != last {
        tx.prepare_cached(SIGNUP_MOVE)?.execute([slot, last])?;
    }
    Ok(token)
}

/// A uniformly random integer in `0..n` (n > 0) from the OS CSPRNG, by
/// rejection so that no slot is favoured. Each draw is rejected with
/// probability below 1/2, so 128 rejections in a row (2^-128) mean a
/// broken generator: an error then, rather than a writer turn held forever.
pub(super) fn random_below(n: u64) -> Result<u64> {
    debug_assert!(n > 0);
    let zone = u64::MAX - (u64::MAX % n);
    for _ in 0..128 {
        let mut buf = [0u8; 8];
        getrandom::fill(&mut buf).map_err(Error::rng)?;
        let r = u64::from_le_bytes(buf);
        if r < zone {
            return Ok(r % n);
        }
    }
    Err(Error::Internal(
        "the CSPRNG keeps drawing outside the zone".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn tokens(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn slots(conn: &Connection) -> Vec<(i64, String)> {
        let mut stmt = conn
            .prepare("SELECT slot, token FROM signup_tokens ORDER BY slot")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn fill_profile_counts_inserted_and_duplicates() {
        let s = SqliteStore::open(None).unwrap();
        let conn = s.connection().unwrap();
        assert_eq!(profile_len(&conn).unwrap(), 0);
        let c = fill_profile(&conn, &[[1; 32], [2; 32], [1; 32]]).unwrap();
        assert_eq!((c.inserted, c.duplicates), (2, 1));
        let c = fill_profile(&conn, &[[2; 32], [3; 32], [4; 32], [5; 32]]).unwrap();
        assert_eq!((c.inserted, c.duplicates), (3, 1));
        assert_eq!(profile_len(&conn).unwrap(), 5);
    }

    #[test]
    fn a_profile_token_is_usable_once_and_never_refilled() {
        let s = SqliteStore::open(None).unwrap();
        let conn = s.connection().unwrap();
        fill_profile(&conn, &[[1; 32], [2; 32]]).unwrap();
        assert!(profile_token_usable(&conn, &[1; 32]).unwrap());
        assert!(!profile_token_usable(&conn, &[9; 32]).unwrap(), "unknown");
        consume_profile_token(&conn, &[1; 32]).unwrap();
        assert!(!profile_token_usable(&conn, &[1; 32]).unwrap(), "consumed");
        assert!(profile_token_usable(&conn, &[2; 32]).unwrap());
        assert_eq!(profile_len(&conn).unwrap(), 1);
        // Consuming twice, or an unknown hash, is an error (not silently Ok).
        assert!(matches!(
            consume_profile_token(&conn, &[1; 32]),
            Err(Error::Internal(_))
        ));
        assert!(matches!(
            consume_profile_token(&conn, &[9; 32]),
            Err(Error::Internal(_))
        ));
        // A consumed hash counts as a duplicate on refill: it stays consumed.
        let c = fill_profile(&conn, &[[1; 32]]).unwrap();
        assert_eq!((c.inserted, c.duplicates), (0, 1));
        assert!(!profile_token_usable(&conn, &[1; 32]).unwrap());
    }

    #[test]
    fn fill_signup_keeps_slots_dense_and_counts() {
        let s = SqliteStore::open(None).unwrap();
        let conn = s.connection().unwrap();
        assert_eq!(signup_len(&conn).unwrap(), 0);
        let c = fill_signup(&conn, &tokens(&["a", "b", "a", "c"])).unwrap();
        assert_eq!((c.inserted, c.duplicates), (3, 1));
        assert_eq!(signup_len(&conn).unwrap(), 3);
        let c = fill_signup(&conn, &tokens(&["c", "d", "e"])).unwrap();
        assert_eq!((c.inserted, c.duplicates), (2, 1));
        assert_eq!(signup_len(&conn).unwrap(), 5);
        assert_eq!(
            slots(&conn),
            vec![
                (0, "a".to_owned()),
                (1, "b".to_owned()),
                (2, "c".to_owned()),
                (3, "d".to_owned()),
                (4, "e".to_owned()),
            ]
        );
    }

    #[test]
    fn take_signup_token_moves_the_last_into_the_hole() {
        let s = SqliteStore::open(None).unwrap();
        let mut conn = s.connection().unwrap();
        fill_signup(&conn, &tokens(&["a", "b", "c", "d"])).unwrap();
        assert_eq!(take_signup_token(&conn, 1, 4).unwrap(), "b");
        assert_eq!(
            slots(&conn),
            vec![
                (0, "a".to_owned()),
                (1, "d".to_owned()),
                (2, "c".to_owned())
            ]
        );
        // Taking the last slot moves nothing.
        assert_eq!(take_signup_token(&conn, 2, 3).unwrap(), "c");
        assert_eq!(slots(&conn), vec![(0, "a".to_owned()), (1, "d".to_owned())]);
        assert_eq!(take_signup_token(&conn, 0, 2).unwrap(), "a");
        assert_eq!(slots(&conn), vec![(0, "d".to_owned())]);
        let sizes = sizes(&mut conn).unwrap();
        assert_eq!((sizes.profile, sizes.signup), (0, 1));
        assert_eq!(take_signup_token(&conn, 0, 1).unwrap(), "d");
        assert_eq!(signup_len(&conn).unwrap(), 0);
    }

    #[test]
    fn random_below_stays_in_range_and_reaches_every_value() {
        let mut seen = [false; 3];
        for _ in 0..200 {
            let r = random_below(3).unwrap();
            seen[usize::try_from(r).unwrap()] = true;
        }
        assert_eq!(seen, [true; 3]);
        assert_eq!(random_below(1).unwrap(), 0);
        // Bounds that do not divide 2^64 - 1 (it is 1 mod 7, 15 mod 16).
        for n in [7, 16, 1000] {
            for _ in 0..50 {
                assert!(random_below(n).unwrap() < n);
            }
        }
    }
}
