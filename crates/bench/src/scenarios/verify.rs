//! `verify`: `POST /v1/verify` with live sessions, one pre-built request
//! per connection.

use super::{Bench, fixed_op};
use crate::load::run_workers;
use crate::report::{Row, row};

impl Bench {
    pub(crate) fn verify(&mut self) -> Result<Vec<Row>, String> {
        self.fresh_sessions()?;
        let c = self.conc();
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            self.verify_workers(c),
            fixed_op(200, 0),
        );
        Ok(vec![row("verify", c, &m, 0, self.target.pid, None)])
    }
}
