//! The opt-in per-client rate limit of the unauthenticated routes: a GCRA
//! limiter per client address (governor's keyed limiter; bursts up to one
//! second's worth), off by default. Bounded: past [`MAX_CLIENTS`] tracked
//! addresses the idle ones are forgotten, and if that does not make room a
//! newcomer is refused rather than the table growing.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Most client addresses tracked at once.
pub(crate) const MAX_CLIENTS: usize = 65_536;

pub(crate) struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl RateLimit {
    pub(crate) fn new(per_second: u32) -> RateLimit {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        RateLimit {
            limiter: RateLimiter::keyed(Quota::per_second(rate)),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request's worth for `ip`; `Err(seconds)` to wait otherwise.
    pub(crate) fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.limiter.len() >= MAX_CLIENTS {
            // Addresses whose allowance is full again carry no state.
            self.limiter.retain_recent();
            if self.limiter.len() >= MAX_CLIENTS {
                // Everyone is busy: refuse rather than grow.
                return Err(1);
            }
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_limited_and_clients_are_independent() {
        let rl = RateLimit::new(5);
        let a: IpAddr = "1.1.1.1".parse().unwrap();
        let b: IpAddr = "2.2.2.2".parse().unwrap();
        for _ in 0..5 {
            assert!(rl.check(a).is_ok());
        }
        assert_eq!(rl.check(a), Err(1));
        assert!(rl.check(b).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(rl.check(a).is_ok());
    }
}
