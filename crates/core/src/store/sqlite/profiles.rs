//! SQL of the `profiles` table and the sign-up transaction, which spans
//! both buckets and the new profile so that it is all or nothing.

use rusqlite::{Connection, OptionalExtension};

use super::buckets;
use crate::store::{ImportCount, ProfileEntry, Record};
use crate::{Error, Result};

/// The sign-up: in one `BEGIN IMMEDIATE` transaction, check the profile
/// token, the id, the signup bucket, then consume the token, draw a signup
/// token uniformly at random and store the profile.
pub(super) fn sign_up(
    tx: &Connection,
    token_hash: &[u8; 32],
    id: &str,
    record: &Record,
) -> Result<String> {
    if !buckets::profile_token_usable(tx, token_hash)? {
        return Err(Error::UnknownProfileToken);
    }
    if exists(tx, id)? {
        return Err(Error::DuplicateId);
    }
    let len = buckets::signup_len(tx)?;
    if len == 0 {
        return Err(Error::SignupBucketEmpty);
    }
    buckets::consume_profile_token(tx, token_hash)?;
    let slot = buckets::random_below(len as u64)? as i64;
    let token = buckets::take_signup_token(tx, slot, len)?;
    insert(tx, id, record)?;
    Ok(token)
}

fn exists(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM profiles WHERE id = ?1")?
        .query_row([id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Schema 3 → 4: when each profile was created (0: before it was kept).
pub(super) const MIGRATE_TO_4: &str =
    "ALTER TABLE profiles ADD COLUMN created_ms INTEGER NOT NULL DEFAULT 0;";

/// Inserts a profile, created now; a second profile with the same id is
/// an error.
pub(super) fn insert(conn: &Connection, id: &str, record: &Record) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO profiles (id, verifier, salt, created_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(rusqlite::params![
        id,
        &record.verifier,
        &record.salt,
        crate::now_ms()
    ])?;
    Ok(())
}

/// Every profile's id and creation time, oldest first (ties by id).
pub(super) fn list(conn: &Connection) -> Result<Vec<ProfileEntry>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, created_ms FROM profiles ORDER BY created_ms, id")?;
    let rows = stmt.query_map([], |r| {
        Ok(ProfileEntry {
            id: r.get(0)?,
            created_ms: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The SRP record of a profile, if it exists.
pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<Record>> {
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
pub(super) fn delete(conn: &Connection, id: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM profiles WHERE id = ?1")?
        .execute([id])?
        == 1)
}

/// Stores profiles as given, in one transaction (see `Store::import_profiles`).
pub(super) fn import(tx: &Connection, records: &[(usize, String, Record)]) -> Result<ImportCount> {
    let mut count = ImportCount {
        imported: 0,
        unchanged: 0,
    };
    for (line, id, record) in records {
        match get(tx, id)? {
            Some(old) if old.verifier == record.verifier && old.salt == record.salt => {
                count.unchanged += 1
            }
            Some(_) => {
                return Err(Error::ImportConflict {
                    line: *line,
                    id: id.clone(),
                });
            }
            None => {
                insert(tx, id, record)?;
                count.imported += 1;
            }
        }
    }
    Ok(count)
}

/// Replaces a profile's salt and verifier; false if there is no profile.
pub(super) fn set_record(conn: &Connection, id: &str, record: &Record) -> Result<bool> {
    Ok(conn
        .prepare_cached("UPDATE profiles SET verifier = ?2, salt = ?3 WHERE id = ?1")?
        .execute([id, &record.verifier, &record.salt])?
        == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SqliteStore;

    fn record(v: &str) -> Record {
        Record {
            verifier: v.to_owned(),
            salt: format!("salt-{v}"),
        }
    }

    fn store() -> SqliteStore {
        SqliteStore::open(None).unwrap()
    }

    fn fill(conn: &Connection, invites: &[[u8; 32]], tokens: &[&str]) {
        buckets::fill_profile(conn, invites).unwrap();
        let tokens: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
        buckets::fill_signup(conn, &tokens).unwrap();
    }

    #[test]
    fn sign_up_spends_the_invite_and_draws_a_token() {
        let s = store();
        let conn = s.connection().unwrap();
        fill(&conn, &[[1; 32], [2; 32]], &["only"]);
        assert_eq!(
            sign_up(&conn, &[1; 32], "alice", &record("va")).unwrap(),
            "only"
        );
        assert_eq!(get(&conn, "alice").unwrap().unwrap().verifier, "va");
        assert!(!buckets::profile_token_usable(&conn, &[1; 32]).unwrap());
        assert_eq!(buckets::signup_len(&conn).unwrap(), 0);
        // SPEC order: invalid token, duplicate id, empty bucket.
        assert!(matches!(
            sign_up(&conn, &[1; 32], "bob", &record("vb")),
            Err(Error::UnknownProfileToken)
        ));
        assert!(matches!(
            sign_up(&conn, &[9; 32], "alice", &record("vb")),
            Err(Error::UnknownProfileToken)
        ));
        assert!(matches!(
            sign_up(&conn, &[2; 32], "alice", &record("vb")),
            Err(Error::DuplicateId)
        ));
        assert!(matches!(
            sign_up(&conn, &[2; 32], "bob", &record("vb")),
            Err(Error::SignupBucketEmpty)
        ));
        // Refusals spend nothing.
        assert!(buckets::profile_token_usable(&conn, &[2; 32]).unwrap());
        assert!(get(&conn, "bob").unwrap().is_none());
        fill(&conn, &[], &["next"]);
        assert_eq!(
            sign_up(&conn, &[2; 32], "bob", &record("vb")).unwrap(),
            "next"
        );
    }

    #[test]
    fn sign_up_draws_each_token_once() {
        let s = store();
        let conn = s.connection().unwrap();
        let invites: Vec<[u8; 32]> = (0..5).map(|n| [n; 32]).collect();
        fill(&conn, &invites, &["t0", "t1", "t2", "t3", "t4"]);
        let mut drawn: Vec<String> = invites
            .iter()
            .enumerate()
            .map(|(i, h)| sign_up(&conn, h, &format!("p{i}"), &record("v")).unwrap())
            .collect();
        drawn.sort();
        assert_eq!(drawn, ["t0", "t1", "t2", "t3", "t4"]);
    }

    #[test]
    fn list_delete_and_import() {
        let s = store();
        let conn = s.connection().unwrap();
        assert!(list(&conn).unwrap().is_empty());
        let lines = vec![
            (1, "b".to_owned(), record("vb")),
            (2, "a".to_owned(), record("va")),
        ];
        let c = import(&conn, &lines).unwrap();
        assert_eq!((c.imported, c.unchanged), (2, 0));
        let c = import(&conn, &lines).unwrap();
        assert_eq!((c.imported, c.unchanged), (0, 2));
        let ids: Vec<_> = list(&conn).unwrap().into_iter().map(|p| p.id).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&"a".to_owned()) && ids.contains(&"b".to_owned()));
        // Same id, another verifier or salt: a conflict naming the line.
        let mut salt_differs = record("va");
        salt_differs.salt = "other".to_owned();
        for (line, r) in [(7, record("vx")), (8, salt_differs)] {
            match import(&conn, &[(line, "a".to_owned(), r)]) {
                Err(Error::ImportConflict { line: l, id }) => {
                    assert_eq!((l, id.as_str()), (line, "a"))
                }
                other => panic!("{:?}", other.map(|c| c.imported)),
            }
        }
        assert!(set_record(&conn, "a", &record("new")).unwrap());
        assert!(!set_record(&conn, "zz", &record("new")).unwrap());
        assert_eq!(get(&conn, "a").unwrap().unwrap().verifier, "new");
        assert!(delete(&conn, "a").unwrap());
        assert!(!delete(&conn, "a").unwrap());
        assert!(get(&conn, "a").unwrap().is_none());
        assert_eq!(list(&conn).unwrap().len(), 1);
    }
}
