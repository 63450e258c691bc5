//! Crash safety (SPEC §5, issue 4): the real binary under concurrent
//! sign-ups and sign-ins is killed with SIGKILL while requests are in
//! flight, restarted on the same file, and nothing answered is lost,
//! nothing is half done, and every bucket token is accounted for exactly.
//! The same test runs on PostgreSQL (`::postgres`): one instance killed and
//! restarted on its database.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zkppd_testkit::db::Database;
use zkppd_testkit::{Account, Backend, Failure, Http, Spawn, TestResult};

use crate::BIN;

/// Tokens filled into each bucket: more than the load can use up before
/// the kill, so the bucket count in the final equation is not zero.
const FILLED: usize = 20_000;
/// Client threads (at least 16 at a time in total), half of each kind on
/// keep-alive connections and half opening a new connection per request.
const SIGN_UP_THREADS: usize = 16;
const SIGN_IN_THREADS: usize = 8;
/// Profiles (verifiers) made before the load; more are made on the fly.
const PREPARED: usize = 300;

/// What became of one sign-up request.
#[derive(Debug)]
enum Outcome {
    /// `200`: the signup token handed out.
    Ok(String),
    /// Any other answer.
    Refused(u16, String),
    /// No answer: the server was killed while it was in flight (or before
    /// it was sent, when the connection was refused).
    Unanswered,
}

#[derive(Debug)]
struct Attempt {
    /// Index of the profile token used (`crash-p-{index}`).
    index: usize,
    id: String,
    password: String,
    outcome: Outcome,
}

#[derive(Default)]
struct ThreadLog {
    signups: Vec<Attempt>,
    /// Sessions answered 200 (the `jwt` objects).
    sessions: Vec<Value>,
    /// Answers that are wrong whatever the timing (a correct sign-in
    /// refused, a malformed 200...).
    wrong: Vec<String>,
    /// When and how the thread's last request went unanswered.
    ended: Option<(Instant, Failure)>,
}

fn profile_token(i: usize) -> String {
    format!("crash-p-{i}")
}

fn signup_token(i: usize) -> String {
    format!("crash-s-{i}")
}

/// A profile to sign up: its id, password and sign-up body (the verifier
/// is costly in a debug build, so most are made before the load starts).
struct NewProfile {
    index: usize,
    id: String,
    password: String,
    body: Value,
}

fn new_profile(index: usize, nonce: u64) -> NewProfile {
    let id = format!("crash-{index:05}");
    let password = format!("pw-{index}-{nonce:x}");
    let body = Account::new(&id, &password).signup_body(&profile_token(index));
    NewProfile {
        index,
        id,
        password,
        body,
    }
}

/// State the load threads share.
struct Shared {
    /// Next profile token index to use.
    next: AtomicUsize,
    /// Profiles made ahead (indices `0..ready.len()`).
    ready: Vec<NewProfile>,
    nonce: u64,
    killed: AtomicBool,
    /// Signed-up profiles to sign in as, with how many sessions each got
    /// (kept under the per-profile session cap, so none is evicted).
    to_sign_in: Mutex<VecDeque<(String, String, usize)>>,
    signed_up: AtomicUsize,
    signed_in: AtomicUsize,
}

/// Sessions per profile during the load, below the default cap of 16.
const SESSIONS_PER_PROFILE: usize = 8;

/// A sign-up thread: new profiles until the server is gone.
fn sign_up_load(addr: SocketAddr, thread: usize, shared: &Shared) -> ThreadLog {
    let mut http = client(addr, thread);
    let mut log = ThreadLog::default();
    while !shared.killed.load(Ordering::SeqCst) {
        let index = shared.next.fetch_add(1, Ordering::SeqCst);
        if index >= FILLED {
            break;
        }
        let made;
        let p = match shared.ready.get(index) {
            Some(p) => p,
            None => {
                made = new_profile(index, shared.nonce);
                &made
            }
        };
        let outcome = match http.post("/v1/signup", &p.body) {
            Ok(r) if r.status == 200 => match r.json()["token"].as_str() {
                Some(t) => Outcome::Ok(t.to_owned()),
                None => {
                    log.wrong.push(format!("signup {}: 200 {}", p.id, r.text()));
                    Outcome::Ok(String::new())
                }
            },
            Ok(r) => Outcome::Refused(r.status, r.text()),
            Err(f) => {
                log.ended = Some((Instant::now(), f));
                Outcome::Unanswered
            }
        };
        if matches!(outcome, Outcome::Ok(_)) {
            shared.signed_up.fetch_add(1, Ordering::SeqCst);
            shared
                .to_sign_in
                .lock()
                .unwrap()
                .push_back((p.id.clone(), p.password.clone(), 0));
        }
        log.signups.push(Attempt {
            index: p.index,
            id: p.id.clone(),
            password: p.password.clone(),
            outcome,
        });
        if log.ended.is_some() {
            break;
        }
    }
    log
}

/// A sign-in thread: sessions for signed-up profiles until the server is
/// gone.
fn sign_in_load(addr: SocketAddr, thread: usize, shared: &Shared) -> ThreadLog {
    let mut http = client(addr, thread);
    let mut log = ThreadLog::default();
    while !shared.killed.load(Ordering::SeqCst) {
        let Some((id, password, n)) = shared.to_sign_in.lock().unwrap().pop_front() else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        match http.sign_in(&id, &password) {
            Ok(Ok(jwt)) => {
                log.sessions.push(jwt);
                shared.signed_in.fetch_add(1, Ordering::SeqCst);
            }
            // A documented transient fault is not a defect; anything else is.
            Ok(Err(r))
                if r.is_error(503, "Service unavailable") && r.header("retry-after").is_some() => {}
            Ok(Err(r)) => log
                .wrong
                .push(format!("sign-in of {id}: {} {}", r.status, r.text())),
            Err(f) => {
                log.ended = Some((Instant::now(), f));
                break;
            }
        }
        if n + 1 < SESSIONS_PER_PROFILE {
            shared
                .to_sign_in
                .lock()
                .unwrap()
                .push_back((id, password, n + 1));
        }
    }
    log
}

/// Even threads keep one connection alive; odd ones open one per request.
fn client(addr: SocketAddr, thread: usize) -> Http {
    if thread.is_multiple_of(2) {
        Http::new(addr)
    } else {
        Http::fresh(addr)
    }
}

/// Runs `f` over `items` on `threads` threads, each with its own client.
fn parallel<T: Sync, R: Send>(
    addr: std::net::SocketAddr,
    items: &[T],
    threads: usize,
    f: impl Fn(&mut Http, &T) -> R + Sync,
) -> Vec<R> {
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                let f = &f;
                s.spawn(move || {
                    let mut http = Http::new(addr);
                    part.iter()
                        .map(|item| f(&mut http, item))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("checking thread"))
            .collect()
    })
}

/// `zkppd` on `db`, listening on a free port.
fn serve(db: &Database, admin: &std::path::Path) -> Spawn {
    Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(db.flags())
        .arg("--admin-token-file")
        .arg(admin)
}

fn sigkill_under_load_loses_no_answered_work_and_no_token(backend: Backend) -> TestResult {
    let _serial = zkppd_testkit::serial::alone();
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(backend, dir.path());
    let admin = zkppd_testkit::admin_token_file(dir.path());

    let mut server = serve(&db, &admin).start();
    let addr = server.addr();
    {
        let mut http = Http::new(addr);
        http.fill_both(FILLED, profile_token, signup_token);
    }

    // Profiles made ahead, on every core.
    let nonce = zkppd_testkit::random_u64();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let ready: Vec<NewProfile> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|c| {
                s.spawn(move || {
                    (c..PREPARED)
                        .step_by(cores)
                        .map(|i| new_profile(i, nonce))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<NewProfile> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_by_key(|p| p.index);
        all
    });
    let prepared_in = t0.elapsed();

    // The load: sign-up threads make new profiles, sign-in threads open
    // sessions for them, until the server is gone.
    let shared = Arc::new(Shared {
        next: AtomicUsize::new(0),
        ready,
        nonce,
        killed: AtomicBool::new(false),
        to_sign_in: Mutex::new(VecDeque::new()),
        signed_up: AtomicUsize::new(0),
        signed_in: AtomicUsize::new(0),
    });
    let load_start = Instant::now();
    let threads: Vec<_> = (0..SIGN_UP_THREADS + SIGN_IN_THREADS)
        .map(|t| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                if t < SIGN_UP_THREADS {
                    sign_up_load(addr, t, &shared)
                } else {
                    sign_in_load(addr, t, &shared)
                }
            })
        })
        .collect();

    // Kill at a random instant 300–800 ms into the load, but never before
    // both kinds of request are being answered (a slow machine waits).
    let kill_after = Duration::from_millis(300 + zkppd_testkit::random_u64() % 500);
    loop {
        let warmed = shared.signed_up.load(Ordering::SeqCst) >= 20
            && shared.signed_in.load(Ordering::SeqCst) >= 5;
        if warmed && load_start.elapsed() >= kill_after {
            break;
        }
        if load_start.elapsed() > Duration::from_secs(20) || server.exited().is_some() {
            shared.killed.store(true, Ordering::SeqCst);
            panic!(
                "load never got going ({} sign-ups, {} sign-ins); server log:\n{}",
                shared.signed_up.load(Ordering::SeqCst),
                shared.signed_in.load(Ordering::SeqCst),
                server.log()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let killed_at = Instant::now();
    server.kill9();
    shared.killed.store(true, Ordering::SeqCst);
    let load_ms = killed_at.duration_since(load_start).as_millis();

    let logs: Vec<ThreadLog> = threads
        .into_iter()
        .map(|t| t.join().expect("load thread"))
        .collect();
    let mut attempts = Vec::new();
    let mut sessions = Vec::new();
    let mut in_flight = 0;
    for log in logs {
        assert!(log.wrong.is_empty(), "wrong answers: {:#?}", log.wrong);
        // A sign-in thread waiting for work may have seen the kill flag
        // instead.
        if let Some((at, f)) = &log.ended {
            assert!(
                *at >= killed_at,
                "a request went unanswered before the kill: {f:?}"
            );
            if matches!(f, Failure::Lost(_)) {
                in_flight += 1;
            }
        }
        attempts.extend(log.signups);
        sessions.extend(log.sessions);
    }
    assert!(
        in_flight >= 1,
        "no request was in flight at the kill; the test proves nothing"
    );

    // Restart on the same database.
    let mut server = serve(&db, &admin).start();
    let addr = server.addr();

    // The database as it is after the crash.
    let profiles: HashSet<String> = db.strings("SELECT id FROM profiles").into_iter().collect();
    let bucket: Vec<String> = db.strings("SELECT token FROM signup_tokens");
    let bucket_set: HashSet<&String> = bucket.iter().collect();
    let profile_rows = db.count("SELECT count(*) FROM profile_tokens");
    let used = db.count("SELECT count(*) FROM profile_tokens WHERE used");
    let slots_dense = db.count("SELECT count(*) = coalesce(max(slot) + 1, 0) FROM signup_tokens");

    let filled_signup: HashSet<String> = (0..FILLED).map(signup_token).collect();
    let mut handed_out: HashMap<&str, &str> = HashMap::new();
    let (mut answered_ok, mut answered_err, mut unanswered) = (vec![], vec![], vec![]);
    for a in &attempts {
        match &a.outcome {
            Outcome::Ok(token) => {
                assert!(
                    profiles.contains(&a.id),
                    "sign-up of {} was answered 200 but the profile is gone",
                    a.id
                );
                if let Some(other) = handed_out.insert(token, &a.id) {
                    panic!(
                        "signup token {token} handed out twice: {other} and {}",
                        a.id
                    );
                }
                assert!(filled_signup.contains(token), "unknown token {token}");
                assert!(
                    !bucket_set.contains(token),
                    "token {token} handed out to {} is still in the bucket",
                    a.id
                );
                answered_ok.push(a);
            }
            Outcome::Refused(status, body) => {
                assert!(
                    !profiles.contains(&a.id),
                    "sign-up of {} answered {status} {body} but the profile exists",
                    a.id
                );
                answered_err.push(a);
            }
            Outcome::Unanswered => unanswered.push(a),
        }
    }
    let committed_unanswered = unanswered
        .iter()
        .filter(|a| profiles.contains(&a.id))
        .count();
    let bucket_len = bucket.len();
    eprintln!(
        "{PREPARED} profiles prepared in {prepared_in:?}; load {load_ms} ms: {} sign-ups answered 200, {} answered otherwise, {} unanswered \
         ({committed_unanswered} committed), {} sessions, {in_flight} requests in flight at the kill",
        answered_ok.len(),
        answered_err.len(),
        unanswered.len(),
        sessions.len()
    );

    // Exactly: handed out + still in the bucket + committed but unanswered
    // = filled; and no other profile exists.
    assert_eq!(
        answered_ok.len() + bucket_len + committed_unanswered,
        FILLED,
        "handed out {} + in bucket {bucket_len} + committed unanswered {committed_unanswered}",
        answered_ok.len()
    );
    assert_eq!(profiles.len(), answered_ok.len() + committed_unanswered);
    assert_eq!(slots_dense, 1, "signup slots are not dense after the crash");
    for t in &bucket {
        assert!(filled_signup.contains(t), "unknown token {t} in the bucket");
    }
    // Profile tokens: none lost, one consumed per profile.
    assert_eq!(profile_rows as usize, FILLED);
    assert_eq!(
        used as usize,
        profiles.len(),
        "used profile tokens ≠ profiles"
    );
    let mut http = Http::new(addr);
    assert_eq!(
        http.bucket_counts(),
        ((FILLED - profiles.len()) as i64, bucket_len as i64),
        "GET /v1/buckets"
    );

    // Every sign-up answered 200 signs in with its password.
    let failed: Vec<String> = parallel(addr, &answered_ok, 8, |http, a| {
        match http.sign_in(&a.id, &a.password) {
            Ok(Ok(_)) => None,
            Ok(Err(r)) => Some(format!("{}: {} {}", a.id, r.status, r.text())),
            Err(f) => Some(format!("{}: {f:?}", a.id)),
        }
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failed.is_empty(),
        "sign-ins failed after the restart: {failed:#?}"
    );

    // Every session issued still verifies.
    let failed: Vec<String> = parallel(addr, &sessions, 8, |http, jwt| {
        let r = http.must("/v1/verify", &json!({"jwt": jwt}));
        (r.status != 200 || r.json() != json!({"profile_id": jwt["profile_id"]}))
            .then(|| format!("{jwt}: {} {}", r.status, r.text()))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(failed.is_empty(), "sessions lost: {failed:#?}");

    // No consumed profile token (answered or committed) works again.
    let consumed: Vec<&&Attempt> = answered_ok
        .iter()
        .chain(unanswered.iter().filter(|a| profiles.contains(&a.id)))
        .collect();
    let failed: Vec<String> = parallel(addr, &consumed, 8, |http, a| {
        let body =
            Account::new(&format!("again-{}", a.index), "pw").signup_body(&profile_token(a.index));
        let r = http.must("/v1/signup", &body);
        (!r.is_error(400, "Invalid token")).then(|| format!("{}: {} {}", a.id, r.status, r.text()))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failed.is_empty(),
        "consumed tokens accepted again: {failed:#?}"
    );

    // The tokens of sign-ups that never committed were not lost: each one
    // signs its profile up now, and gets a token nobody had.
    let mut fresh = HashSet::new();
    for a in unanswered
        .iter()
        .chain(answered_err.iter())
        .filter(|a| !profiles.contains(&a.id))
    {
        let r = http.must(
            "/v1/signup",
            &Account::new(&a.id, &a.password).signup_body(&profile_token(a.index)),
        );
        assert_eq!(r.status, 200, "retry of {}: {}", a.id, r.text());
        let token = r.json()["token"].as_str().unwrap().to_owned();
        assert!(
            !handed_out.contains_key(token.as_str()) && bucket_set.contains(&token),
            "retry of {} got {token}, not a token from the bucket",
            a.id
        );
        assert!(fresh.insert(token), "a token handed out twice on retry");
        assert!(matches!(http.sign_in(&a.id, &a.password), Ok(Ok(_))));
    }

    let status = server.terminate(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit after SIGTERM: {status:?}; log:\n{}",
        server.log()
    );
    if let Database::File(path) = &db {
        zkppd_testkit::db::assert_integrity(path);
    }
    eprintln!("crash test ({backend:?}) took {:?}", t0.elapsed());
    Ok(())
}

on_both!(sigkill_under_load_loses_no_answered_work_and_no_token);
