//! CI smoke run of the load generator (issues 6 and 12): every scenario of
//! `zkppd-bench` for about a second against a real `zkppd`, checking that it
//! completes with zero errors, measured something, and printed the ratios
//! it can work out as finite numbers, never how fast anything was.

use std::process::{Command, Output};

use serde_json::Value;

use crate::TestResult;
use crate::bins::{bench_bin, zkppd_bin};

/// `zkppd-bench` on `scenario` for 1 s (0.2 s warm-up), small sizes, with
/// `extra` flags; fails on a non-zero exit.
fn run(scenario: &str, extra: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out: Output = Command::new(bench_bin())
        .args([
            "--scenario",
            scenario,
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--concurrency",
            "2",
            "--storm",
            "2",
            "--profiles",
            "4",
            "--footprint-profiles",
            "2000",
            "--footprint-connections",
            "50",
            "--zkppd",
        ])
        .arg(zkppd_bin()?)
        .args(extra)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario}: exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    Ok(stdout)
}

/// A `--json` run: every row error-free and non-empty, the date right; the
/// report's `targets`.
fn bench(scenario: &str, extra: &[&str]) -> Result<Value, Box<dyn std::error::Error>> {
    let mut args = vec!["--json"];
    args.extend(extra);
    let stdout = run(scenario, &args)?;
    let report: Value = serde_json::from_str(stdout.trim())?;
    let rows = report["rows"].as_array().ok_or("no rows")?;
    assert!(!rows.is_empty(), "{scenario}: no rows");
    for row in rows {
        assert_eq!(row["errors"], 0, "{scenario}: {row}");
        assert!(
            row["ops"].as_u64().unwrap_or(0) > 0,
            "{scenario}: nothing measured: {row}"
        );
    }
    let date = report["machine"]["date"].as_str().ok_or("no date")?;
    assert!(date.ends_with('Z') && date.len() == 24, "date {date}");
    assert!(report["machine"]["kernel"].is_string(), "{report}");
    Ok(report["targets"].clone())
}

/// `targets[name]` is a finite positive number.
fn finite(targets: &Value, name: &str) {
    let v = targets[name].as_f64();
    assert!(
        v.is_some_and(|v| v.is_finite() && v > 0.0),
        "{name}: {v:?} in {targets}"
    );
}

#[test]
fn ceiling() -> TestResult {
    bench("ceiling", &[])?;
    Ok(())
}

#[test]
fn srp_floor() -> TestResult {
    finite(&bench("srp-floor", &[])?, "srp_floor_ms");
    Ok(())
}

#[test]
fn verify() -> TestResult {
    bench("verify", &[])?;
    Ok(())
}

#[test]
fn signin() -> TestResult {
    // Alone, the floor is the math timed around it.
    let t = bench("signin", &[])?;
    finite(&t, "srp_floor_ms");
    finite(&t, "signin_cpu_vs_floor");
    Ok(())
}

#[test]
fn signup() -> TestResult {
    // The same binary as its own baseline: only the plumbing is checked.
    let zkppd = zkppd_bin()?;
    let zkppd = zkppd.to_str().ok_or("path")?;
    let t = bench("signup", &["--baseline-zkppd", zkppd])?;
    finite(&t, "signups_per_fsync");
    finite(&t, "signup_vs_baseline");
    finite(&t, "fsync_ms");
    Ok(())
}

#[test]
fn timing() -> TestResult {
    let t = bench("timing", &[])?;
    finite(&t, "step2_unknown_vs_wrong");
    Ok(())
}

#[test]
fn mixed() -> TestResult {
    finite(&bench("mixed", &[])?, "mixed_verify_p99_ms");
    Ok(())
}

#[test]
fn footprint() -> TestResult {
    finite(&bench("footprint", &[])?, "footprint_rss_mb");
    Ok(())
}

#[test]
fn verify_and_signup_on_sqlite_then_postgres() -> TestResult {
    // A throw-away PostgreSQL from the distribution's binaries, as the
    // server's tests start it; the bench stops and deletes it.
    let out = run("verify,signup", &["--json", "--store", "sqlite,postgres"])?;
    let report: Value = serde_json::from_str(out.trim())?;
    let rows = report["rows"].as_array().ok_or("no rows")?;
    let names: Vec<&str> = rows.iter().filter_map(|r| r["scenario"].as_str()).collect();
    assert_eq!(
        names,
        ["verify", "signup", "verify@postgres", "signup@postgres"],
        "{report}"
    );
    for row in rows {
        assert_eq!(row["errors"], 0, "{row}");
        assert!(
            row["ops"].as_u64().unwrap_or(0) > 0,
            "nothing measured: {row}"
        );
    }
    // Store commits are SQLite's fsyncs: none are claimed for PostgreSQL.
    assert!(rows[1]["ops_per_fsync"].is_number(), "{report}");
    assert!(rows[3]["ops_per_fsync"].is_null(), "{report}");
    let store = report["store"].as_str().unwrap_or_default();
    assert!(
        store.starts_with("SQLite") && store.contains(", then PostgreSQL "),
        "{store}"
    );
    Ok(())
}

/// The value on a ratio line of the text report, if it is a number.
fn ratio_on(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
    line[line.find(label)? + label.len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[test]
fn the_text_report_prints_the_ratios_first() -> TestResult {
    let zkppd = zkppd_bin()?;
    let zkppd = zkppd.to_str().ok_or("path")?;
    let text = run(
        "ceiling,verify,srp-floor,signin,signup",
        &["--baseline-zkppd", zkppd],
    )?;
    let ratios = text.find("ratios, same run").ok_or("no ratios")?;
    let table = text.find("\nscenario ").ok_or("no table")?;
    assert!(ratios < table, "{text}");
    for label in [
        "verify ÷ ceiling throughput",
        "server CPU per full sign-in ÷ srp-floor",
        "sign-ups per fsync (store commits)",
        "sign-ups/s ÷ baseline binary's",
    ] {
        let v = ratio_on(&text, label);
        assert!(
            v.is_some_and(|v| v.is_finite() && v > 0.0),
            "{label}: {v:?} in\n{text}"
        );
    }
    Ok(())
}

#[test]
fn the_markdown_section_is_dated_with_the_machine_and_the_command() -> TestResult {
    let md = run("ceiling,srp-floor", &["--markdown"])?;
    assert!(md.starts_with("### Benchmarks (20"), "{md}");
    for part in [
        " cores of ",
        ", Linux ",
        "load average ",
        "```sh\n",
        "--scenario ceiling,srp-floor",
        "| same run | measured | target | |",
        "| `srp-floor` | 1 |",
        "| `ceiling` | 2 |",
    ] {
        assert!(md.contains(part), "{part:?} not in\n{md}");
    }
    assert!(md.find("| same run |") < md.find("| scenario |"), "{md}");
    Ok(())
}
