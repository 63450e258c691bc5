//! One suite of store-level checks run against both stores, the embedded
//! SQLite one and the PostgreSQL one (a real server, see
//! `zkppd_testkit::postgres`): the sign-up transaction's refusals change
//! nothing, the draw is uniform and hands each token out once under
//! concurrency, fills count duplicates and keep consumed profile tokens
//! forever, sessions evict and match exactly, streaks are kept and purged,
//! and a dump moves everything from one store to the other.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use zkppd_core::store::{Counter, PostgresStore, Record, Session, SqliteStore, Store};
use zkppd_core::{Error, FREE_FAILURES};
use zkppd_testkit::postgres::Postgres;
use zkppd_testkit::{TestResult, some_salt, some_verifier};

/// Both stores, fresh, with what keeps them alive.
struct Stores {
    _dir: tempfile::TempDir,
    _pg: Arc<Postgres>,
    all: Vec<(&'static str, Arc<dyn Store>)>,
}

fn stores() -> Stores {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(Some(&dir.path().join("zkppd.db"))).expect("open SQLite");
    let pg = Postgres::shared();
    let db = pg.database().expect("database");
    let postgres = PostgresStore::open(&pg.url(&db), None).expect("open PostgreSQL");
    Stores {
        _dir: dir,
        _pg: pg,
        all: vec![
            ("sqlite", Arc::new(sqlite)),
            ("postgres", Arc::new(postgres)),
        ],
    }
}

fn record() -> Record {
    Record {
        verifier: some_verifier(),
        salt: some_salt(),
    }
}

fn hash(n: u32) -> [u8; 32] {
    *blake3::hash(&n.to_le_bytes()).as_bytes()
}

fn tokens(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn sign_up_refusals_change_nothing() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    for (name, s) in stores().all {
        s.fill_profile(&[hash(1), hash(2)])?;
        // Empty signup bucket: nothing consumed.
        assert!(
            matches!(
                s.sign_up(&hash(1), "a", &record()),
                Err(Error::SignupBucketEmpty)
            ),
            "{name}"
        );
        s.fill_signup(&tokens("s", 2))?;
        assert!(
            matches!(
                s.sign_up(&hash(9), "a", &record()),
                Err(Error::UnknownProfileToken)
            ),
            "{name}"
        );
        let t = s.sign_up(&hash(1), "a", &record())?;
        assert!(t.starts_with("s-"), "{name}");
        // Used token, then a duplicate id that keeps its token.
        assert!(
            matches!(
                s.sign_up(&hash(1), "b", &record()),
                Err(Error::UnknownProfileToken)
            ),
            "{name}"
        );
        assert!(
            matches!(s.sign_up(&hash(2), "a", &record()), Err(Error::DuplicateId)),
            "{name}"
        );
        let sizes = s.bucket_sizes()?;
        assert_eq!((sizes.profile, sizes.signup), (1, 1), "{name}");
        assert_eq!(
            s.profile("a")?.map(|r| r.verifier.clone()),
            Some(some_verifier()),
            "{name}"
        );
        // A consumed profile token is a duplicate for ever.
        let again = s.fill_profile(&[hash(1), hash(3), hash(3)])?;
        assert_eq!((again.inserted, again.duplicates), (1, 2), "{name}");
        let dup = s.fill_signup(&["s-0".into(), "s-1".into(), "n".into(), "n".into()])?;
        // One of s-0/s-1 was handed out, so it may come back once.
        assert_eq!(dup.inserted + dup.duplicates, 4, "{name}");
        assert_eq!(s.bucket_sizes()?.signup, 1 + dup.inserted as i64, "{name}");
    }
    Ok(())
}

#[test]
fn the_draw_is_uniform_over_slots() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    const ROUNDS: u32 = 400;
    for (name, s) in stores().all {
        let mut seen: HashMap<String, u32> = HashMap::new();
        for r in 0..ROUNDS {
            s.fill_profile(&[hash(r)])?;
            // Four tokens per round, first to last: a draw that favoured an
            // end of the bucket would show in the letter counts.
            let round: Vec<String> = ["a", "b", "c", "d"]
                .iter()
                .map(|l| format!("{r}-{l}"))
                .collect();
            s.fill_signup(&round)?;
            let t = s.sign_up(&hash(r), &format!("u{r}"), &record())?;
            *seen
                .entry(t.split('-').nth(1).unwrap_or("").to_owned())
                .or_default() += 1;
            // Empty the bucket for the next round.
            for (i, _) in round.iter().skip(1).enumerate() {
                let h = hash(1_000_000 + r * 4 + i as u32);
                s.fill_profile(&[h])?;
                s.sign_up(&h, &format!("e{r}-{i}"), &record())?;
            }
        }
        let expected = f64::from(ROUNDS) / 4.0;
        let chi2: f64 = ["a", "b", "c", "d"]
            .iter()
            .map(|l| {
                let o = f64::from(*seen.get(*l).unwrap_or(&0));
                (o - expected).powi(2) / expected
            })
            .sum();
        // p = 0.001 for 3 degrees of freedom.
        assert!(
            chi2 < 16.27,
            "{name}: draws by position {seen:?}, chi2 {chi2}"
        );
    }
    Ok(())
}

#[test]
fn concurrent_draws_hand_each_token_out_once() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    for (name, s) in stores().all {
        s.fill_profile(&(0..80).map(hash).collect::<Vec<_>>())?;
        s.fill_signup(&tokens("c", 30))?;
        let threads: Vec<_> = (0..8u32)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..10u32)
                        .filter_map(|i| {
                            let n = t * 10 + i;
                            match s.sign_up(&hash(n), &format!("u{n}"), &record()) {
                                Ok(token) => Some(token),
                                Err(Error::SignupBucketEmpty) => None,
                                Err(e) => panic!("u{n}: {e}"),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let got: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("thread"))
            .collect();
        let distinct: HashSet<&String> = got.iter().collect();
        assert_eq!((got.len(), distinct.len()), (30, 30), "{name}");
        let sizes = s.bucket_sizes()?;
        assert_eq!((sizes.profile, sizes.signup), (50, 0), "{name}");
    }
    Ok(())
}

fn session(id: &str, created: i64) -> Session {
    Session {
        profile_id: id.into(),
        expiry: zkppd_core::format_expiry(created + 3_600_000),
        expires_ms: created + 3_600_000,
        created_ms: created,
    }
}

#[test]
fn sessions_evict_the_oldest_match_exactly_and_purge() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    for (name, s) in stores().all {
        s.import_profiles(&[(1, "p".into(), record())])?;
        let v = some_verifier();
        for i in 0..4u32 {
            assert!(
                s.create_session(&hash(i), &session("p", 1_000 + i64::from(i)), 3, &v)?,
                "{name}"
            );
        }
        // The oldest went; the newest three stay, newest first.
        let live: Vec<[u8; 32]> = s
            .live_sessions_of("p", 0)?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        assert_eq!(live, vec![hash(3), hash(2), hash(1)], "{name}");
        assert_eq!(s.session(&hash(0))?, None, "{name}");
        // Another verifier (a password change won): nothing stored.
        assert!(
            !s.create_session(&hash(9), &session("p", 5_000), 3, "02")?,
            "{name}"
        );
        assert!(
            !s.create_session(&hash(9), &session("nobody", 5_000), 3, &v)?,
            "{name}"
        );
        let x = session("p", 1_003);
        assert!(
            !s.end_session(&hash(3), "p", "2000-01-01T00:00:00.000Z", 0)?,
            "{name}"
        );
        assert!(!s.end_session(&hash(3), "q", &x.expiry, 0)?, "{name}");
        assert!(s.end_session(&hash(3), "p", &x.expiry, 0)?, "{name}");
        assert_eq!(s.live_sessions(0)?, 2, "{name}");
        assert_eq!(s.purge_expired_sessions(1_002 + 3_600_000)?, 2, "{name}");
        assert_eq!(s.live_sessions(0)?, 0, "{name}");
        // Deleting a profile ends its sessions and streak.
        s.create_session(&hash(7), &session("p", 9_000), 3, &v)?;
        s.save_lockout(
            &hash(42),
            &Counter {
                failures: 2,
                locked_until_ms: 0,
                last_failure_ms: 9,
            },
        )?;
        assert_eq!(s.delete_profile("p", &hash(42))?, Some(1), "{name}");
        assert_eq!(s.lockout(&hash(42))?, None, "{name}");
        assert_eq!(s.delete_profile("p", &hash(42))?, None, "{name}");
    }
    Ok(())
}

#[test]
fn streaks_are_kept_cleared_and_purged() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    for (name, s) in stores().all {
        let c = Counter {
            failures: 6,
            locked_until_ms: 10_000,
            last_failure_ms: 100,
        };
        s.save_lockout(&hash(1), &c)?;
        s.save_lockout(
            &hash(2),
            &Counter {
                failures: 1,
                locked_until_ms: 0,
                last_failure_ms: 100,
            },
        )?;
        assert_eq!(s.lockout(&hash(1))?, Some(c), "{name}");
        // Idle and unlocked goes; locked stays.
        assert_eq!(s.purge_lockouts(5_000, 1_000)?, 1, "{name}");
        assert_eq!(s.lockout(&hash(1))?, Some(c), "{name}");
        s.save_lockout(&hash(1), &Counter::default())?;
        assert_eq!(s.lockout(&hash(1))?, None, "{name}");
    }
    Ok(())
}

#[test]
fn a_shared_store_checks_and_counts_guesses_in_one_step() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    for (name, s) in stores().all {
        if !s.shares_state() {
            // The SQLite store keeps this in the process (lockout.rs).
            assert!(s.count_guess(&hash(1), 0).is_err(), "{name}");
            continue;
        }
        // 40 concurrent guesses: exactly FREE_FAILURES are counted before
        // the lock holds, whatever the interleaving.
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || s.count_guess(&hash(1), 1_000))
            })
            .collect();
        let mut counted = Vec::new();
        for t in threads {
            match t.join().expect("thread")? {
                zkppd_core::store::Guess::Counted { prior, .. } => counted.push(prior),
                zkppd_core::store::Guess::Locked(secs) => assert_eq!(secs, 1),
            }
        }
        counted.sort();
        assert_eq!(counted, (0..FREE_FAILURES).collect::<Vec<_>>(), "{name}");
        // The lock ends; the next failure doubles it.
        assert!(matches!(
            s.count_guess(&hash(1), 2_000)?,
            zkppd_core::store::Guess::Counted {
                prior: 5,
                failures: 6
            }
        ));
        assert_eq!(
            s.lockout(&hash(1))?.map(|c| c.locked_until_ms),
            Some(4_000),
            "{name}"
        );
        // Handshakes: single-use and expiring.
        let p = zkppd_core::store::PendingHandshake {
            nonce: hash(5),
            a: vec![2],
            big_b: vec![3; 256],
            salt: "ab".into(),
            verifier: None,
            expires_ms: 10_000,
        };
        s.put_handshake(&hash(9), &p)?;
        assert_eq!(
            s.take_handshake(&hash(9), 9_999)?,
            Some(p.clone()),
            "{name}"
        );
        assert_eq!(s.take_handshake(&hash(9), 9_999)?, None, "{name}");
        s.put_handshake(&hash(9), &p)?;
        assert_eq!(s.take_handshake(&hash(9), 10_000)?, None, "{name}");
    }
    Ok(())
}

#[test]
fn a_dump_moves_everything_between_the_stores_into_an_empty_one_only() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let st = stores();
    let (sqlite, postgres) = (st.all[0].1.clone(), st.all[1].1.clone());
    // Data in SQLite.
    sqlite.fill_profile(&[hash(1), hash(2)])?;
    sqlite.fill_signup(&tokens("m", 3))?;
    let handed = sqlite.sign_up(&hash(1), "moved", &record())?;
    sqlite.create_session(&hash(7), &session("moved", 1_000), 4, &some_verifier())?;
    sqlite.save_lockout(
        &hash(8),
        &Counter {
            failures: 3,
            locked_until_ms: 0,
            last_failure_ms: 5,
        },
    )?;
    sqlite.put_reset_token("moved", &hash(6), 99)?;

    let dump = sqlite.export()?;
    postgres.import_dump(&dump)?;
    let back = postgres.export()?;
    assert_eq!(
        back.install_secret.as_ref().map(|s| s.fingerprint()),
        dump.install_secret.as_ref().map(|s| s.fingerprint())
    );
    assert_ne!(dump.install_secret.as_ref().map(|s| s.fingerprint()), None);
    assert_eq!(back.profile_tokens, dump.profile_tokens);
    assert_eq!(back.signup_tokens, dump.signup_tokens);
    assert!(!back.signup_tokens.contains(&handed));
    assert_eq!(back.profiles.len(), 1);
    assert_eq!(back.sessions, dump.sessions);
    assert_eq!(back.lockouts, dump.lockouts);
    assert_eq!(back.reset_tokens, dump.reset_tokens);
    // A second import is refused: the target is not empty.
    let err = postgres
        .import_dump(&dump)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("not empty"), "{err}");
    let err = sqlite
        .import_dump(&back)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("not empty"), "{err}");
    // The draw goes on over dense slots after the move.
    assert_eq!(postgres.bucket_sizes()?.signup, 2);
    postgres.sign_up(&hash(2), "after", &record())?;
    assert_eq!(postgres.bucket_sizes()?.signup, 1);
    Ok(())
}
