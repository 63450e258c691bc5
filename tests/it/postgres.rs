//! Several zkppd instances over one real PostgreSQL (issue 13): two real
//! processes on one database act as one server — a handshake begun on one
//! is finished on the other, wrong proofs count on both, concurrent
//! sign-ups over both hand out each signup token once, a kill -9 of one
//! loses nothing it answered, and a PostgreSQL restart is a spell of 503s
//! that ends without restarting zkppd. Plus the start-up faults, the
//! password never logged, the signup bucket vacuumed after sign-ups.
//! Every test holds `serial::alone`: each runs real processes (zkppd
//! instances, PostgreSQL) that would upset a timing-sensitive neighbour.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use zkppd_testkit::postgres::{PASSWORD, Postgres};
use zkppd_testkit::{Account, Http, Process, Spawn, TestResult, process};

use crate::BIN;

/// The files an instance needs: admin token and handshake key.
struct Files {
    dir: tempfile::TempDir,
    admin: PathBuf,
    key: PathBuf,
}

fn files() -> Files {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = zkppd_testkit::admin_token_file(dir.path());
    let key = dir.path().join("handshake-key");
    std::fs::write(
        &key,
        format!(
            "{:032x}{:032x}\n",
            zkppd_testkit::random_u64(),
            zkppd_testkit::random_u64()
        ),
    )
    .expect("write the key");
    Files { dir, admin, key }
}

fn instance(url: &str, f: &Files) -> Process {
    Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db", url])
        .arg("--admin-token-file")
        .arg(&f.admin)
        .arg("--handshake-key-file")
        .arg(&f.key)
        .start()
}

/// Two instances on a new database of the shared server.
fn pair() -> (Arc<Postgres>, String, Files, Process, Process) {
    let pg = Postgres::shared();
    let db = pg.database().expect("create a database");
    let f = files();
    let a = instance(&pg.url(&db), &f);
    let b = instance(&pg.url(&db), &f);
    (pg, db, f, a, b)
}

fn sign_up(http: &mut Http, account: &Account, token: &str) -> Reply2 {
    let r = http.must("/v1/signup", &account.signup_body(token));
    (r.status, r.text())
}

type Reply2 = (u16, String);

#[test]
fn step_one_on_a_and_step_two_on_b_signs_in() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (_pg, _db, _f, a, b) = pair();
    let (mut ha, mut hb) = (Http::new(a.addr()), Http::new(b.addr()));
    ha.fill("profile", &["pt-1".into()]);
    ha.fill("signup", &["st-1".into()]);
    let alice = Account::new("alice", "correct horse");
    assert_eq!(sign_up(&mut hb, &alice, "pt-1").0, 200);

    let done = zkppd_testkit::sign_in(
        |path, body| {
            if path == "/v1/signin" {
                ha.post(path, body)
            } else {
                hb.post(path, body)
            }
        },
        "alice",
        "correct horse",
    )?;
    assert_eq!(done.step2.status, 200, "{}", done.step2.text());
    assert!(done.m2.is_some());
    // The session made on B is valid on A at once (no cache).
    let jwt = done.step2.json()["jwt"].clone();
    let r = ha.must("/v1/verify", &json!({"jwt": jwt}));
    assert_eq!(r.status, 200, "{}", r.text());
    // Signed out on A: invalid on B at once.
    assert_eq!(ha.must("/v1/signout", &json!({"jwt": jwt})).status, 200);
    hb.must("/v1/verify", &json!({"jwt": jwt}))
        .assert_error(400, "Invalid token");

    // A handshake is single-use across instances: a second step 2 on A
    // after B consumed it fails.
    let eph = zkppd_srp::client::generate_ephemeral();
    let c = ha
        .must(
            "/v1/signin",
            &json!({"profile_id": "alice", "key": eph.public}),
        )
        .json();
    let salt = c["salt"].as_str().unwrap_or_default().to_owned();
    let x = zkppd_srp::client::derive_private_key(&salt, "alice", "correct horse");
    let s = zkppd_srp::client::derive_session(
        &eph,
        c["key"].as_str().unwrap_or_default(),
        &salt,
        "alice",
        &x,
    )
    .expect("valid B");
    let proof = json!({"profile_id": "alice", "key": s.proof});
    assert_eq!(hb.must("/v1/signin/verify", &proof).status, 200);
    ha.must("/v1/signin/verify", &proof)
        .assert_error(401, "Invalid credentials");

    // An unknown id gets one fake salt from both instances (one install
    // secret in the database).
    let body = json!({"profile_id": "nobody-here", "key": eph.public});
    let (sa, sb) = (
        ha.must("/v1/signin", &body).json(),
        hb.must("/v1/signin", &body).json(),
    );
    assert_eq!(sa["salt"], sb["salt"]);
    assert_ne!(sa["key"], sb["key"]);
    Ok(())
}

#[test]
fn wrong_proofs_spread_over_both_lock_on_both() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (_pg, _db, _f, a, b) = pair();
    let (mut ha, mut hb) = (Http::new(a.addr()), Http::new(b.addr()));
    ha.fill("profile", &["pt-1".into()]);
    ha.fill("signup", &["st-1".into()]);
    let bob = Account::new("bob", "right");
    assert_eq!(sign_up(&mut ha, &bob, "pt-1").0, 200);
    for i in 0..5 {
        let h = if i % 2 == 0 { &mut ha } else { &mut hb };
        let r = h.sign_in("bob", "wrong")?;
        let reply = r.expect_err("a wrong password must fail");
        reply.assert_error(401, "Invalid credentials");
    }
    for h in [&mut ha, &mut hb] {
        let eph = zkppd_srp::client::generate_ephemeral();
        let r = h.must(
            "/v1/signin",
            &json!({"profile_id": "bob", "key": eph.public}),
        );
        r.assert_error(429, "Too many requests");
        assert!(r.header("retry-after").is_some());
    }
    // The right password is refused too while locked, on either.
    let r = hb.sign_in("bob", "right")?.expect_err("locked");
    r.assert_error(429, "Too many requests");
    // The count is one row in the database both share.
    Ok(())
}

#[test]
fn eighty_concurrent_sign_ups_over_both_on_twenty_tokens() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (pg, db, _f, a, b) = pair();
    let mut ha = Http::new(a.addr());
    let profile: Vec<String> = (0..80).map(|i| format!("pt-{i}")).collect();
    let signup: Vec<String> = (0..20).map(|i| format!("st-{i}")).collect();
    ha.fill("profile", &profile);
    ha.fill("signup", &signup);
    let addrs = [a.addr(), b.addr()];
    let threads: Vec<_> = (0..80)
        .map(|i| {
            let addr = addrs[i % 2];
            std::thread::spawn(move || {
                let body = zkppd_testkit::signup_body(&format!("user-{i}"), &format!("pt-{i}"));
                let r = Http::fresh(addr).must("/v1/signup", &body);
                (r.status, r.json())
            })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in threads {
        let (status, body) = t.join().expect("thread");
        match status {
            200 => tokens.push(body["token"].as_str().expect("token").to_owned()),
            503 => assert_eq!(body["message"], "Signup bucket empty"),
            s => panic!("unexpected {s}: {body}"),
        }
    }
    assert_eq!(tokens.len(), 20);
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 20, "a token was handed out twice");
    assert_eq!(distinct, signup.iter().collect::<HashSet<_>>());
    assert_eq!(pg.count(&db, "SELECT count(*) FROM signup_tokens"), 0);
    assert_eq!(pg.count(&db, "SELECT count(*) FROM profiles"), 20);
    assert_eq!(
        pg.count(&db, "SELECT count(*) FROM profile_tokens WHERE used"),
        20
    );
    Ok(())
}

#[test]
fn kill_nine_of_one_instance_under_sign_up_load_loses_nothing_answered() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (pg, db, _f, mut a, b) = pair();
    const N: usize = 3000;
    let mut hb = Http::new(b.addr());
    hb.fill(
        "profile",
        &(0..N).map(|i| format!("pt-{i}")).collect::<Vec<_>>(),
    );
    hb.fill(
        "signup",
        &(0..N).map(|i| format!("st-{i}")).collect::<Vec<_>>(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let addrs = [a.addr(), b.addr()];
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (next, stop, addr) = (next.clone(), stop.clone(), addrs[t % 2]);
            std::thread::spawn(move || {
                let mut http = Http::new(addr);
                let mut answered = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= N {
                        break;
                    }
                    let body = zkppd_testkit::signup_body(&format!("user-{i}"), &format!("pt-{i}"));
                    match http.post("/v1/signup", &body) {
                        Ok(r) if r.status == 200 => answered.push((
                            format!("user-{i}"),
                            r.json()["token"].as_str().unwrap_or("").to_owned(),
                        )),
                        Ok(r) => panic!("user-{i}: {} {}", r.status, r.text()),
                        // A's connection died with it: this one is unknown.
                        Err(_) => break,
                    }
                }
                answered
            })
        })
        .collect();
    // Let the load run, then kill A mid-flight.
    let start = Instant::now();
    while next.load(Ordering::SeqCst) < 300 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    a.kill9();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let answered: Vec<(String, String)> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("thread"))
        .collect();
    assert!(answered.len() >= 100, "load too small: {}", answered.len());

    let mut c = pg.connect(&db)?;
    for (id, token) in &answered {
        let n: i64 = c
            .query_one("SELECT count(*) FROM profiles WHERE id = $1", &[id])?
            .get(0);
        assert_eq!(n, 1, "{id} was answered 200 but is not stored");
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM signup_tokens WHERE token = $1",
                &[token],
            )?
            .get(0);
        assert_eq!(n, 0, "{token} was handed out but is still in the bucket");
    }
    let tokens: HashSet<&String> = answered.iter().map(|(_, t)| t).collect();
    assert_eq!(tokens.len(), answered.len(), "a token was handed out twice");
    // Exact accounting: every profile consumed one profile token and one
    // signup token; nothing half done.
    let profiles = pg.count(&db, "SELECT count(*) FROM profiles");
    assert_eq!(
        pg.count(&db, "SELECT count(*) FROM profile_tokens WHERE used"),
        profiles
    );
    assert_eq!(
        pg.count(&db, "SELECT count(*) FROM signup_tokens") + profiles,
        N as i64
    );
    assert_eq!(
        pg.count(&db, "SELECT count(DISTINCT slot) FROM signup_tokens"),
        N as i64 - profiles
    );
    assert_eq!(
        pg.count(&db, "SELECT coalesce(max(slot) + 1, 0) FROM signup_tokens"),
        N as i64 - profiles
    );
    // B still serves.
    let r = Http::new(b.addr()).must(
        "/v1/signup",
        &zkppd_testkit::signup_body("after", &format!("pt-{}", N - 1)),
    );
    assert!(
        r.status == 200 || r.is_error(400, "Invalid token"),
        "{}",
        r.text()
    );
    Ok(())
}

#[test]
fn a_postgres_restart_is_503_with_retry_after_then_recovers() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::start()?;
    let db = pg.database()?;
    let f = files();
    let server = instance(&pg.url(&db), &f);
    let mut http = Http::new(server.addr());
    http.fill(
        "profile",
        &(0..200).map(|i| format!("pt-{i}")).collect::<Vec<_>>(),
    );
    http.fill(
        "signup",
        &(0..200).map(|i| format!("st-{i}")).collect::<Vec<_>>(),
    );
    assert_eq!(
        http.must("/v1/signup", &zkppd_testkit::signup_body("u-0", "pt-0"))
            .status,
        200
    );

    pg.stop();
    let mut saw_503 = 0;
    for i in 1..5 {
        let r = Http::fresh(server.addr()).must(
            "/v1/signup",
            &zkppd_testkit::signup_body(&format!("u-{i}"), &format!("pt-{i}")),
        );
        r.assert_error(503, "Service unavailable");
        assert!(r.header("retry-after").is_some(), "no Retry-After");
        saw_503 += 1;
    }
    let health = zkppd_testkit::http::get(server.addr(), "/healthz", &[]);
    assert_eq!(health.status, 503);
    assert_eq!(saw_503, 4);

    pg.resume()?;
    // Recovers by itself (the pool drops dead connections and reconnects).
    let start = Instant::now();
    let mut i = 10;
    loop {
        let r = Http::fresh(server.addr()).must(
            "/v1/signup",
            &zkppd_testkit::signup_body(&format!("u-{i}"), &format!("pt-{i}")),
        );
        if r.status == 200 {
            break;
        }
        r.assert_error(503, "Service unavailable");
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no recovery after PostgreSQL came back"
        );
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        zkppd_testkit::http::get(server.addr(), "/healthz", &[]).status,
        200
    );
    Ok(())
}

/// A start-up that must fail: its one line and its status.
fn refused(args: &[&str], f: &Files) -> (String, i32) {
    let out = process::command(BIN)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--admin-token-file")
        .arg(&f.admin)
        .output()
        .expect("run zkppd");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (err, out.status.code().unwrap_or(-1))
}

#[test]
fn start_up_faults_name_the_cause_and_never_the_password() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::shared();
    let f = files();
    let key = f.key.to_str().unwrap_or_default().to_owned();
    // Unreachable: nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("postgres://zkppd:{PASSWORD}@127.0.0.1:{port}/x");
    let (err, code) = refused(&["--db", &url, "--handshake-key-file", &key], &f);
    assert_ne!(code, 0);
    assert!(
        err.contains("cannot connect to postgres://zkppd@127.0.0.1:"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("refused"), "{err}");
    assert!(!err.contains(PASSWORD), "password in: {err}");

    // No handshake key.
    let db = pg.database()?;
    let (err, code) = refused(&["--db", &pg.url(&db)], &f);
    assert_ne!(code, 0);
    assert!(err.contains("--handshake-key-file"), "{err}");

    // Another application's database.
    let other = pg.database()?;
    pg.connect(&other)?
        .batch_execute("CREATE TABLE invoices (id int)")?;
    let (err, code) = refused(&["--db", &pg.url(&other), "--handshake-key-file", &key], &f);
    assert_ne!(code, 0);
    assert!(err.contains("not a zkppd database"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    // A newer schema.
    let mut s = instance(&pg.url(&db), &f);
    s.terminate(Duration::from_secs(10));
    pg.connect(&db)?
        .batch_execute("UPDATE zkppd_meta SET value = '99' WHERE key = 'schema_version'")?;
    let (err, code) = refused(&["--db", &pg.url(&db), "--handshake-key-file", &key], &f);
    assert_ne!(code, 0);
    assert!(err.contains("schema version 99 is newer"), "{err}");

    // Wrong password: named, not shown.
    let (err, code) = refused(
        &[
            "--db",
            &format!(
                "postgres://zkppd:not-the-password@127.0.0.1:{}/{db}",
                pg.port()
            ),
            "--handshake-key-file",
            &key,
        ],
        &f,
    );
    assert_ne!(code, 0);
    assert!(err.contains("password authentication failed"), "{err}");
    assert!(!err.contains("not-the-password"), "{err}");
    Ok(())
}

#[test]
fn the_password_from_a_file_or_the_url_never_reaches_the_log() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::shared();
    let db = pg.database()?;
    let f = files();
    let pw = f.dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n"))?;
    let mut a = Spawn::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "debug",
            "--db",
            &pg.url_without_password(&db),
        ])
        .arg("--db-password-file")
        .arg(&pw)
        .arg("--admin-token-file")
        .arg(&f.admin)
        .arg("--handshake-key-file")
        .arg(&f.key)
        .start();
    let mut b = Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--log-level", "debug"])
        .env("ZKPPD_DB", pg.url(&db))
        .arg("--admin-token-file")
        .arg(&f.admin)
        .arg("--handshake-key-file")
        .arg(&f.key)
        .start();
    let mut h = Http::new(b.addr());
    h.fill("profile", &["p".into()]);
    h.fill("signup", &["s".into()]);
    assert_eq!(
        Http::new(a.addr())
            .must("/v1/signup", &zkppd_testkit::signup_body("x", "p"))
            .status,
        200
    );
    a.terminate(Duration::from_secs(10));
    b.terminate(Duration::from_secs(10));
    for log in [a.log(), b.log()] {
        assert!(
            log.contains(&format!("db=postgres://zkppd@127.0.0.1:{}/{db}", pg.port())),
            "{log}"
        );
        assert!(!log.contains(PASSWORD), "password in the log:\n{log}");
    }
    // --help shows no value of ZKPPD_DB.
    let out = process::command(BIN)
        .arg("--help")
        .env("ZKPPD_DB", pg.url(&db))
        .output()?;
    assert!(!String::from_utf8_lossy(&out.stdout).contains(PASSWORD));
    Ok(())
}

/// Files of a relation (and its indexes) under the data directory.
fn relation_files(pg: &Postgres, db: &str, table: &str) -> Vec<PathBuf> {
    let mut c = pg.connect(db).expect("connect");
    let rows = c
        .query(
            "SELECT pg_relation_filepath(oid) FROM pg_class WHERE oid = $1::text::regclass
             OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = $1::text::regclass)",
            &[&table],
        )
        .expect("paths");
    let data = pg.data_dir();
    rows.iter()
        .flat_map(|r| {
            let base: String = r.get(0);
            let main = data.join(&base);
            // The main fork and its 1 GB segments.
            let dir = main.parent().map(Path::to_path_buf).unwrap_or_default();
            let name = main
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(move |e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n == name || n.starts_with(&format!("{name}."))
                })
                .map(|e| e.path())
                .collect::<Vec<_>>()
        })
        .collect()
}

fn files_hold(files: &[PathBuf], needle: &str) -> bool {
    files.iter().any(|p| {
        std::fs::read(p)
            .is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

#[test]
fn a_handed_out_signup_token_leaves_the_tables_files() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (pg, db, _f, a, _b) = pair();
    let mut h = Http::new(a.addr());
    let tokens: Vec<String> = (0..50)
        .map(|i| format!("unlinkable-signup-token-{i:03}"))
        .collect();
    h.fill("profile", &["p".into()]);
    h.fill("signup", &tokens);
    let r = h.must("/v1/signup", &zkppd_testkit::signup_body("x", "p"));
    assert_eq!(r.status, 200);
    let handed = r.json()["token"].as_str().unwrap_or_default().to_owned();
    // The vacuum runs within a second or two of the sign-up.
    let start = Instant::now();
    loop {
        pg.connect(&db)?.batch_execute("CHECKPOINT")?;
        let files = relation_files(&pg, &db, "signup_tokens");
        let kept = tokens
            .iter()
            .find(|t| **t != handed)
            .cloned()
            .unwrap_or_default();
        // The search works: a token still in the bucket is found (a
        // VACUUM FULL between the path query and the read swaps the file:
        // then look again).
        let search_works = files_hold(&files, &kept);
        if search_works && !files_hold(&files, &handed) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{}",
            if search_works {
                format!("{handed} is still in the signup table's files")
            } else {
                format!("the search finds nothing: {files:?}")
            }
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[test]
fn handshakes_in_the_database_hold_no_secret_b() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let (pg, db, _f, a, _b) = pair();
    let mut h = Http::new(a.addr());
    let eph = zkppd_srp::client::generate_ephemeral();
    assert_eq!(
        h.must(
            "/v1/signin",
            &json!({"profile_id": "someone", "key": eph.public})
        )
        .status,
        200
    );
    let mut c = pg.connect(&db)?;
    let cols: Vec<String> = c
        .query("SELECT column_name::text FROM information_schema.columns WHERE table_name = 'handshakes'", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(!cols.iter().any(|c| c == "b"), "{cols:?}");
    assert_eq!(pg.count(&db, "SELECT count(*) FROM handshakes"), 1);
    // Unlogged: not in the WAL, its archive or a replica.
    let persistence: String = c
        .query_one(
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'handshakes'",
            &[],
        )?
        .get(0);
    assert_eq!(persistence, "u");
    Ok(())
}

/// Runs an admin subcommand; (success, stdout, stderr).
fn admin(args: &[&str]) -> (bool, String, String) {
    let out = process::command(BIN)
        .args(args)
        .output()
        .expect("run zkppd");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn migrate_sqlite_to_postgres_and_back_then_sign_in() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::shared();
    let f = files();
    let file = f.dir.path().join("zkppd.db");
    let file = file.to_str().unwrap_or_default();
    // Profiles on SQLite, through the real binary.
    let mut s = Spawn::server(BIN, Path::new(file), &f.admin).start();
    let mut h = Http::new(s.addr());
    h.fill("profile", &["p1".into(), "p2".into()]);
    h.fill("signup", &tokens_named("s", 3));
    let carol = Account::new("carol", "pw of carol");
    assert_eq!(sign_up(&mut h, &carol, "p1").0, 200);
    s.terminate(Duration::from_secs(10));

    let db = pg.database()?;
    let url = pg.url(&db);
    let (ok, out, err) = admin(&["migrate", "--from", file, "--to", &url]);
    assert!(ok, "{err}");
    assert!(
        out.contains("profiles: 1\n") && out.contains("signup_tokens: 2\n"),
        "{out}"
    );
    assert!(
        !out.contains(PASSWORD) && !err.contains(PASSWORD),
        "{out}{err}"
    );
    // Into a non-empty database: refused, nothing copied.
    let (ok, _, err) = admin(&["migrate", "--from", file, "--to", &url]);
    assert!(!ok);
    assert!(err.contains("not empty"), "{err}");

    // On PostgreSQL: carol signs in; the unused profile token still works
    // (the install secret came along, so its hash matches).
    let (a, b) = (instance(&url, &f), instance(&url, &f));
    let mut ha = Http::new(a.addr());
    assert!(ha.sign_in("carol", "pw of carol")?.is_ok());
    let dave = Account::new("dave", "pw of dave");
    assert_eq!(sign_up(&mut Http::new(b.addr()), &dave, "p2").0, 200);

    // Admin subcommands against PostgreSQL.
    let (ok, out, err) = admin(&["bucket", "count", "--db", &url]);
    assert!(ok, "{err}");
    assert_eq!(out, "profile: 0\nsignup: 1\n");
    let (ok, out, err) = admin(&["check", "--db", &url]);
    assert!(ok, "{err}");
    assert!(
        out.contains("profiles: 2") && !out.contains(PASSWORD),
        "{out}"
    );
    let (ok, out, _) = admin(&["session", "revoke", "--profile", "carol", "--db", &url]);
    assert!(ok);
    assert_eq!(out, "sessions_ended: 1\n");
    drop((a, b));

    // And back to a new SQLite file, where both sign in.
    let back = f.dir.path().join("back.db");
    let back = back.to_str().unwrap_or_default();
    let (ok, out, err) = admin(&["migrate", "--from", &url, "--to", back]);
    assert!(ok, "{err}");
    assert!(out.contains("profiles: 2\n"), "{out}");
    let s = Spawn::server(BIN, Path::new(back), &f.admin).start();
    let mut h = Http::new(s.addr());
    assert!(h.sign_in("carol", "pw of carol")?.is_ok());
    assert!(h.sign_in("dave", "pw of dave")?.is_ok());
    Ok(())
}

fn tokens_named(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

#[test]
fn every_statement_of_a_draw_uses_the_primary_key() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::shared();
    let db = pg.database()?;
    let f = files();
    let mut s = instance(&pg.url(&db), &f);
    Http::new(s.addr()).fill("signup", &tokens_named("plan", 20_000));
    s.terminate(Duration::from_secs(10));
    let mut c = pg.connect(&db)?;
    c.batch_execute("ANALYZE signup_tokens")?;
    for (i, sql) in zkppd_core::store::postgres::DRAW_QUERIES.iter().enumerate() {
        let args = match sql.matches('$').count() {
            0 => String::new(),
            1 => "(5)".into(),
            _ => "(5, 19999)".into(),
        };
        c.batch_execute(&format!("PREPARE q{i} AS {sql}"))?;
        let plan: Vec<String> = c
            .query(&format!("EXPLAIN EXECUTE q{i}{args}"), &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let plan = plan.join("\n");
        assert!(plan.contains("signup_tokens_pkey"), "{sql}:\n{plan}");
        assert!(!plan.contains("Seq Scan"), "{sql}:\n{plan}");
    }
    Ok(())
}

#[test]
fn tls_follows_sslmode_and_verifies_the_servers_certificate() -> TestResult {
    let _g = zkppd_testkit::serial::alone();
    let pg = Postgres::start_tls()?;
    let db = pg.database()?;
    let f = files();
    let url = format!(
        "postgres://zkppd:{PASSWORD}@localhost:{}/{db}?sslmode=require",
        pg.port()
    );
    // A CA store without the server's CA: refused at start-up, saying why.
    let out = process::command(BIN)
        .args(["--listen", "127.0.0.1:0", "--db", &url])
        .arg("--handshake-key-file")
        .arg(&f.key)
        .env("SSL_CERT_FILE", f.dir.path().join("no-such-ca.pem"))
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("cannot connect to postgres://zkppd@localhost:"),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");

    // Trusting the CA: it serves, over TLS.
    let s = Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--db", &url])
        .arg("--handshake-key-file")
        .arg(&f.key)
        .arg("--admin-token-file")
        .arg(&f.admin)
        .env("SSL_CERT_FILE", pg.ca_file())
        .start();
    let mut h = Http::new(s.addr());
    h.fill("profile", &["p".into()]);
    h.fill("signup", &["s".into()]);
    assert_eq!(
        h.must("/v1/signup", &zkppd_testkit::signup_body("tls", "p"))
            .status,
        200
    );
    let tls = pg.count(
        &db,
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
         WHERE ssl AND application_name = 'zkppd'",
    );
    let plain = pg.count(
        &db,
        "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
         WHERE NOT ssl AND application_name = 'zkppd'",
    );
    assert!(tls >= 1 && plain == 0, "tls {tls}, plain {plain}");
    Ok(())
}
