//! `signin`: full sign-ins (step 1, step 2, M2 checked) of the prepared
//! profiles. Also what the `mixed` storm child runs.

use std::io::Write;

use super::{Bench, SigninWorker};
use crate::load::run_workers;
use crate::report::{Row, row};

impl Bench {
    pub(crate) fn signin(&mut self) -> Result<Vec<Row>, String> {
        self.ensure_profiles()?;
        let c = self.conc();
        if self.args.storm_child {
            // The parent waits for this before it measures.
            println!("READY");
            let _ = std::io::stdout().flush();
        }
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            self.signin_workers(c),
            |w, rec| w.op(rec, 0),
        );
        let mut r = row("signin", c, &m, 0, self.target.pid, None);
        r.note = Some("step 1 + step 2 + M2 check".into());
        Ok(vec![r])
    }

    /// Worker w signs in profiles w, w + n, ...: one pending handshake per
    /// profile means two workers must never share one.
    fn signin_workers(&self, n: usize) -> Vec<SigninWorker> {
        (0..n)
            .map(|w| {
                let mine = self.profiles.iter().skip(w).step_by(n).cloned().collect();
                SigninWorker::new(self.target.addr, mine)
            })
            .collect()
    }
}
