//! The sign-in service over a shared store: two [`Service`] instances over
//! one real PostgreSQL database (zkppd-pgtemp's cluster: `initdb` in a temp
//! dir, loopback, stopped at the end), the way two zkppd processes share
//! one. What only this path does is tested here, in zkppd-core's own
//! tests, so that a mutant of it is caught by the crate's test run (the
//! root package's `tests/it/postgres.rs` drives whole processes):
//!
//! - a handshake begun on one instance is taken on the other, exactly once;
//! - a deletion or a password change on one instance ends the handshake
//!   pending on the other (its row is gone, not only refused later);
//! - wrong proofs spread over both instances lock at exactly the 5th, and
//!   again at the 6th after the first lock ended, and the instance that
//!   counted the locking failure reports the lock it started;
//! - a right 5th proof (its count started a lock while it was checked)
//!   reports no lock on either instance.
//!
//! One PostgreSQL serves the whole binary (`Postgres::shared`); each test
//! takes a database of its own. The PostgreSQL client blocks (it runs a
//! runtime of its own, also to close a connection), so each test runs on
//! a runtime made by [`Pair::run`], which drops the stores outside it, and
//! the tests' own database calls go through [`blocking`].

use std::sync::Arc;
use std::time::Duration;

use zkppd_core::store::PostgresStore;
use zkppd_core::{Error, FREE_FAILURES, HandshakeKey, Limits, Service, SignedIn};
use zkppd_pgtemp::Postgres;
use zkppd_srp::client::{self, ClientSession};

const PASSWORD: &str = "correct horse";

/// Two instances over one new database, sharing a handshake key (as
/// `--handshake-key-file` gives every instance the same one), with `ids`
/// imported with [`PASSWORD`].
struct Pair {
    pg: Arc<Postgres>,
    db: String,
    a: Service,
    b: Service,
}

impl Pair {
    /// Runs `test` over a new pair, on a runtime of its own; the pair (and
    /// its connections) is dropped after the runtime is left, also when
    /// the test panics.
    fn run(ids: &[&str], test: impl AsyncFnOnce(&Pair)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let p = Pair::new(&rt, ids);
        rt.block_on(test(&p));
    }

    fn new(rt: &tokio::runtime::Runtime, ids: &[&str]) -> Pair {
        let pg = Postgres::shared();
        let db = pg.database().expect("create a database");
        let key = HandshakeKey::from_file_text(&format!("{:064x}", rand_u128()))
            .expect("a long enough key");
        let instance = || {
            let store = PostgresStore::open(&pg.url(&db), None).expect("open the store");
            let service = Service::new(Arc::new(store), Limits::default()).with_handshake_key(&key);
            assert!(service.shares_state(), "PostgreSQL is a shared store");
            service
        };
        let (a, b) = (instance(), instance());
        let lines = ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let salt = client::generate_salt();
                let x = client::derive_private_key(&salt, id, PASSWORD);
                (i + 1, (*id).to_owned(), client::derive_verifier(&x), salt)
            })
            .collect();
        let count = rt.block_on(a.import_profiles(lines)).expect("import");
        assert_eq!(count.imported, ids.len() as u64);
        Pair { pg, db, a, b }
    }

    fn count(&self, sql: &str) -> i64 {
        blocking(|| self.pg.count(&self.db, sql))
    }

    /// Pending handshake rows.
    fn handshakes(&self) -> i64 {
        self.count("SELECT count(*) FROM handshakes")
    }
}

/// Runs a blocking call (the PostgreSQL fixture and client) from a test's
/// async body (a multi-thread runtime lets its thread block).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// Randomness for the handshake key without an RNG crate (it need only
/// differ between runs).
fn rand_u128() -> u128 {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("getrandom");
    u128::from_le_bytes(b)
}

/// Step 1 of `id` on `service`; the client's session for `password`.
async fn start(service: &Service, id: &str, password: &str) -> zkppd_core::Result<ClientSession> {
    let eph = client::generate_ephemeral();
    let challenge = service.sign_in_start(id.to_owned(), &eph.public).await?;
    let x = client::derive_private_key(&challenge.salt, id, password);
    Ok(client::derive_session(&eph, &challenge.key, &challenge.salt, id, &x).expect("valid B"))
}

/// Step 1 on `one`, step 2 on `two`.
async fn sign_in(
    one: &Service,
    two: &Service,
    id: &str,
    password: &str,
) -> zkppd_core::Result<SignedIn> {
    let session = start(one, id, password).await?;
    let signed = two.sign_in_finish(id.to_owned(), &session.proof).await?;
    assert!(session.verify_server(&signed.proof), "M2 must verify");
    Ok(signed)
}

fn locks(s: &Service) -> u64 {
    s.memory_counts().lockouts_started
}

/// Held by the tests that make many proofs and by the one that reads a
/// lock's seconds left: the proofs' math beside it (a debug build on a
/// busy machine) can cost that one its second.
static TIMED: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn timed() -> std::sync::MutexGuard<'static, ()> {
    TIMED.lock().unwrap_or_else(|e| e.into_inner())
}

/// The handshake lives in the database: begun on A, finished on B, and
/// taken there, so a replay of step 2 on either instance finds none. The
/// success clears the streak both instances count in.
#[test]
fn a_handshake_begun_on_one_instance_is_taken_once_on_the_other() {
    Pair::run(&["alice"], async |p| {
        fail(&p.b, &p.a).await;
        assert_eq!(streak(p).0, 1);
        let session = start(&p.a, "alice", PASSWORD).await.unwrap();
        assert_eq!(p.handshakes(), 1, "step 1 stores the handshake");
        // A's memory holds none: B can only have it from the database.
        assert_eq!(p.a.memory_counts().pending_handshakes, 0);

        let signed =
            p.b.sign_in_finish("alice".into(), &session.proof)
                .await
                .expect("step 2 on the other instance signs in");
        assert!(session.verify_server(&signed.proof), "M2 must verify");
        assert_eq!(signed.profile_id, "alice");
        assert_eq!(p.handshakes(), 0, "step 2 took the handshake");
        // The session made on B is valid on A.
        let id =
            p.a.verify("alice", &signed.auth_token, &signed.auth_expiry)
                .await
                .unwrap();
        assert_eq!(id, "alice");

        // The same proof again, on either instance: no handshake, no session.
        for s in [&p.b, &p.a] {
            assert!(matches!(
                s.sign_in_finish("alice".into(), &session.proof).await,
                Err(Error::NoHandshake)
            ));
        }
        assert_eq!(p.count("SELECT count(*) FROM sessions"), 1);
        // The success cleared alice's streak (the failure before it, and
        // its own guess), and the replays write only the decoy key (zeros).
        assert_eq!(
            p.count("SELECT count(*) FROM lockouts WHERE key <> decode(repeat('00', 32), 'hex')"),
            0
        );
    });
}

/// A deletion on A ends the handshake pending on B: its row is gone at
/// once, and step 2 finds none (not a proof checked against a profile
/// that no longer exists).
#[test]
fn a_deletion_on_one_instance_drops_the_handshake_pending_on_the_other() {
    Pair::run(&["alice", "bob"], async |p| {
        let alice = start(&p.b, "alice", PASSWORD).await.unwrap();
        let bob = start(&p.b, "bob", PASSWORD).await.unwrap();
        assert_eq!(p.handshakes(), 2);

        assert_eq!(p.a.delete_profile("alice").await.unwrap(), 0);
        assert_eq!(p.handshakes(), 1, "alice's handshake went with her");
        assert!(matches!(
            p.b.sign_in_finish("alice".into(), &alice.proof).await,
            Err(Error::NoHandshake)
        ));
        // Only alice's: bob's handshake still signs in.
        let signed = p.b.sign_in_finish("bob".into(), &bob.proof).await.unwrap();
        assert!(bob.verify_server(&signed.proof));
        assert_eq!(p.handshakes(), 0);
    });
}

/// A password change on A ends the handshake of the old password pending
/// on B: step 2 finds none, and the new password signs in.
#[test]
fn a_password_change_on_one_instance_drops_the_handshake_pending_on_the_other() {
    Pair::run(&["alice"], async |p| {
        let fresh = sign_in(&p.a, &p.b, "alice", PASSWORD).await.unwrap();
        let old = start(&p.b, "alice", PASSWORD).await.unwrap();
        assert_eq!(p.handshakes(), 1);

        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, "alice", "new password");
        p.a.change_password(
            "alice",
            &fresh.auth_token,
            &fresh.auth_expiry,
            &client::derive_verifier(&x),
            &salt,
        )
        .await
        .unwrap();
        assert_eq!(p.handshakes(), 0, "the old password's handshake is gone");
        assert!(matches!(
            p.b.sign_in_finish("alice".into(), &old.proof).await,
            Err(Error::NoHandshake)
        ));
        sign_in(&p.b, &p.a, "alice", "new password").await.unwrap();
    });
}

/// The stored streak `(failures, locked_until_ms, last_failure_ms)` of
/// alice, the one row of `lockouts` while every step 2 had a handshake (one
/// without writes a decoy key's row).
fn streak(p: &Pair) -> (i64, i64, i64) {
    let rows = blocking(|| {
        let mut c = p.pg.connect(&p.db).expect("connect");
        c.query(
            "SELECT failures::bigint, locked_until_ms, last_failure_ms FROM lockouts",
            &[],
        )
        .expect("query")
    });
    assert_eq!(rows.len(), 1, "one streak");
    (rows[0].get(0), rows[0].get(1), rows[0].get(2))
}

/// One wrong guess: step 1 on `one`, the wrong proof on `two`.
impl Pair {
    /// The `i`th guess's instances: step 1 on A and step 2 on B, then the
    /// other way round, and so on.
    fn turn(&self, i: i64) -> (&Service, &Service) {
        if i % 2 == 0 {
            (&self.a, &self.b)
        } else {
            (&self.b, &self.a)
        }
    }
}

async fn fail(one: &Service, two: &Service) {
    let session = start(one, "alice", "wrong").await.unwrap();
    assert!(matches!(
        two.sign_in_finish("alice".into(), &session.proof).await,
        Err(Error::InvalidCredentials)
    ));
}

/// Wrong proofs alternate between the instances: the 4th locks nothing,
/// the 5th locks both for 1 s and is the one lock started (on the
/// instance that counted it); after it ends the 6th locks both for 2 s,
/// again one lock started. (Named to sort first: the longest test, it
/// holds the shared PostgreSQL while the others run beside it.)
#[test]
fn a_fifth_and_a_sixth_failure_over_both_instances_lock_both() {
    assert_eq!(FREE_FAILURES, 5, "the boundary this test walks");
    let _timed = timed();
    Pair::run(&["alice"], async |p| {
        for i in 0..4 {
            let (one, two) = p.turn(i);
            fail(one, two).await;
            assert_eq!(streak(p).0, i + 1);
            assert_eq!(streak(p).1, 0, "no lock before the 5th failure");
            assert_eq!(
                (locks(&p.a), locks(&p.b)),
                (0, 0),
                "after failure {}",
                i + 1
            );
        }

        // The 5th: step 1 still opens on both (the 4th did not lock); B counts it.
        start(&p.b, "alice", "wrong").await.unwrap();
        fail(&p.a, &p.b).await;
        let (failures, until, last) = streak(p);
        assert_eq!(failures, 5);
        assert_eq!(until, last + 1000, "the 5th failure locks for 1 s");
        assert_eq!((locks(&p.a), locks(&p.b)), (0, 1), "B counted the lock");
        for s in [&p.a, &p.b] {
            assert!(matches!(
                start(s, "alice", PASSWORD).await,
                Err(Error::LockedOut(1))
            ));
        }
        assert_eq!(streak(p).0, 5, "refused guesses are not counted");

        // The lock ends at its instant; the 6th failure, counted by A, locks
        // both for 2 s.
        wait_until(until).await;
        fail(&p.b, &p.a).await;
        let (failures, until, last) = streak(p);
        assert_eq!(failures, 6);
        assert_eq!(until, last + 2000, "the 6th failure locks for 2 s");
        assert_eq!(
            (locks(&p.a), locks(&p.b)),
            (1, 1),
            "A counted the second lock"
        );
        for s in [&p.a, &p.b] {
            assert!(matches!(
                start(s, "alice", PASSWORD).await,
                Err(Error::LockedOut(2))
            ));
        }
    });
}

/// Four wrong proofs, then the right password (step 1 on A, step 2 on
/// B): the 5th guess was counted, and started a lock, before its proof was
/// checked, but the proof was right, so neither instance reports a lock.
/// Five wrong proofs after that report exactly one.
#[test]
fn a_right_fifth_proof_over_both_instances_reports_no_lock() {
    let _timed = timed();
    Pair::run(&["alice"], async |p| {
        for i in 0..4 {
            let (one, two) = p.turn(i);
            fail(one, two).await;
        }
        assert_eq!(streak(p).0, 4);
        sign_in(&p.a, &p.b, "alice", PASSWORD).await.unwrap();
        assert_eq!((locks(&p.a), locks(&p.b)), (0, 0), "no lock reported");
        assert_eq!(
            p.count("SELECT count(*) FROM lockouts"),
            0,
            "the success cleared the streak"
        );

        for _ in 0..5 {
            fail(&p.a, &p.b).await;
        }
        assert_eq!(streak(p).0, 5);
        assert_eq!((locks(&p.a), locks(&p.b)), (0, 1), "B counted the lock");
    });
}

/// Sleeps until the wall clock has passed `ms` (since the Unix epoch).
async fn wait_until(ms: i64) {
    let wait = ms - zkppd_core::now_ms();
    if wait >= 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64 + 5)).await;
    }
}
