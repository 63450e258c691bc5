//! `signup`: sign-ups with fresh tokens, the buckets refilled outside the
//! timed part when the run outgrows the first fill. With the server's
//! metrics listener known, the store's commit counter is read before and
//! after the run: sign-ups per commit is sign-ups per fsync, what group
//! commit buys, next to what one fsync costs alone on the disk the
//! throw-away database is on (where fsync is cheap, group commit has little
//! to win). The same run against an older binary is the baseline.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zkppd_client::{Client, Registration};

use super::{Bench, Target, fill_tokens};
use crate::cli::Args;
use crate::load::{histogram, run_workers};
use crate::report::{Row, row};
use crate::scrape;
use crate::supervisor::{Server, lock};

/// Tokens added per refill.
const REFILL: u64 = 10_000;

struct Shared {
    next: AtomicU64,
    /// Sign-ups answered 200 over the whole run, warm-up and tail included
    /// (the commits are counted over all of it).
    done: AtomicU64,
    filled: Mutex<u64>,
    target: Target,
    prefix: String,
    reg: Registration,
}

impl Bench {
    pub(crate) fn signup(&mut self) -> Result<Vec<Row>, String> {
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
        let shared = Shared {
            next: AtomicU64::new(0),
            done: AtomicU64::new(0),
            filled: Mutex::new(batch),
            target: self.target.clone(),
            prefix,
            reg,
        };
        // The disk of a server this bench started (`--temp-db` is in the
        // same temp dir); a `--url` server's disk is unknown.
        let fsync = if self.args.url.is_none() && !self.target.on_postgres {
            let secs =
                (self.args.duration / 10).clamp(Duration::from_millis(200), Duration::from_secs(1));
            Some(fsync_alone(secs).map_err(|e| format!("timing fsync in the temp dir: {e}"))?)
        } else {
            None
        };
        let workers: Vec<Client> = (0..c).map(|_| Client::new(self.target.addr)).collect();
        // PostgreSQL's commits are its own business (the counter stays 0).
        let commits = || {
            self.target
                .metrics
                .filter(|_| !self.target.on_postgres)
                .and_then(|at| scrape::counter(at, scrape::STORE_COMMITS))
        };
        let commits_before = commits();
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
                    let mut filled = lock(&shared.filled);
                    if i >= *filled {
                        let from = *filled;
                        if let Err(e) = fill_tokens(&shared.target, &shared.prefix, from, REFILL) {
                            rec.error(|| e);
                            return;
                        }
                        *filled = from + REFILL;
                    }
                }
                let id = format!("{}-{i}", shared.prefix);
                let token = format!("{}-pt-{i}", shared.prefix);
                let t0 = Instant::now();
                match client.sign_up_with(&id, &token, &shared.reg) {
                    Ok(_) => {
                        rec.record(0, t0);
                        shared.done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => rec.error(|| format!("sign-up: {e}")),
                }
            },
        );
        // Every worker has joined: no sign-up is in flight.
        let commits_after = commits();
        let mut r = row("signup", c, &m, 0, self.target.pid, None);
        r.fsync_ms = fsync.map(|f| f.0);
        let mut notes = Vec::new();
        if let (Some(before), Some(after)) = (commits_before, commits_after) {
            // Refills commit too (one per 10,000 tokens): they count
            // against group commit, which is the cautious side.
            let (done, commits) = (shared.done.load(Ordering::Relaxed), after - before);
            r.ops_per_fsync = Some(done as f64 / commits.max(1.0));
            notes.push(format!(
                "{done} sign-ups in {commits:.0} store commits (fsyncs), warm-up included"
            ));
        }
        if let Some((p50, per_s)) = fsync {
            notes.push(format!(
                "fsync alone in the temp dir: p50 {p50:.3} ms, {per_s:.0}/s (4 KiB appends, one thread)"
            ));
        }
        if !notes.is_empty() {
            r.note = Some(notes.join("; "));
        }
        Ok(vec![r])
    }
}

/// What one commit's fsync costs alone on the temp dir's disk: 4 KiB
/// appended and `fdatasync`ed in a loop for `secs`, as SQLite's WAL does
/// per commit; (median ms, per second).
fn fsync_alone(secs: Duration) -> std::io::Result<(f64, f64)> {
    use std::io::Write;
    let mut f = tempfile::tempfile()?;
    let page = [0x5au8; 4096];
    let mut lat = histogram();
    let start = Instant::now();
    while start.elapsed() < secs {
        let t0 = Instant::now();
        f.write_all(&page)?;
        f.sync_data()?;
        lat.saturating_record(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let per_s = lat.len() as f64 / start.elapsed().as_secs_f64();
    Ok((lat.value_at_quantile(0.5) as f64 / 1e6, per_s))
}

/// `signup` against `bin`, an older zkppd started the same way on its own
/// throw-away database, right after the one measured: its row is what
/// sign-ups/s are set against (`signup/baseline`). It runs without a
/// metrics listener, which an old binary may not have.
pub(crate) fn baseline_signup(args: &Args, bin: &Path) -> Result<Vec<Row>, String> {
    let server = Server::start(bin, None, false, &args.zkppd_args)
        .map_err(|e| format!("baseline {}: {e}", bin.display()))?;
    let target = Target::of(&server, false);
    let mut rows = Bench::new(args.clone(), target).signup().map_err(|e| {
        format!(
            "baseline {}: {e}\nits log tail:\n{}",
            bin.display(),
            server.log_tail()
        )
    })?;
    for r in &mut rows {
        r.scenario = "signup/baseline".into();
        r.note = Some(format!("the same sign-ups against {}", bin.display()));
    }
    drop(server);
    Ok(rows)
}
