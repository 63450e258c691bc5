//! Failed-proof counters per profile and the lockout they trigger: after
//! 5 consecutive failures, both sign-in steps are refused for a delay that
//! doubles with each further failure, from 1 s to 15 min. Unknown ids are
//! counted alike so that a lockout reveals nothing.
//!
//! On a store shared by several processes (PostgreSQL) this memory is not
//! used: the store checks and counts in one statement (`Store::count_guess`).
//!
//! The store holds the truth ([`Counter`] rows, written on every failed
//! proof), so a restart forgets nothing; this module is the bounded memory
//! in front of it. A guess is counted when step 2 takes its handshake, in
//! the same critical section as the lock check ([`Lockout::attempt`]), and
//! undone by a correct proof, so concurrent wrong proofs cannot all be
//! checked before the lock holds. The lock metric waits for the proof
//! (`Service::end_guess`): a fifth guess that proves right starts a lock
//! for as long as it is checked, but locks nobody out. Eviction only drops what the store
//! already has, never a guess in flight; when every entry has one in flight
//! the new id is refused (fail closed). Hand-written rather than a cache
//! crate because those rules (pinning, fail closed) are the point.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Failures allowed before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// The longest lock.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// How many entries an insertion looks at first for one to evict.
const EVICTION_PROBES: usize = 64;

/// A profile's failure streak as the store keeps it (times in Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    pub failures: u32,
    pub locked_until_ms: i64,
    pub last_failure_ms: i64,
}

impl Counter {
    /// Seconds left of the lock, if locked at `now_ms`.
    pub(crate) fn locked_for(&self, now_ms: i64) -> Option<u64> {
        let left = self.locked_until_ms - now_ms;
        (left > 0).then(|| u64::try_from((left + 999) / 1000).unwrap_or(1).max(1))
    }
}

#[derive(Clone, Copy)]
struct Entry {
    counter: Counter,
    /// What the store holds (as loaded or last settled): a streak memory
    /// cleared must be cleared there too, even one another guess stored.
    stored: Counter,
    /// Step 2s that counted a guess and have not finished: never evicted.
    in_flight: u32,
}

/// What the memory knows of an id.
pub(crate) enum State {
    /// Not in memory: load it from the store, then ask again.
    Unknown,
    Open,
    /// Locked for this many more seconds.
    Locked(u64),
}

/// The outcome of [`Lockout::attempt`].
pub(crate) enum Attempt {
    Unknown,
    Locked(u64),
    /// Counted; `prior` failures were stored before it.
    Counted {
        prior: u32,
    },
}

pub(crate) struct Lockout {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
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

impl Lockout {
    pub(crate) fn new(max: usize) -> Lockout {
        Lockout {
            entries: Mutex::new(HashMap::new()),
            max: max.max(1),
            locks_started: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // Every mutation is a single insert, remove or field update, so a
        // panic elsewhere cannot leave the map inconsistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` is locked, as far as memory knows.
    pub(crate) fn check(&self, key: &[u8; 32], now_ms: i64) -> State {
        match self.lock().get(key) {
            None => State::Unknown,
            Some(e) => match e.counter.locked_for(now_ms) {
                Some(secs) => State::Locked(secs),
                None => State::Open,
            },
        }
    }

    /// Puts what the store holds for `key` in memory (unless another
    /// request already did). `Err(seconds)` when memory is full of guesses
    /// in flight: the id is refused rather than left uncounted.
    #[cfg(test)]
    pub(crate) fn load(&self, key: &[u8; 32], stored: Counter) -> Result<(), u64> {
        self.insert(&mut self.lock(), key, stored)
    }

    fn insert(
        &self,
        entries: &mut HashMap<[u8; 32], Entry>,
        key: &[u8; 32],
        stored: Counter,
    ) -> Result<(), u64> {
        if entries.contains_key(key) {
            return Ok(());
        }
        if entries.len() >= self.max {
            let victim = entries
                .iter()
                .take(EVICTION_PROBES)
                .find(|(_, e)| e.in_flight == 0)
                .or_else(|| entries.iter().find(|(_, e)| e.in_flight == 0))
                .map(|(k, _)| *k);
            match victim {
                Some(k) => {
                    entries.remove(&k);
                }
                None => return Err(1),
            }
        }
        entries.insert(
            *key,
            Entry {
                counter: stored,
                stored,
                in_flight: 0,
            },
        );
        Ok(())
    }

    /// [`Lockout::load`] and [`Lockout::check`] in one critical section,
    /// so that a flood evicting entries cannot leave `key` unknown again.
    pub(crate) fn load_and_check(&self, key: &[u8; 32], stored: Counter, now_ms: i64) -> State {
        let mut entries = self.lock();
        if let Err(secs) = self.insert(&mut entries, key, stored) {
            return State::Locked(secs);
        }
        match entries.get(key).and_then(|e| e.counter.locked_for(now_ms)) {
            Some(secs) => State::Locked(secs),
            None => State::Open,
        }
    }

    /// [`Lockout::load`] and [`Lockout::attempt`] in one critical section:
    /// the entry is pinned before anyone can evict it. Full of guesses in
    /// flight: refused (fail closed).
    pub(crate) fn load_and_attempt(&self, key: &[u8; 32], stored: Counter, now_ms: i64) -> Attempt {
        let mut entries = self.lock();
        if let Err(secs) = self.insert(&mut entries, key, stored) {
            return Attempt::Locked(secs);
        }
        self.count(&mut entries, key, now_ms)
    }

    /// One guess on `key` (loaded): the lock check and the count in one
    /// critical section. Counts the guess as a failure now (starting a lock
    /// at the fifth, not yet in the metric: see
    /// [`Lockout::note_lock_started`]) and pins the entry until
    /// [`Lockout::finish`]. `Counted` carries the failures the store held
    /// before this guess.
    pub(crate) fn attempt(&self, key: &[u8; 32], now_ms: i64) -> Attempt {
        self.count(&mut self.lock(), key, now_ms)
    }

    fn count(
        &self,
        entries: &mut HashMap<[u8; 32], Entry>,
        key: &[u8; 32],
        now_ms: i64,
    ) -> Attempt {
        let Some(entry) = entries.get_mut(key) else {
            return Attempt::Unknown;
        };
        if let Some(secs) = entry.counter.locked_for(now_ms) {
            return Attempt::Locked(secs);
        }
        let prior = entry.counter.failures;
        let c = &mut entry.counter;
        c.failures = c.failures.saturating_add(1);
        c.last_failure_ms = now_ms;
        if let Some(d) = delay_after(c.failures) {
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            c.locked_until_ms = now_ms.saturating_add(ms);
        }
        entry.in_flight += 1;
        Attempt::Counted { prior }
    }

    /// Ends a guess begun by [`Lockout::attempt`]. A correct proof clears
    /// the streak. Returns the counter for the store to keep.
    pub(crate) fn finish(&self, key: &[u8; 32], correct: bool) -> Counter {
        let mut entries = self.lock();
        let Some(entry) = entries.get_mut(key) else {
            return Counter::default();
        };
        entry.in_flight = entry.in_flight.saturating_sub(1);
        if correct {
            entry.counter = Counter::default();
        }
        entry.counter
    }

    /// Whether `counter` (from [`Lockout::finish`]) must be written to the
    /// store: it differs from what the store was last given. Marks it
    /// given. A success after another guess's failure was stored thus
    /// clears the store too, not only memory.
    pub(crate) fn settle(&self, key: &[u8; 32], counter: &Counter) -> bool {
        match self.lock().get_mut(key) {
            Some(entry) if entry.stored != *counter => {
                entry.stored = *counter;
                true
            }
            Some(_) => false,
            // Not in memory (cannot happen while pinned): write to be safe.
            None => true,
        }
    }

    /// Clears `key`'s streak in memory (the store cleared it too: a
    /// password change, a reset, a deletion); guesses in flight stay pinned.
    pub(crate) fn forget(&self, key: &[u8; 32]) {
        if let Some(entry) = self.lock().get_mut(key) {
            entry.counter = Counter::default();
            entry.stored = Counter::default();
        }
    }

    /// Forgets counters idle since `idle_before_ms` and not locked (the
    /// store forgets them alike).
    pub(crate) fn sweep(&self, now_ms: i64, idle_before_ms: i64) {
        let mut entries = self.lock();
        entries.retain(|_, e| {
            e.in_flight > 0
                || e.counter.locked_until_ms > now_ms
                || e.counter.last_failure_ms >= idle_before_ms
        });
        // A table grown by a guessing storm (up to `max` counters) is
        // given back once mostly empty: a map never shrinks by itself.
        crate::shrink::give_back(&mut entries);
    }

    /// A guess whose count started a lock (in memory or on a shared store)
    /// finished as a failure: the metric counts it only now, as a right
    /// proof clears the streak and locks nobody out.
    pub(crate) fn note_lock_started(&self) {
        self.locks_started.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn locks_started(&self) -> u64 {
        self.locks_started.load(Ordering::Relaxed)
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

    fn key(n: u32) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&n.to_le_bytes());
        k
    }

    #[test]
    fn locks_counted_by_a_shared_store_reach_the_metric() {
        let l = Lockout::new(1);
        assert_eq!(l.locks_started(), 0);
        l.note_lock_started();
        l.note_lock_started();
        assert_eq!(l.locks_started(), 2);
    }

    #[test]
    fn loading_and_counting_pin_the_entry_in_one_step() {
        let l = Lockout::new(2);
        l.load(&key(1), Counter::default()).unwrap();
        l.load(&key(2), Counter::default()).unwrap();
        // Full of unpinned entries: a new id evicts one and is counted.
        let stored = Counter {
            failures: 4,
            locked_until_ms: 0,
            last_failure_ms: 0,
        };
        assert!(matches!(
            l.load_and_attempt(&key(3), stored, 10),
            Attempt::Counted { prior: 4 }
        ));
        assert_eq!(l.len(), 2);
        // The fifth failure locked it, before any proof.
        assert!(matches!(l.check(&key(3), 10), State::Locked(1)));
        assert!(matches!(
            l.load_and_check(&key(3), Counter::default(), 10),
            State::Locked(1)
        ));
        // Pinned: another new id takes the other place, then none is left.
        assert!(matches!(
            l.load_and_attempt(&key(4), Counter::default(), 10),
            Attempt::Counted { prior: 0 }
        ));
        assert!(matches!(
            l.load_and_attempt(&key(5), Counter::default(), 10),
            Attempt::Locked(1)
        ));
        assert!(matches!(
            l.load_and_check(&key(5), Counter::default(), 10),
            State::Locked(1)
        ));
    }

    #[test]
    fn a_success_after_a_stored_failure_clears_the_store_too() {
        let l = Lockout::new(8);
        let k = key(7);
        l.load(&k, Counter::default()).unwrap();
        // Two guesses in flight: the wrong one finishes first and is stored.
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 0 }));
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 1 }));
        let wrong = l.finish(&k, false);
        assert_eq!(wrong.failures, 2);
        assert!(l.settle(&k, &wrong));
        // The right one clears memory, and must clear the store as well.
        let right = l.finish(&k, true);
        assert_eq!(right, Counter::default());
        assert!(l.settle(&k, &right));
        // Nothing new to write after that.
        assert!(!l.settle(&k, &right));
        // A first-try success with nothing stored writes nothing.
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 0 }));
        assert!(!l.settle(&k, &l.finish(&k, true)));
    }

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
    fn the_fifth_attempt_locks_before_any_proof_is_checked() {
        let l = Lockout::new(8);
        let victim = key(1);
        assert!(matches!(l.check(&victim, 0), State::Unknown));
        l.load(&victim, Counter::default()).unwrap();
        for prior in 0..5 {
            assert!(
                matches!(l.attempt(&victim, 1000), Attempt::Counted { prior: p } if p == prior)
            );
        }
        // Five guesses in flight, none finished: the sixth is refused.
        assert!(matches!(l.attempt(&victim, 1000), Attempt::Locked(1)));
        assert!(matches!(l.check(&victim, 1999), State::Locked(1)));
        assert!(matches!(l.check(&victim, 2000), State::Open));
        // The metric waits for the proofs (`Service::end_guess`).
        assert_eq!(l.locks_started(), 0);
        // A correct proof clears the streak.
        let stored = l.finish(&victim, true);
        assert_eq!(stored, Counter::default());
        assert!(matches!(
            l.attempt(&victim, 2000),
            Attempt::Counted { prior: 0 }
        ));
        assert_eq!(l.finish(&victim, false).failures, 1);
    }

    #[test]
    fn eviction_never_drops_a_guess_in_flight_and_fails_closed() {
        let l = Lockout::new(2);
        l.load(&key(1), Counter::default()).unwrap();
        l.load(&key(2), Counter::default()).unwrap();
        assert!(matches!(l.attempt(&key(1), 0), Attempt::Counted { .. }));
        assert!(matches!(l.attempt(&key(2), 0), Attempt::Counted { .. }));
        // Both pinned: a third id is refused, not counted elsewhere.
        assert_eq!(l.load(&key(3), Counter::default()), Err(1));
        assert_eq!(l.len(), 2);
        l.finish(&key(1), false);
        // Now key 1 may go (the store has its failure); key 2 stays.
        l.load(&key(3), Counter::default()).unwrap();
        assert!(matches!(l.check(&key(1), 0), State::Unknown));
        assert!(matches!(l.check(&key(2), 0), State::Open));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn sweep_keeps_locked_recent_and_pinned_entries() {
        let l = Lockout::new(8);
        let locked = Counter {
            failures: 9,
            locked_until_ms: 10_000,
            last_failure_ms: 0,
        };
        let recent = Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: 5_000,
        };
        let idle = Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: 100,
        };
        l.load(&key(1), locked).unwrap();
        l.load(&key(2), recent).unwrap();
        l.load(&key(3), idle).unwrap();
        l.load(&key(4), idle).unwrap();
        assert!(matches!(l.attempt(&key(4), 200), Attempt::Counted { .. }));
        l.sweep(6_000, 1_000);
        assert!(matches!(l.check(&key(1), 6_000), State::Locked(4)));
        assert!(matches!(l.check(&key(2), 6_000), State::Open));
        assert!(matches!(l.check(&key(3), 6_000), State::Unknown));
        assert!(matches!(l.check(&key(4), 6_000), State::Open));
        assert_eq!(l.len(), 3);
    }

    /// Four failures stored, then the 5th and 6th guesses: the 5th is
    /// counted with 4 before it and starts the 1 s lock; the 6th is refused
    /// until that lock's expiry instant, counted at it, and locks for 2 s.
    #[test]
    fn the_fifth_failure_locks_for_a_second_and_the_sixth_for_two() {
        let l = Lockout::new(8);
        let k = key(7);
        let four = Counter {
            failures: 4,
            locked_until_ms: 0,
            last_failure_ms: 500,
        };
        l.load(&k, four).unwrap();
        assert!(matches!(l.check(&k, 1_000), State::Open));
        assert!(matches!(
            l.attempt(&k, 1_000),
            Attempt::Counted { prior: 4 }
        ));
        let fifth = l.finish(&k, false);
        assert_eq!(
            fifth,
            Counter {
                failures: 5,
                locked_until_ms: 2_000,
                last_failure_ms: 1_000,
            }
        );
        // The lock's last millisecond, then its expiry instant.
        assert!(matches!(l.attempt(&k, 1_999), Attempt::Locked(1)));
        assert!(matches!(l.check(&k, 1_999), State::Locked(1)));
        assert!(matches!(l.check(&k, 2_000), State::Open));
        assert!(matches!(
            l.attempt(&k, 2_000),
            Attempt::Counted { prior: 5 }
        ));
        let sixth = l.finish(&k, false);
        assert_eq!(sixth.failures, 6);
        assert_eq!(sixth.locked_until_ms, 4_000);
        assert_eq!(sixth.last_failure_ms, 2_000);
        // Seconds left are rounded up: 1.5 s left is 2, 1 ms left is 1.
        assert!(matches!(l.check(&k, 2_500), State::Locked(2)));
        assert!(matches!(l.check(&k, 3_000), State::Locked(1)));
        assert!(matches!(l.check(&k, 3_999), State::Locked(1)));
        assert!(matches!(l.check(&k, 4_000), State::Open));
    }

    #[test]
    fn four_failures_do_not_lock() {
        let l = Lockout::new(8);
        let k = key(8);
        l.load(&k, Counter::default()).unwrap();
        for prior in 0..4 {
            assert!(matches!(l.attempt(&k, 100), Attempt::Counted { prior: p } if p == prior));
            assert_eq!(l.finish(&k, false).locked_until_ms, 0);
        }
        assert!(matches!(l.check(&k, 100), State::Open));
    }

    #[test]
    fn unknown_ids_are_neither_counted_nor_finished() {
        let l = Lockout::new(8);
        assert!(matches!(l.attempt(&key(1), 0), Attempt::Unknown));
        assert_eq!(l.finish(&key(1), false), Counter::default());
        assert_eq!(l.len(), 0);
    }

    #[test]
    fn load_keeps_what_memory_already_has() {
        let l = Lockout::new(8);
        let k = key(1);
        l.load(&k, Counter::default()).unwrap();
        assert!(matches!(l.attempt(&k, 10), Attempt::Counted { prior: 0 }));
        // A stale store read arriving late must not undo the count.
        l.load(&k, Counter::default()).unwrap();
        assert_eq!(l.finish(&k, false).failures, 1);
    }

    #[test]
    fn forget_clears_the_streak_but_keeps_the_pin() {
        let l = Lockout::new(1);
        let k = key(1);
        let locked = Counter {
            failures: 9,
            locked_until_ms: 60_000,
            last_failure_ms: 0,
        };
        l.load(&k, locked).unwrap();
        assert!(matches!(l.check(&k, 0), State::Locked(60)));
        l.forget(&k);
        assert!(matches!(l.check(&k, 0), State::Open));
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 0 }));
        l.forget(&k);
        // Still in flight: a new id cannot evict it.
        assert_eq!(l.load(&key(2), Counter::default()), Err(1));
        assert_eq!(l.finish(&k, false), Counter::default());
        // Forgetting an id memory does not have is a no-op.
        l.forget(&key(3));
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn two_guesses_in_flight_need_two_finishes() {
        let l = Lockout::new(1);
        let k = key(1);
        l.load(&k, Counter::default()).unwrap();
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 0 }));
        assert!(matches!(l.attempt(&k, 0), Attempt::Counted { prior: 1 }));
        l.finish(&k, false);
        assert_eq!(l.load(&key(2), Counter::default()), Err(1));
        l.finish(&k, false);
        l.load(&key(2), Counter::default()).unwrap();
        assert!(matches!(l.check(&k, 0), State::Unknown));
    }

    /// The sweep's three boundaries: a lock ending exactly now is over, a
    /// failure exactly at the idle cut-off is still recent.
    #[test]
    fn sweep_boundaries() {
        let l = Lockout::new(8);
        let lock_ends_now = Counter {
            failures: 5,
            locked_until_ms: 6_000,
            last_failure_ms: 0,
        };
        let lock_ends_later = Counter {
            failures: 5,
            locked_until_ms: 6_001,
            last_failure_ms: 0,
        };
        let at_cutoff = Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: 1_000,
        };
        let before_cutoff = Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: 999,
        };
        l.load(&key(1), lock_ends_now).unwrap();
        l.load(&key(2), lock_ends_later).unwrap();
        l.load(&key(3), at_cutoff).unwrap();
        l.load(&key(4), before_cutoff).unwrap();
        l.sweep(6_000, 1_000);
        assert!(matches!(l.check(&key(1), 0), State::Unknown));
        assert!(matches!(l.check(&key(2), 0), State::Locked(_)));
        assert!(matches!(l.check(&key(3), 0), State::Open));
        assert!(matches!(l.check(&key(4), 0), State::Unknown));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn capacity_is_at_least_one() {
        assert_eq!(Lockout::new(8).capacity(), 8);
        assert_eq!(Lockout::new(0).capacity(), 1);
    }

    /// After a storm of counters the table goes back to a size for what
    /// is left, and what is left is still there.
    #[test]
    fn a_sweep_gives_the_table_of_a_storm_back() {
        let l = Lockout::new(100_000);
        let idle = Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: 100,
        };
        let locked = Counter {
            failures: 9,
            locked_until_ms: 10_000,
            last_failure_ms: 100,
        };
        for n in 0..20_000 {
            l.load(&key(n), idle).unwrap();
        }
        l.load(&key(20_000), locked).unwrap();
        let storm = l.lock().capacity();
        assert!(storm > 20_000, "{storm}");
        l.sweep(6_000, 50);
        assert_eq!(l.lock().capacity(), storm, "nothing was idle yet");
        l.sweep(6_000, 1_000);
        assert_eq!(l.len(), 1);
        let after = l.lock().capacity();
        assert!(after < crate::shrink::FLOOR, "{after}");
        assert!(matches!(l.check(&key(20_000), 6_000), State::Locked(4)));
    }
}
