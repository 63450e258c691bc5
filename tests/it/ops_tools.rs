//! The operator tools people ask for first (issue 11, item 11), with the
//! real binary: `bucket generate` hands out working invites, `profile list`
//! shows ids and creation times (text and JSON), including profiles from
//! before schema 4, and the process and build-info metrics (item 13).

use std::collections::HashSet;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use zkppd_testkit::db::open as sqlite;
use zkppd_testkit::process::{Spawn, command};
use zkppd_testkit::{Account, TestResult};

use crate::BIN;

fn run(args: &[&str]) -> std::io::Result<Output> {
    command(BIN).args(args).output()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `bucket generate`: N distinct 128-bit hex tokens, one per line and
/// nothing else on stdout, in the bucket; the printed tokens are the
/// ones a sign-up accepts.
#[test]
fn generated_tokens_are_fresh_printed_once_and_work() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let db_s = db.display().to_string();
    let profile = run(&["bucket", "generate", "profile", "5", "--db", &db_s])?;
    assert!(profile.status.success(), "{}", stderr(&profile));
    let tokens: Vec<String> = stdout(&profile).lines().map(str::to_owned).collect();
    assert_eq!(tokens.len(), 5, "{}", stdout(&profile));
    assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), 5);
    for t in &tokens {
        assert!(
            t.len() == 32
                && t.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{t}"
        );
    }
    let signup = run(&["bucket", "generate", "signup", "3", "--db", &db_s])?;
    let handed: HashSet<String> = stdout(&signup).lines().map(str::to_owned).collect();
    assert_eq!(handed.len(), 3);
    let count = run(&["bucket", "count", "--db", &db_s])?;
    assert_eq!(stdout(&count), "profile: 5\nsignup: 3\n");

    for bad in [
        vec!["bucket", "generate", "other", "1"],
        vec!["bucket", "generate", "profile", "0"],
    ] {
        let o = run(&[bad.as_slice(), &["--db", &db_s]].concat())?;
        assert!(!o.status.success(), "{bad:?} accepted");
    }

    // A printed profile token signs up, and the signup token it hands out
    // is one of the printed ones.
    let token = zkppd_testkit::admin_token_file(dir.path());
    let mut server = Spawn::server(BIN, &db, &token).start();
    let alice = Account::new("alice", "alice's password");
    let r = zkppd_testkit::http::post(
        server.addr(),
        "/v1/signup",
        &alice.signup_body(&tokens[0]),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = r.json()["token"].as_str().unwrap_or_default().to_owned();
    assert!(handed.contains(&got), "{got} was not printed");
    assert!(server.terminate(Duration::from_secs(15)).success());
    Ok(())
}

/// `profile list`: ids with creation times, oldest first, as lines and as
/// JSON; a profile from before schema 4 has no time (`-`, null); no
/// verifier or salt is ever printed.
#[test]
fn profile_list_shows_ids_and_creation_times() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let db_s = db.display().to_string();
    let import = |id: &str| -> std::io::Result<Output> {
        use std::io::Write;
        let mut child = command(BIN)
            .args(["profile", "import", "--db", &db_s])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        let line = json!({"profile_id": id, "zkpp": zkppd_testkit::some_verifier(), "salt": zkppd_testkit::some_salt()});
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(format!("{line}\n").as_bytes())?;
        child.wait_with_output()
    };
    let before = zkppd_core::now_ms();
    assert!(import("old")?.status.success());
    // "old" as a schema-3 file had it: no creation time.
    sqlite(&db).execute_batch("UPDATE profiles SET created_ms = 0 WHERE id = 'old'")?;
    std::thread::sleep(Duration::from_millis(5));
    assert!(import("bob")?.status.success());
    std::thread::sleep(Duration::from_millis(5));
    assert!(import("alice")?.status.success());
    let after = zkppd_core::now_ms();

    let o = run(&["profile", "list", "--db", &db_s])?;
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0], "old -");
    assert!(
        lines[1].starts_with("bob 20") && lines[1].ends_with('Z'),
        "{lines:?}"
    );
    assert!(lines[2].starts_with("alice 20"), "{lines:?}");
    let verifier: String =
        sqlite(&db).query_row("SELECT verifier FROM profiles LIMIT 1", [], |r| r.get(0))?;
    assert!(!stdout(&o).contains(&verifier[..32]));

    let o = run(&["profile", "list", "--json", "--db", &db_s])?;
    let v: Value = serde_json::from_slice(&o.stdout)?;
    let list = v.as_array().expect("an array");
    assert_eq!(list.len(), 3);
    assert_eq!(list[0], json!({"profile_id": "old", "created": null}));
    assert_eq!(list[2]["profile_id"], "alice");
    let created = list[2]["created"].as_str().expect("a time");
    let at = humantime_ms(created);
    assert!(
        (before..=after).contains(&at),
        "{created} not within the run"
    );

    // An empty database lists nothing; a missing one is an error.
    let empty = dir.path().join("empty.db");
    assert!(
        run(&[
            "bucket",
            "generate",
            "signup",
            "1",
            "--db",
            &empty.display().to_string()
        ])?
        .status
        .success()
    );
    let o = run(&[
        "profile",
        "list",
        "--json",
        "--db",
        &empty.display().to_string(),
    ])?;
    assert_eq!(stdout(&o), "[]\n");
    let o = run(&[
        "profile",
        "list",
        "--db",
        &dir.path().join("nope.db").display().to_string(),
    ])?;
    assert!(!o.status.success());
    Ok(())
}

/// Milliseconds since the epoch of an RFC 3339 UTC time with milliseconds.
fn humantime_ms(s: &str) -> i64 {
    // YYYY-MM-DDTHH:MM:SS.mmmZ, by hand: days from civil (Howard Hinnant).
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + n(11, 13)) * 60 + n(14, 16)) * 60_000 + n(17, 19) * 1000 + n(20, 23)
}

/// `backup --keep N` (the package's daily zkppd-backup.timer): dated,
/// verified copies in a 0700 directory, of which the newest N stay.
#[test]
fn rotated_backups_keep_the_newest_copies() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db").display().to_string();
    assert!(
        run(&["bucket", "generate", "signup", "1", "--db", &db])?
            .status
            .success()
    );
    let into = dir.path().join("backups");
    let into_s = into.display().to_string();
    let mut made = Vec::new();
    for _ in 0..3 {
        let o = run(&["backup", "--keep", "2", &into_s, "--db", &db])?;
        assert!(o.status.success(), "{}", stderr(&o));
        let line = stdout(&o).lines().next().unwrap_or_default().to_owned();
        made.push(
            line.strip_prefix("backup: ")
                .expect("backup: PATH")
                .to_owned(),
        );
        // Copies are named to the second.
        std::thread::sleep(Duration::from_millis(1100));
    }
    assert_eq!(
        std::fs::metadata(&into)?.permissions().mode() & 0o777,
        0o700
    );
    let mut left: Vec<String> = std::fs::read_dir(&into)?
        .map(|e| e.map(|e| into.join(e.file_name()).display().to_string()))
        .collect::<Result<_, _>>()?;
    left.sort();
    assert_eq!(left, made[1..].to_vec(), "the oldest copy should be gone");
    for copy in &left {
        assert!(
            copy.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("zkppd-") && n.ends_with("Z.db"))
        );
        let o = run(&["check", "--db", copy])?;
        assert!(o.status.success(), "{}", stderr(&o));
    }
    Ok(())
}

/// The value of an unlabelled sample `name` in an exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Item 13: the process families (CPU, memory, file descriptors, start
/// time) and `zkppd_build_info` beside the server's own, and the whole
/// exposition passes `promtool check metrics` (when promtool is installed:
/// packaging/check.sh installs it and runs the same check in CI).
#[test]
fn metrics_have_process_and_build_info_and_pass_promtool() -> TestResult {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs_f64();
    let mut server = Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--temp-db"])
        .args(["--metrics-listen", "127.0.0.1:0"])
        .start();
    let at = server.wait_addr("metrics on http://");
    let r = zkppd_testkit::http::get(at, "/metrics", &[]);
    assert_eq!(r.status, 200);
    let text = r.text();
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
    ] {
        let v = sample(&text, name).unwrap_or_else(|| panic!("no {name} in\n{text}"));
        assert!(v >= 0.0, "{name} {v}");
    }
    assert!(sample(&text, "process_resident_memory_bytes").unwrap_or(0.0) > 1e6);
    assert!(sample(&text, "process_open_fds").unwrap_or(0.0) >= 3.0);
    let started = sample(&text, "process_start_time_seconds").expect("start time");
    assert!(
        started >= before - 1.0 && started <= before + 30.0,
        "{started} vs {before}"
    );
    let info = text
        .lines()
        .find(|l| l.starts_with("zkppd_build_info{"))
        .unwrap_or_else(|| panic!("no build info in\n{text}"));
    assert!(
        info.contains(&format!("version=\"{}\"", env!("CARGO_PKG_VERSION")))
            && info.contains("commit=\"")
            && info.ends_with("} 1"),
        "{info}"
    );

    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    match promtool {
        Err(e) => eprintln!("promtool not run ({e}): packaging/check.sh runs it"),
        Ok(mut child) => {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            let out = child.wait_with_output()?;
            assert!(
                out.status.success(),
                "promtool check metrics: {}{}",
                stdout(&out),
                stderr(&out)
            );
        }
    }
    assert!(server.terminate(Duration::from_secs(15)).success());
    Ok(())
}
