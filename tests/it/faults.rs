//! Database write faults (issue 4): the running server gets a file-size
//! limit (`prlimit --fsize`, which root cannot ignore the way it ignores
//! file modes) just above its database and WAL, so that sign-ups start to
//! fail with EFBIG. They must fail with the SPEC's 503/500 and leave
//! nothing half done, the file must stay sound, and once the limit is
//! lifted sign-ups must work again without a restart.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use zkppd_testkit::{ADMIN, Account, Failure, Http, Process, Reply, Spawn, db};

use crate::BIN;

const FILLED: usize = 400;

fn profile_token(i: usize) -> String {
    format!("fault-p-{i}")
}

fn signup_token(i: usize) -> String {
    format!("fault-s-{i}")
}

fn id(i: usize) -> String {
    format!("fault-{i:04}")
}

fn password(i: usize) -> String {
    format!("pw-{i}")
}

/// `prlimit --pid PID --fsize=LIMIT`, soft limit only (`N:`), so that it
/// can be lifted again without privileges.
pub(crate) fn prlimit(pid: u32, limit: &str) {
    let out = Command::new("prlimit")
        .arg("--pid")
        .arg(pid.to_string())
        .arg(format!("--fsize={limit}:"))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "this test needs `prlimit` from util-linux (apt-get install util-linux) \
                 to limit the server's file size; running it failed: {e}"
            )
        });
    assert!(
        out.status.success(),
        "prlimit --pid {pid} --fsize={limit}: failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A sign-up body with the verifier of profile `i`'s password.
fn signup_body(i: usize) -> serde_json::Value {
    Account::new(&id(i), &password(i)).signup_body(&profile_token(i))
}

fn sign_up(server: &mut Process, http: &mut Http, i: usize) -> Reply {
    let body = signup_body(i);
    match http.post("/v1/signup", &body) {
        Ok(r) => r,
        Err(f) => {
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "sign-up {i}: no answer ({f:?}); server exit status: {:?} \
                 (killed by signal 25 = SIGXFSZ not caught)\n{}",
                server.exited(),
                server.log()
            )
        }
    }
}

/// Records a sign-up answered 200.
fn accept(r: &Reply, i: usize, stored: &mut HashSet<String>, handed_out: &mut HashSet<String>) {
    let token = r.json()["token"].as_str().expect("token").to_owned();
    assert!(handed_out.insert(token), "a signup token handed out twice");
    stored.insert(id(i));
}

/// Sign-ups under the fault.
#[derive(Default)]
struct Tally {
    /// Answered 200 all the same (a small transaction may still fit).
    fitted: usize,
    failed: Vec<usize>,
    statuses: Vec<u16>,
}

impl Tally {
    fn check(
        &mut self,
        r: &Reply,
        i: usize,
        stored: &mut HashSet<String>,
        handed_out: &mut HashSet<String>,
    ) {
        if r.status == 200 {
            accept(r, i, stored, handed_out);
            self.fitted += 1;
        } else {
            assert!(
                is_fault_answer(r),
                "sign-up {i} under a write fault answered {} {:?} {} \
                 (want 503 Service unavailable with Retry-After, or 500 Internal error)",
                r.status,
                r.header("retry-after"),
                r.text()
            );
            self.statuses.push(r.status);
            self.failed.push(i);
        }
    }
}

/// The documented answers to a database fault.
fn is_fault_answer(r: &Reply) -> bool {
    (r.is_error(503, "Service unavailable") && r.header("retry-after").is_some())
        || r.is_error(500, "Internal error")
}

/// The buckets and profiles as the file has them: every profile in
/// `stored` and nothing else, one consumed profile token per profile, one
/// signup token gone per profile.
fn assert_consistent(db: &Path, stored: &HashSet<String>, handed_out: &HashSet<String>) {
    let conn = db::open(db);
    let profiles: HashSet<String> = db::strings(&conn, "SELECT id FROM profiles")
        .into_iter()
        .collect();
    assert_eq!(&profiles, stored, "profiles in the file");
    let used = db::count(&conn, "SELECT count(*) FROM profile_tokens WHERE used = 1");
    let rows = db::count(&conn, "SELECT count(*) FROM profile_tokens");
    assert_eq!(rows as usize, FILLED, "profile tokens lost");
    assert_eq!(
        used as usize,
        profiles.len(),
        "used profile tokens ≠ profiles"
    );
    let bucket: HashSet<String> = db::strings(&conn, "SELECT token FROM signup_tokens")
        .into_iter()
        .collect();
    assert_eq!(
        bucket.len() + profiles.len(),
        FILLED,
        "signup tokens + profiles ≠ filled"
    );
    assert!(bucket.is_disjoint(handed_out), "a handed-out token is back");
}

/// Eight clients at once, three sign-ups each from index `first`.
fn burst(addr: std::net::SocketAddr, first: usize) -> Vec<(usize, Result<Reply, Failure>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                s.spawn(move || {
                    let mut http = Http::fresh(addr);
                    (0..3)
                        .map(|k| {
                            let i = first + t * 3 + k;
                            (i, http.post("/v1/signup", &signup_body(i)))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

#[test]
fn write_faults_fail_cleanly_and_clear_without_a_restart() {
    let t0 = Instant::now();
    // Fail loudly (not skip) when the tool is missing.
    prlimit_available();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("z.db");
    let wal = dir.path().join("z.db-wal");
    let admin = zkppd_testkit::admin_token_file(dir.path());
    let mut server = Spawn::server(BIN, &db, &admin).start();
    let pid = server.pid();
    let addr = server.addr();
    let mut http = Http::new(addr);
    http.fill_both(FILLED, profile_token, signup_token);

    let mut stored = HashSet::new();
    let mut handed_out = HashSet::new();
    let mut next = 0;
    // A few sign-ups, and as many more as it takes for the WAL to be the
    // largest file (it is far from its 1,000-page auto-checkpoint, so it
    // only grows, by whole frames).
    while next < 5 || file_len(&wal) < file_len(&db) {
        assert!(next < 100, "the WAL does not grow");
        let r = sign_up(&mut server, &mut http, next);
        assert_eq!(r.status, 200, "{}", r.text());
        accept(&r, next, &mut stored, &mut handed_out);
        next += 1;
    }

    // Phase 1: a limit at exactly the WAL's end, so that no transaction can
    // be written at all: sign-ups (one and many at once), a bucket fill and
    // a sign-in (which stores a session) all fail, and store nothing.
    let mut tally = Tally::default();
    let wal_len = file_len(&wal);
    prlimit(pid, &wal_len.to_string());
    for _ in 0..3 {
        let r = sign_up(&mut server, &mut http, next);
        tally.check(&r, next, &mut stored, &mut handed_out);
        next += 1;
    }
    for (i, r) in burst(addr, next) {
        match r {
            Ok(r) => tally.check(&r, i, &mut stored, &mut handed_out),
            Err(f) => panic!(
                "concurrent sign-up {i}: no answer ({f:?}); server: {:?}\n{}",
                server.exited(),
                server.log()
            ),
        }
    }
    next += 24;
    assert_eq!(
        tally.fitted, 0,
        "a sign-up succeeded with no room left in the WAL"
    );
    let extra: Vec<String> = (0..50).map(|i| format!("fault-extra-{i}")).collect();
    let body = serde_json::json!({"bucket": "profile", "tokens": extra}).to_string();
    let r = http
        .request("POST", "/v1/bucket/fill", body.as_bytes(), Some(ADMIN))
        .expect("fill under the fault: no answer");
    assert!(
        is_fault_answer(&r),
        "fill under the fault: {} {}",
        r.status,
        r.text()
    );
    match http.sign_in(&id(0), &password(0)) {
        Ok(Err(r)) => assert!(
            is_fault_answer(&r),
            "sign-in under the fault: {} {}",
            r.status,
            r.text()
        ),
        other => panic!("sign-in under the fault: {other:?}"),
    }
    assert!(
        server.exited().is_none(),
        "the server died under the file-size limit (SIGXFSZ not caught?): {:?}\n{}",
        server.exited(),
        server.log()
    );
    assert_eq!(file_len(&wal), wal_len, "the WAL grew past the limit");
    // Nothing half done: every 200 is stored with its tokens consumed,
    // every failure left both buckets as they were; the file is sound.
    assert_consistent(&db, &stored, &handed_out);
    assert_eq!(
        db::count(&db::open(&db), "SELECT count(*) FROM sessions"),
        0,
        "a session was stored by a failed sign-in"
    );
    db::assert_integrity(&db);
    // Reads keep working during the fault.
    let left = (FILLED - stored.len()) as i64;
    assert_eq!(http.bucket_counts(), (left, left));

    // Phase 2: a limit 64 KiB further: sign-ups work until the WAL reaches
    // it, then fail (one transaction's frames may still fit in the part a
    // failed one left behind, so a 200 after a failure is allowed, as long
    // as it is stored).
    let limit = wal_len + 64 * 1024;
    prlimit(pid, &limit.to_string());
    let before = tally.failed.len();
    while tally.failed.len() < before + 10 {
        assert!(
            next < FILLED / 2,
            "{next} sign-ups under a {limit}-byte file-size limit never failed \
             (db {} bytes, WAL {} bytes)",
            file_len(&db),
            file_len(&wal)
        );
        let r = sign_up(&mut server, &mut http, next);
        tally.check(&r, next, &mut stored, &mut handed_out);
        next += 1;
    }
    assert!(tally.fitted > 0, "no sign-up fitted in 64 KiB of WAL");
    assert_consistent(&db, &stored, &handed_out);
    db::assert_integrity(&db);

    // Lift the limit: the failed sign-ups now succeed, no restart.
    prlimit(pid, "unlimited");
    for &i in &tally.failed {
        let r = sign_up(&mut server, &mut http, i);
        assert_eq!(
            r.status,
            200,
            "sign-up {i} after the fault cleared: {}",
            r.text()
        );
        accept(&r, i, &mut stored, &mut handed_out);
    }
    for i in next..next + 5 {
        let r = sign_up(&mut server, &mut http, i);
        assert_eq!(r.status, 200, "{}", r.text());
        accept(&r, i, &mut stored, &mut handed_out);
    }
    assert_consistent(&db, &stored, &handed_out);
    let mut sessions = 0;
    for i in tally.failed.iter().copied().chain([0, next]) {
        match http.sign_in(&id(i), &password(i)) {
            Ok(Ok(_)) => sessions += 1,
            other => panic!("sign-in of {} after the fault: {other:?}", id(i)),
        }
    }
    assert_eq!(
        db::count(&db::open(&db), "SELECT count(*) FROM sessions"),
        sessions
    );
    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit after SIGTERM: {status:?}");
    db::assert_integrity(&db);
    assert_consistent(&db, &stored, &handed_out);
    let count = |status| tally.statuses.iter().filter(|&&s| s == status).count();
    eprintln!(
        "{} sign-ups failed ({} × 503, {} × 500), {} fitted under the limit; \
         all succeeded once it was lifted; {:?}",
        tally.failed.len(),
        count(503),
        count(500),
        tally.fitted,
        t0.elapsed()
    );
}

fn prlimit_available() {
    match Command::new("prlimit").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`prlimit --version` failed ({}): this test needs util-linux's prlimit",
            out.status
        ),
        Err(e) => panic!(
            "this test needs `prlimit` from util-linux (apt-get install util-linux) \
             to give the server a file-size limit; it cannot run: {e}"
        ),
    }
}
