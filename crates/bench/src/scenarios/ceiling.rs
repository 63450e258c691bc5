//! `ceiling`: `POST /v1/verify` with an empty `profile_id`, the same body
//! shape and size as a real verify; the server reads and parses the JSON
//! and answers `400 Invalid profile ID` without touching the database or
//! any crypto: the cost of the HTTP stack, JSON and routing alone.

use zkppd_proto::paths;

use super::{Bench, Fixed, fixed_op, invalid_verify_body};
use crate::load::run_workers;
use crate::report::{Row, row};

impl Bench {
    pub(crate) fn ceiling(&mut self) -> Result<Vec<Row>, String> {
        let c = self.conc();
        let body = invalid_verify_body();
        let workers = (0..c)
            .map(|_| {
                let client = zkppd_client::Client::new(self.target.addr);
                let request = client.build_request(paths::VERIFY, &body, None);
                Fixed::new(client, request)
            })
            .collect();
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            workers,
            fixed_op(400, 0),
        );
        let mut r = row("ceiling", c, &m, 0, self.target.pid, None);
        r.note = Some("POST /v1/verify, empty profile_id -> 400 (no DB, no crypto)".into());
        Ok(vec![r])
    }
}
