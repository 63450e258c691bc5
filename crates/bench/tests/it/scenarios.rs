//! CI smoke run of the load generator (issue 6): every scenario of
//! `zkppd-bench` for about a second against a real `zkppd`, checking only
//! that it completes with zero errors and measured something, never how
//! fast it was.

use std::process::Command;

use serde_json::Value;

use crate::TestResult;
use crate::bins::{bench_bin, zkppd_bin};

fn bench(scenario: &str) -> TestResult {
    let out = Command::new(bench_bin())
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
            "--json",
            "--zkppd",
        ])
        .arg(zkppd_bin()?)
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario}: exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
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
    Ok(())
}

#[test]
fn ceiling() -> TestResult {
    bench("ceiling")
}

#[test]
fn verify() -> TestResult {
    bench("verify")
}

#[test]
fn signin() -> TestResult {
    bench("signin")
}

#[test]
fn signup() -> TestResult {
    bench("signup")
}

#[test]
fn timing() -> TestResult {
    bench("timing")
}

#[test]
fn mixed() -> TestResult {
    bench("mixed")
}

#[test]
fn footprint() -> TestResult {
    bench("footprint")
}
