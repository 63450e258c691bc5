//! The `zkppd` processes the bench starts: finding the binary, starting it
//! on port 0 with a throw-away admin token (and `--temp-db` or a given
//! database — a SQLite file, or a `postgres://` URL with a throw-away
//! handshake key — and the metrics listener on port 0 when asked), reading its
//! addresses from the `metrics on http://ADDR/metrics` and `listening on`
//! log lines, keeping its log drained, and stopping it with SIGTERM (rustix)
//! and a bounded wait. It does not talk HTTP to the server.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::cli::Args;

/// Log lines kept for an error message.
const TAIL_LINES: usize = 20;

/// A zkppd process started by the bench; stopped with SIGTERM on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// Where its Prometheus metrics are served, if it was started with them.
    pub(crate) metrics: Option<SocketAddr>,
    pub(crate) pid: u32,
    pub(crate) admin_token: String,
    /// Spawn to the `listening on` line.
    pub(crate) listening_after: Duration,
    pub(crate) spawned_at: Instant,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    _dir: tempfile::TempDir,
}

/// `--zkppd`, or `zkppd` next to this binary (warning if it looks stale).
pub(crate) fn zkppd_binary(args: &Args) -> Result<PathBuf, String> {
    if let Some(p) = &args.zkppd {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = exe.parent().ok_or("current_exe has no directory")?;
    let bin = dir.join("zkppd");
    let meta = std::fs::metadata(&bin).map_err(|_| {
        format!(
            "no zkppd binary at {} (build it first: `cargo build --release --bins`, or pass --zkppd)",
            bin.display()
        )
    })?;
    let older = match (
        meta.modified(),
        std::fs::metadata(&exe).and_then(|m| m.modified()),
    ) {
        (Ok(server), Ok(bench)) => server < bench,
        _ => false,
    };
    if older {
        eprintln!(
            "zkppd-bench: note: {} is older than this binary; `cargo build --release --bins` if it is stale",
            bin.display()
        );
    }
    Ok(bin)
}

/// Whether `--db` names a PostgreSQL database (as zkppd tells them apart).
pub(crate) fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// The log may be coloured; the address is read from the plain text.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) && c != '[' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address of a `listening on ADDR` log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    line.split_once("listening on ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|a| a.trim_matches('"').parse().ok())
}

/// The address of a `metrics on http://ADDR/metrics` log line.
fn metrics_addr(line: &str) -> Option<SocketAddr> {
    line.split_once("metrics on http://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|a| a.parse().ok())
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Server {
    /// Starts `bin` with `--listen 127.0.0.1:0`, an admin token file, `db`
    /// (`None`: `--temp-db`; a `postgres://` URL with a handshake key file
    /// of its own), `--metrics-listen 127.0.0.1:0` if `metrics` (unless
    /// `extra` sets it) and `extra` flags; returns once it listens.
    pub(crate) fn start(
        bin: &Path,
        db: Option<&OsStr>,
        metrics: bool,
        extra: &[String],
    ) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("zkppd-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let admin_token = format!("bench-admin-{}", crate::random_hex(16));
        let token_file = dir.path().join("admin-token");
        std::fs::write(&token_file, format!("{admin_token}\n"))
            .map_err(|e| format!("admin token file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--listen").arg("127.0.0.1:0");
        match db {
            Some(p) => cmd.arg("--db").arg(p),
            None => cmd.arg("--temp-db"),
        };
        if db.and_then(OsStr::to_str).is_some_and(is_postgres_url) {
            // Instances on one database share it; this one is alone.
            let key = dir.path().join("handshake-key");
            std::fs::write(&key, format!("{}\n", crate::random_hex(32)))
                .map_err(|e| format!("handshake key file: {e}"))?;
            cmd.arg("--handshake-key-file").arg(key);
        }
        cmd.arg("--admin-token-file").arg(&token_file);
        if metrics && !extra.iter().any(|a| a.starts_with("--metrics-listen")) {
            cmd.arg("--metrics-listen").arg("127.0.0.1:0");
        }
        cmd.args(extra);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let spawned_at = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let pid = child.id();
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let log_tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let tail = log_tail.clone();
        // Keeps draining the log (a full pipe would block the server).
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // zkppd logs the metrics address before `listening on`.
            let mut metrics = None;
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if metrics.is_none() {
                    metrics = metrics_addr(&line);
                }
                if let Some(addr) = listening_addr(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send((addr, metrics));
                }
                let mut t = lock(&tail);
                if t.len() == TAIL_LINES {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let Ok((addr, metrics)) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            let tail = lock(&log_tail).iter().cloned().collect::<Vec<_>>();
            return Err(format!(
                "zkppd did not report `listening on`; its log:\n{}",
                tail.join("\n")
            ));
        };
        Ok(Server {
            child,
            addr,
            metrics,
            pid,
            admin_token,
            listening_after: spawned_at.elapsed(),
            spawned_at,
            log_tail,
            _dir: dir,
        })
    }

    pub(crate) fn log_tail(&self) -> String {
        let t = lock(&self.log_tail);
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, then a bounded wait, then SIGKILL. True on a clean exit.
    pub(crate) fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return false;
        }
        // The child has not been reaped (try_wait said so), so the pid is
        // still ours to signal.
        if let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_from_plain_and_coloured_logs() {
        let plain = r#"2026-11-29T07:00:00Z INFO zkppd: listening on "127.0.0.1:40123" api=true"#;
        assert_eq!(
            listening_addr(plain),
            Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
        );
        let coloured = "\u{1b}[32mINFO\u{1b}[0m listening on 127.0.0.1:5 x";
        assert_eq!(
            listening_addr(&strip_ansi(coloured)),
            Some(SocketAddr::from(([127, 0, 0, 1], 5)))
        );
        assert_eq!(listening_addr("listening on nowhere"), None);
    }

    #[test]
    fn metrics_address_from_its_log_line() {
        let line = "2026-11-29T07:00:00Z INFO zkppd: metrics on http://127.0.0.1:9101/metrics";
        assert_eq!(
            metrics_addr(line),
            Some(SocketAddr::from(([127, 0, 0, 1], 9101)))
        );
        assert_eq!(
            metrics_addr("metrics on http://[::1]:80/metrics"),
            "[::1]:80".parse().ok()
        );
        assert_eq!(metrics_addr(r#"listening on "127.0.0.1:1""#), None);
    }
}
