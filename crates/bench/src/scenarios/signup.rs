//! `signup`: sign-ups with fresh tokens, the buckets refilled outside the
//! timed part when the run outgrows the first fill.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use zkppd_client::{Client, Registration};

use super::{Bench, Target, fill_tokens};
use crate::load::run_workers;
use crate::report::{Row, row};
use crate::supervisor::lock;

/// Tokens added per refill.
const REFILL: u64 = 10_000;

struct Shared {
    next: AtomicU64,
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
                    Ok(_) => rec.record(0, t0),
                    Err(e) => rec.error(|| format!("sign-up: {e}")),
                }
            },
        );
        Ok(vec![row("signup", c, &m, 0, self.target.pid, None)])
    }
}
