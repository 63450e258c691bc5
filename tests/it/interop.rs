//! Interop: the npm client the original system shipped
//! (`secure-remote-password` 0.3.1, pinned in `tests/interop/package-lock.json`)
//! signs up, signs in, verifies and signs out against a real zkppd, through
//! `tests/interop/interop.mjs` run by node.
//!
//! Never skipped: without node or the installed npm package the test fails
//! and says to run `./test.sh`, which installs both.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The whole script (about 200 requests with 2048-bit SRP on both sides)
/// takes seconds; this only stops a hung run.
const DEADLINE: Duration = Duration::from_secs(120);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Fails (never skips) when node or the pinned npm package is missing.
fn require_tools(dir: &Path) {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    match node {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`node --version` failed ({}): {}\nrun ./test.sh, which installs node and npm \
             and the interop client",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "node is not installed ({e}); the interop test needs it: run ./test.sh, which \
             installs node and npm and then `npm ci --prefix tests/interop`"
        ),
    }
    let package = dir.join("node_modules/secure-remote-password/package.json");
    assert!(
        package.is_file(),
        "{} is missing: the npm client is not installed; run ./test.sh (or `npm ci --prefix \
         tests/interop`)",
        package.display()
    );
}

fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Waits for `child` until `deadline`, killing it past that; `None` means
/// it was killed.
fn wait_with_deadline(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            return Some(status);
        }
        if start.elapsed() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn npm_client_signs_up_in_and_out() {
    let _serial = zkppd_testkit::serial::alone();
    let dir = interop_dir();
    require_tools(&dir);

    let server = zkppd_testkit::TestServer::start();
    let base = format!("http://{}", server.addr);

    let mut child = Command::new("node")
        .arg(dir.join("interop.mjs"))
        .arg(&base)
        .arg(zkppd_testkit::ADMIN)
        // For the operator's reset token: the script runs the admin
        // command on the server's database, as an operator would.
        .env("ZKPPD_BIN", crate::BIN)
        .env("ZKPPD_DB", server.db_path())
        .env("ZKPPD_ENV_FILE", "/dev/null")
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let stdout = drain(child.stdout.take().expect("node stdout"));
    let stderr = drain(child.stderr.take().expect("node stderr"));
    let status = wait_with_deadline(&mut child, DEADLINE);
    let stdout = stdout.join().expect("read node stdout");
    let stderr = stderr.join().expect("read node stderr");

    match status {
        Some(s) if s.success() => print!("{stdout}"),
        Some(s) => panic!(
            "the npm client's interop script failed ({s}) against {base}\n\
             --- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        ),
        None => panic!(
            "the npm client's interop script did not finish within {DEADLINE:?} against \
             {base} and was killed\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}"
        ),
    }
}
