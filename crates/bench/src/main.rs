//! `zkppd-bench`: the load generator of issue 6. It starts the `zkppd`
//! binary next to it on a throw-away database (or targets `--url`), prepares
//! profiles through the API, runs named scenarios for a fixed time over
//! keep-alive connections, and prints throughput, latency percentiles,
//! errors, the server's CPU time per operation (`/proc/<pid>/stat`) and its
//! memory (`/proc/<pid>/status`), as a table or as JSON (`--json`).
//!
//! It speaks to the server only through [`zkppd::client`]; the server code
//! is not linked in beyond the SRP math, which is timed alone (`math` in the
//! output) so that the server's CPU per sign-in can be set against it.
//!
//! Scenarios:
//! - `ceiling`: `POST /v1/verify` with an empty `profile_id`, the same body
//!   shape and size as a real verify; the server reads and parses the JSON
//!   and answers `400 Invalid profile ID` without touching the database or
//!   any crypto: the cost of the HTTP stack, JSON and routing alone.
//! - `verify`: `POST /v1/verify` with live sessions.
//! - `signin`: full sign-ins (step 1, step 2, M2 checked).
//! - `signup`: sign-ups with fresh tokens (buckets refilled as needed).
//! - `timing`: step 2 for unknown profiles and wrong proofs for known ones,
//!   interleaved at random; the medians must not tell them apart.
//! - `mixed`: verify traffic while a sign-in storm (a child `zkppd-bench`,
//!   niced so that its own SRP math does not compete with the server)
//!   saturates the server's crypto.
//! - `footprint`: a file database with many imported profiles: start-up to
//!   first answer, then RSS with many idle keep-alive connections open
//!   while verify and sign-in traffic runs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use clap::Parser;
use serde::Serialize;
use zkppd::client::{self, Client, Jwt, JwtBody, Registration, Secret};
use zkppd::{hex, srp, srp_client};

/// Load generator for zkppd: runs named scenarios against a zkppd it starts
/// itself (or `--url`) and reports throughput, latency, errors, server CPU
/// per operation and server memory.
#[derive(Parser, Debug, Clone)]
#[command(name = "zkppd-bench", version, about)]
struct Args {
    /// Scenarios, comma-separated: ceiling, verify, signin, signup, timing,
    /// mixed, footprint, or all.
    #[arg(long, default_value = "all")]
    scenario: String,

    /// Measured time of each scenario (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,

    /// Unmeasured run-in before each scenario [default: a quarter of
    /// --duration, at most 1s].
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,

    /// Keep-alive connections (one thread each) per scenario.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,

    /// `mixed`: connections of the sign-in storm.
    #[arg(long, default_value_t = 4)]
    storm: usize,

    /// `mixed`: niceness of the storm's process (0: same priority), so that
    /// the load generator's own SRP math does not take the CPU from the
    /// server it is measuring.
    #[arg(long, default_value_t = 10)]
    storm_nice: i32,

    /// Profiles to prepare (at least --concurrency are).
    #[arg(long, default_value_t = 64)]
    profiles: usize,

    /// Target a running server instead of starting one (`http://host:port`).
    #[arg(long)]
    url: Option<String>,

    /// Admin token of the `--url` server (for filling buckets).
    #[arg(long, env = "ZKPPD_BENCH_ADMIN_TOKEN")]
    admin_token: Option<String>,

    /// Pid of the `--url` server, for its CPU time and memory.
    #[arg(long)]
    server_pid: Option<u32>,

    /// The zkppd binary to start [default: `zkppd` next to this binary].
    #[arg(long)]
    zkppd: Option<PathBuf>,

    /// An extra flag for the started zkppd (repeatable), e.g.
    /// `--zkppd-arg=--log-level=warn,zkppd=info`.
    #[arg(long = "zkppd-arg", allow_hyphen_values = true)]
    zkppd_args: Vec<String>,

    /// `footprint`: profiles imported into the database.
    #[arg(long, default_value_t = 100_000)]
    footprint_profiles: usize,

    /// `footprint`: idle keep-alive connections held open.
    #[arg(long, default_value_t = 1000)]
    footprint_connections: usize,

    /// Print the results as one JSON document instead of a table.
    #[arg(long)]
    json: bool,

    /// Internal: run as the sign-in storm of `mixed` (prints READY when
    /// the storm starts).
    #[arg(long, hide = true)]
    storm_child: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().map_err(|_| format!("bad duration `{s}`"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("bad duration unit in `{s}` (ms, s, m)")),
    };
    if !(secs.is_finite() && secs >= 0.0) {
        return Err(format!("bad duration `{s}`"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Ceiling,
    Verify,
    Signin,
    Signup,
    Timing,
    Mixed,
    Footprint,
}

const ALL: [Scenario; 7] = [
    Scenario::Ceiling,
    Scenario::Verify,
    Scenario::Signin,
    Scenario::Timing,
    Scenario::Signup,
    Scenario::Mixed,
    Scenario::Footprint,
];

impl Scenario {
    fn parse(s: &str) -> Result<Vec<Scenario>, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let one = match name {
                "all" => {
                    out.extend(ALL);
                    continue;
                }
                "ceiling" => Scenario::Ceiling,
                "verify" => Scenario::Verify,
                "signin" => Scenario::Signin,
                "signup" => Scenario::Signup,
                "timing" => Scenario::Timing,
                "mixed" => Scenario::Mixed,
                "footprint" => Scenario::Footprint,
                other => return Err(format!("unknown scenario `{other}`")),
            };
            out.push(one);
        }
        if out.is_empty() {
            return Err("no scenario given".into());
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------- results

/// One line of the report.
#[derive(Debug, Clone, Serialize, serde::Deserialize, Default)]
struct Row {
    scenario: String,
    concurrency: usize,
    ops: u64,
    seconds: f64,
    ops_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    first_error: Option<String>,
    /// Server CPU seconds (user + system) in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cpu_per_op_ms: Option<f64>,
    /// Server CPU seconds per wall second (2.0 = both cores of a 2-core box).
    #[serde(skip_serializing_if = "Option::is_none")]
    server_cores_busy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    server_rss_mb: Option<f64>,
    /// Peak RSS of the server so far (VmHWM).
    #[serde(skip_serializing_if = "Option::is_none")]
    server_peak_rss_mb: Option<f64>,
    /// Whole-machine CPU busy in the window, all processes (of `cores`).
    #[serde(skip_serializing_if = "Option::is_none")]
    machine_cores_busy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct MathCost {
    /// `srp::server_public` (B), ms per call.
    server_public_ms: f64,
    /// `srp::verify_proof` (u, S, K, M1 check, M2), ms per call.
    verify_proof_ms: f64,
    /// The math one sign-in cannot avoid (mean of before and after).
    per_signin_ms: f64,
    /// Per sign-in, timed before the sign-in scenario.
    before_ms: f64,
    /// Per sign-in, timed after it.
    after_ms: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
struct Targets {
    /// Server CPU per full sign-in ÷ SRP math alone (target ≤ 1.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    signin_cpu_vs_math: Option<f64>,
    /// verify ÷ ceiling throughput (target ≥ 0.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    verify_vs_ceiling: Option<f64>,
    /// verify p99 under the sign-in storm, ms (target ≤ 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    mixed_verify_p99_ms: Option<f64>,
    /// step-2 median, unknown profile ÷ wrong proof (target 0.95–1.05).
    #[serde(skip_serializing_if = "Option::is_none")]
    step2_unknown_vs_wrong: Option<f64>,
    /// step-1 median, unknown ÷ known profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    step1_unknown_vs_known: Option<f64>,
    /// RSS with the footprint's profiles and idle connections (target ≤ 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    footprint_rss_mb: Option<f64>,
    /// Start-up to first answer on the footprint database (target ≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    footprint_startup_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
struct Machine {
    cores: usize,
    cpu: String,
    load_at_start: String,
    load_at_end: String,
    date: String,
}

#[derive(Debug, Clone, Serialize)]
struct Report {
    machine: Machine,
    duration_s: f64,
    warmup_s: f64,
    concurrency: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    math: Option<MathCost>,
    rows: Vec<Row>,
    targets: Targets,
}

// ------------------------------------------------------------ /proc reads

/// CPU seconds (user + system, all threads) of a process.
fn proc_cpu_s(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may contain spaces: state is
    // field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// (VmRSS, VmHWM) in MiB.
fn proc_mem_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// (busy, total) jiffies of the whole machine.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

// ------------------------------------------------------------- the server

/// A zkppd process started by the bench; stopped with SIGTERM on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    pid: u32,
    admin_token: String,
    /// Spawn to the `listening on` line.
    listening_after: Duration,
    spawned_at: Instant,
    log_tail: Arc<Mutex<VecDeque<String>>>,
    _dir: tempfile::TempDir,
}

fn zkppd_binary(args: &Args) -> Result<PathBuf, String> {
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

impl Server {
    /// Starts `bin` with `--listen 127.0.0.1:0`, an admin token file, `db`
    /// (`None`: `--temp-db`) and `extra` flags; returns once it listens.
    fn start(bin: &Path, db: Option<&Path>, extra: &[String]) -> Result<Server, String> {
        let dir = tempfile::Builder::new()
            .prefix("zkppd-bench-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let admin_token = format!("bench-admin-{}", random_hex(16));
        let token_file = dir.path().join("admin-token");
        std::fs::write(&token_file, format!("{admin_token}\n"))
            .map_err(|e| format!("admin token file: {e}"))?;
        let mut cmd = Command::new(bin);
        cmd.arg("--listen").arg("127.0.0.1:0");
        match db {
            Some(p) => cmd.arg("--db").arg(p),
            None => cmd.arg("--temp-db"),
        };
        cmd.arg("--admin-token-file").arg(&token_file);
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
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if let Some(addr) = line
                    .split_once("listening on ")
                    .and_then(|(_, rest)| rest.split_whitespace().next())
                    .and_then(|a| a.trim_matches('"').parse::<SocketAddr>().ok())
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                if t.len() == 20 {
                    t.pop_front();
                }
                t.push_back(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = log_tail.lock().unwrap_or_else(|p| p.into_inner());
                return Err(format!(
                    "zkppd did not report `listening on`; its log:\n{}",
                    tail.iter().cloned().collect::<Vec<_>>().join("\n")
                ));
            }
        };
        Ok(Server {
            child,
            addr,
            pid,
            admin_token,
            listening_after: spawned_at.elapsed(),
            spawned_at,
            log_tail,
            _dir: dir,
        })
    }

    fn log_tail(&self) -> String {
        let t = self.log_tail.lock().unwrap_or_else(|p| p.into_inner());
        t.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM, then a bounded wait, then SIGKILL. True on a clean exit.
    fn stop(&mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return false;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status();
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

/// Where the scenarios send their load.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    host_url: String,
    admin_token: Option<String>,
    pid: Option<u32>,
}

// ------------------------------------------------------------ the workers

/// What one worker measured: latencies per kind (ns), errors.
struct Recorder {
    start: Instant,
    end: Instant,
    lat: Vec<Vec<u64>>,
    errors: u64,
    first_error: Option<String>,
}

impl Recorder {
    fn new(start: Instant, end: Instant, kinds: usize) -> Recorder {
        Recorder {
            start,
            end,
            lat: vec![Vec::with_capacity(1 << 14); kinds],
            errors: 0,
            first_error: None,
        }
    }

    /// Counts an operation of `kind` that ran from `t0` to now, if it lies
    /// inside the measured window.
    fn record(&mut self, kind: usize, t0: Instant) {
        let t1 = Instant::now();
        if t0 >= self.start && t1 <= self.end {
            self.lat[kind].push((t1 - t0).as_nanos() as u64);
        }
    }

    fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

struct Window {
    start: Instant,
    end: Instant,
}

struct Measured {
    lat: Vec<Vec<u64>>,
    errors: u64,
    first_error: Option<String>,
    seconds: f64,
    server_cpu_s: Option<f64>,
    machine_busy: Option<f64>,
}

/// Runs one thread per state until the window ends; `op` does one
/// operation and records it. The server's CPU is sampled at the window's
/// edges.
fn run_workers<S: Send>(
    pid: Option<u32>,
    warmup: Duration,
    duration: Duration,
    kinds: usize,
    states: Vec<S>,
    op: impl Fn(&mut S, &mut Recorder) + Sync,
) -> Measured {
    let start = Instant::now() + warmup;
    let window = Window {
        start,
        end: start + duration,
    };
    let op = &op;
    let (recs, cpu, machine) = std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .into_iter()
            .map(|mut state| {
                let (start, end) = (window.start, window.end);
                scope.spawn(move || {
                    let mut rec = Recorder::new(start, end, kinds);
                    while Instant::now() < end {
                        op(&mut state, &mut rec);
                    }
                    rec
                })
            })
            .collect();
        sleep_until(window.start);
        let cpu0 = pid.and_then(proc_cpu_s);
        let m0 = machine_jiffies();
        sleep_until(window.end);
        let cpu1 = pid.and_then(proc_cpu_s);
        let m1 = machine_jiffies();
        let recs: Vec<Recorder> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        let cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
        let machine = m0.zip(m1).map(|((b0, t0), (b1, t1))| {
            let total = (t1 - t0).max(1) as f64;
            (b1 - b0) as f64 / total * cores() as f64
        });
        (recs, cpu, machine)
    });
    let mut lat = vec![Vec::new(); kinds];
    let (mut errors, mut first_error) = (0, None);
    for r in recs {
        for (all, mine) in lat.iter_mut().zip(r.lat) {
            all.extend(mine);
        }
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    Measured {
        lat,
        errors,
        first_error,
        seconds: duration.as_secs_f64(),
        server_cpu_s: cpu,
        machine_busy: machine,
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1e6
}

/// A report row from kind `kind` of a measurement. CPU per op is charged
/// to this kind's operations (pass `cpu_ops` to charge other counts).
fn row(
    name: &str,
    concurrency: usize,
    m: &Measured,
    kind: usize,
    pid: Option<u32>,
    cpu_ops: Option<u64>,
) -> Row {
    let mut lat = m.lat[kind].clone();
    lat.sort_unstable();
    let ops = lat.len() as u64;
    let mem = pid.and_then(proc_mem_mb);
    let cpu_ops = cpu_ops.unwrap_or(ops);
    Row {
        scenario: name.to_owned(),
        concurrency,
        ops,
        seconds: m.seconds,
        ops_per_s: ops as f64 / m.seconds,
        p50_ms: percentile(&lat, 0.50),
        p99_ms: percentile(&lat, 0.99),
        p999_ms: percentile(&lat, 0.999),
        max_ms: lat.last().map_or(0.0, |&x| x as f64 / 1e6),
        errors: m.errors,
        first_error: m.first_error.clone(),
        server_cpu_s: m.server_cpu_s,
        server_cpu_per_op_ms: m
            .server_cpu_s
            .filter(|_| cpu_ops > 0)
            .map(|c| c * 1e3 / cpu_ops as f64),
        server_cores_busy: m.server_cpu_s.map(|c| c / m.seconds),
        server_rss_mb: mem.map(|m| m.0),
        server_peak_rss_mb: mem.map(|m| m.1),
        machine_cores_busy: m.machine_busy,
        note: None,
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("OS random number generator failed");
    hex::encode(&b)
}

/// A cheap per-thread generator for choices that need no secrecy.
struct XorShift(u64);

impl XorShift {
    fn new() -> XorShift {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("OS random number generator failed");
        XorShift(u64::from_le_bytes(b) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

// -------------------------------------------------------------- profiles

/// A signed-up profile whose x the bench knows.
#[derive(Clone)]
struct Profile {
    id: String,
    x: [u8; 32],
}

/// Fills both buckets with `n` fresh tokens each, named after `prefix`.
fn fill_tokens(target: &Target, prefix: &str, from: u64, n: u64) -> Result<(), String> {
    let admin = target
        .admin_token
        .as_deref()
        .ok_or("this scenario needs --admin-token with --url")?;
    let mut c = Client::new(target.addr);
    let mut i = from;
    while i < from + n {
        let end = (i + 10_000).min(from + n);
        let profile: Vec<String> = (i..end).map(|k| format!("{prefix}-pt-{k}")).collect();
        let signup: Vec<String> = (i..end).map(|k| format!("{prefix}-st-{k}")).collect();
        c.fill(admin, "profile", &profile)
            .map_err(|e| format!("filling the profile bucket: {e}"))?;
        c.fill(admin, "signup", &signup)
            .map_err(|e| format!("filling the signup bucket: {e}"))?;
        i = end;
    }
    Ok(())
}

/// Signs up `n` profiles `{prefix}-p-{i}` with their own salts and
/// passwords, four at a time.
fn prepare_profiles(target: &Target, prefix: &str, n: usize) -> Result<Vec<Profile>, String> {
    fill_tokens(target, prefix, 0, n as u64)?;
    let next = AtomicU64::new(0);
    let out = Mutex::new(Vec::with_capacity(n));
    let first_err = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..4.min(n) {
            s.spawn(|| {
                let mut c = Client::new(target.addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n as u64 {
                        break;
                    }
                    let id = format!("{prefix}-p-{i}");
                    let salt = srp_client::generate_salt();
                    let x = srp_client::derive_private_key(&salt, &id, &format!("pw-{i}"));
                    let reg = Registration {
                        verifier: srp_client::derive_verifier(&x),
                        salt,
                    };
                    match c.sign_up_with(&id, &format!("{prefix}-pt-{i}"), &reg) {
                        Ok(_) => lock(&out).push(Profile { id, x }),
                        Err(e) => {
                            lock(&first_err).get_or_insert(format!("sign-up of {id}: {e}"));
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&first_err).take() {
        return Err(e);
    }
    let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sign_in_all(target: &Target, profiles: &[Profile]) -> Result<Vec<Jwt>, String> {
    let mut c = Client::new(target.addr);
    let eph = srp_client::generate_ephemeral();
    profiles
        .iter()
        .map(|p| {
            c.sign_in_with(&p.id, &eph, Secret::PrivateKey(&p.x))
                .map_err(|e| format!("sign-in of {}: {e}", p.id))
        })
        .collect()
}

// ------------------------------------------------------------- scenarios

struct Bench {
    args: Args,
    target: Target,
    warmup: Duration,
    prefix: String,
    profiles: Vec<Profile>,
    sessions: Vec<Jwt>,
}

/// One pre-built request per worker and a reusable body buffer.
struct Fixed {
    client: Client,
    request: Vec<u8>,
    body: Vec<u8>,
}

impl Bench {
    fn conc(&self) -> usize {
        self.args.concurrency.max(1)
    }

    /// Fresh sessions of the prepared profiles: sign-ins in other
    /// scenarios evict the oldest beyond the per-profile cap.
    fn fresh_sessions(&mut self) -> Result<(), String> {
        self.ensure_profiles()?;
        self.sessions = sign_in_all(&self.target, &self.profiles)?;
        Ok(())
    }

    /// Profiles and one live session each, made once and shared.
    fn ensure_profiles(&mut self) -> Result<(), String> {
        let want = self
            .args
            .profiles
            .max(self.conc())
            .max(self.args.storm)
            .max(2);
        if self.profiles.len() < want {
            self.profiles = prepare_profiles(&self.target, &self.prefix, want)?;
            self.sessions = sign_in_all(&self.target, &self.profiles)?;
        }
        Ok(())
    }

    fn fixed_workers(&self, n: usize, make: impl Fn(usize, &Client) -> Vec<u8>) -> Vec<Fixed> {
        (0..n)
            .map(|w| {
                let client = Client::new(self.target.addr);
                let request = make(w, &client);
                Fixed {
                    client,
                    request,
                    body: Vec::with_capacity(256),
                }
            })
            .collect()
    }

    /// Sends the worker's request; `want` is the expected status.
    fn fixed_op(want: u16, kind: usize) -> impl Fn(&mut Fixed, &mut Recorder) + Sync {
        move |f, rec| {
            let t0 = Instant::now();
            match f.client.send(&f.request, &mut f.body) {
                Ok(head) if head.status == want => rec.record(kind, t0),
                Ok(head) => rec.error(|| {
                    format!("HTTP {}: {}", head.status, String::from_utf8_lossy(&f.body))
                }),
                Err(e) => rec.error(|| e.to_string()),
            }
        }
    }

    fn ceiling(&mut self) -> Result<Vec<Row>, String> {
        let c = self.conc();
        // Same shape and size as a real verify body; the empty profile id
        // fails validation after the JSON is parsed: 400, no DB, no crypto.
        let jwt = Jwt {
            profile_id: String::new(),
            auth_token: "A".repeat(43),
            auth_expiry: "2026-11-25T18:00:00.000Z".into(),
        };
        let body = serde_json::to_vec(&JwtBody { jwt: &jwt }).map_err(|e| e.to_string())?;
        let workers = self.fixed_workers(c, |_, cl| cl.build_request("/v1/verify", &body, None));
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            workers,
            Self::fixed_op(400, 0),
        );
        let mut r = row("ceiling", c, &m, 0, self.target.pid, None);
        r.note = Some("POST /v1/verify, empty profile_id -> 400 (no DB, no crypto)".into());
        Ok(vec![r])
    }

    fn verify(&mut self) -> Result<Vec<Row>, String> {
        self.fresh_sessions()?;
        let c = self.conc();
        let sessions = &self.sessions;
        let workers = self.fixed_workers(c, |w, cl| {
            let jwt = &sessions[w % sessions.len()];
            let body = serde_json::to_vec(&JwtBody { jwt }).unwrap_or_default();
            cl.build_request("/v1/verify", &body, None)
        });
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            workers,
            Self::fixed_op(200, 0),
        );
        Ok(vec![row("verify", c, &m, 0, self.target.pid, None)])
    }

    fn signin(&mut self) -> Result<Vec<Row>, String> {
        self.ensure_profiles()?;
        let c = self.conc();
        if self.args.storm_child {
            // The parent waits for this before it measures.
            println!("READY");
            let _ = std::io::stdout().flush();
        }
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            self.signin_workers(c),
            signin_op,
        );
        let mut r = row("signin", c, &m, 0, self.target.pid, None);
        r.note = Some("step 1 + step 2 + M2 check".into());
        Ok(vec![r])
    }

    /// Worker w signs in profiles w, w + n, ...: one pending handshake per
    /// profile means two workers must never share one.
    fn signin_workers(&self, n: usize) -> Vec<SigninWorker> {
        (0..n)
            .map(|w| SigninWorker {
                client: Client::new(self.target.addr),
                // One ephemeral per worker: the server's work does not
                // depend on it, and g^a is CPU the bench would take from
                // the server on the same machine.
                eph: srp_client::generate_ephemeral(),
                profiles: self.profiles.iter().skip(w).step_by(n).cloned().collect(),
                next: 0,
            })
            .collect()
    }

    fn signup(&mut self) -> Result<Vec<Row>, String> {
        let c = self.conc();
        // One verifier for every new profile: the server's work does not
        // depend on it, and g^x is CPU the bench would take from the server.
        let reg = Registration::new("bench-signup", "pw");
        let prefix = format!("{}-su", self.prefix);
        // Enough for the whole run at 5,000/s, so that filling (about 5 ms
        // per 1,000 tokens) rarely lands in the window; refilled if not.
        let secs = (self.warmup + self.args.duration).as_secs_f64();
        let batch = ((secs * 5_000.0) as u64).max(5_000);
        fill_tokens(&self.target, &prefix, 0, batch)?;
        let shared = SignupShared {
            next: AtomicU64::new(0),
            filled: Mutex::new(batch),
            target: self.target.clone(),
            prefix,
            reg,
        };
        let workers: Vec<Client> = (0..c).map(|_| Client::new(self.target.addr)).collect();
        let shared = &shared;
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            workers,
            move |client, rec| {
                let i = shared.next.fetch_add(1, Ordering::Relaxed);
                {
                    // Refill outside the timed part of the operation.
                    let mut filled = lock(&shared.filled);
                    if i >= *filled {
                        let from = *filled;
                        if let Err(e) = fill_tokens(&shared.target, &shared.prefix, from, 10_000) {
                            rec.error(|| e);
                            return;
                        }
                        *filled = from + 10_000;
                    }
                }
                let id = format!("{}-{i}", shared.prefix);
                let token = format!("{}-pt-{i}", shared.prefix);
                let t0 = Instant::now();
                match client.sign_up_with(&id, &token, &shared.reg) {
                    Ok(_) => rec.record(0, t0),
                    Err(e) => rec.error(|| format!("sign-up: {e}")),
                }
            },
        );
        Ok(vec![row("signup", c, &m, 0, self.target.pid, None)])
    }

    fn timing(&mut self) -> Result<Vec<Row>, String> {
        self.ensure_profiles()?;
        // Few workers: the point is latency, not a queue.
        let n = 1;
        let prefix = &self.prefix;
        let workers: Vec<TimingWorker> = (0..n)
            .map(|w| TimingWorker {
                w,
                client: Client::new(self.target.addr),
                eph: srp_client::generate_ephemeral(),
                profiles: self
                    .profiles
                    .iter()
                    .skip(w)
                    .step_by(n)
                    .map(|p| (p.clone(), 0))
                    .collect(),
                next_known: 0,
                next_unknown: 0,
                rng: XorShift::new(),
            })
            .collect();
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            4,
            workers,
            |t, rec| timing_op(prefix, t, rec),
        );
        let pid = self.target.pid;
        let both = (m.lat[2].len() + m.lat[3].len()) as u64;
        let mut rows = vec![
            row("timing/step1-known", n, &m, 0, pid, Some(both)),
            row("timing/step1-unknown", n, &m, 1, pid, Some(both)),
            row("timing/step2-wrong", n, &m, 2, pid, Some(both)),
            row("timing/step2-unknown", n, &m, 3, pid, Some(both)),
        ];
        for r in &mut rows {
            r.note = Some("CPU per op: whole window / handshakes".into());
        }
        Ok(rows)
    }

    fn mixed(&mut self) -> Result<Vec<Row>, String> {
        self.fresh_sessions()?;
        let admin = self
            .target
            .admin_token
            .clone()
            .ok_or("mixed needs --admin-token with --url")?;
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let storm_secs = self.warmup + self.args.duration + Duration::from_millis(1500);
        let mut cmd = if self.args.storm_nice != 0 && Path::new("/usr/bin/nice").exists() {
            let mut c = Command::new("nice");
            c.arg("-n").arg(self.args.storm_nice.to_string()).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.arg("--storm-child")
            .arg("--scenario=signin")
            .arg(format!("--url={}", self.target.host_url))
            .arg(format!("--admin-token={admin}"))
            .arg(format!("--concurrency={}", self.args.storm.max(1)))
            .arg(format!("--profiles={}", self.args.storm.max(1)))
            .arg(format!("--duration={}ms", storm_secs.as_millis()))
            .arg("--warmup=0s")
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("storm: {e}"))?;
        let stdout = child.stdout.take().ok_or("storm: no stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let ready = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.trim() == "READY" => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the sign-in storm did not start".into());
        }
        let c = self.conc();
        let sessions = &self.sessions;
        let workers = self.fixed_workers(c, |w, cl| {
            let jwt = &sessions[w % sessions.len()];
            let body = serde_json::to_vec(&JwtBody { jwt }).unwrap_or_default();
            cl.build_request("/v1/verify", &body, None)
        });
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            workers,
            Self::fixed_op(200, 0),
        );
        let status = child.wait().map_err(|e| format!("storm: {e}"))?;
        let mut out = String::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&line);
            out.push('\n');
        }
        let mut verify = row("mixed/verify", c, &m, 0, self.target.pid, None);
        verify.server_cpu_per_op_ms = None;
        verify.note = Some(format!(
            "verify while {} sign-in connections (nice {}) run",
            self.args.storm, self.args.storm_nice
        ));
        let mut rows = vec![verify];
        let storm = out
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["rows"].get(0).cloned())
            .and_then(|r| serde_json::from_value::<Row>(r).ok());
        match storm {
            Some(mut r) if status.success() => {
                r.scenario = "mixed/signin-storm".into();
                r.note = Some("whole storm run, from the storm process".into());
                if r.errors > 0 {
                    rows[0].errors += r.errors;
                    rows[0].first_error = rows[0].first_error.take().or(r.first_error.clone());
                }
                rows.push(r);
            }
            _ => return Err(format!("the sign-in storm failed ({status})")),
        }
        Ok(rows)
    }
}

struct SignupShared {
    next: AtomicU64,
    filled: Mutex<u64>,
    target: Target,
    prefix: String,
    reg: Registration,
}

struct SigninWorker {
    client: Client,
    eph: srp_client::Ephemeral,
    profiles: Vec<Profile>,
    next: usize,
}

fn signin_op(w: &mut SigninWorker, rec: &mut Recorder) {
    signin_op_as(w, rec, 0);
}

fn signin_op_as(w: &mut SigninWorker, rec: &mut Recorder, kind: usize) {
    if w.profiles.is_empty() {
        rec.error(|| "no profile for this worker".into());
        std::thread::sleep(Duration::from_millis(100));
        return;
    }
    let p = &w.profiles[w.next % w.profiles.len()];
    w.next += 1;
    let t0 = Instant::now();
    match w
        .client
        .sign_in_with(&p.id, &w.eph, Secret::PrivateKey(&p.x))
    {
        Ok(_) => rec.record(kind, t0),
        Err(e) => rec.error(|| format!("sign-in: {e}")),
    }
}

struct TimingWorker {
    w: usize,
    client: Client,
    eph: srp_client::Ephemeral,
    /// Known profiles and their consecutive failures (kept under the
    /// lockout's five by a good sign-in).
    profiles: Vec<(Profile, u32)>,
    next_known: usize,
    next_unknown: u64,
    rng: XorShift,
}

/// Kinds: 0 step 1 known, 1 step 1 unknown, 2 step 2 wrong proof,
/// 3 step 2 unknown profile.
fn timing_op(prefix: &str, t: &mut TimingWorker, rec: &mut Recorder) {
    let unknown = t.rng.next() & 1 == 1;
    let m1 = {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&t.rng.next().to_le_bytes()[..chunk.len()]);
        }
        hex::encode(&b)
    };
    let (id, slot) = if unknown {
        t.next_unknown += 1;
        // Shaped like the known ids, so that only existence differs.
        let n = 1_000_000 + t.next_unknown * 2 + t.w as u64;
        (format!("{prefix}-p-{n}"), None)
    } else if t.profiles.is_empty() {
        rec.error(|| "no profile for this worker".into());
        return;
    } else {
        let i = t.next_known % t.profiles.len();
        t.next_known += 1;
        (t.profiles[i].0.id.clone(), Some(i))
    };
    let kind = usize::from(unknown);
    let t0 = Instant::now();
    if let Err(e) = t.client.sign_in_start(&id, &t.eph.public) {
        rec.error(|| format!("step 1: {e}"));
        return;
    }
    rec.record(kind, t0);
    let t0 = Instant::now();
    match t.client.sign_in_finish(&id, &m1) {
        Err(client::Error::Status { status: 401, .. }) => rec.record(2 + kind, t0),
        Err(e) => rec.error(|| format!("step 2: {e}")),
        Ok(_) => rec.error(|| "step 2: a random proof was accepted".into()),
    }
    if let Some(i) = slot {
        t.profiles[i].1 += 1;
        if t.profiles[i].1 >= 4 {
            let (p, fails) = &mut t.profiles[i];
            match t
                .client
                .sign_in_with(&p.id, &t.eph, Secret::PrivateKey(&p.x))
            {
                Ok(_) => *fails = 0,
                Err(e) => rec.error(|| format!("resetting the failure count: {e}")),
            }
        }
    }
}

// ------------------------------------------------------------- footprint

fn footprint(args: &Args, warmup: Duration) -> Result<(Vec<Row>, Targets), String> {
    let bin = zkppd_binary(args)?;
    let dir = tempfile::Builder::new()
        .prefix("zkppd-bench-fp-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let db = dir.path().join("zkppd.db");

    // Import the profiles with the admin command (one verifier for all:
    // the footprint does not depend on it).
    let reg = Registration::new("footprint", "pw");
    let t = Instant::now();
    let mut import = Command::new(&bin)
        .args(["profile", "import", "--db"])
        .arg(&db)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("zkppd profile import: {e}"))?;
    {
        let stdin = import.stdin.take().ok_or("import: no stdin")?;
        let mut w = std::io::BufWriter::new(stdin);
        for i in 0..args.footprint_profiles {
            writeln!(
                w,
                r#"{{"profile_id":"fp-{i:08}","zkpp":"{}","salt":"{}"}}"#,
                reg.verifier, reg.salt
            )
            .map_err(|e| format!("import: {e}"))?;
        }
        w.flush().map_err(|e| format!("import: {e}"))?;
    }
    let out = import
        .wait_with_output()
        .map_err(|e| format!("import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "zkppd profile import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let import_s = t.elapsed().as_secs_f64();
    let db_mb = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;

    // Start-up to first answer, on the existing database.
    let server = Server::start(&bin, Some(&db), &args.zkppd_args)?;
    let probe = serde_json::to_vec(&JwtBody {
        jwt: &Jwt {
            profile_id: String::new(),
            auth_token: "A".repeat(43),
            auth_expiry: "2026-11-25T18:00:00.000Z".into(),
        },
    })
    .map_err(|e| e.to_string())?;
    let mut first = Client::new(server.addr);
    let answered = first
        .post("/v1/verify", &probe, None)
        .map_err(|e| format!("first request: {e}\n{}", server.log_tail()))?;
    let startup = server.spawned_at.elapsed();
    if answered.status != 400 {
        return Err(format!("first answer was {}", answered.status));
    }

    let target = Target {
        addr: server.addr,
        host_url: format!("http://{}", server.addr),
        admin_token: Some(server.admin_token.clone()),
        pid: Some(server.pid),
    };

    // Idle keep-alive connections, each used once so that the server holds
    // a live connection task for it.
    let mut idle = Vec::with_capacity(args.footprint_connections);
    let request = first.build_request("/v1/verify", &probe, None);
    let mut body = Vec::new();
    for _ in 0..args.footprint_connections {
        let mut c = Client::new(server.addr);
        match c.send(&request, &mut body) {
            Ok(h) if h.status == 400 => idle.push(c),
            Ok(h) => return Err(format!("idle connection got {}", h.status)),
            Err(e) => return Err(format!("idle connection: {e}")),
        }
    }

    // Traffic while they are open: sign-ins and verifies.
    let prefix = format!("fp{}", random_hex(4));
    let n = args.concurrency.clamp(2, 8);
    let profiles = prepare_profiles(&target, &prefix, n)?;
    let sessions = sign_in_all(&target, &profiles)?;
    enum W {
        Signin(Box<SigninWorker>),
        Verify(Fixed),
    }
    let workers: Vec<W> = (0..n)
        .map(|w| {
            if w % 2 == 0 {
                W::Signin(Box::new(SigninWorker {
                    client: Client::new(target.addr),
                    eph: srp_client::generate_ephemeral(),
                    profiles: vec![profiles[w].clone()],
                    next: 0,
                }))
            } else {
                let client = Client::new(target.addr);
                let body = serde_json::to_vec(&JwtBody { jwt: &sessions[w] }).unwrap_or_default();
                W::Verify(Fixed {
                    request: client.build_request("/v1/verify", &body, None),
                    client,
                    body: Vec::new(),
                })
            }
        })
        .collect();
    let verify_op = Bench::fixed_op(200, 1);
    let m = run_workers(
        target.pid,
        warmup,
        args.duration,
        2,
        workers,
        |w, rec| match w {
            W::Signin(s) => signin_op_as(s, rec, 0),
            W::Verify(f) => verify_op(f, rec),
        },
    );
    // Read while the idle connections are still open.
    let mut rows = vec![
        row("footprint/signin", n.div_ceil(2), &m, 0, target.pid, None),
        row("footprint/verify", n / 2, &m, 1, target.pid, None),
    ];
    for r in &mut rows {
        r.server_cpu_per_op_ms = None;
    }
    rows[0].note = Some(format!(
        "{} profiles ({db_mb:.0} MB file, import {import_s:.1}s), {} idle keep-alive conns; start-up to first answer {:.1} ms (`listening on` after {:.1} ms)",
        args.footprint_profiles,
        idle.len(),
        startup.as_secs_f64() * 1e3,
        server.listening_after.as_secs_f64() * 1e3,
    ));
    let r = &rows[0];
    let targets = Targets {
        footprint_rss_mb: r.server_rss_mb,
        footprint_startup_ms: Some(startup.as_secs_f64() * 1e3),
        ..Targets::default()
    };
    drop(idle);
    drop(server);
    Ok((rows, targets))
}

// ------------------------------------------------------------ math alone

/// `srp::server_public` and `srp::verify_proof`, timed in this process.
fn math_alone() -> MathCost {
    let id = "bench-math";
    let salt = srp_client::generate_salt();
    let x = srp_client::derive_private_key(&salt, id, "pw");
    let v = srp::Verifier::from_hex(&srp_client::derive_verifier(&x)).expect("verifier");
    let eph = srp_client::generate_ephemeral();
    let a = srp::ClientPublic::from_hex(&eph.public).expect("A");
    let salt_raw = hex::decode(&salt).expect("salt");
    srp::precompute();
    let b = srp::ServerSecret::random();
    let big_b = srp::server_public(&v, &b);
    let m1 = [7u8; 32];
    let time = |f: &dyn Fn()| {
        // Best of three batches of at least 0.2 s: the least disturbed.
        f();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut n = 0u32;
            while n < 5 || t.elapsed() < Duration::from_millis(200) {
                f();
                n += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e3 / f64::from(n));
        }
        best
    };
    let b_ms = time(&|| {
        std::hint::black_box(srp::server_public(&v, &srp::ServerSecret::random()));
    });
    let p_ms = time(&|| {
        std::hint::black_box(srp::verify_proof(id, &salt_raw, &v, &a, &b, &big_b, &m1));
    });
    MathCost {
        server_public_ms: b_ms,
        verify_proof_ms: p_ms,
        per_signin_ms: b_ms + p_ms,
        before_ms: b_ms + p_ms,
        after_ms: b_ms + p_ms,
    }
}

// ------------------------------------------------------------------ main

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(clean) => {
            if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("zkppd-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs the scenarios and prints the report; false if any had errors.
fn run(args: Args) -> Result<bool, String> {
    let scenarios = Scenario::parse(&args.scenario)?;
    let warmup = args
        .warmup
        .unwrap_or_else(|| (args.duration / 4).min(Duration::from_secs(1)));
    let load_at_start = loadavg();
    // Timed right before and after the sign-in scenario (this machine's
    // speed drifts with its neighbours): the ratio uses their mean.
    let mut math: Option<MathCost> = None;

    let needs_server = scenarios.iter().any(|s| *s != Scenario::Footprint);
    let mut server = None;
    let target = match (&args.url, needs_server) {
        (Some(url), _) => {
            let c = Client::from_url(url).map_err(|e| format!("--url: {e}"))?;
            Some(Target {
                addr: c.addr(),
                host_url: url.trim_end_matches('/').to_owned(),
                admin_token: args.admin_token.clone(),
                pid: args.server_pid,
            })
        }
        (None, true) => {
            let s = Server::start(&zkppd_binary(&args)?, None, &args.zkppd_args)?;
            let t = Target {
                addr: s.addr,
                host_url: format!("http://{}", s.addr),
                admin_token: Some(s.admin_token.clone()),
                pid: Some(s.pid),
            };
            server = Some(s);
            Some(t)
        }
        (None, false) => None,
    };

    let mut bench = target.map(|target| Bench {
        args: args.clone(),
        target,
        warmup,
        prefix: format!("b{}", random_hex(4)),
        profiles: Vec::new(),
        sessions: Vec::new(),
    });
    let mut rows = Vec::new();
    let mut targets = Targets::default();
    for s in &scenarios {
        if !args.json && !args.storm_child {
            eprintln!("zkppd-bench: running {s:?} (load {})", loadavg());
        }
        let result = match (s, bench.as_mut()) {
            (Scenario::Footprint, _) if args.url.is_some() => {
                eprintln!("zkppd-bench: footprint needs its own server; skipped with --url");
                continue;
            }
            (Scenario::Footprint, _) => footprint(&args, warmup).map(|(r, t)| {
                targets.footprint_rss_mb = t.footprint_rss_mb;
                targets.footprint_startup_ms = t.footprint_startup_ms;
                r
            }),
            (_, None) => Err("no target".into()),
            (Scenario::Ceiling, Some(b)) => b.ceiling(),
            (Scenario::Verify, Some(b)) => b.verify(),
            (Scenario::Signin, Some(b)) if !args.storm_child => {
                let before = math_alone();
                let rows = b.signin();
                let after = math_alone();
                math = Some(MathCost {
                    server_public_ms: (before.server_public_ms + after.server_public_ms) / 2.0,
                    verify_proof_ms: (before.verify_proof_ms + after.verify_proof_ms) / 2.0,
                    per_signin_ms: (before.per_signin_ms + after.per_signin_ms) / 2.0,
                    before_ms: before.per_signin_ms,
                    after_ms: after.per_signin_ms,
                });
                rows
            }
            (Scenario::Signin, Some(b)) => b.signin(),
            (Scenario::Signup, Some(b)) => b.signup(),
            (Scenario::Timing, Some(b)) => b.timing(),
            (Scenario::Mixed, Some(b)) => b.mixed(),
        };
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                let tail = server.as_ref().map(Server::log_tail).unwrap_or_default();
                return Err(format!("{s:?}: {e}\nserver log tail:\n{tail}"));
            }
        }
    }
    let clean_exit = server.as_mut().map(Server::stop);

    let find = |name: &str| rows.iter().find(|r| r.scenario == name);
    if let (Some(m), Some(r)) = (&math, find("signin")) {
        targets.signin_cpu_vs_math = r.server_cpu_per_op_ms.map(|c| c / m.per_signin_ms);
    }
    if let (Some(v), Some(c)) = (find("verify"), find("ceiling")) {
        targets.verify_vs_ceiling = Some(v.ops_per_s / c.ops_per_s.max(1e-9));
    }
    targets.mixed_verify_p99_ms = find("mixed/verify").map(|r| r.p99_ms);
    if let (Some(u), Some(w)) = (find("timing/step2-unknown"), find("timing/step2-wrong")) {
        targets.step2_unknown_vs_wrong = Some(u.p50_ms / w.p50_ms.max(1e-9));
    }
    if let (Some(u), Some(k)) = (find("timing/step1-unknown"), find("timing/step1-known")) {
        targets.step1_unknown_vs_known = Some(u.p50_ms / k.p50_ms.max(1e-9));
    }

    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    let report = Report {
        machine: Machine {
            cores: cores(),
            cpu: cpu_model(),
            load_at_start,
            load_at_end: loadavg(),
            date: zkppd::sessions::format_rfc3339_ms(zkppd::db::now_ms()),
        },
        duration_s: args.duration.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        concurrency: args.concurrency,
        math,
        rows,
        targets,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else {
        print_table(&report);
    }
    if clean_exit == Some(false) {
        eprintln!("zkppd-bench: zkppd did not exit cleanly on SIGTERM");
        return Ok(false);
    }
    Ok(errors == 0)
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

fn print_table(r: &Report) {
    let m = &r.machine;
    println!(
        "zkppd-bench  {}  {} cores ({})  load {} -> {}",
        m.date, m.cores, m.cpu, m.load_at_start, m.load_at_end
    );
    println!(
        "duration {:.1}s (+{:.1}s warm-up) per scenario",
        r.duration_s, r.warmup_s
    );
    if let Some(math) = &r.math {
        println!(
            "SRP math alone (this process): B {:.3} ms, proof check + M2 {:.3} ms, per sign-in {:.3} ms (before {:.3}, after {:.3})",
            math.server_public_ms,
            math.verify_proof_ms,
            math.per_signin_ms,
            math.before_ms,
            math.after_ms
        );
    }
    println!();
    println!(
        "{:<22} {:>4} {:>10} {:>8} {:>8} {:>8} {:>8} {:>6} {:>10} {:>6} {:>6} {:>6} {:>6}",
        "scenario",
        "conn",
        "ops/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors",
        "cpu/op ms",
        "srvCPU",
        "allCPU",
        "RSS MB",
        "peak"
    );
    for row in &r.rows {
        println!(
            "{:<22} {:>4} {:>10.1} {:>8.3} {:>8.3} {:>8.2} {:>8.2} {:>6} {:>10} {:>6} {:>6} {:>6} {:>6}",
            row.scenario,
            row.concurrency,
            row.ops_per_s,
            row.p50_ms,
            row.p99_ms,
            row.p999_ms,
            row.max_ms,
            row.errors,
            opt(row.server_cpu_per_op_ms, 4),
            opt(row.server_cores_busy, 2),
            opt(row.machine_cores_busy, 2),
            opt(row.server_rss_mb, 1),
            opt(row.server_peak_rss_mb, 1),
        );
    }
    for row in &r.rows {
        if let Some(e) = &row.first_error {
            println!("  {}: first error: {e}", row.scenario);
        }
    }
    for row in &r.rows {
        if let Some(n) = &row.note {
            println!("  {}: {n}", row.scenario);
        }
    }
    println!("  srvCPU / allCPU: cores busy in the window (server alone / whole machine)");
    let t = &r.targets;
    println!();
    println!("targets (issue 6):");
    println!(
        "  server CPU per sign-in / SRP math alone   {:>8}   (<= 1.15)",
        opt(t.signin_cpu_vs_math, 3)
    );
    println!(
        "  verify / ceiling throughput               {:>8}   (>= 0.50)",
        opt(t.verify_vs_ceiling, 3)
    );
    println!(
        "  mixed: verify p99 under sign-in storm     {:>8}   (<= 5 ms)",
        opt(t.mixed_verify_p99_ms, 2)
    );
    println!(
        "  step 2 median unknown / wrong proof       {:>8}   (0.95 - 1.05)",
        opt(t.step2_unknown_vs_wrong, 3)
    );
    println!(
        "  step 1 median unknown / known             {:>8}",
        opt(t.step1_unknown_vs_known, 3)
    );
    println!(
        "  footprint RSS MB                          {:>8}   (<= 30)",
        opt(t.footprint_rss_mb, 1)
    );
    println!(
        "  footprint start-up to first answer ms     {:>8}   (<= 100)",
        opt(t.footprint_startup_ms, 1)
    );
}
