//! The report: one row per scenario (or per kind of operation), the
//! targets of issue 12 (and 6) worked out from the rows as ratios to the
//! limits measured in the same run, and the machine with its load; printed
//! as a text table, as one JSON document or as the README's Markdown
//! section, ratios first. Percentiles come from the HDR histograms of
//! `load`.

use serde::{Deserialize, Serialize};

use crate::load::Measured;
use crate::sampler;

/// One line of the report.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) concurrency: usize,
    pub(crate) ops: u64,
    pub(crate) seconds: f64,
    pub(crate) ops_per_s: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
    pub(crate) errors: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_error: Option<String>,
    /// Server CPU seconds (user + system) in the measured window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cpu_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cpu_per_op_ms: Option<f64>,
    /// Server CPU seconds per wall second (2.0 = both cores of a 2-core box).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_cores_busy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_rss_mb: Option<f64>,
    /// Peak RSS of the server so far (VmHWM).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) server_peak_rss_mb: Option<f64>,
    /// Whole-machine CPU busy in the window, all processes (of `cores`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) machine_cores_busy: Option<f64>,
    /// Successful writes per store commit (one fsync each), whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ops_per_fsync: Option<f64>,
    /// Median of one fsync alone on the database's disk, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fsync_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// A report row from kind `kind` of a measurement. CPU per op is charged
/// to this kind's operations (pass `cpu_ops` to charge other counts).
pub(crate) fn row(
    name: &str,
    concurrency: usize,
    m: &Measured,
    kind: usize,
    pid: Option<u32>,
    cpu_ops: Option<u64>,
) -> Row {
    let lat = &m.lat[kind];
    let ops = lat.len();
    let ms = |ns: u64| ns as f64 / 1e6;
    let quantile = |q: f64| {
        if ops == 0 {
            0.0
        } else {
            ms(lat.value_at_quantile(q))
        }
    };
    let mem = pid.and_then(sampler::mem_mb);
    let cpu_ops = cpu_ops.unwrap_or(ops);
    Row {
        scenario: name.to_owned(),
        concurrency,
        ops,
        seconds: m.seconds,
        ops_per_s: ops as f64 / m.seconds,
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        p999_ms: quantile(0.999),
        max_ms: if ops == 0 { 0.0 } else { ms(lat.max()) },
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
        ops_per_fsync: None,
        fsync_ms: None,
        note: None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct MathCost {
    /// `server_public` (B), ms per call.
    pub(crate) server_public_ms: f64,
    /// `verify_proof` (u, S, K, M1 check, M2), ms per call.
    pub(crate) verify_proof_ms: f64,
    /// The math one sign-in cannot avoid (mean of before and after).
    pub(crate) per_signin_ms: f64,
    /// Per sign-in, timed before the sign-in scenario.
    pub(crate) before_ms: f64,
    /// Per sign-in, timed after it.
    pub(crate) after_ms: f64,
}

impl MathCost {
    /// The mean of a timing before and one after a scenario (this machine's
    /// speed drifts with its neighbours).
    pub(crate) fn around(before: &MathCost, after: &MathCost) -> MathCost {
        MathCost {
            server_public_ms: (before.server_public_ms + after.server_public_ms) / 2.0,
            verify_proof_ms: (before.verify_proof_ms + after.verify_proof_ms) / 2.0,
            per_signin_ms: (before.per_signin_ms + after.per_signin_ms) / 2.0,
            before_ms: before.per_signin_ms,
            after_ms: after.per_signin_ms,
        }
    }
}

#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Targets {
    /// verify ÷ ceiling throughput (issue 12: ≥ 0.50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verify_vs_ceiling: Option<f64>,
    /// Server CPU per full sign-in ÷ the SRP floor (issue 12: ≤ 1.25).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signin_cpu_vs_floor: Option<f64>,
    /// The floor that ratio divides by, ms of CPU: `srp-floor`'s CPU per
    /// operation, or the math timed around `signin` when it did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) srp_floor_ms: Option<f64>,
    /// Sign-ups per store commit (fsync) in `signup`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signups_per_fsync: Option<f64>,
    /// Median of one fsync alone on the database's disk, ms: what group
    /// commit saves per commit it merges.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fsync_ms: Option<f64>,
    /// sign-ups/s ÷ the `--baseline-zkppd` binary's (issue 12: ≥ 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signup_vs_baseline: Option<f64>,
    /// verify p99 under the sign-in storm, ms (issue 12: ≤ 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mixed_verify_p99_ms: Option<f64>,
    /// RSS with the footprint's profiles and idle connections (≤ 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) footprint_rss_mb: Option<f64>,
    /// step-2 median, unknown profile ÷ wrong proof (issue 6: 0.95–1.05).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) step2_unknown_vs_wrong: Option<f64>,
    /// step-1 median, unknown ÷ known profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) step1_unknown_vs_known: Option<f64>,
    /// Start-up to first answer on the footprint database (issue 6: ≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) footprint_startup_ms: Option<f64>,
}

impl Targets {
    /// Fills in the ratios the rows and the math allow.
    pub(crate) fn compute(&mut self, rows: &[Row], math: Option<&MathCost>) {
        let find = |name: &str| rows.iter().find(|r| r.scenario == name);
        // CPU per operation; wall time per operation if /proc said nothing
        // (one thread: the same when the machine is quiet).
        let floor = find("srp-floor")
            .and_then(|r| {
                r.server_cpu_per_op_ms
                    .filter(|c| *c > 0.0)
                    .or_else(|| (r.ops > 0).then(|| r.seconds * 1e3 / r.ops as f64))
            })
            .or(math.map(|m| m.per_signin_ms));
        self.srp_floor_ms = floor;
        if let (Some(f), Some(r)) = (floor, find("signin")) {
            self.signin_cpu_vs_floor = r.server_cpu_per_op_ms.map(|c| c / f);
        }
        if let (Some(v), Some(c)) = (find("verify"), find("ceiling")) {
            self.verify_vs_ceiling = Some(v.ops_per_s / c.ops_per_s.max(1e-9));
        }
        self.signups_per_fsync = find("signup").and_then(|r| r.ops_per_fsync);
        self.fsync_ms = find("signup").and_then(|r| r.fsync_ms);
        if let (Some(s), Some(b)) = (find("signup"), find("signup/baseline")) {
            self.signup_vs_baseline = Some(s.ops_per_s / b.ops_per_s.max(1e-9));
        }
        self.mixed_verify_p99_ms = find("mixed/verify").map(|r| r.p99_ms);
        if let (Some(u), Some(w)) = (find("timing/step2-unknown"), find("timing/step2-wrong")) {
            self.step2_unknown_vs_wrong = Some(u.p50_ms / w.p50_ms.max(1e-9));
        }
        if let (Some(u), Some(k)) = (find("timing/step1-unknown"), find("timing/step1-known")) {
            self.step1_unknown_vs_known = Some(u.p50_ms / k.p50_ms.max(1e-9));
        }
    }

    /// Issue 12's targets, in the order the report prints them.
    pub(crate) fn ratios(&self) -> Vec<Ratio> {
        vec![
            Ratio::new(
                "`verify` ÷ `ceiling` throughput",
                self.verify_vs_ceiling,
                2,
                Goal::AtLeast(0.50),
            ),
            Ratio::new(
                "server CPU per full sign-in ÷ `srp-floor`",
                self.signin_cpu_vs_floor,
                2,
                Goal::AtMost(1.25),
            ),
            Ratio::new(
                "sign-ups per fsync (store commits)",
                self.signups_per_fsync,
                1,
                Goal::None,
            ),
            Ratio::new(
                "sign-ups/s ÷ baseline binary's",
                self.signup_vs_baseline,
                2,
                Goal::AtLeast(2.0),
            ),
            Ratio::new(
                "`mixed`: verify p99 during a sign-in storm, ms",
                self.mixed_verify_p99_ms,
                2,
                Goal::AtMost(5.0),
            ),
            Ratio::new(
                "`footprint`: RSS, MB",
                self.footprint_rss_mb,
                1,
                Goal::AtMost(30.0),
            ),
        ]
    }

    /// The other checks (issue 6's) and limits, printed after issue 12's.
    pub(crate) fn others(&self) -> Vec<Ratio> {
        vec![
            Ratio::new(
                "`signup`: one fsync alone on the database's disk, ms",
                self.fsync_ms,
                3,
                Goal::None,
            ),
            Ratio::new(
                "step 2 median, unknown profile ÷ wrong proof",
                self.step2_unknown_vs_wrong,
                3,
                Goal::Within(0.95, 1.05),
            ),
            Ratio::new(
                "step 1 median, unknown ÷ known profile",
                self.step1_unknown_vs_known,
                3,
                Goal::None,
            ),
            Ratio::new(
                "`footprint`: start-up to first answer, ms",
                self.footprint_startup_ms,
                1,
                Goal::AtMost(100.0),
            ),
        ]
    }
}

/// What a measured value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Goal {
    AtLeast(f64),
    AtMost(f64),
    Within(f64, f64),
    None,
}

/// One line of the ratios: what, the value if measured, and its goal.
#[derive(Debug, Clone)]
pub(crate) struct Ratio {
    pub(crate) label: &'static str,
    pub(crate) value: Option<f64>,
    prec: usize,
    goal: Goal,
}

impl Ratio {
    fn new(label: &'static str, value: Option<f64>, prec: usize, goal: Goal) -> Ratio {
        Ratio {
            label,
            value,
            prec,
            goal,
        }
    }

    fn value_text(&self) -> String {
        opt(self.value, self.prec)
    }

    /// The goal as `≥ 0.50` (`>= 0.50` with `ascii`), empty without one.
    fn goal_text(&self, ascii: bool) -> String {
        let (ge, le) = if ascii { (">=", "<=") } else { ("≥", "≤") };
        let p = self.prec;
        match self.goal {
            Goal::AtLeast(g) => format!("{ge} {g:.p$}"),
            Goal::AtMost(g) => format!("{le} {g:.p$}"),
            Goal::Within(lo, hi) => format!("{lo:.p$} – {hi:.p$}"),
            Goal::None => String::new(),
        }
    }

    /// `met`, `MISSED`, or empty when there is no value or no goal.
    fn verdict(&self) -> &'static str {
        let Some(v) = self.value else { return "" };
        let met = match self.goal {
            Goal::AtLeast(g) => v >= g,
            Goal::AtMost(g) => v <= g,
            Goal::Within(lo, hi) => (lo..=hi).contains(&v),
            Goal::None => return "",
        };
        if met { "met" } else { "MISSED" }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    /// The model name of /proc/cpuinfo.
    pub(crate) cpu: String,
    /// A hypervisor flag in /proc/cpuinfo.
    pub(crate) virtual_machine: bool,
    pub(crate) memory_gib: f64,
    /// The kernel release (/proc/sys/kernel/osrelease).
    pub(crate) kernel: String,
    /// The 1, 5 and 15 minute load averages before the first scenario.
    pub(crate) load_at_start: String,
    /// The same after the last one.
    pub(crate) load_at_end: String,
    /// Either 1-minute load average was at or above the cores: others
    /// were using the machine, absolute numbers are low.
    pub(crate) busy: bool,
    /// RFC 3339 with milliseconds, UTC.
    pub(crate) date: String,
}

/// The 1-minute figure of a load string.
fn one_minute(load: &str) -> Option<f64> {
    load.split_whitespace().next()?.parse().ok()
}

impl Machine {
    /// This machine, now.
    pub(crate) fn now(load_at_start: String) -> Machine {
        let cores = sampler::cores();
        let load_at_end = sampler::loadavg();
        let busy = [&load_at_start, &load_at_end]
            .iter()
            .filter_map(|l| one_minute(l))
            .any(|l| l >= cores as f64);
        Machine {
            cores,
            cpu: sampler::cpu_model(),
            virtual_machine: sampler::virtual_machine(),
            memory_gib: sampler::memory_gib(),
            kernel: sampler::kernel(),
            load_at_start,
            load_at_end,
            busy,
            date: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        }
    }

    /// `2 cores of AMD EPYC 7B13 (virtual machine), 7.8 GiB, Linux 6.1.0`.
    fn describe(&self) -> String {
        format!(
            "{} cores of {}{}, {:.1} GiB, Linux {}",
            self.cores,
            self.cpu,
            if self.virtual_machine {
                " (virtual machine)"
            } else {
                ""
            },
            self.memory_gib,
            self.kernel
        )
    }

    fn load(&self) -> String {
        let mut s = format!(
            "load average {} before, {} after (1, 5, 15 min)",
            self.load_at_start, self.load_at_end
        );
        if self.busy {
            s.push_str(&format!(
                ": busy, other work used the {} cores during the run, so absolute numbers are low; the ratios set numbers of the same minutes against each other",
                self.cores
            ));
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// The command line that produced this report.
    pub(crate) command: String,
    pub(crate) machine: Machine,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) concurrency: usize,
    /// What the measured zkppd stored its data in, for the reader.
    pub(crate) store: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) math: Option<MathCost>,
    pub(crate) rows: Vec<Row>,
    pub(crate) targets: Targets,
}

/// The command line as a shell would take it back (odd words quoted).
pub(crate) fn command_line(args: impl Iterator<Item = String>) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    args.map(|a| {
        if !a.is_empty() && a.chars().all(plain) {
            a
        } else {
            format!("'{}'", a.replace('\'', r"'\''"))
        }
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

/// The report as a text table: the machine, the ratios, then the rows.
pub(crate) fn table(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let m = &r.machine;
    // Writing to a String cannot fail.
    let _ = writeln!(o, "zkppd-bench  {}  {}", m.date, r.command);
    let _ = writeln!(o, "machine: {}", m.describe());
    let _ = writeln!(o, "{}", m.load());
    let _ = writeln!(
        o,
        "{:.1}s (+{:.1}s warm-up) per scenario, {} connections; the load generator shares the machine",
        r.duration_s, r.warmup_s, r.concurrency
    );
    let _ = writeln!(o, "store: {}", r.store);
    let _ = writeln!(o);
    let ratio = |o: &mut String, x: &Ratio| {
        let line = format!(
            "  {:<48} {:>8}   {:<13} {}",
            x.label.replace('`', ""),
            x.value_text(),
            x.goal_text(true),
            x.verdict()
        );
        let _ = writeln!(o, "{}", line.trim_end());
    };
    let _ = writeln!(o, "ratios, same run (issue 12 targets)");
    for x in r.targets.ratios() {
        ratio(&mut o, &x);
    }
    let _ = writeln!(o, "also measured (issue 6 targets)");
    for x in r.targets.others() {
        ratio(&mut o, &x);
    }
    if let Some(f) = r.targets.srp_floor_ms {
        let _ = writeln!(o, "  (SRP floor: {f:.3} ms of CPU per sign-in)");
    }
    if let Some(math) = &r.math {
        let _ = writeln!(
            o,
            "SRP math alone (this process): B {:.3} ms, proof check + M2 {:.3} ms, per sign-in {:.3} ms (before {:.3}, after {:.3})",
            math.server_public_ms,
            math.verify_proof_ms,
            math.per_signin_ms,
            math.before_ms,
            math.after_ms
        );
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
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
        let _ = writeln!(
            o,
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
            let _ = writeln!(o, "  {}: first error: {e}", row.scenario);
        }
    }
    for row in &r.rows {
        if let Some(n) = &row.note {
            let _ = writeln!(o, "  {}: {n}", row.scenario);
        }
    }
    let _ = writeln!(
        o,
        "  srvCPU / allCPU: cores busy in the window (server alone / whole machine)"
    );
    o
}

/// `1,234` above a thousand, `12.3` below.
fn per_second(x: f64) -> String {
    if x < 1000.0 {
        return format!("{x:.1}");
    }
    let digits = format!("{x:.0}");
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// CPU per operation in µs below a millisecond, else in ms.
fn cpu_per_op(ms: Option<f64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1.0 => format!("{:.0} µs", ms * 1e3),
        Some(ms) => format!("{ms:.2} ms"),
    }
}

/// The report as the README's Markdown section: dated, the machine and its
/// load, the command, the ratios, then the table.
pub(crate) fn markdown(r: &Report) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let m = &r.machine;
    let day = m.date.get(..10).unwrap_or(&m.date);
    // Writing to a String cannot fail.
    if r.rows.iter().any(|row| row.scenario.ends_with("@postgres")) {
        let _ = writeln!(o, "### Benchmarks on SQLite and PostgreSQL ({day})");
    } else {
        let _ = writeln!(o, "### Benchmarks ({day})");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "Measured {} on {}; {}. The load generator ran on the same cores, {} keep-alive connections, {:.0} s per scenario after {:.1} s of warm-up; zkppd on {}. Produced by:",
        m.date,
        m.describe(),
        m.load(),
        r.concurrency,
        r.duration_s,
        r.warmup_s,
        r.store
    );
    let _ = writeln!(o);
    let _ = writeln!(o, "```sh");
    let _ = writeln!(o, "{}", r.command);
    let _ = writeln!(o, "```");
    let _ = writeln!(o);
    let _ = writeln!(o, "| same run | measured | target | |");
    let _ = writeln!(o, "|---|---|---|---|");
    for x in r.targets.ratios().iter().chain(&r.targets.others()) {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            x.label,
            x.value_text(),
            x.goal_text(false),
            x.verdict()
        );
    }
    if let Some(f) = r.targets.srp_floor_ms {
        let _ = writeln!(o);
        let _ = writeln!(o, "SRP floor: {f:.3} ms of CPU per sign-in.");
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| scenario | conns | ops/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU/op | server cores | machine cores | RSS MB |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|");
    let dash = |v: Option<f64>, p: usize| v.map_or_else(|| "—".into(), |x| format!("{x:.p$}"));
    for row in &r.rows {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            row.scenario,
            row.concurrency,
            per_second(row.ops_per_s),
            row.p50_ms,
            row.p99_ms,
            row.p999_ms,
            row.errors,
            cpu_per_op(row.server_cpu_per_op_ms),
            dash(row.server_cores_busy, 2),
            dash(row.machine_cores_busy, 2),
            dash(row.server_rss_mb, 1),
        );
    }
    let _ = writeln!(o);
    o.push_str(&side_by_side(&r.rows));
    for row in &r.rows {
        if let Some(n) = &row.note {
            let _ = writeln!(o, "- `{}`: {n}", row.scenario);
        }
        if let Some(e) = &row.first_error {
            let _ = writeln!(o, "- `{}`: first error: {e}", row.scenario);
        }
    }
    o
}

/// The rows measured on both stores, SQLite's beside PostgreSQL's
/// (`NAME` and `NAME@postgres`), as a Markdown table; empty without any.
fn side_by_side(rows: &[Row]) -> String {
    use std::fmt::Write;
    let pairs: Vec<(&Row, &Row)> = rows
        .iter()
        .filter_map(|a| {
            let name = format!("{}@postgres", a.scenario);
            rows.iter().find(|b| b.scenario == name).map(|b| (a, b))
        })
        .collect();
    let mut o = String::new();
    if pairs.is_empty() {
        return o;
    }
    let _ = writeln!(
        o,
        "| scenario | SQLite ops/s | PostgreSQL ops/s | PostgreSQL ÷ SQLite | SQLite p99 ms | PostgreSQL p99 ms | SQLite server CPU/op | PostgreSQL server CPU/op |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for (a, b) in pairs {
        let _ = writeln!(
            o,
            "| `{}` | {} | {} | {:.2} | {:.2} | {:.2} | {} | {} |",
            a.scenario,
            per_second(a.ops_per_s),
            per_second(b.ops_per_s),
            b.ops_per_s / a.ops_per_s.max(1e-9),
            a.p99_ms,
            b.p99_ms,
            cpu_per_op(a.server_cpu_per_op_ms),
            cpu_per_op(b.server_cpu_per_op_ms),
        );
    }
    let _ = writeln!(o);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;

    #[test]
    fn rows_on_both_stores_are_set_side_by_side() {
        let rows = vec![
            named("verify", |r| r.ops_per_s = 1000.0),
            named("signup", |r| r.ops_per_s = 400.0),
            named("verify@postgres", |r| r.ops_per_s = 500.0),
        ];
        let t = side_by_side(&rows);
        assert!(t.contains("| `verify` | 1,000 | 500.0 | 0.50 |"), "{t}");
        assert!(!t.contains("`signup`"), "{t}");
        assert_eq!(side_by_side(&rows[..2]), "");
        let md = markdown(&report(rows.clone()));
        assert!(
            md.starts_with("### Benchmarks on SQLite and PostgreSQL (20"),
            "{md}"
        );
        assert!(md.contains("| `verify` | 1,000 | 500.0 |"), "{md}");
        let md = markdown(&report(rows[..2].to_vec()));
        assert!(md.starts_with("### Benchmarks (20"), "{md}");
        assert!(!md.contains("PostgreSQL ops/s"), "{md}");
    }

    #[test]
    fn rows_take_percentiles_from_the_histogram() {
        let mut h = histogram();
        for ms in 1..=1000u64 {
            h.saturating_record(ms * 1_000_000);
        }
        let m = Measured {
            lat: vec![h],
            errors: 0,
            first_error: None,
            seconds: 2.0,
            server_cpu_s: Some(1.0),
            machine_busy: None,
        };
        let r = row("verify", 4, &m, 0, None, None);
        assert_eq!((r.ops, r.ops_per_s), (1000, 500.0));
        assert!((r.p50_ms - 500.0).abs() < 1.0, "{}", r.p50_ms);
        assert!((r.p99_ms - 990.0).abs() < 1.0, "{}", r.p99_ms);
        assert!((r.max_ms - 1000.0).abs() < 1.0, "{}", r.max_ms);
        assert_eq!(r.server_cpu_per_op_ms, Some(1.0));
        assert_eq!(r.server_cores_busy, Some(0.5));
    }

    fn named(scenario: &str, f: impl FnOnce(&mut Row)) -> Row {
        let mut r = Row {
            scenario: scenario.into(),
            ops: 10,
            seconds: 1.0,
            ..Row::default()
        };
        f(&mut r);
        r
    }

    fn sample_rows() -> Vec<Row> {
        vec![
            named("ceiling", |r| r.ops_per_s = 100.0),
            named("verify", |r| r.ops_per_s = 50.0),
            named("srp-floor", |r| r.server_cpu_per_op_ms = Some(2.0)),
            named("signin", |r| r.server_cpu_per_op_ms = Some(2.5)),
            named("signup", |r| {
                r.ops_per_s = 600.0;
                r.ops_per_fsync = Some(8.0);
            }),
            named("signup/baseline", |r| r.ops_per_s = 200.0),
            named("mixed/verify", |r| r.p99_ms = 6.0),
        ]
    }

    #[test]
    fn targets_from_rows() {
        let mut t = Targets::default();
        t.compute(&sample_rows(), None);
        assert_eq!(t.verify_vs_ceiling, Some(0.5));
        assert_eq!(t.srp_floor_ms, Some(2.0));
        assert_eq!(t.signin_cpu_vs_floor, Some(1.25));
        assert_eq!(t.signups_per_fsync, Some(8.0));
        assert_eq!(t.signup_vs_baseline, Some(3.0));
        assert_eq!(t.mixed_verify_p99_ms, Some(6.0));
        assert_eq!(t.footprint_rss_mb, None);
        let verdicts: Vec<_> = t.ratios().iter().map(Ratio::verdict).collect();
        assert_eq!(verdicts, ["met", "met", "", "met", "MISSED", ""]);
    }

    #[test]
    fn the_floor_falls_back_to_wall_time_then_to_the_math() {
        let math = MathCost {
            server_public_ms: 0.5,
            verify_proof_ms: 1.5,
            per_signin_ms: 2.0,
            before_ms: 2.0,
            after_ms: 2.0,
        };
        let signin = named("signin", |r| r.server_cpu_per_op_ms = Some(3.0));
        // No CPU reading: 10 ops in 1 s is 100 ms each.
        let floor = named("srp-floor", |r| r.server_cpu_per_op_ms = Some(0.0));
        let mut t = Targets::default();
        t.compute(&[floor, signin.clone()], Some(&math));
        assert_eq!(t.srp_floor_ms, Some(100.0));
        let mut t = Targets::default();
        t.compute(std::slice::from_ref(&signin), Some(&math));
        assert_eq!(t.signin_cpu_vs_floor, Some(1.5));
        let mut t = Targets::default();
        t.compute(&[signin], None);
        assert_eq!(t.signin_cpu_vs_floor, None);
    }

    fn report(rows: Vec<Row>) -> Report {
        let mut targets = Targets::default();
        targets.compute(&rows, None);
        let mut machine = Machine::now("9.00 1.00 1.00".into());
        machine.busy = true;
        Report {
            command: "zkppd-bench --scenario all --markdown".into(),
            machine,
            duration_s: 10.0,
            warmup_s: 1.0,
            concurrency: 16,
            store: "SQLite (a throw-away file, `--temp-db`)".into(),
            math: None,
            rows,
            targets,
        }
    }

    #[test]
    fn the_text_prints_the_ratios_before_the_table() {
        let text = table(&report(sample_rows()));
        let ratios = text.find("ratios, same run").expect("ratios");
        let header = text.find("\nscenario ").expect("table header");
        assert!(ratios < header, "{text}");
        assert!(text.contains("verify ÷ ceiling throughput"), "{text}");
        assert!(text.contains("busy"), "{text}");
        let line = text
            .lines()
            .find(|l| l.contains("sign-ups/s"))
            .expect("baseline line");
        assert!(line.contains("3.00") && line.contains(">= 2.00") && line.ends_with("met"));
    }

    #[test]
    fn the_markdown_is_dated_and_describes_the_machine() {
        let r = report(sample_rows());
        let md = markdown(&r);
        assert!(md.starts_with(&format!("### Benchmarks ({})", &r.machine.date[..10])));
        for part in [
            "cores of",
            "Linux ",
            "load average 9.00 1.00 1.00 before",
            "busy",
            "```sh\nzkppd-bench --scenario all --markdown\n```",
            "| `verify` ÷ `ceiling` throughput | 0.50 | ≥ 0.50 | met |",
            "| `signup/baseline` | 0 | 200.0 |",
        ] {
            assert!(md.contains(part), "{part} not in:\n{md}");
        }
        let ratios = md.find("| same run |").expect("ratios");
        assert!(ratios < md.find("| scenario |").expect("table"));
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(per_second(24840.4), "24,840");
        assert_eq!(per_second(1_234_567.0), "1,234,567");
        assert_eq!(per_second(410.26), "410.3");
        assert_eq!(cpu_per_op(Some(0.054)), "54 µs");
        assert_eq!(cpu_per_op(Some(2.104)), "2.10 ms");
        assert_eq!(cpu_per_op(None), "—");
    }

    #[test]
    fn the_command_line_quotes_what_a_shell_would_split() {
        let args = [
            "target/release/zkppd-bench",
            "--duration",
            "10s",
            "a b",
            "it's",
        ];
        assert_eq!(
            command_line(args.iter().map(|s| s.to_string())),
            r"target/release/zkppd-bench --duration 10s 'a b' 'it'\''s'"
        );
    }

    #[test]
    fn the_date_is_rfc3339_with_milliseconds() {
        let d = Machine::now(String::new()).date;
        // 2026-11-29T07:24:49.123Z
        assert_eq!(
            (d.len(), d.as_bytes()[19], d.ends_with('Z')),
            (24, b'.', true)
        );
    }
}
