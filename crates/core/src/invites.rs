//! The probing budget of one invite (profile token). SPEC §2 fixes the
//! sign-up's order — invalid token, then duplicate id, then empty signup
//! bucket — so whoever holds one valid invite learns from `Duplicate ID`
//! whether an id exists, and, while the signup bucket is empty, from
//! `Signup bucket empty` that it does not, without spending the invite.
//! That a taken id must be refused is inherent to ids chosen at sign-up;
//! what this module bounds is the repetition: every such refusal counts
//! against the invite, and past [`FREE_REFUSALS`] the invite is locked for
//! a delay that doubles per refusal (1 s up to 15 min, as the sign-in
//! lockout), answered `429` before the store is asked.
//!
//! An attempt is counted when it starts, in the same critical section as
//! the lock check, and undone when it turns out not to be a probe (the
//! token was invalid, the sign-up succeeded, the store failed), so that
//! concurrent probes cannot all run before the lock holds. Memory only: a
//! restart forgets the counts (the invite holder cannot cause one). The
//! table is bounded; when it is full of live entries a new invite is
//! refused for a second (fail closed) rather than left uncounted.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::lockout::{FREE_FAILURES, delay_after};

/// Refusals (`Duplicate ID`, `Signup bucket empty`) an invite gets before
/// its first lock: enough for a person whose first choices are taken.
pub const FREE_REFUSALS: u32 = FREE_FAILURES;
/// Invites tracked at once.
const MAX_ENTRIES: usize = 65_536;
/// An unlocked entry idle this long is forgotten.
const IDLE_MS: i64 = 60 * 60 * 1000;

#[derive(Clone, Copy, Default)]
struct Entry {
    refusals: u32,
    locked_until_ms: i64,
    last_ms: i64,
}

/// What [`Invites::begin`] decided.
pub(crate) enum Begin {
    /// Go on; the attempt is counted until [`Invites::finish`].
    Counted,
    /// Locked for this many more seconds.
    Locked(u64),
}

/// How a counted sign-up attempt ended.
pub(crate) enum End {
    /// `Duplicate ID` or `Signup bucket empty`: the attempt stays counted.
    Probe,
    /// Anything else: not a probe, the count is undone.
    Other,
}

pub(crate) struct Invites {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

impl Invites {
    pub(crate) fn new() -> Invites {
        Invites {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The lock check and the count, in one step.
    pub(crate) fn begin(&self, token_hash: &[u8; 32], now_ms: i64) -> Begin {
        let mut entries = self.lock();
        if !entries.contains_key(token_hash) && entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.locked_until_ms > now_ms || e.last_ms > now_ms - IDLE_MS);
            if entries.len() >= MAX_ENTRIES {
                return Begin::Locked(1);
            }
        }
        let e = entries.entry(*token_hash).or_default();
        let left = e.locked_until_ms - now_ms;
        if left > 0 {
            return Begin::Locked(u64::try_from((left + 999) / 1000).unwrap_or(1).max(1));
        }
        e.refusals = e.refusals.saturating_add(1);
        e.last_ms = now_ms;
        if let Some(d) = delay_after(e.refusals) {
            let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
            e.locked_until_ms = now_ms.saturating_add(ms);
        }
        Begin::Counted
    }

    /// Ends an attempt [`Invites::begin`] counted.
    pub(crate) fn finish(&self, token_hash: &[u8; 32], end: End) {
        if let End::Other = end {
            let mut entries = self.lock();
            if let Some(e) = entries.get_mut(token_hash) {
                e.refusals = e.refusals.saturating_sub(1);
                if e.refusals < FREE_REFUSALS {
                    e.locked_until_ms = 0;
                }
                if e.refusals == 0 {
                    entries.remove(token_hash);
                }
            }
        }
    }

    /// Forgets idle, unlocked entries.
    pub(crate) fn sweep(&self, now_ms: i64) {
        self.lock()
            .retain(|_, e| e.locked_until_ms > now_ms || e.last_ms > now_ms - IDLE_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_past_the_budget_are_locked_and_other_outcomes_are_free() {
        let inv = Invites::new();
        let (a, b) = ([1u8; 32], [2u8; 32]);
        for _ in 0..20 {
            assert!(matches!(inv.begin(&b, 0), Begin::Counted));
            inv.finish(&b, End::Other);
        }
        for _ in 0..FREE_REFUSALS {
            assert!(matches!(inv.begin(&a, 0), Begin::Counted));
            inv.finish(&a, End::Probe);
        }
        assert!(matches!(inv.begin(&a, 10), Begin::Locked(1)));
        assert!(matches!(inv.begin(&a, 1000), Begin::Counted));
        inv.finish(&a, End::Probe);
        assert!(matches!(inv.begin(&a, 1000), Begin::Locked(2)));
        assert!(matches!(inv.begin(&b, 0), Begin::Counted));
    }
}
