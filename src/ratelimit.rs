//! The opt-in per-client rate limit of the unauthenticated routes: a token
//! bucket per client address (refilled at the configured rate, holding at
//! most one second's worth), in a table of bounded size. Off by default.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Most client addresses tracked at once; past it, full buckets (clients
/// that have been quiet for a second) are forgotten first.
pub const MAX_CLIENTS: usize = 65_536;

struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimit {
    per_second: f64,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimit {
    pub fn new(per_second: u32) -> RateLimit {
        RateLimit {
            per_second: f64::from(per_second.max(1)),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; `Err(seconds)` when none is left.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if !clients.contains_key(&ip) && clients.len() >= MAX_CLIENTS {
            let rate = self.per_second;
            clients.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < rate
            });
            if clients.len() >= MAX_CLIENTS {
                // Everyone is busy: refuse newcomers rather than grow.
                return Err(1);
            }
        }
        let bucket = clients.entry(ip).or_insert(Bucket {
            tokens: self.per_second,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_second).min(self.per_second);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.per_second;
            Err(wait.ceil().max(1.0) as u64)
        }
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
