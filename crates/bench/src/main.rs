//! `zkppd-bench`: the load generator (issues 6 and 12). It starts the
//! `zkppd` binary next to it on a throw-away database (or targets `--url`),
//! prepares profiles through the API, runs named scenarios for a fixed time
//! over keep-alive connections, and prints the ratios to the physical
//! limits measured in the same run first (a bare HTTP server, the SRP math
//! alone, fsyncs, an older binary), then throughput, latency percentiles,
//! errors, the server's CPU time per operation and its memory: as a table,
//! as JSON (`--json`) or as the README's Markdown section (`--markdown`).
//!
//! It speaks to the server only through `zkppd-client` (and one scrape of
//! its metrics); of the server's code it links only the SRP math, which
//! `srp-floor` times alone so that the server's CPU per sign-in can be set
//! against it. This file only wires the modules together: flags in `cli`,
//! the `zkppd` processes in `supervisor`, `/proc` in `sampler`, `/metrics`
//! in `scrape`, load in `load`, the scenarios in `scenarios`, the output in
//! `report`.

mod cli;
mod load;
mod report;
mod sampler;
mod scenarios;
mod scrape;
mod supervisor;

use std::process::ExitCode;

use clap::Parser;

use cli::{Args, Scenario, Store};
use report::{Machine, MathCost, Report, Targets};
use scenarios::{Bench, Target};
use supervisor::{Server, zkppd_binary};

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("zkppd-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// `bytes` random bytes as hex, for names that must not collide.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).expect("OS random number generator failed");
    zkppd_srp::hex::encode(&b)
}

/// Runs the scenarios and prints the report; false if any had errors.
fn run(args: Args) -> Result<bool, String> {
    let scenarios = Scenario::parse_list(&args.scenario)?;
    let warmup = args.warmup();
    let load_at_start = sampler::loadavg();
    let quiet = args.json || args.storm_child;
    let mut math: Option<MathCost> = None;
    // With `srp-floor` in the run the floor is its row; the math is timed
    // around `signin` only without it.
    let floor_in_run = scenarios.contains(&Scenario::SrpFloor);

    // `ceiling`, `srp-floor` and `footprint` need no server of this run.
    let needs_server = scenarios.iter().any(|s| {
        !matches!(
            s,
            Scenario::Footprint | Scenario::Ceiling | Scenario::SrpFloor
        )
    });
    // One pass per store (one with --url or --db): the scenarios that need
    // a server run on each; the others once, in the first pass.
    let stores = match (&args.url, &args.db) {
        (None, None) => Store::parse_list(&args.store)?,
        _ => vec![Store::Sqlite],
    };
    let many = stores.len() > 1;
    // What the report says zkppd stored its data in, pass by pass.
    let mut described: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    let mut targets = Targets::default();
    let mut clean_exit = None;
    for (pass, store) in stores.iter().copied().enumerate() {
        // A throw-away PostgreSQL, stopped and deleted when the pass ends.
        let pg = match (store, needs_server) {
            (Store::Postgres, true) => {
                if !quiet {
                    eprintln!("zkppd-bench: starting a throw-away PostgreSQL");
                }
                let pg = zkppd_pgtemp::Postgres::start()
                    .map_err(|e| format!("--store postgres: {e}"))?;
                let name = pg
                    .database()
                    .map_err(|e| format!("--store postgres: {e}"))?;
                let url = pg.url(&name);
                Some((pg, url))
            }
            _ => None,
        };
        let db: Option<String> = match &pg {
            Some((_, url)) => Some(url.clone()),
            None => args.db.clone(),
        };
        let on_postgres = db.as_deref().is_some_and(supervisor::is_postgres_url);
        described.push(match (&args.url, &args.db, &pg) {
            (Some(_), _, _) => "the server at --url".into(),
            (None, Some(_), _) if on_postgres => "the PostgreSQL database of --db".into(),
            (None, Some(_), _) => "the SQLite file of --db".into(),
            (None, None, Some((pg, _))) => format!(
                "PostgreSQL {} (a throw-away cluster on loopback TCP, same machine{})",
                pg.version(),
                if pass > 0 {
                    "; rows `…@postgres`"
                } else {
                    ""
                }
            ),
            (None, None, None) => "SQLite (a throw-away file, `--temp-db`)".into(),
        });
        let mut server = None;
        let target = match (&args.url, needs_server) {
            (Some(url), _) => {
                let c = zkppd_client::Client::from_url(url).map_err(|e| format!("--url: {e}"))?;
                Some(Target {
                    addr: c.addr(),
                    host_url: url.trim_end_matches('/').to_owned(),
                    admin_token: args.admin_token.clone(),
                    pid: args.server_pid,
                    metrics: None,
                    on_postgres: false,
                })
            }
            (None, true) => {
                // With its metrics listener: `signup` reads the commit count.
                let s = Server::start(
                    &zkppd_binary(&args)?,
                    db.as_deref().map(std::ffi::OsStr::new),
                    true,
                    &args.zkppd_args,
                )?;
                let t = Target::of(&s, on_postgres);
                server = Some(s);
                Some(t)
            }
            (None, false) => None,
        };

        let mut bench = target.map(|target| Bench::new(args.clone(), target));
        for s in &scenarios {
            let serverless = matches!(s, Scenario::Ceiling | Scenario::SrpFloor);
            if pass > 0 && (serverless || *s == Scenario::Footprint) {
                continue;
            }
            if !quiet {
                eprintln!(
                    "zkppd-bench: running {}{} (load {})",
                    s.name(),
                    if many || on_postgres {
                        format!(" on {}", store.name())
                    } else {
                        String::new()
                    },
                    sampler::loadavg()
                );
            }
            let result = match (s, bench.as_mut()) {
                (Scenario::Footprint, _) if args.url.is_some() => {
                    eprintln!("zkppd-bench: footprint needs its own server; skipped with --url");
                    continue;
                }
                (Scenario::Footprint, _) if store == Store::Postgres => {
                    eprintln!("zkppd-bench: footprint runs on SQLite only; skipped");
                    continue;
                }
                (Scenario::Footprint, _) => scenarios::footprint(&args, warmup).map(|(r, t)| {
                    targets.footprint_rss_mb = t.footprint_rss_mb;
                    targets.footprint_startup_ms = t.footprint_startup_ms;
                    r
                }),
                (Scenario::Ceiling, _) => scenarios::ceiling(&args, warmup),
                (Scenario::SrpFloor, _) => scenarios::srp_floor(&args, warmup),
                (_, None) => Err("no target".into()),
                (Scenario::Verify, Some(b)) => b.verify(),
                (Scenario::Signin, Some(b)) if !args.storm_child && !floor_in_run => {
                    let before = scenarios::math::alone()?;
                    let rows = b.signin();
                    let after = scenarios::math::alone()?;
                    if math.is_none() {
                        math = Some(MathCost::around(&before, &after));
                    }
                    rows
                }
                (Scenario::Signin, Some(b)) => b.signin(),
                (Scenario::Signup, Some(b)) => b.signup().and_then(|mut r| {
                    // Right after, so that both see the same neighbours
                    // (on SQLite: the baseline is the older binary's).
                    if let Some(base) = args.baseline_zkppd.as_ref().filter(|_| pass == 0) {
                        if !quiet {
                            eprintln!(
                                "zkppd-bench: running signup against {} (load {})",
                                base.display(),
                                sampler::loadavg()
                            );
                        }
                        r.extend(scenarios::baseline_signup(&args, base)?);
                    }
                    Ok(r)
                }),
                (Scenario::Timing, Some(b)) => b.timing(),
                (Scenario::Mixed, Some(b)) => b.mixed(),
            };
            match result {
                Ok(mut r) => {
                    // Every pass after the first is told apart by name; the
                    // ratios are worked out from the first pass's rows.
                    if pass > 0 {
                        for row in &mut r {
                            row.scenario = format!("{}@{}", row.scenario, store.name());
                        }
                    }
                    rows.extend(r)
                }
                Err(e) => {
                    let tail = server.as_ref().map(Server::log_tail).unwrap_or_default();
                    return Err(format!("{}: {e}\nserver log tail:\n{tail}", s.name()));
                }
            }
        }
        if let Some(s) = server.as_mut() {
            let clean = s.stop();
            clean_exit = Some(clean_exit.unwrap_or(true) && clean);
        }
        drop(pg);
    }

    targets.compute(&rows, math.as_ref());
    let errors: u64 = rows.iter().map(|r| r.errors).sum();
    let report = Report {
        command: report::command_line(std::env::args()),
        machine: Machine::now(load_at_start),
        duration_s: args.duration.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        concurrency: args.concurrency,
        store: described.join(", then "),
        math,
        rows,
        targets,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&report).map_err(|e| e.to_string())?
        );
    } else if args.markdown {
        print!("{}", report::markdown(&report));
    } else {
        print!("{}", report::table(&report));
    }
    if clean_exit == Some(false) {
        eprintln!("zkppd-bench: zkppd did not exit cleanly on SIGTERM");
        return Ok(false);
    }
    Ok(errors == 0)
}
