//! The admin subcommands, run as the real binary against real database
//! files, some of them while a server serves the same file.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use zkppd_testkit::db::open as sqlite;
use zkppd_testkit::{Account, TestResult, TestServer, signup_body, some_salt, some_verifier};

/// The binary with nothing inherited that could change it.
fn zkppd(args: &[&str]) -> Command {
    let mut cmd = zkppd_testkit::process::command(crate::BIN);
    cmd.args(args);
    cmd
}

/// Runs the binary with `stdin` piped in.
fn run_with_input(args: &[&str], stdin: &str) -> std::io::Result<Output> {
    let mut child = zkppd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin.as_bytes())?;
    child.wait_with_output()
}

fn run(args: &[&str]) -> std::io::Result<Output> {
    zkppd(args).output()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of a `key: value` line of a report.
fn field(o: &Output, key: &str) -> Option<String> {
    stdout(o).lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(": "))
            .map(str::to_owned)
    })
}

fn number(o: &Output, key: &str) -> i64 {
    field(o, key)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no `{key}: N` in {:?}", stdout(o)))
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// Asserts failure with one `zkppd: …` line naming the cause (after the
/// audit line, if the command wrote one).
#[track_caller]
fn assert_fails(o: &Output, needle: &str) {
    assert!(!o.status.success(), "succeeded: {}", stdout(o));
    let err = stderr(o);
    let cause: String = err
        .split_inclusive('\n')
        .filter(|l| !l.contains(" audit: "))
        .collect();
    assert!(
        cause.starts_with("zkppd: ") && cause.contains(needle),
        "stderr {err:?} does not name {needle:?}"
    );
}

fn db_arg(path: &Path) -> String {
    path.display().to_string()
}

fn count(path: &Path, sql: &str) -> i64 {
    zkppd_testkit::db::count(&sqlite(path), sql)
}

#[test]
fn bucket_fill_from_a_file_and_from_stdin_then_count() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let db = db_arg(&db);
    let file = dir.path().join("tokens.txt");
    std::fs::write(&file, "tok-a-0001\ntok-a-0002\r\n\ntok-a-0001\n")?;

    // A fill may create the database (tokens before the first start).
    let o = run(&["bucket", "fill", "profile", &db_arg(&file), "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "inserted"), 2);
    assert_eq!(number(&o, "duplicates"), 1);

    let o = run_with_input(
        &["bucket", "fill", "signup", "-", "--db", &db],
        "s1\ns2\ns3\n",
    )?;
    assert_ok(&o);
    assert_eq!(number(&o, "inserted"), 3);
    // No FILE argument reads standard input too.
    let o = run_with_input(&["bucket", "fill", "signup", "--db", &db], "s3\ns4\n")?;
    assert_ok(&o);
    assert_eq!((number(&o, "inserted"), number(&o, "duplicates")), (1, 1));

    let o = run(&["bucket", "count", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "profile"), 2);
    assert_eq!(number(&o, "signup"), 4);

    // The profile bucket keeps only keyed hashes, as the HTTP route does.
    let path = dir.path().join("zkppd.db");
    let hashed: i64 = count(
        &path,
        "SELECT count(*) FROM profile_tokens WHERE length(hash) = 32",
    );
    assert_eq!(hashed, 2);
    Ok(())
}

#[test]
fn bucket_fill_rejects_bad_tokens_and_buckets_inserting_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = db_arg(&dir.path().join("zkppd.db"));
    // An empty fill creates the database and inserts nothing.
    let o = run_with_input(&["bucket", "fill", "signup", "--db", &db], "")?;
    assert_ok(&o);
    assert_eq!(number(&o, "inserted"), 0);
    let long = "x".repeat(257);
    for (input, line) in [
        ("good-1\nhas space\n", "line 2"),
        ("good-1\n\tab\n", "line 2"),
        (&format!("{long}\n") as &str, "line 1"),
        ("good-1\nnon-ascii-é\n", "line 2"),
    ] {
        let o = run_with_input(&["bucket", "fill", "signup", "--db", &db], input)?;
        assert_fails(&o, line);
    }
    let o = run_with_input(&["bucket", "fill", "nope", "--db", &db], "good-1\n")?;
    assert_fails(&o, "unknown bucket");
    let o = run(&["bucket", "count", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "signup"), 0);
    Ok(())
}

#[test]
fn the_database_is_found_through_zkppd_db_and_never_created_by_reads() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("env.db");
    let o = zkppd(&["bucket", "fill", "signup"])
        .env("ZKPPD_DB", &db)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(b"env-token\n")?;
            c.wait_with_output()
        })?;
    assert_ok(&o);
    let o = zkppd(&["bucket", "count"]).env("ZKPPD_DB", &db).output()?;
    assert_ok(&o);
    assert_eq!(number(&o, "signup"), 1);

    // A typo in --db is an error, not a new empty database.
    let missing = dir.path().join("missing.db");
    for args in [
        vec!["bucket", "count"],
        vec!["check"],
        vec!["profile", "delete", "p1"],
        vec!["session", "revoke", "--profile", "p1"],
    ] {
        let mut args = args.clone();
        let m = db_arg(&missing);
        args.extend(["--db", &m]);
        assert_fails(&run(&args)?, "no database at");
    }
    let backup_dest = db_arg(&dir.path().join("copy.db"));
    assert_fails(
        &run(&["backup", &backup_dest, "--db", &db_arg(&missing)])?,
        "no database at",
    );
    assert!(!missing.exists());

    // Server flags belong to `serve`, not to an admin command.
    let o = run(&["--listen", "127.0.0.1:0", "bucket", "count"])?;
    assert!(!o.status.success());
    Ok(())
}

#[test]
fn check_reports_integrity_and_version_and_refuses_other_files() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("zkppd.db");
    let db = db_arg(&path);
    assert_ok(&run_with_input(
        &["bucket", "fill", "signup", "--db", &db],
        "a1\n",
    )?);
    let o = run(&["check", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(field(&o, "integrity").as_deref(), Some("ok"));
    assert_eq!(number(&o, "schema_version"), 4);
    assert_eq!(number(&o, "profiles"), 0);

    // A file of schema 1 (before the lockout and reset-token tables and
    // the profiles' creation time) is migrated in place, its data kept.
    let old = dir.path().join("v1.db");
    std::fs::copy(&path, &old)?;
    sqlite(&old).execute_batch(
        "DROP TABLE lockouts; DROP TABLE reset_tokens; \
         ALTER TABLE profiles DROP COLUMN created_ms; PRAGMA user_version = 1;",
    )?;
    let o = run(&["check", "--db", &db_arg(&old)])?;
    assert_ok(&o);
    assert_eq!(number(&o, "schema_version"), 4);
    let o = run(&["bucket", "count", "--db", &db_arg(&old)])?;
    assert_eq!(number(&o, "signup"), 1);
    assert_eq!(
        sqlite(&old).query_row("SELECT count(*) FROM lockouts", [], |r| r.get::<_, i64>(0))?,
        0
    );

    let other = dir.path().join("other.db");
    sqlite(&other).execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
    assert_fails(
        &run(&["check", "--db", &db_arg(&other)])?,
        "not a zkppd database",
    );

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5au8; 8192])?;
    assert!(!run(&["check", "--db", &db_arg(&junk)])?.status.success());

    // A file from a newer zkppd is refused, naming the version.
    let newer = dir.path().join("newer.db");
    std::fs::copy(&path, &newer)?;
    sqlite(&newer).execute_batch("PRAGMA user_version = 99")?;
    assert_fails(&run(&["check", "--db", &db_arg(&newer)])?, "newer");
    Ok(())
}

#[test]
fn session_revoke_and_profile_delete_take_effect_on_a_running_server() -> TestResult {
    let s = TestServer::start();
    let alice = Account::new("alice", "alice's password");
    let bob = Account::new("bob", "bob's password");
    s.sign_up(&alice);
    s.sign_up(&bob);
    let path = s.db_path();
    let db = db_arg(&path);
    // Sessions as the server hands them out: two for alice, one for bob.
    let alice_phone = json!({"jwt": s.session_for(&alice)});
    let alice_laptop = json!({"jwt": s.session_for(&alice)});
    let bob_phone = json!({"jwt": s.session_for(&bob)});
    for (t, jwt) in [
        ("alice-phone", &alice_phone),
        ("alice-laptop", &alice_laptop),
        ("bob-phone", &bob_phone),
    ] {
        assert_eq!(s.post("/v1/verify", jwt).status, 200, "{t}");
    }

    let o = run(&["session", "revoke", "--profile", "alice", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "sessions_ended"), 2);
    // No cache answers for the database: invalid at once.
    s.post("/v1/verify", &alice_phone)
        .assert_error(400, "Invalid token");
    s.post("/v1/verify", &alice_laptop)
        .assert_error(400, "Invalid token");
    assert_eq!(s.post("/v1/verify", &bob_phone).status, 200);
    // Revoking again is not an error: there is simply nothing left.
    let o = run(&["session", "revoke", "--profile", "alice", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "sessions_ended"), 0);

    let o = run(&["profile", "delete", "bob", "--db", &db])?;
    assert_ok(&o);
    assert_eq!(number(&o, "sessions_ended"), 1);
    s.post("/v1/verify", &bob_phone)
        .assert_error(400, "Invalid token");
    assert_eq!(s.count("SELECT count(*) FROM profiles WHERE id = 'bob'"), 0);
    assert_eq!(
        s.count("SELECT count(*) FROM profiles WHERE id = 'alice'"),
        1
    );

    assert_fails(
        &run(&["profile", "delete", "bob", "--db", &db])?,
        "no profile",
    );
    assert_fails(
        &run(&["profile", "delete", "bad\nid", "--db", &db])?,
        "not a valid profile id",
    );
    Ok(())
}

fn import_line(id: &str, zkpp: &str, salt: &str) -> String {
    json!({"profile_id": id, "zkpp": zkpp, "salt": salt}).to_string() + "\n"
}

#[test]
fn profile_import_validates_like_signup_and_is_all_or_nothing() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("zkppd.db");
    let db = db_arg(&path);
    let v = some_verifier();
    let salt = some_salt();
    assert_ok(&run_with_input(&["profile", "import", "--db", &db], "\n")?);
    let good = import_line("u-1", &v, &salt) + &import_line("u-2", &v.to_uppercase(), "AB01");

    // Each bad line stops the whole import, naming its line.
    let n_hex = "f".repeat(512);
    for (bad, why) in [
        ("{\"profile_id\": \"x\"}\n".to_owned(), "line 3"),
        (import_line("", &v, &salt), "line 3: invalid profile_id"),
        (import_line("x", "01", &salt), "line 3: zkpp"),
        (import_line("x", &n_hex, &salt), "line 3: zkpp"),
        (import_line("x", "zz", &salt), "line 3: zkpp"),
        (import_line("x", &v, "a"), "line 3: salt"),
        (import_line("x", &v, &"ab".repeat(257)), "line 3: salt"),
        (
            json!({"profile_id": "x", "zkpp": v, "salt": salt, "extra": 1}).to_string(),
            "line 3",
        ),
        ("not json\n".to_owned(), "line 3"),
    ] {
        let o = run_with_input(&["profile", "import", "--db", &db], &(good.clone() + &bad))?;
        assert_fails(&o, why);
    }
    assert_eq!(count(&path, "SELECT count(*) FROM profiles"), 0);

    let file = dir.path().join("profiles.jsonl");
    std::fs::write(&file, &good)?;
    let o = run(&["profile", "import", &db_arg(&file), "--db", &db])?;
    assert_ok(&o);
    assert_eq!((number(&o, "imported"), number(&o, "unchanged")), (2, 0));
    // Re-running changes nothing and says so.
    let o = run_with_input(&["profile", "import", "-", "--db", &db], &good)?;
    assert_ok(&o);
    assert_eq!((number(&o, "imported"), number(&o, "unchanged")), (0, 2));
    // A clash with a different record stops everything.
    let clash = import_line("u-3", &v, &salt) + &import_line("u-1", &v, "cd");
    assert_fails(
        &run_with_input(&["profile", "import", "--db", &db], &clash)?,
        "line 2: profile `u-1` already exists",
    );
    assert_eq!(count(&path, "SELECT count(*) FROM profiles"), 2);

    // The server answers sign-in step 1 with the imported salt, verbatim.
    let dir = tempfile::tempdir()?;
    std::fs::copy(&path, dir.path().join("zkppd.db"))?;
    let s = TestServer::on(dir, |_| {});
    let a = format!("{:0>512}", "2");
    let r = s.post("/v1/signin", &json!({"profile_id": "u-2", "key": a}));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["salt"], "AB01");
    Ok(())
}

#[test]
fn backup_while_signing_up_holds_every_answered_profile() -> TestResult {
    let s = Arc::new(TestServer::start());
    const N: usize = 600;
    let tokens = s.fill_both("bk", N);
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));

    let writer = {
        let (s, answered, stop) = (s.clone(), answered.clone(), stop.clone());
        std::thread::spawn(move || {
            for (i, token) in tokens.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let id = format!("profile-{i:04}");
                let r = s.post("/v1/signup", &signup_body(&id, token));
                assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                answered.lock().expect("lock").push(id);
            }
        })
    };
    // Let sign-ups get going, then take the backup in the middle of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while answered.lock().expect("lock").len() < 50 {
        assert!(std::time::Instant::now() < deadline, "sign-ups too slow");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before: Vec<String> = answered.lock().expect("lock").clone();
    let dir = tempfile::tempdir()?;
    let dest = dir.path().join("copy.db");
    let o = run(&["backup", &db_arg(&dest), "--db", &db_arg(&s.db_path())])?;
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer thread");
    assert_ok(&o);
    assert_eq!(field(&o, "integrity").as_deref(), Some("ok"));
    // (Sign-ups keep being answered while the backup runs: typically a
    // handful overlap it. The copy must be a consistent snapshot anyway.)

    // The copy opens, passes integrity_check, and holds every profile
    // answered before the backup began.
    let copy = sqlite(&dest);
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    assert_eq!(check, "ok");
    let mut stmt = copy.prepare("SELECT count(*) FROM profiles WHERE id = ?1")?;
    for id in &before {
        let n: i64 = stmt.query_row([id], |r| r.get(0))?;
        assert_eq!(n, 1, "{id} answered before the backup but missing from it");
    }
    let in_copy: i64 = copy.query_row("SELECT count(*) FROM profiles", [], |r| r.get(0))?;
    assert_eq!(number(&o, "profiles"), in_copy);
    // Consistent: every profile in the copy consumed exactly one token.
    let used: i64 = copy.query_row(
        "SELECT count(*) FROM profile_tokens WHERE used = 1",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(used, in_copy);
    let signup_left: i64 =
        copy.query_row("SELECT count(*) FROM signup_tokens", [], |r| r.get(0))?;
    assert_eq!(signup_left + in_copy, N as i64);
    drop(stmt);
    drop(copy);

    // The copy is a zkppd database the binary accepts, and the backup
    // never overwrites.
    assert_ok(&run(&["check", "--db", &db_arg(&dest)])?);
    assert_fails(
        &run(&["backup", &db_arg(&dest), "--db", &db_arg(&s.db_path())])?,
        "already exists",
    );
    Ok(())
}

#[test]
fn generate_assets_writes_man_pages_and_completions_and_stays_hidden() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("assets");
    assert_ok(&run(&["generate-assets", &db_arg(&out)])?);
    for file in [
        "man/zkppd.1",
        "man/zkppd-serve.1",
        "man/zkppd-backup.1",
        "man/zkppd-bucket-fill.1",
        "completions/zkppd.bash",
        "completions/_zkppd",
        "completions/zkppd.fish",
    ] {
        let text = std::fs::read_to_string(out.join(file))?;
        assert!(text.contains("zkppd"), "{file} is empty");
    }
    let page = std::fs::read_to_string(out.join("man/zkppd.1"))?;
    assert!(page.contains(".SH ENVIRONMENT") && page.contains("ZKPPD_DB"));
    let bash = std::fs::read_to_string(out.join("completions/zkppd.bash"))?;
    assert!(bash.contains("--metrics-listen") && bash.contains("backup"));
    // A packagers' tool: not in the help operators read.
    let help = stdout(&run(&["--help"])?);
    assert!(help.contains("backup") && !help.contains("generate-assets"));
    Ok(())
}
