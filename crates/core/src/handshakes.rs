//! Pending sign-in handshakes: one per profile id, single-use, expiring
//! after the handshake TTL, bounded in number (the oldest goes first), kept
//! only in memory. Knows nothing of HTTP or the database.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zkppd_srp as srp;

/// What step 2 needs from step 1. `known` is false for an unknown profile,
/// whose verifier and salt are fakes: step 2 does the same work and fails.
pub(crate) struct Handshake {
    pub(crate) b: srp::ServerSecret,
    pub(crate) big_b: [u8; srp::N_BYTES],
    pub(crate) a: srp::ClientPublic,
    pub(crate) verifier: srp::Verifier,
    pub(crate) salt: Vec<u8>,
    pub(crate) known: bool,
    /// The verifier as stored when step 1 read it: the session is stored
    /// only if the profile still has it (a password change wins).
    pub(crate) stored: String,
}

impl Handshake {
    /// Checks the client's proof M1 against this handshake (the same work
    /// whatever M1 is); M2 when it is right.
    pub(crate) fn check(&self, id: &str, m1: &[u8; 32]) -> Option<[u8; 32]> {
        srp::verify_proof(
            id,
            &self.salt,
            &self.verifier,
            &self.a,
            &self.b,
            &self.big_b,
            m1,
        )
    }
}

struct Entry {
    seq: u64,
    expires: Instant,
    handshake: Handshake,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Entry>,
    // Insertion order; with one TTL for all it is also expiry order.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

pub(crate) struct Handshakes {
    inner: Mutex<Inner>,
    ttl: Duration,
    max: usize,
}

impl Handshakes {
    pub(crate) fn new(ttl: Duration, max: usize) -> Handshakes {
        Handshakes {
            inner: Mutex::new(Inner::default()),
            ttl,
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the maps consistent (every
        // mutation is a single insert/remove pair), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores the handshake of `id`, replacing any pending one.
    pub(crate) fn insert(&self, id: &str, handshake: Handshake) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(old) = inner.by_id.remove(id) {
            inner.order.remove(&old.seq);
        }
        Self::sweep_locked(&mut inner, now);
        while inner.by_id.len() >= self.max {
            let Some((_, oldest)) = inner.order.pop_first() else {
                break;
            };
            inner.by_id.remove(&oldest);
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        inner.order.insert(seq, id.to_owned());
        inner.by_id.insert(
            id.to_owned(),
            Entry {
                seq,
                expires: now + self.ttl,
                handshake,
            },
        );
    }

    /// Removes and returns the pending handshake of `id` if it has not
    /// expired: each handshake allows exactly one proof.
    pub(crate) fn take(&self, id: &str) -> Option<Handshake> {
        let now = Instant::now();
        let mut inner = self.lock();
        let entry = inner.by_id.remove(id)?;
        inner.order.remove(&entry.seq);
        (entry.expires > now).then_some(entry.handshake)
    }

    /// Forgets the pending handshake of `id`, if any (a deleted profile).
    pub(crate) fn remove(&self, id: &str) {
        drop(self.take(id));
    }

    /// Drops expired handshakes (also done on every insert).
    pub(crate) fn sweep(&self) {
        Self::sweep_locked(&mut self.lock(), Instant::now());
    }

    fn sweep_locked(inner: &mut Inner, now: Instant) {
        while let Some((&seq, id)) = inner.order.first_key_value() {
            match inner.by_id.get(id) {
                Some(e) if e.expires > now => break,
                _ => {}
            }
            let id = id.clone();
            inner.order.remove(&seq);
            inner.by_id.remove(&id);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.max
    }
}
