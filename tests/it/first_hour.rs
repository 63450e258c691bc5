//! A new user's first hour (issue 11, items 4–10), with the real binary:
//! private files and warnings about readable ones, a mistyped log level, a
//! start-up failure in one line (text or JSON), `--db` on either side of
//! the subcommand and from the package's environment file, SIGHUP reloads
//! without dropping a connection, `--listen` errors that say what is
//! expected, and one audit line per admin command.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use serde_json::{Value, json};
use zkppd_testkit::process::{Signal, Spawn, command};
use zkppd_testkit::{Http, TestResult};

use crate::BIN;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// A token file with `token`, mode 0600 (no warning about it).
fn token_file(dir: &Path, name: &str, token: &str) -> std::io::Result<std::path::PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, format!("{token}\n"))?;
    chmod(&path, 0o600)?;
    Ok(path)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fill(addr: std::net::SocketAddr, token: &str) -> u16 {
    zkppd_testkit::http::post(
        addr,
        "/v1/bucket/fill",
        &json!({"bucket": "signup", "tokens": [format!("t{}", zkppd_testkit::random_u64())]}),
        Some(token),
    )
    .status
}

/// Item 4: the database, its -wal and -shm are created 0600 and the
/// --temp-db directory 0700; a token file or database that others may read
/// is warned about at start-up, each by name.
#[test]
fn database_files_are_private_and_readable_secrets_are_warned_about() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let token = token_file(dir.path(), "admin-token", "first-admin-token-0123456789")?;
    chmod(&token, 0o644)?;
    let mut server = Spawn::server(BIN, &db, &token).start();
    // A write, so that the -wal and -shm files exist while it serves (the
    // last connection to close removes them).
    assert_eq!(fill(server.addr(), "first-admin-token-0123456789"), 200);
    for file in ["zkppd.db", "zkppd.db-wal", "zkppd.db-shm"] {
        assert_eq!(mode(&dir.path().join(file)), 0o600, "{file}");
    }
    let line = server.wait_for("readable by other users");
    assert!(
        line.contains("admin token file") && line.contains("0644"),
        "{line}"
    );
    assert!(server.terminate(Duration::from_secs(15)).success());
    let log = server.log();
    assert!(!log.contains("the database is readable"), "{log}");

    // The other way round: a database someone opened up, a private token.
    chmod(&token, 0o600)?;
    chmod(&db, 0o640)?;
    let mut server = Spawn::server(BIN, &db, &token).start();
    let line = server.wait_for("readable by other users");
    assert!(
        line.contains("the database") && line.contains("0640"),
        "{line}"
    );
    assert!(server.terminate(Duration::from_secs(15)).success());
    assert!(!server.log().contains("admin token file is readable"));
    assert_eq!(
        mode(&db),
        0o640,
        "an existing file keeps the mode it was given"
    );

    let mut temp = Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--temp-db"])
        .start();
    let db = temp
        .lines()
        .iter()
        .find_map(|l| {
            l.split("db=")
                .nth(1)
                .map(|s| s.trim_matches('"').to_owned())
        })
        .expect("db= in the log");
    let db = Path::new(&db);
    assert_eq!(mode(db.parent().expect("temp dir")), 0o700);
    assert_eq!(mode(db), 0o600);
    assert!(temp.terminate(Duration::from_secs(15)).success());
    Ok(())
}

/// Item 5: a bare word that is not a level is a start-up error naming
/// it; levels and RUST_LOG-style filters still work.
#[test]
fn a_log_level_that_is_not_a_level_is_a_start_up_error() -> TestResult {
    for bad in ["verbose", "info,verbose", "inf"] {
        let out = command(BIN)
            .args(["--listen", "127.0.0.1:0", "--temp-db", "--log-level", bad])
            .output()?;
        let err = stderr(&out);
        assert!(!out.status.success(), "{bad}: started: {err}");
        assert_eq!(err.lines().count(), 1, "{bad}: {err}");
        assert!(
            err.starts_with("zkppd: invalid --log-level") && err.contains("is not a level"),
            "{bad}: {err}"
        );
    }
    for good in ["DEBUG", "info,zkppd=debug"] {
        let mut s = Spawn::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--temp-db", "--log-level", good])
            .start();
        assert!(s.terminate(Duration::from_secs(15)).success(), "{good}");
    }
    Ok(())
}

/// Item 6: a start-up failure is exactly one line: `zkppd: …` in text
/// mode, one JSON object (and nothing else) with --log-format json.
#[test]
fn a_start_up_failure_is_one_line_in_either_log_format() -> TestResult {
    let dir = tempfile::tempdir()?;
    let token = token_file(dir.path(), "admin-token", "some-admin-token-0123456789")?;
    let db = dir.path().join("missing-dir").join("zkppd.db");
    let args = |json: bool| {
        let mut a = vec![
            "--listen".to_owned(),
            "127.0.0.1:0".into(),
            "--db".into(),
            db.display().to_string(),
            "--admin-token-file".into(),
            token.display().to_string(),
        ];
        if json {
            a.extend(["--log-format".into(), "json".into()]);
        }
        a
    };
    let out = command(BIN).args(args(false)).output()?;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("zkppd: ") && err.contains("missing-dir"),
        "{err}"
    );

    let out = command(BIN).args(args(true)).output()?;
    let err = stderr(&out);
    assert!(!out.status.success());
    assert_eq!(err.lines().count(), 1, "{err}");
    let v: Value = serde_json::from_str(err.trim_end())?;
    assert_eq!(v["level"], "ERROR", "{err}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("missing-dir")),
        "{err}"
    );

    // The same for a failure found before the log is set up.
    let out = command(BIN)
        .args([
            "--temp-db",
            "--log-format",
            "json",
            "--log-level",
            "verbose",
        ])
        .output()?;
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    let v: Value = serde_json::from_str(err.trim_end())?;
    assert!(
        v["message"].as_str().is_some_and(|m| m.contains("verbose")),
        "{err}"
    );
    Ok(())
}

/// Item 7: `--db` before or after the subcommand, and, with neither it nor
/// ZKPPD_DB, the ZKPPD_DB of the environment file (the package's
/// /etc/zkppd/zkppd.env, or $ZKPPD_ENV_FILE).
#[test]
fn the_database_is_found_from_either_side_and_from_the_environment_file() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("service.db");
    let db_s = db.display().to_string();
    let out = command(BIN)
        .args(["--db", &db_s, "bucket", "generate", "signup", "2"])
        .output()?;
    assert!(out.status.success(), "{}", stderr(&out));
    for args in [
        vec!["--db", &db_s, "bucket", "count"],
        vec!["bucket", "count", "--db", &db_s],
        vec![&format!("--db={db_s}"), "bucket", "count"],
    ] {
        let out = command(BIN).args(&args).output()?;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("signup: 2"),
            "{args:?}: {}",
            stdout(&out)
        );
    }

    // A packaged install: no flag, no ZKPPD_DB, the env file names it.
    let env = dir.path().join("zkppd.env");
    std::fs::write(&env, format!("# the service's\nZKPPD_DB={db_s}\n"))?;
    let elsewhere = tempfile::tempdir()?;
    let out = command(BIN)
        .args(["bucket", "count"])
        .env("ZKPPD_ENV_FILE", &env)
        .current_dir(elsewhere.path())
        .output()?;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("signup: 2"), "{}", stdout(&out));

    // ZKPPD_DB and the flag win over the file.
    let other = dir.path().join("other.db");
    let out = command(BIN)
        .args(["bucket", "count"])
        .env("ZKPPD_ENV_FILE", &env)
        .env("ZKPPD_DB", &other)
        .output()?;
    assert!(stderr(&out).contains("no database at") && stderr(&out).contains("other.db"));

    // A file without ZKPPD_DB: ./zkppd.db, as before.
    std::fs::write(&env, "#ZKPPD_DB=/var/lib/zkppd/zkppd.db\n")?;
    let out = command(BIN)
        .args(["bucket", "count"])
        .env("ZKPPD_ENV_FILE", &env)
        .current_dir(elsewhere.path())
        .output()?;
    assert!(
        stderr(&out).contains("no database at zkppd.db"),
        "{}",
        stderr(&out)
    );

    // The help (and so the man page) says where it looks.
    let out = command(BIN).args(["bucket", "count", "--help"]).output()?;
    assert!(
        stdout(&out).contains("/etc/zkppd/zkppd.env"),
        "{}",
        stdout(&out)
    );
    Ok(())
}

/// Item 8: SIGHUP reads the admin token file and the log level again; a
/// keep-alive connection opened before it carries on, the old token is
/// refused, the new one works, and each reload is logged.
#[test]
fn sighup_rotates_the_admin_token_and_the_log_level_without_dropping_a_connection() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let old = "old-admin-token-0123456789";
    let new = "new-admin-token-9876543210";
    let token = token_file(dir.path(), "admin-token", old)?;
    let env = dir.path().join("zkppd.env");
    std::fs::write(&env, "ZKPPD_LOG_LEVEL=info\n")?;
    let mut server = Spawn::server(BIN, &db, &token)
        .arg("--env-file")
        .arg(&env)
        .start();
    let addr = server.addr();

    let mut kept = Http::new(addr);
    assert_eq!(kept.request("GET", "/healthz", b"", None)?.status, 200);
    assert_eq!(fill(addr, old), 200);

    token_file(dir.path(), "admin-token", new)?;
    std::fs::write(&env, "ZKPPD_LOG_LEVEL=debug\n")?;
    server.signal(Signal::HUP)?;
    server.wait_for("admin token reloaded");
    server.wait_for("log level set");
    assert!(server.exited().is_none(), "SIGHUP ended the server");

    assert_eq!(fill(addr, old), 401, "the old token still works");
    assert_eq!(fill(addr, new), 200, "the new token is refused");
    assert_eq!(
        kept.request("GET", "/healthz", b"", None)?.status,
        200,
        "the connection opened before SIGHUP was dropped"
    );
    assert_eq!(kept.connections(), 1, "the client had to reconnect");

    // Debug is on now: sign-in step 1 logs a debug line.
    let eph = zkppd_srp::client::generate_ephemeral();
    let r = zkppd_testkit::http::post(
        addr,
        "/v1/signin",
        &json!({"profile_id": "someone", "key": eph.public}),
        None,
    );
    assert_eq!(r.status, 200);
    server.wait_for("sign-in step 1");

    // A broken token file or level keeps what is in force, saying why.
    std::fs::write(&token, "short\n")?;
    std::fs::write(&env, "ZKPPD_LOG_LEVEL=verbose\n")?;
    server.signal(Signal::HUP)?;
    let line = server.wait_for("admin token kept");
    assert!(line.contains("shorter than 16"), "{line}");
    let line = server.wait_for("log level kept");
    assert!(line.contains("verbose"), "{line}");
    assert_eq!(fill(addr, new), 200);

    assert!(server.terminate(Duration::from_secs(15)).success());
    Ok(())
}

/// Item 9: `--listen` says IP:PORT is expected, and takes localhost:PORT.
#[test]
fn listen_errors_say_ip_port_and_localhost_is_accepted() -> TestResult {
    for bad in ["3106", ":3106", "localhost", "example.com:3106"] {
        let out = command(BIN).args(["--temp-db", "--listen", bad]).output()?;
        assert!(!out.status.success(), "{bad} accepted");
        let err = stderr(&out);
        assert!(err.contains("expected IP:PORT"), "{bad}: {err}");
    }
    let mut s = Spawn::new(BIN)
        .args(["--temp-db", "--listen", "localhost:0"])
        .start();
    assert_eq!(s.addr().ip(), std::net::Ipv4Addr::LOCALHOST);
    assert!(s.terminate(Duration::from_secs(15)).success());
    Ok(())
}

/// The `op="…"` audit lines of an admin command's stderr.
fn audit_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| l.contains(" audit: "))
        .map(str::to_owned)
        .collect()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let rest = line.split(&format!(" {key}=")).nth(1)?;
    Some(rest.split_whitespace().next()?.trim_matches('"'))
}

/// Item 10: every admin command that changes the database writes one
/// audit line, with the server's fields: op, outcome and the keyed
/// profile reference the server writes for the same id.
#[test]
fn admin_commands_write_one_audit_line_each_like_the_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let db_s = db.display().to_string();
    let run = |args: &[&str], input: Option<&str>| -> std::io::Result<Output> {
        use std::io::Write;
        let mut cmd = command(BIN);
        cmd.args(args).args(["--db", &db_s]);
        match input {
            None => cmd.output(),
            Some(text) => {
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()?;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(text.as_bytes())?;
                child.wait_with_output()
            }
        }
    };
    let import = format!(
        "{}\n",
        json!({"profile_id": "alice", "zkpp": zkppd_testkit::some_verifier(), "salt": zkppd_testkit::some_salt()})
    );
    let cases: Vec<(Vec<&str>, Option<&str>, &str, &str)> = vec![
        (
            vec!["bucket", "fill", "signup"],
            Some("a1\na2\n"),
            "bucket_fill",
            "ok",
        ),
        (
            vec!["bucket", "generate", "profile", "2"],
            None,
            "bucket_generate",
            "ok",
        ),
        (
            vec!["profile", "import"],
            Some(&import),
            "profile_import",
            "ok",
        ),
        (
            vec!["profile", "reset-token", "alice"],
            None,
            "reset_token",
            "ok",
        ),
        (
            vec!["session", "revoke", "--profile", "alice"],
            None,
            "session_revoke",
            "ok",
        ),
        (
            vec!["profile", "delete", "alice"],
            None,
            "profile_delete",
            "ok",
        ),
        (
            vec!["profile", "delete", "alice"],
            None,
            "profile_delete",
            "no_such_profile",
        ),
    ];
    let mut alice_ref = None;
    for (args, input, op, outcome) in cases {
        let out = run(&args, input)?;
        assert_eq!(
            out.status.success(),
            outcome == "ok",
            "{args:?}: {}",
            stderr(&out)
        );
        let lines = audit_lines(&out);
        assert_eq!(lines.len(), 1, "{args:?}: {}", stderr(&out));
        let line = &lines[0];
        assert_eq!(field(line, "op"), Some(op), "{line}");
        assert_eq!(field(line, "outcome"), Some(outcome), "{line}");
        assert_eq!(field(line, "via"), Some("cli"), "{line}");
        assert!(
            !line.contains("alice"),
            "the profile id is in the audit: {line}"
        );
        if let Some(r) = field(line, "profile") {
            assert_eq!(*alice_ref.get_or_insert_with(|| r.to_owned()), r, "{line}");
        }
    }
    let backup = dir.path().join("copy.db");
    let out = run(&["backup", &backup.display().to_string()], None)?;
    assert_eq!(audit_lines(&out).len(), 1, "{}", stderr(&out));
    // Read-only commands leave no audit line.
    for args in [
        vec!["bucket", "count"],
        vec!["check"],
        vec!["profile", "list"],
    ] {
        let out = run(&args, None)?;
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(audit_lines(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }

    // The server writes the same reference for alice.
    let token = token_file(dir.path(), "admin-token", "audit-admin-token-0123456789")?;
    let mut server = Spawn::server(BIN, &db, &token).start();
    let jwt = json!({"jwt": {"profile_id": "alice", "auth_token": "t", "auth_expiry": "e"}});
    zkppd_testkit::http::post(server.addr(), "/v1/signout", &jwt, None);
    let line = server.wait_for("op=\"signout\"");
    assert_eq!(field(&line, "profile"), alice_ref.as_deref(), "{line}");
    assert!(server.terminate(Duration::from_secs(15)).success());

    // JSON, as the server's --log-format json, with ZKPPD_LOG_FORMAT.
    let out = command(BIN)
        .args(["session", "revoke", "--profile", "alice", "--db", &db_s])
        .env("ZKPPD_LOG_FORMAT", "json")
        .output()?;
    let v: Value = serde_json::from_str(stderr(&out).trim_end())?;
    assert_eq!(v["target"], "audit");
    assert_eq!(v["op"], "session_revoke");
    assert_eq!(v["profile"].as_str(), alice_ref.as_deref());
    Ok(())
}
