//! `timing`: step 1 and step 2 for unknown profiles and for known ones with
//! wrong proofs, interleaved at random on one connection; the medians must
//! not tell them apart. Known profiles get a good sign-in before the
//! lockout's fifth failure.

use std::time::Instant;

use zkppd_client::{Client, Error, Secret};
use zkppd_srp::client as srp_client;

use super::{Bench, Profile};
use crate::load::{Recorder, run_workers};
use crate::report::{Row, row};

/// Kinds of operation: step 1 known, step 1 unknown, step 2 wrong proof,
/// step 2 unknown profile.
const KINDS: usize = 4;

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

struct Worker {
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

impl Bench {
    pub(crate) fn timing(&mut self) -> Result<Vec<Row>, String> {
        self.ensure_profiles()?;
        // Few workers: the point is latency, not a queue.
        let n = 1;
        let prefix = &self.prefix;
        let workers: Vec<Worker> = (0..n)
            .map(|w| Worker {
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
            KINDS,
            workers,
            |t, rec| op(prefix, t, rec),
        );
        let pid = self.target.pid;
        let both = m.lat[2].len() + m.lat[3].len();
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
}

fn op(prefix: &str, t: &mut Worker, rec: &mut Recorder) {
    let unknown = t.rng.next() & 1 == 1;
    let m1 = {
        let mut b = [0u8; 32];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&t.rng.next().to_le_bytes()[..chunk.len()]);
        }
        zkppd_srp::hex::encode(&b)
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
        Err(Error::Status { status: 401, .. }) => rec.record(2 + kind, t0),
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
