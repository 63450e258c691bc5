//! The binaries under test and one real `zkppd` to talk to. The server is
//! another package's binary, which cargo does not build for this one's
//! tests: it is looked up next to them (or taken from `ZKPPD_BIN`), and its
//! absence fails the test rather than skipping it.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub(crate) fn bench_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_zkppd-bench"))
}

/// `ZKPPD_BIN`, or `zkppd` in the target directory this test runs from
/// (`target/<profile>/deps/it-…` → `target/<profile>/zkppd`).
pub(crate) fn zkppd_bin() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("ZKPPD_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("test executable has no target directory")?;
    let bin = profile_dir.join("zkppd");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "no zkppd binary at {}: run `cargo build -p zkppd` first (same profile and target dir), or set ZKPPD_BIN",
            bin.display()
        ))
    }
}

/// A real zkppd on a temp database, killed on drop.
pub(crate) struct Zkppd {
    child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: String,
    _dir: tempfile::TempDir,
}

impl Zkppd {
    pub(crate) fn start() -> Result<Zkppd, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let admin = "smoke-admin-token-0123456789".to_owned();
        let token_file = dir.path().join("admin");
        std::fs::write(&token_file, &admin)?;
        let mut child = Command::new(zkppd_bin()?)
            .args(["--listen", "127.0.0.1:0", "--temp-db", "--admin-token-file"])
            .arg(&token_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr: String = rest
                        .chars()
                        .skip_while(|c| *c == '"')
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse()?,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("zkppd did not report `listening on`".into());
            }
        };
        Ok(Zkppd {
            child,
            addr,
            admin,
            _dir: dir,
        })
    }
}

impl Drop for Zkppd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
