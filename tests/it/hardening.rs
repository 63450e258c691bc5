//! Issue 10, the low-severity findings, each replayed against a real
//! server: an admin token file the server could never match (10), the
//! header limit hyper enforces against the one the README states (11),
//! a second server on one database file (12), the database file deleted
//! or moved while serving (7), and a database that cannot be written
//! (8). Findings 4, 5 and 13 have modules of their own
//! (`hardening_wal`, `hardening_conn`, `hardening_invite`).

use std::path::Path;
use std::time::{Duration, Instant};

use zkppd_testkit::{Http, Process, Reply, Spawn, TestResult, TestServer, http};

/// The README's limit on a request's head (request line, headers and the
/// blank line after them).
const HEAD_LIMIT: usize = 64 * 1024;

/// A `GET /healthz` whose head is exactly `len` bytes, padded by one
/// header.
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Pad: ";
    let end = "\r\n\r\n";
    let pad = len - start.len() - end.len();
    format!("{start}{}{end}", "a".repeat(pad)).into_bytes()
}

fn send_head(s: &TestServer, len: usize) -> Reply {
    let req = head_of(len);
    assert_eq!(req.len(), len);
    s.raw(&req)
}

/// Finding 11: a head of exactly 64 KiB is served; one byte more, or the
/// ~100 KB the attack sent, is 431 — in one header or spread over many.
#[test]
fn request_heads_over_64_kib_are_431_and_up_to_it_are_served() -> TestResult {
    let s = TestServer::start();
    for len in [1024, HEAD_LIMIT - 1, HEAD_LIMIT] {
        let r = send_head(&s, len);
        assert_eq!(r.status, 200, "a head of {len} bytes");
    }
    for len in [HEAD_LIMIT + 1, HEAD_LIMIT + 4096, 100_000, 120_000] {
        let r = send_head(&s, len);
        assert_eq!(r.status, 431, "a head of {len} bytes");
    }
    // 99 headers of ~1,000 bytes: ~100 KB in headers hyper counts apart.
    let mut many = String::from("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n");
    for i in 0..97 {
        many.push_str(&format!("X-Pad-{i:02}: {}\r\n", "b".repeat(1000)));
    }
    many.push_str("\r\n");
    assert!(many.len() > 96_000);
    assert_eq!(s.raw(many.as_bytes()).status, 431);
    Ok(())
}

/// Finding 10: a token file the server could never match (a BOM, a
/// non-ASCII or a control character in the token) stops the start-up with
/// one line naming the cause, and never the token itself.
#[test]
fn an_admin_token_no_bearer_header_can_carry_is_a_start_up_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "bom",
            b"\xef\xbb\xbfsecret-admin-token-0001\n",
            "byte-order mark",
        ),
        ("latin", "secret-admin-tokén-0002\n".as_bytes(), "U+00E9"),
        (
            "control",
            b"secret-admin\x07token-0003\n",
            "control character",
        ),
        (
            "nbsp",
            "secret-admin\u{a0}token-0004\n".as_bytes(),
            "U+00A0",
        ),
    ];
    for (name, content, cause) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content)?;
        let mut p = Spawn::new(crate::BIN)
            .args(["--listen", "127.0.0.1:0", "--temp-db", "--admin-token-file"])
            .arg(&file)
            .spawn()?;
        // Today's code serves: wait_exit panics with its log.
        let status = p.wait_exit(Duration::from_secs(10));
        let stderr = p.log();
        assert!(!status.success(), "{name}: {stderr}");
        assert!(
            stderr.contains(cause) && stderr.contains(&*file.to_string_lossy()),
            "{name}: {stderr}"
        );
        assert!(
            !stderr.contains("token-000"),
            "{name}: the token leaked: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "{name}: {stderr}");
    }
    Ok(())
}

/// A server on `db` with the test admin token (its directory's
/// `admin-token`).
fn server_on(db: &Path) -> Process {
    let token = zkppd_testkit::admin_token_file(db.parent().expect("a directory"));
    Spawn::server(crate::BIN, db, &token).start()
}

fn healthz(addr: std::net::SocketAddr) -> u16 {
    http::get(addr, "/healthz", &[]).status
}

/// Finding 12: a second server on a database file that one serves stops
/// at start-up with one line naming the cause; the first goes on serving,
/// and the admin subcommands still work beside it.
#[test]
fn a_second_server_on_one_database_file_refuses_to_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let mut first = server_on(&db);
    let token = dir.path().join("admin-token");
    let mut second = Spawn::server(crate::BIN, &db, &token).spawn()?;
    // Today's code serves twice: wait_exit panics with its log.
    let status = second.wait_exit(Duration::from_secs(20));
    let log = second.log();
    assert!(!status.success(), "{log}");
    let line = log
        .lines()
        .find(|l| l.starts_with("zkppd: "))
        .unwrap_or_else(|| panic!("no `zkppd: cause` line in\n{log}"));
    assert!(
        line.contains("already served by another zkppd process")
            && line.contains(&format!("(pid {})", first.pid()))
            && line.contains(&*db.to_string_lossy()),
        "{line}"
    );
    assert!(!log.contains("listening on"), "{log}");

    assert_eq!(healthz(first.addr()), 200);
    let count = zkppd_testkit::process::command(crate::BIN)
        .args(["bucket", "count", "--db"])
        .arg(&db)
        .output()?;
    assert!(count.status.success(), "{count:?}");
    assert!(first.terminate(Duration::from_secs(15)).success());
    // Once the first is gone, a server starts on the file again.
    let mut again = server_on(&db);
    assert_eq!(healthz(again.addr()), 200);
    assert!(again.terminate(Duration::from_secs(15)).success());
    Ok(())
}

/// One sign-up on `addr` with profile token `pt` (filled with a signup
/// token first); its status.
fn sign_up(addr: std::net::SocketAddr, id: &str) -> Reply {
    let mut h = Http::new(addr);
    h.fill("profile", &[format!("pt-{id}")]);
    h.fill("signup", &[format!("st-{id}")]);
    h.must(
        "/v1/signup",
        &zkppd_testkit::signup_body(id, &format!("pt-{id}")),
    )
}

/// Finding 7: the database file moved away, or deleted, while serving.
/// Today sign-ups go on answering 200 and hand out tokens that a restart
/// loses, and `/healthz` says 200. Expected: within a second, writes are
/// 503 with an error line naming the cause, and `/healthz` is 503.
#[test]
fn a_database_file_moved_or_deleted_while_serving_stops_writes() -> TestResult {
    for how in ["moved", "deleted"] {
        let dir = tempfile::tempdir()?;
        let db = dir.path().join("zkppd.db");
        let mut server = server_on(&db);
        let addr = server.addr();
        assert_eq!(sign_up(addr, "before").status, 200);
        match how {
            "moved" => std::fs::rename(&db, dir.path().join("elsewhere.db"))?,
            _ => std::fs::remove_file(&db)?,
        }
        std::thread::sleep(Duration::from_millis(1100));
        let r = sign_up_after_the_fill_fails(addr, "after");
        r.assert_error(503, "Service unavailable");
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(healthz(addr), 503, "{how}");
        let line = server.wait_for("deleted or moved while serving");
        assert!(line.contains("ERROR"), "{how}: {line}");
        assert!(server.terminate(Duration::from_secs(15)).success());
    }
    Ok(())
}

/// A sign-up whose fill is refused too (the fill is a write): the
/// sign-up's own answer.
fn sign_up_after_the_fill_fails(addr: std::net::SocketAddr, id: &str) -> Reply {
    let fill = http::post(
        addr,
        "/v1/bucket/fill",
        &serde_json::json!({"bucket": "signup", "tokens": [format!("st-{id}")]}),
        Some(zkppd_testkit::ADMIN),
    );
    fill.assert_error(503, "Service unavailable");
    http::post(
        addr,
        "/v1/signup",
        &zkppd_testkit::signup_body(id, "pt-before-unused"),
        None,
    )
}

/// The uid/gid the server runs as in the permission tests: `nobody` when
/// the tests run as root (root ignores file modes), else the tests' own.
fn unprivileged() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(0);
    (uid == 0).then_some(65_534)
}

/// `zkppd ARGS` as [`unprivileged`] says, through util-linux's setpriv.
fn spawn_unprivileged(args: &[&std::ffi::OsStr]) -> Spawn {
    match unprivileged() {
        Some(id) => Spawn::new("setpriv")
            .arg(format!("--reuid={id}"))
            .arg(format!("--regid={id}"))
            .arg("--clear-groups")
            .arg(crate::BIN)
            .args(args),
        None => Spawn::new(crate::BIN).args(args),
    }
}

/// Hands `path` to the user the server runs as, with `mode`.
fn give(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(id) = unprivileged() {
        std::os::unix::fs::chown(path, Some(id), Some(id))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// A zkppd database at `dir/zkppd.db`, made by a server that has
/// stopped (no -wal or -shm left; its lock file stays, owned by root
/// when the tests run as root).
fn make_db(dir: &Path) -> std::io::Result<std::path::PathBuf> {
    let db = dir.join("zkppd.db");
    let mut server = server_on(&db);
    assert!(server.terminate(Duration::from_secs(15)).success());
    assert!(!dir.join("zkppd.db-wal").exists());
    Ok(db)
}

/// Finding 8: a database file the server may not write, or a directory
/// it may not write in: start-up fails with the real cause (today: the
/// first starts and answers every write 503, the second says "not a zkppd
/// database").
#[test]
fn a_database_that_cannot_be_written_is_refused_at_start_up() -> TestResult {
    for (case, file_mode, dir_mode, cause) in [
        ("read-only file", 0o444, 0o755, "is not writable"),
        ("read-only directory", 0o644, 0o555, "directory"),
    ] {
        let dir = tempfile::tempdir()?;
        let db = make_db(dir.path())?;
        give(&db, file_mode)?;
        give(dir.path(), dir_mode)?;
        let mut p = spawn_unprivileged(&[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--db".as_ref(),
            db.as_os_str(),
        ])
        .spawn()?;
        let status = p.wait_exit(Duration::from_secs(20));
        let log = p.log();
        assert!(!status.success(), "{case}: started\n{log}");
        let line = log
            .lines()
            .find(|l| l.starts_with("zkppd: "))
            .unwrap_or_else(|| panic!("{case}: no `zkppd: cause` line in\n{log}"));
        assert!(line.contains(cause), "{case}: {line}");
        assert!(!line.contains("not a zkppd database"), "{case}: {line}");
        give(dir.path(), 0o755)?;
    }
    Ok(())
}

/// Finding 8: `/healthz` proves the database takes writes. A file-size
/// limit of one byte (what root cannot ignore, unlike file modes; a full
/// disk fails the same writes) turns it 503 within about a second, and
/// lifting the limit turns it 200 again.
#[test]
fn healthz_fails_while_the_database_cannot_be_written() -> TestResult {
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("zkppd.db");
    let mut server = server_on(&db);
    let addr = server.addr();
    assert_eq!(healthz(addr), 200);
    crate::faults::prlimit(server.pid(), "1");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut status = healthz(addr);
    while status == 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        status = healthz(addr);
    }
    assert_eq!(status, 503, "healthz stayed 200 while no write can succeed");
    crate::faults::prlimit(server.pid(), "unlimited");
    let deadline = Instant::now() + Duration::from_secs(3);
    while healthz(addr) != 200 {
        assert!(
            Instant::now() < deadline,
            "healthz stayed 503 after the limit was lifted"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(server.terminate(Duration::from_secs(15)).success());
    Ok(())
}
