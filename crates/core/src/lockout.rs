//! Failed-proof counters per profile id and the lockout they trigger: after
//! 5 consecutive failures, both sign-in steps are refused for a delay that
//! doubles with each further failure, from 1 s to 15 min. Unknown ids are
//! counted alike so that a lockout reveals nothing. Bounded: when full, an
//! unlocked counter is evicted; a locked one never is.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// The longest lock.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How many entries an insertion looks at for one to evict.
const EVICTION_PROBES: usize = 64;

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    locked_until: Option<Instant>,
    last_failure: Instant,
}

impl Entry {
    fn locked(&self, now: Instant) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }
}

pub(crate) struct Lockout {
    entries: Mutex<HashMap<String, Entry>>,
    max: usize,
    /// Locks started since the process began (a metric).
    locks_started: AtomicU64,
}

/// Delay of the lock that follows the `failures`-th consecutive failure.
pub(crate) fn delay_after(failures: u32) -> Option<Duration> {
    let extra = failures.checked_sub(FREE_FAILURES)?;
    let secs = 1u64.checked_shl(extra.min(20)).unwrap_or(u64::MAX);
    Some(Duration::from_secs(secs).min(MAX_DELAY))
}

fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Lockout {
    pub(crate) fn new(max: usize) -> Lockout {
        Lockout {
            entries: Mutex::new(HashMap::new()),
            max: max.max(1),
            locks_started: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err(seconds)` while `id` is locked out.
    pub(crate) fn check(&self, id: &str) -> Result<(), u64> {
        let now = Instant::now();
        match self.lock().get(id).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(ceil_secs(until - now).max(1)),
            _ => Ok(()),
        }
    }

    /// One guess on `id`: `Err(seconds)` if it is locked out, else the
    /// guess is counted as a failure right away (a correct proof undoes it
    /// with [`Lockout::record_success`]), all under one lock.
    pub(crate) fn attempt(&self, id: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(until) = entries.get(id).and_then(|e| e.locked_until)
            && until > now
        {
            return Err(ceil_secs(until - now).max(1));
        }
        if self.count_failure(&mut entries, id, now).is_some() {
            self.locks_started.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    pub(crate) fn locks_started(&self) -> u64 {
        self.locks_started.load(Ordering::Relaxed)
    }

    /// Counts a failed proof; returns the lock delay if one starts now.
    #[cfg(test)]
    pub(crate) fn record_failure(&self, id: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut entries = self.lock();
        self.count_failure(&mut entries, id, now)
    }

    fn count_failure(
        &self,
        entries: &mut HashMap<String, Entry>,
        id: &str,
        now: Instant,
    ) -> Option<Duration> {
        if !entries.contains_key(id) && entries.len() >= self.max {
            let victim = entries
                .iter()
                .take(EVICTION_PROBES)
                .find(|(_, e)| !e.locked(now))
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => {
                    entries.remove(&k);
                }
                // Full of locked entries: this id goes uncounted for now.
                None => return None,
            }
        }
        let entry = entries.entry(id.to_owned()).or_insert(Entry {
            failures: 0,
            locked_until: None,
            last_failure: now,
        });
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = now;
        let delay = delay_after(entry.failures);
        if let Some(d) = delay {
            entry.locked_until = Some(now + d);
        }
        delay
    }

    /// A correct proof ends the streak.
    pub(crate) fn record_success(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Forgets unlocked counters idle for longer than `idle`.
    pub(crate) fn sweep(&self, idle: Duration) {
        let now = Instant::now();
        self.lock()
            .retain(|_, e| e.locked(now) || now.duration_since(e.last_failure) < idle);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_from_one_second_to_fifteen_minutes() {
        assert_eq!(delay_after(4), None);
        assert_eq!(delay_after(5), Some(Duration::from_secs(1)));
        assert_eq!(delay_after(6), Some(Duration::from_secs(2)));
        assert_eq!(delay_after(14), Some(Duration::from_secs(512)));
        assert_eq!(delay_after(15), Some(MAX_DELAY));
        assert_eq!(delay_after(u32::MAX), Some(MAX_DELAY));
    }

    #[test]
    fn locked_entries_are_never_evicted() {
        let l = Lockout::new(4);
        for _ in 0..5 {
            l.record_failure("victim");
        }
        assert!(l.check("victim").is_err());
        for i in 0..1000 {
            l.record_failure(&format!("noise{i}"));
        }
        assert!(l.len() <= 4);
        assert!(l.check("victim").is_err());
        l.record_success("victim");
        assert!(l.check("victim").is_ok());
    }
}
