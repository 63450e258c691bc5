//! Issue 4, bounded memory: a flood of sign-in attempts under random
//! profile ids cannot grow the pending-handshake store or the lockout table
//! past the bounds the settings give them (`max_handshakes`,
//! `max_lockouts`), and cannot evict the lock of a real profile that is
//! being guessed at.
//!
//! Timing (debug build, 2 cores): a step 1 costs the server ~2.5 ms of
//! big-number work and a step 2 ~16 ms, all on the crypto pool (cores − 1
//! threads), so the 5,000 failed proofs dominate. The flood runs on 8
//! client threads over keep-alive connections so that the pool never waits
//! for a client.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use zkppd_testkit::{Account, Http, TestResult, TestServer};

/// Step-1 calls with fresh random ids, and as many failed proofs.
const CALLS: usize = 5_000;
const THREADS: usize = 8;
const _: () = assert!(CALLS.is_multiple_of(THREADS));
const MAX_HANDSHAKES: usize = 64;
const MAX_LOCKOUTS: usize = 128;

/// Seconds a step 1 for `id` is refused with 429 (0 when it is answered).
fn locked_for(s: &TestServer, id: &str) -> u64 {
    let eph = zkppd_srp::client::generate_ephemeral();
    let r = s.post("/v1/signin", &json!({"profile_id": id, "key": eph.public}));
    match r.status {
        429 => r
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// A keep-alive connection: many requests, one TCP handshake.
fn conn(addr: std::net::SocketAddr) -> Http {
    Http::new(addr).timeout(Duration::from_secs(60))
}

/// A UUID v4-looking id from the OS CSPRNG, as the original client makes.
fn random_id() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS random");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = zkppd_srp::hex::encode(&b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[test]
fn a_sign_in_flood_stays_within_the_bounds_and_keeps_a_lock() -> TestResult {
    let _serial = zkppd_testkit::serial::alone();
    let bounds = |st: &mut zkppd::config::Settings| {
        st.max_handshakes = MAX_HANDSHAKES;
        st.max_lockouts = MAX_LOCKOUTS;
    };
    let s = TestServer::with(bounds);
    let mem = s.state.core.memory_counts();
    assert_eq!(mem.max_handshakes, MAX_HANDSHAKES);
    assert_eq!(mem.max_lockouts, MAX_LOCKOUTS);

    // A real profile someone is guessing at: five wrong passwords lock it.
    let victim = Account::new("b3a7c0de-5e1f-4c2a-8d9e-7f6a5b4c3d2e", "the right one");
    s.sign_up(&victim);
    for _ in 0..5 {
        s.sign_in_as(&victim.id, "wrong")
            .step2
            .assert_error(401, "Invalid credentials");
    }
    assert!(locked_for(&s, &victim.id) > 0);
    // The fifth failure locks for 1 s, shorter than the flood. The streak
    // is in the database: make it fifteen failures, as if the guessing had
    // gone on after each delay (the longest lock, 15 min, so that it only
    // ends early if lost), and restart on the file.
    let dir = s.stop();
    let db = rusqlite::Connection::open(dir.path().join("zkppd.db"))?;
    let rows = db.execute(
        "UPDATE lockouts SET failures = 15, locked_until_ms = ?1 WHERE failures = 5",
        [zkppd_core::now_ms() + 900_000],
    )?;
    assert_eq!(rows, 1, "the five failures were not in the database");
    drop(db);
    let s = TestServer::on(dir, bounds);
    let locked = locked_for(&s, &victim.id);
    assert!(locked > 800, "lock of {locked} s");

    let eph = zkppd_srp::client::generate_ephemeral();
    let step1_done = AtomicUsize::new(0);
    let step2_done = AtomicUsize::new(0);
    let flooding = AtomicBool::new(true);
    let max_seen = Mutex::new((0usize, 0usize));
    let unexpected = Mutex::new(Vec::<String>::new());
    let seen_ids = Mutex::new(HashSet::<String>::new());
    let started = Instant::now();

    std::thread::scope(|scope| {
        // Samples both stores while the flood runs: the bound must hold at
        // every instant, not just at the end; and the victim stays locked.
        scope.spawn(|| {
            while flooding.load(Ordering::Relaxed) {
                let mem = s.state.core.memory_counts();
                let (h, l) = (mem.pending_handshakes, mem.lockout_counters);
                {
                    let mut m = max_seen.lock().unwrap();
                    m.0 = m.0.max(h);
                    m.1 = m.1.max(l);
                }
                if locked_for(&s, &victim.id) == 0 {
                    unexpected
                        .lock()
                        .unwrap()
                        .push("the victim's lock was evicted".into());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let (step1_done, step2_done, unexpected, seen_ids) =
                    (&step1_done, &step2_done, &unexpected, &seen_ids);
                let (eph, addr) = (&eph, s.addr);
                scope.spawn(move || -> std::io::Result<()> {
                    let mut conn = conn(addr);
                    for _ in 0..CALLS / THREADS {
                        let id = random_id();
                        seen_ids.lock().unwrap().insert(id.clone());
                        // Step 1 under a fresh id: an unknown profile gets a
                        // challenge like any other, and a handshake is kept.
                        let r =
                            conn.post("/v1/signin", &json!({"profile_id": id, "key": eph.public}))?;
                        let (status, body) = (r.status, r.json());
                        step1_done.fetch_add(1, Ordering::Relaxed);
                        if status != 200 {
                            unexpected
                                .lock()
                                .unwrap()
                                .push(format!("step 1: {status} {body}"));
                        }
                        // A wrong proof that consumes it: one more counter.
                        let r = conn.post(
                            "/v1/signin/verify",
                            &json!({"profile_id": id, "key": "5a".repeat(32)}),
                        )?;
                        let (status, body) = (r.status, r.json());
                        step2_done.fetch_add(1, Ordering::Relaxed);
                        if status != 401 {
                            unexpected
                                .lock()
                                .unwrap()
                                .push(format!("step 2: {status} {body}"));
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join().expect("worker panicked").expect("worker I/O");
        }
        flooding.store(false, Ordering::Relaxed);
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{CALLS} step-1 calls and {CALLS} failed proofs on {THREADS} threads in {elapsed:.1?}"
    );

    let unexpected = unexpected.into_inner().unwrap();
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers, first: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(5)]
    );
    assert_eq!(step1_done.load(Ordering::Relaxed), CALLS);
    assert_eq!(step2_done.load(Ordering::Relaxed), CALLS);
    assert_eq!(seen_ids.into_inner().unwrap().len(), CALLS, "ids repeat");

    let (max_h, max_l) = max_seen.into_inner().unwrap();
    assert!(
        max_h <= MAX_HANDSHAKES,
        "handshake store reached {max_h} > {MAX_HANDSHAKES}"
    );
    assert!(
        max_l <= MAX_LOCKOUTS,
        "lockout table reached {max_l} > {MAX_LOCKOUTS}"
    );
    // Every counter was really in use: 5,000 distinct failing ids went
    // through a table of 128 (that it was full is what made the bound bite).
    let mem = s.state.core.memory_counts();
    assert_eq!(mem.lockout_counters, MAX_LOCKOUTS);
    assert!(mem.pending_handshakes <= MAX_HANDSHAKES);

    // Now step 1 calls that are never followed by a proof: the store fills
    // up to its bound and no further (the oldest go first).
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let (addr, eph) = (s.addr, &eph);
            scope.spawn(move || {
                let mut conn = conn(addr);
                for _ in 0..MAX_HANDSHAKES {
                    let r = conn
                        .post(
                            "/v1/signin",
                            &json!({"profile_id": random_id(), "key": eph.public}),
                        )
                        .expect("step 1");
                    assert_eq!(r.status, 200);
                    r.json();
                }
            });
        }
    });
    let mem = s.state.core.memory_counts();
    assert_eq!(mem.pending_handshakes, MAX_HANDSHAKES);
    assert_eq!(mem.lockout_counters, MAX_LOCKOUTS);

    // The real profile is still locked, to both steps, even with the right
    // password.
    let r = s.sign_in_as(&victim.id, &victim.password);
    r.step1.assert_error(429, "Too many requests");
    let retry: u64 = r.step1.header("retry-after").unwrap_or("0").parse()?;
    assert!(retry > 600, "Retry-After {retry}");
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": victim.id, "key": "00".repeat(32)}),
    )
    .assert_error(429, "Too many requests");
    Ok(())
}
