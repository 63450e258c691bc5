//! The command line of `zkppd-bench`: its flags (clap derive, doc comments
//! as help), the duration grammar and the scenario list. Parsing only; what
//! the flags do belongs to the other modules.

use std::path::PathBuf;
use std::time::Duration;

/// Load generator for zkppd: runs named scenarios against a zkppd it starts
/// itself (or `--url`) and reports throughput, latency, errors, server CPU
/// per operation and server memory.
#[derive(clap::Parser, Debug, Clone)]
#[command(name = "zkppd-bench", version, about)]
pub(crate) struct Args {
    /// Scenarios, comma-separated: ceiling, verify, srp-floor, signin,
    /// timing, signup, mixed, footprint, or all.
    #[arg(long, default_value = "all")]
    pub(crate) scenario: String,

    /// Measured time of each scenario (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,

    /// Unmeasured run-in before each scenario [default: a quarter of
    /// --duration, at most 1s].
    #[arg(long, value_parser = parse_duration)]
    pub(crate) warmup: Option<Duration>,

    /// Keep-alive connections (one thread each) per scenario.
    #[arg(long, default_value_t = 16)]
    pub(crate) concurrency: usize,

    /// `mixed`: connections of the sign-in storm.
    #[arg(long, default_value_t = 4)]
    pub(crate) storm: usize,

    /// `mixed`: niceness of the storm's process (0: same priority), so that
    /// the load generator's own SRP math does not take the CPU from the
    /// server it is measuring.
    #[arg(long, default_value_t = 10)]
    pub(crate) storm_nice: i32,

    /// Profiles to prepare (at least --concurrency are).
    #[arg(long, default_value_t = 64)]
    pub(crate) profiles: usize,

    /// Target a running server instead of starting one (`http://host:port`).
    #[arg(long)]
    pub(crate) url: Option<String>,

    /// Admin token of the `--url` server (for filling buckets).
    #[arg(long, env = "ZKPPD_BENCH_ADMIN_TOKEN")]
    pub(crate) admin_token: Option<String>,

    /// Pid of the `--url` server, for its CPU time and memory.
    #[arg(long)]
    pub(crate) server_pid: Option<u32>,

    /// The database of the zkppd the bench starts: a SQLite file or a
    /// `postgres://` URL (the bench fills buckets and signs profiles up in
    /// it: give it an empty one) [default: throw-away ones, see --store].
    #[arg(long, conflicts_with = "url")]
    pub(crate) db: Option<String>,

    /// The stores to run on, comma-separated, each on a throw-away
    /// database: `sqlite` (`--temp-db`), `postgres` (a PostgreSQL cluster
    /// started from the distribution's binaries in a temp dir, on
    /// loopback, stopped at the end). With both, the scenarios that need
    /// a server run on each in turn, and the PostgreSQL rows are named
    /// `SCENARIO@postgres`.
    #[arg(long, default_value = "sqlite", conflicts_with_all = ["url", "db"])]
    pub(crate) store: String,

    /// The zkppd binary to start [default: `zkppd` next to this binary].
    #[arg(long)]
    pub(crate) zkppd: Option<PathBuf>,

    /// An extra flag for the started zkppd (repeatable), e.g.
    /// `--zkppd-arg=--log-level=warn,zkppd=info`.
    #[arg(long = "zkppd-arg", allow_hyphen_values = true)]
    pub(crate) zkppd_args: Vec<String>,

    /// `footprint`: profiles imported into the database.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) footprint_profiles: usize,

    /// `footprint`: idle keep-alive connections held open.
    #[arg(long, default_value_t = 1000)]
    pub(crate) footprint_connections: usize,

    /// `signup`: also run it against this older zkppd binary (started
    /// the same way, on its own throw-away database) right after, and
    /// report sign-ups/s ÷ its sign-ups/s.
    #[arg(long, value_name = "PATH")]
    pub(crate) baseline_zkppd: Option<PathBuf>,

    /// Print the results as one JSON document instead of a table.
    #[arg(long, conflicts_with = "markdown")]
    pub(crate) json: bool,

    /// Print the results as a dated Markdown section (machine, ratios,
    /// table) for the README, instead of a table.
    #[arg(long)]
    pub(crate) markdown: bool,

    /// Internal: run as the sign-in storm of `mixed` (prints READY when
    /// the storm starts).
    #[arg(long, hide = true)]
    pub(crate) storm_child: bool,
}

impl Args {
    /// The run-in before each scenario.
    pub(crate) fn warmup(&self) -> Duration {
        self.warmup
            .unwrap_or_else(|| (self.duration / 4).min(Duration::from_secs(1)))
    }
}

/// `10s`, `500ms`, `1m`, `1.5s`, or a bare number of seconds. Hand-written
/// because humantime's grammar takes neither fractions nor bare numbers,
/// and the flags must keep accepting what they accepted.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
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

/// A store the started zkppd runs on, on a throw-away database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    Sqlite,
    Postgres,
}

impl Store {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Store::Sqlite => "sqlite",
            Store::Postgres => "postgres",
        }
    }

    /// `sqlite`, `postgres` or both, comma-separated, each once.
    pub(crate) fn parse_list(s: &str) -> Result<Vec<Store>, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let store = [Store::Sqlite, Store::Postgres]
                .into_iter()
                .find(|st| st.name() == name)
                .ok_or_else(|| format!("unknown store `{name}` (sqlite, postgres)"))?;
            if !out.contains(&store) {
                out.push(store);
            }
        }
        if out.is_empty() {
            return Err("no store given".into());
        }
        Ok(out)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Ceiling,
    Verify,
    SrpFloor,
    Signin,
    Signup,
    Timing,
    Mixed,
    Footprint,
}

/// What `all` runs, in this order: each limit right before what is set
/// against it (the machine's speed drifts with its neighbours' builds).
const ALL: [Scenario; 8] = [
    Scenario::Ceiling,
    Scenario::Verify,
    Scenario::SrpFloor,
    Scenario::Signin,
    Scenario::Timing,
    Scenario::Signup,
    Scenario::Mixed,
    Scenario::Footprint,
];

impl Scenario {
    /// The name on the command line and in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling",
            Scenario::Verify => "verify",
            Scenario::SrpFloor => "srp-floor",
            Scenario::Signin => "signin",
            Scenario::Signup => "signup",
            Scenario::Timing => "timing",
            Scenario::Mixed => "mixed",
            Scenario::Footprint => "footprint",
        }
    }

    pub(crate) fn parse_list(s: &str) -> Result<Vec<Scenario>, String> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                out.extend(ALL);
                continue;
            }
            match ALL.into_iter().find(|s| s.name() == name) {
                Some(one) => out.push(one),
                None => return Err(format!("unknown scenario `{name}`")),
            }
        }
        if out.is_empty() {
            return Err("no scenario given".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn scenario_lists() {
        assert_eq!(
            Scenario::parse_list("verify, ceiling"),
            Ok(vec![Scenario::Verify, Scenario::Ceiling])
        );
        assert_eq!(Scenario::parse_list("all").map(|v| v.len()), Ok(8));
        assert_eq!(
            Scenario::parse_list("srp-floor"),
            Ok(vec![Scenario::SrpFloor])
        );
        assert!(Scenario::parse_list("nope").is_err());
        assert!(Scenario::parse_list(" , ").is_err());
    }

    #[test]
    fn store_lists() {
        assert_eq!(
            Store::parse_list("sqlite, postgres,sqlite"),
            Ok(vec![Store::Sqlite, Store::Postgres])
        );
        assert_eq!(Store::parse_list("postgres"), Ok(vec![Store::Postgres]));
        assert!(Store::parse_list("mysql").is_err());
        assert!(Store::parse_list("").is_err());
    }
}
