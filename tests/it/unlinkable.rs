//! SPEC §5 (`secure_delete`) and issue 4: a signup token handed out by a
//! sign-up leaves no bytes behind — in the database file, its WAL or its
//! shared-memory index — that would tie it to the profile created in the
//! same transaction, once the WAL has been checkpointed (by an operator's
//! `PRAGMA wal_checkpoint(TRUNCATE)` or by the server's own shutdown).
//!
//! The tokens are long and random, so that finding one is no accident, and
//! the tokens still in the bucket are found in the same bytes, which shows
//! the search would see a leak.

use std::path::Path;

use zkppd_testkit::{TestResult, TestServer};

/// Tokens in the signup bucket, and how many sign-ups draw from it.
const TOKENS: usize = 64;
const SIGNUPS: usize = 12;

/// A 100-character token whose last 96 characters are random.
fn token() -> String {
    let mut b = [0u8; 48];
    getrandom::fill(&mut b).expect("OS random");
    format!("su-{}", zkppd_srp::hex::encode(&b))
}

/// The random part of a token in three 32-character pieces: a token half
/// wiped would still leak through one of them.
fn pieces(token: &str) -> impl Iterator<Item = &[u8]> {
    token.as_bytes()[token.len() - 96..].chunks(32)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The database file, its WAL and its shm (missing ones read as empty).
fn files(db: &Path) -> Vec<(String, Vec<u8>)> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| {
            let path = format!("{}{suffix}", db.display());
            let bytes = std::fs::read(&path).unwrap_or_default();
            (path, bytes)
        })
        .collect()
}

/// Fills the buckets and signs `SIGNUPS` profiles up; returns the signup
/// tokens handed out and those left in the bucket.
fn sign_up_some(s: &TestServer) -> (Vec<String>, Vec<String>) {
    let signup: Vec<String> = (0..TOKENS).map(|_| token()).collect();
    let profile: Vec<String> = (0..SIGNUPS)
        .map(|i| format!("pt-{i}-{}", token()))
        .collect();
    assert_eq!(s.fill("signup", &signup).status, 200);
    assert_eq!(s.fill("profile", &profile).status, 200);
    let mut handed = Vec::new();
    for pt in &profile {
        let id = format!("profile-{}", &token()[3..39]);
        let r = s.post("/v1/signup", &zkppd_testkit::signup_body(&id, pt));
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        handed.push(r.json()["token"].as_str().unwrap().to_owned());
    }
    let left = signup.into_iter().filter(|t| !handed.contains(t)).collect();
    (handed, left)
}

/// `PRAGMA wal_checkpoint(mode)` from a connection of our own, as an
/// operator or a backup tool would; returns (busy, WAL frames, moved).
fn checkpoint(s: &TestServer, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    s.sqlite()
        .query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
}

/// Where any piece of any handed-out token still is: (file, token).
fn leaks(db: &Path, handed: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (path, bytes) in files(db) {
        for t in handed {
            if pieces(t).any(|p| contains(&bytes, p)) {
                found.push((path.clone(), t.clone()));
            }
        }
    }
    found
}

fn assert_no_leak(found: &[(String, String)]) {
    assert!(
        found.is_empty(),
        "handed-out tokens left behind: {found:#?}"
    );
}

/// The search works: the tokens still in the bucket are in the file.
fn assert_bucket_visible(db: &Path, left: &[String]) {
    let bytes = std::fs::read(db).unwrap();
    for t in left {
        assert!(
            contains(&bytes, t.as_bytes()),
            "token {t} still in the bucket not found in {}",
            db.display()
        );
    }
}

#[test]
fn handed_out_tokens_leave_no_bytes_after_a_truncating_checkpoint() -> TestResult {
    let s = TestServer::start();
    let (handed, left) = sign_up_some(&s);
    assert_eq!(handed.len(), SIGNUPS);
    let (busy, _, _) = checkpoint(&s, "TRUNCATE")?;
    assert_eq!(busy, 0, "the idle server blocked the checkpoint");
    let wal = format!("{}-wal", s.db_path().display());
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);

    let found = leaks(&s.db_path(), &handed);
    assert_no_leak(&found);
    assert_bucket_visible(&s.db_path(), &left);
    Ok(())
}

#[test]
fn handed_out_tokens_leave_no_bytes_after_the_server_stops() -> TestResult {
    let s = TestServer::start();
    let (handed, left) = sign_up_some(&s);
    let db = s.db_path();
    let dir = s.stop();
    let found = leaks(&db, &handed);
    assert_no_leak(&found);
    assert_bucket_visible(&db, &left);
    drop(dir);
    Ok(())
}

/// Without TRUNCATE — a PASSIVE checkpoint, which is also what SQLite's
/// automatic checkpoint does — the pages move into the database file, and
/// that file is clean.
#[test]
fn after_a_passive_checkpoint_the_database_file_is_clean() -> TestResult {
    let s = TestServer::start();
    let (handed, left) = sign_up_some(&s);
    let (busy, frames, moved) = checkpoint(&s, "PASSIVE")?;
    assert_eq!(busy, 0);
    assert_eq!(frames, moved, "not every frame was checkpointed");
    let found: Vec<_> = leaks(&s.db_path(), &handed)
        .into_iter()
        .filter(|(path, _)| !path.ends_with("-wal"))
        .collect();
    assert_no_leak(&found);
    assert_bucket_visible(&s.db_path(), &left);
    Ok(())
}

/// A PASSIVE checkpoint alone would leave the WAL file holding the fill's
/// frames and one version of the bucket page per sign-up (two consecutive
/// versions show which token each profile took). The server therefore
/// runs a TRUNCATE checkpoint itself within about a second of a sign-up,
/// with `journal_size_limit = 0`: after that, no file holds a handed-out
/// token, whatever checkpoint an outsider runs.
#[test]
fn the_server_empties_the_wal_soon_after_a_sign_up() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::start();
    let (handed, _) = sign_up_some(&s);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (busy, _, _) = checkpoint(&s, "PASSIVE")?;
    assert_eq!(busy, 0);
    let found = leaks(&s.db_path(), &handed);
    assert!(
        found.is_empty(),
        "{} of {} handed-out tokens are still in {:?}",
        found.len(),
        handed.len(),
        found
            .iter()
            .map(|(p, _)| p)
            .collect::<std::collections::BTreeSet<_>>()
    );
    Ok(())
}
