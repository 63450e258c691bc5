//! The report: one row per scenario (or per kind of operation), the SRP
//! math timed alone, the targets of issue 6 worked out from the rows, and
//! the machine; printed as a table or as one JSON document. Percentiles come
//! from the HDR histograms of `load`.

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
    /// Server CPU per full sign-in ÷ SRP math alone (target ≤ 1.15).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signin_cpu_vs_math: Option<f64>,
    /// verify ÷ ceiling throughput (target ≥ 0.5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) verify_vs_ceiling: Option<f64>,
    /// verify p99 under the sign-in storm, ms (target ≤ 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mixed_verify_p99_ms: Option<f64>,
    /// step-2 median, unknown profile ÷ wrong proof (target 0.95–1.05).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) step2_unknown_vs_wrong: Option<f64>,
    /// step-1 median, unknown ÷ known profile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) step1_unknown_vs_known: Option<f64>,
    /// RSS with the footprint's profiles and idle connections (target ≤ 30).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) footprint_rss_mb: Option<f64>,
    /// Start-up to first answer on the footprint database (target ≤ 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) footprint_startup_ms: Option<f64>,
}

impl Targets {
    /// Fills in the ratios the rows and the math allow.
    pub(crate) fn compute(&mut self, rows: &[Row], math: Option<&MathCost>) {
        let find = |name: &str| rows.iter().find(|r| r.scenario == name);
        if let (Some(m), Some(r)) = (math, find("signin")) {
            self.signin_cpu_vs_math = r.server_cpu_per_op_ms.map(|c| c / m.per_signin_ms);
        }
        if let (Some(v), Some(c)) = (find("verify"), find("ceiling")) {
            self.verify_vs_ceiling = Some(v.ops_per_s / c.ops_per_s.max(1e-9));
        }
        self.mixed_verify_p99_ms = find("mixed/verify").map(|r| r.p99_ms);
        if let (Some(u), Some(w)) = (find("timing/step2-unknown"), find("timing/step2-wrong")) {
            self.step2_unknown_vs_wrong = Some(u.p50_ms / w.p50_ms.max(1e-9));
        }
        if let (Some(u), Some(k)) = (find("timing/step1-unknown"), find("timing/step1-known")) {
            self.step1_unknown_vs_known = Some(u.p50_ms / k.p50_ms.max(1e-9));
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) cpu: String,
    pub(crate) load_at_start: String,
    pub(crate) load_at_end: String,
    /// RFC 3339 with milliseconds, UTC.
    pub(crate) date: String,
}

impl Machine {
    /// This machine, now.
    pub(crate) fn now(load_at_start: String) -> Machine {
        Machine {
            cores: sampler::cores(),
            cpu: sampler::cpu_model(),
            load_at_start,
            load_at_end: sampler::loadavg(),
            date: humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    pub(crate) machine: Machine,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) concurrency: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) math: Option<MathCost>,
    pub(crate) rows: Vec<Row>,
    pub(crate) targets: Targets,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.prec$}"))
}

pub(crate) fn print_table(r: &Report) {
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
    let target = |what: &str, value: String, goal: &str| println!("  {what:<41} {value:>8}{goal}");
    println!();
    println!("targets (issue 6):");
    target(
        "server CPU per sign-in / SRP math alone",
        opt(t.signin_cpu_vs_math, 3),
        "   (<= 1.15)",
    );
    target(
        "verify / ceiling throughput",
        opt(t.verify_vs_ceiling, 3),
        "   (>= 0.50)",
    );
    target(
        "mixed: verify p99 under sign-in storm",
        opt(t.mixed_verify_p99_ms, 2),
        "   (<= 5 ms)",
    );
    target(
        "step 2 median unknown / wrong proof",
        opt(t.step2_unknown_vs_wrong, 3),
        "   (0.95 - 1.05)",
    );
    target(
        "step 1 median unknown / known",
        opt(t.step1_unknown_vs_known, 3),
        "",
    );
    target("footprint RSS MB", opt(t.footprint_rss_mb, 1), "   (<= 30)");
    target(
        "footprint start-up to first answer ms",
        opt(t.footprint_startup_ms, 1),
        "   (<= 100)",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::histogram;

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

    #[test]
    fn targets_from_rows() {
        let rows = vec![
            Row {
                scenario: "verify".into(),
                ops_per_s: 50.0,
                ..Row::default()
            },
            Row {
                scenario: "ceiling".into(),
                ops_per_s: 100.0,
                ..Row::default()
            },
        ];
        let mut t = Targets::default();
        t.compute(&rows, None);
        assert_eq!(t.verify_vs_ceiling, Some(0.5));
        assert_eq!(t.signin_cpu_vs_math, None);
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
