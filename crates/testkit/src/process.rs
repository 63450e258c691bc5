//! The one spawner of the real `zkppd` binary. A [`Spawn`] is a command
//! with nothing inherited that could change the server (`ZKPPD_*`,
//! `RUST_LOG`, `NOTIFY_SOCKET`); a [`Process`] keeps every line the child
//! writes to stderr (drained by a thread for as long as it runs, since a
//! full pipe would block the server), knows the address of its
//! `listening on ADDR` line, sends signals with `rustix` and reaps the
//! child on drop.
//!
//! The binary's path is the caller's: `env!("CARGO_BIN_EXE_zkppd")` only
//! exists in the root package's own tests.

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use rustix::process::Signal;

/// How long a start-up may take to log `listening on`.
const START_LIMIT: Duration = Duration::from_secs(30);

/// The binary at `bin` with no `ZKPPD_*`, `RUST_LOG` or `NOTIFY_SOCKET`
/// from the environment of the test run, no environment file (a packaged
/// zkppd's /etc/zkppd/zkppd.env on the test machine would otherwise name
/// the admin commands' database), and no standard input: for runs
/// that end by themselves (`Command::output`), such as admin subcommands
/// and start-up failures.
pub fn command(bin: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("ZKPPD_") || k == "RUST_LOG" || k == "NOTIFY_SOCKET" {
            cmd.env_remove(&key);
        }
    }
    cmd.env("ZKPPD_ENV_FILE", "/dev/null");
    cmd.stdin(Stdio::null());
    cmd
}

/// A server to start: [`command`] plus arguments and environment.
pub struct Spawn {
    cmd: Command,
}

impl Spawn {
    pub fn new(bin: impl AsRef<OsStr>) -> Spawn {
        Spawn { cmd: command(bin) }
    }

    /// `--listen 127.0.0.1:0 --db DB --admin-token-file FILE`.
    pub fn server(bin: impl AsRef<OsStr>, db: &Path, admin_token_file: &Path) -> Spawn {
        Spawn::new(bin)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--db")
            .arg(db)
            .arg("--admin-token-file")
            .arg(admin_token_file)
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Spawn {
        self.cmd.arg(arg);
        self
    }

    pub fn args(mut self, args: impl IntoIterator<Item = impl AsRef<OsStr>>) -> Spawn {
        self.cmd.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Spawn {
        self.cmd.env(key, value);
        self
    }

    /// Starts the child without waiting for anything.
    pub fn spawn(mut self) -> io::Result<Process> {
        let mut child = self
            .cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| io::Error::other("no stderr"))?;
        let log = Arc::new(Log::default());
        let sink = log.clone();
        let drain = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.push(line);
            }
            sink.close();
        });
        Ok(Process {
            child,
            log,
            drain: Some(drain),
            addr: None,
            cursor: 0,
        })
    }

    /// Starts the child and waits (at most 30 s) for its `listening on`
    /// line; panics with its log if none comes.
    #[track_caller]
    pub fn start(self) -> Process {
        let mut p = self.spawn().expect("spawn zkppd");
        p.wait_listening(START_LIMIT);
        p
    }
}

/// The stderr lines so far, and whether the pipe has closed.
#[derive(Default)]
struct Log {
    lines: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<String>, bool)> {
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, line: String) {
        self.lock().0.push(line);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.lock().1 = true;
        self.changed.notify_all();
    }

    /// The first line at or after `from` that `found` accepts, waiting for
    /// new lines until `limit`; with its index.
    fn wait<T>(
        &self,
        from: usize,
        limit: Duration,
        found: impl Fn(&str) -> Option<T>,
    ) -> Option<(usize, T)> {
        let deadline = Instant::now() + limit;
        let mut at = from;
        let mut guard = self.lock();
        loop {
            while at < guard.0.len() {
                if let Some(t) = found(&guard.0[at]) {
                    return Some((at, t));
                }
                at += 1;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if guard.1 || left.is_zero() {
                return None;
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The address right after `marker` in a log line (text or JSON).
fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split(marker).nth(1)?;
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.parse().ok()
}

/// A running (or exited) `zkppd` child.
pub struct Process {
    child: Child,
    log: Arc<Log>,
    drain: Option<std::thread::JoinHandle<()>>,
    addr: Option<SocketAddr>,
    /// Where [`Process::wait_for`] goes on searching.
    cursor: usize,
}

impl Process {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address of the `listening on` line; panics before it was seen.
    #[track_caller]
    pub fn addr(&self) -> SocketAddr {
        self.addr
            .unwrap_or_else(|| panic!("zkppd has not logged `listening on` yet"))
    }

    /// Waits (at most `limit`) for the `listening on ADDR` line, wherever
    /// it is in the log; panics with the log if none comes.
    #[track_caller]
    pub fn wait_listening(&mut self, limit: Duration) -> SocketAddr {
        match self.log.wait(0, limit, |l| addr_after(l, "listening on ")) {
            Some((_, addr)) => {
                self.addr = Some(addr);
                addr
            }
            None => {
                let status = self.exited();
                self.kill9();
                panic!(
                    "zkppd did not log `listening on ADDR` within {limit:?} (exit: {status:?}); its log:\n{}",
                    self.log()
                );
            }
        }
    }

    /// Waits (at most 30 s) for a line containing `needle` after the line
    /// the previous call returned, and returns it.
    #[track_caller]
    pub fn wait_for(&mut self, needle: &str) -> String {
        let found = self.log.wait(self.cursor, START_LIMIT, |l| {
            l.contains(needle).then(|| l.to_owned())
        });
        match found {
            Some((at, line)) => {
                self.cursor = at + 1;
                line
            }
            None => panic!("no log line with {needle:?}; saw:\n{}", self.log()),
        }
    }

    /// Waits (at most 30 s), as [`Process::wait_for`] does, for a line
    /// with an address right after `marker` (`metrics on http://`), and
    /// returns the address.
    #[track_caller]
    pub fn wait_addr(&mut self, marker: &str) -> SocketAddr {
        match self
            .log
            .wait(self.cursor, START_LIMIT, |l| addr_after(l, marker))
        {
            Some((at, addr)) => {
                self.cursor = at + 1;
                addr
            }
            None => panic!(
                "no log line with an address after {marker:?}; saw:\n{}",
                self.log()
            ),
        }
    }

    /// The log lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.log.lock().0.clone()
    }

    /// The log so far, one line per line.
    pub fn log(&self) -> String {
        self.lines().join("\n")
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// Sends `signal` to the process.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal)
            .map_err(io::Error::from)
    }

    /// Waits (at most `limit`) for the exit, then for the last log line;
    /// past the limit, SIGKILL and a panic.
    #[track_caller]
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                self.join_drain();
                return status;
            }
            if start.elapsed() > limit {
                self.kill9();
                panic!(
                    "zkppd did not exit within {limit:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then [`Process::wait_exit`].
    #[track_caller]
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        self.signal(Signal::TERM).expect("send SIGTERM");
        self.wait_exit(limit)
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_drain();
    }

    fn join_drain(&mut self) {
        if let Some(t) = self.drain.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_is_read_from_text_and_json_lines() {
        let text = "2026-01-01T00:00:00Z  INFO zkppd: listening on 127.0.0.1:4242 db=/tmp/x";
        let on = "listening on ";
        assert_eq!(addr_after(text, on), "127.0.0.1:4242".parse().ok());
        let json = r#"{"level":"INFO","fields":{"message":"listening on [::1]:80"}}"#;
        assert_eq!(addr_after(json, on), "[::1]:80".parse().ok());
        let metrics = "metrics on http://127.0.0.1:1/metrics";
        assert_eq!(addr_after(metrics, on), None);
        assert_eq!(addr_after(metrics, "http://"), "127.0.0.1:1".parse().ok());
    }
}
