//! The standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_virtual_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`),
//! read from `/proc/self` at scrape time, and the build-info labels.
//! prometheus-client has no process collector, and these names carry no
//! `zkppd_` prefix (dashboards and alerts look for them as they are), so
//! they are written here in the text format, after the registry's output.
//! Only `/proc/self` is read: the packaged unit's `ProcSubset=pid` hides
//! the rest of /proc.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The version and the commit the binary was built from (`build.rs`:
/// `git rev-parse`, or `ZKPPD_BUILD_COMMIT`, or `unknown`).
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const COMMIT: &str = env!("ZKPPD_COMMIT");

/// When this server started, for `process_start_time_seconds` (the
/// kernel's start time needs /proc/stat, which the unit hides).
pub(crate) fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// One metric family in the text format; a value that could not be read
/// leaves its family out rather than reporting a made-up number.
fn family(out: &mut String, name: &str, kind: &str, help: &str, value: Option<f64>) {
    if let Some(v) = value {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
        );
    }
}

/// Appends the process families to `out`.
pub(crate) fn encode(out: &mut String, started: f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    // Fields after the command name, which is in parentheses and may hold
    // spaces: utime and stime are fields 14 and 15 of the whole line.
    let fields: Vec<&str> = stat
        .as_deref()
        .and_then(|s| s.rsplit_once(')'))
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let tick_field = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let cpu = match (tick_field(11), tick_field(12)) {
        (Some(user), Some(system)) if ticks > 0.0 => Some((user + system) / ticks),
        _ => None,
    };
    let page = rustix::param::page_size() as f64;
    let statm = std::fs::read_to_string("/proc/self/statm").ok();
    let pages = |i: usize| {
        statm
            .as_deref()?
            .split_whitespace()
            .nth(i)?
            .parse::<f64>()
            .ok()
            .map(|n| n * page)
    };
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as f64);
    let max_fds = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .map(|n| n as f64);

    family(
        out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        cpu,
    );
    family(
        out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        pages(1),
    );
    family(
        out,
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        pages(0),
    );
    family(
        out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        open_fds,
    );
    family(
        out,
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        max_fds,
    );
    family(
        out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        Some(started),
    );
}
