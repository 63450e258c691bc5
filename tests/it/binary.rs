//! The real `zkppd` binary: start-up on a throw-away database, a request,
//! a clean SIGTERM exit; and every start-up failure SPEC §4 names exits
//! non-zero with a line naming the cause.

use std::time::Duration;

use zkppd_testkit::TestResult;
use zkppd_testkit::process::{Signal, Spawn, command};

use crate::BIN;

#[test]
fn temp_db_server_serves_and_stops_cleanly_on_sigterm() -> TestResult {
    let mut server = Spawn::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--temp-db"])
        .start();
    let addr = server.addr();
    assert_ne!(addr.port(), 0, "the bound port is logged: {addr}");
    // The log names the temp database; it must exist while serving.
    let db = server
        .lines()
        .iter()
        .find_map(|l| l.split("db=").nth(1).map(str::to_owned))
        .map(|s| {
            s.split_whitespace()
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned()
        })
        .expect("db path in the log");
    assert!(std::path::Path::new(&db).exists(), "{db}");

    let jwt =
        serde_json::json!({"jwt": {"profile_id": "a", "auth_token": "t", "auth_expiry": "e"}});
    zkppd_testkit::http::post(addr, "/v1/verify", &jwt, None).assert_error(400, "Invalid token");

    let status = server.terminate(Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?}");
    let dir = std::path::Path::new(&db).parent().unwrap();
    assert!(
        !dir.exists(),
        "temp database dir {} left behind",
        dir.display()
    );
    Ok(())
}

/// Runs zkppd expecting a start-up failure; returns its stderr.
fn fails(args: &[&str]) -> String {
    let out = command(BIN).args(args).output().expect("run zkppd");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "{args:?} started: {stderr}");
    stderr
}

#[test]
fn start_up_failures_exit_non_zero_naming_the_cause() -> TestResult {
    let dir = tempfile::tempdir()?;
    let p = |name: &str| dir.path().join(name).to_string_lossy().to_string();

    assert!(fails(&["--no-such-flag"]).contains("--no-such-flag"));
    for bad in ["0s", "1", "10x", "1.5h", "-1m", ""] {
        let err = fails(&["--temp-db", &format!("--session-ttl={bad}")]);
        assert!(err.contains("invalid duration"), "{err}");
        let err = fails(&["--temp-db", &format!("--handshake-ttl={bad}")]);
        assert!(err.contains("invalid duration"), "{err}");
    }
    assert!(fails(&["--temp-db", "--db", &p("x.db")]).contains("cannot be used with"));
    assert!(fails(&["--temp-db", "--listen", "nonsense"]).contains("--listen"));

    let err = fails(&["--temp-db", "--admin-token-file", &p("missing")]);
    assert!(err.contains("cannot read admin token file"), "{err}");
    std::fs::write(p("short"), "too-short\n")?;
    let err = fails(&["--temp-db", "--admin-token-file", &p("short")]);
    assert!(err.contains("shorter than 16"), "{err}");

    // A file that is not a database at all, and an SQLite file of another
    // application.
    std::fs::write(p("junk.db"), vec![b'j'; 8192])?;
    let err = fails(&["--db", &p("junk.db"), "--listen", "127.0.0.1:0"]);
    assert!(err.contains("not a zkppd database"), "{err}");
    {
        let c = rusqlite::Connection::open(p("other.db"))?;
        c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")?;
    }
    let err = fails(&["--db", &p("other.db"), "--listen", "127.0.0.1:0"]);
    assert!(err.contains("not a zkppd database"), "{err}");

    // A zkppd database from a newer release.
    let mut server = Spawn::new(BIN)
        .args(["--db", &p("new.db"), "--listen", "127.0.0.1:0"])
        .start();
    assert!(server.terminate(Duration::from_secs(15)).success());
    {
        let c = rusqlite::Connection::open(p("new.db"))?;
        c.execute_batch("PRAGMA user_version = 99;")?;
    }
    let err = fails(&["--db", &p("new.db"), "--listen", "127.0.0.1:0"]);
    assert!(err.contains("newer"), "{err}");

    // A port in use.
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let err = fails(&["--temp-db", "--listen", &addr]);
    assert!(err.contains("cannot listen on"), "{err}");
    Ok(())
}

#[test]
fn help_explains_every_flag_and_its_environment_variable() -> TestResult {
    let out = command(BIN).arg("--help").output()?;
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for (flag, env) in [
        ("--listen", "ZKPPD_LISTEN"),
        ("--db", "ZKPPD_DB"),
        ("--temp-db", "ZKPPD_TEMP_DB"),
        ("--admin-token-file", "ZKPPD_ADMIN_TOKEN_FILE"),
        ("--session-ttl", "ZKPPD_SESSION_TTL"),
        ("--handshake-ttl", "ZKPPD_HANDSHAKE_TTL"),
        ("--max-sessions", "ZKPPD_MAX_SESSIONS"),
        ("--log-format", "ZKPPD_LOG_FORMAT"),
        ("--log-level", "ZKPPD_LOG_LEVEL"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help");
        assert!(help.contains(env), "{env} missing from --help");
    }
    Ok(())
}

#[test]
fn environment_variables_configure_the_server() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("env.db");
    let mut server = Spawn::new(BIN)
        .env("ZKPPD_LISTEN", "127.0.0.1:0")
        .env("ZKPPD_DB", &db)
        .start();
    assert_eq!(server.addr().ip(), std::net::Ipv4Addr::LOCALHOST);
    assert!(db.exists());
    server.signal(Signal::INT)?;
    assert!(server.wait_exit(Duration::from_secs(15)).success());
    // The WAL was checkpointed and truncated at shutdown.
    let wal = dir.path().join("env.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal)?.len() == 0);
    Ok(())
}
