//! Pending sign-in handshakes: one per profile id, single-use, expiring
//! after the handshake TTL, bounded in number (the oldest goes first), kept
//! only in memory on SQLite. Knows nothing of HTTP or the database.
//!
//! On a store shared by several instances (PostgreSQL) the handshake is a
//! row, and step 2 may run on another instance than step 1; the secret b
//! is then never stored: the row holds a random nonce and b is derived
//! from it under [`SharedB`], a key made of a secret every instance is
//! given out of band (`--handshake-key-file`) and the install secret. A
//! copy of the database alone cannot recompute b.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;
use zkppd_srp as srp;

use crate::store::InstallSecret;
use crate::{Error, Result};

/// The secret shared by every instance on one database, from which the
/// handshake secrets b are derived; not in the database. Wiped on drop.
pub struct HandshakeKey(Zeroizing<Vec<u8>>);

impl HandshakeKey {
    /// Shortest key accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    /// A key from a file's first line (surrounding whitespace stripped):
    /// at least [`HandshakeKey::MIN_LEN`] bytes, e.g. `openssl rand -hex 32`.
    pub fn from_file_text(text: &str) -> std::result::Result<HandshakeKey, String> {
        let line = text.lines().next().unwrap_or("").trim();
        if line.len() < Self::MIN_LEN {
            return Err(format!(
                "the handshake key must be at least {} characters (e.g. `openssl rand -hex 32`)",
                Self::MIN_LEN
            ));
        }
        Ok(HandshakeKey(Zeroizing::new(line.as_bytes().to_vec())))
    }
}

impl std::fmt::Debug for HandshakeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandshakeKey(..)")
    }
}

/// The key b is derived under on a shared store.
pub(crate) struct SharedB(Zeroizing<[u8; 32]>);

impl SharedB {
    pub(crate) fn new(key: &HandshakeKey, install: &InstallSecret) -> SharedB {
        let mut h = blake3::Hasher::new_derive_key("zkppd 2026-11 shared handshake b");
        h.update(&(key.0.len() as u64).to_le_bytes());
        h.update(&key.0);
        h.update(&install.0);
        SharedB(Zeroizing::new(*h.finalize().as_bytes()))
    }

    /// b for the row `row_key` with `nonce`.
    pub(crate) fn b(&self, row_key: &[u8; 32], nonce: &[u8; 32]) -> srp::ServerSecret {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(row_key);
        h.update(nonce);
        srp::ServerSecret::from_bytes(*h.finalize().as_bytes())
    }

    /// A fresh nonce and its b.
    pub(crate) fn fresh(&self, row_key: &[u8; 32]) -> Result<([u8; 32], srp::ServerSecret)> {
        let mut nonce = [0u8; 32];
        getrandom::fill(&mut nonce).map_err(Error::rng)?;
        let b = self.b(row_key, &nonce);
        Ok((nonce, b))
    }
}

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
    // Boxed: an entry is about 900 bytes, and a table that doubles its
    // slots (and never gives them back) would hold that much per empty
    // slot too; boxed, an empty slot is a pointer and the memory of a
    // handshake goes back to the allocator when it is taken.
    by_id: HashMap<String, Box<Entry>>,
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
        self.insert_at(id, handshake, Instant::now());
    }

    /// [`Handshakes::insert`] at `now` (tests step the clock).
    fn insert_at(&self, id: &str, handshake: Handshake, now: Instant) {
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
            Box::new(Entry {
                seq,
                expires: now + self.ttl,
                handshake,
            }),
        );
    }

    /// Removes and returns the pending handshake of `id` if it has not
    /// expired: each handshake allows exactly one proof.
    pub(crate) fn take(&self, id: &str) -> Option<Handshake> {
        self.take_at(id, Instant::now())
    }

    /// [`Handshakes::take`] at `now`: a handshake is good strictly before
    /// its expiry instant.
    fn take_at(&self, id: &str, now: Instant) -> Option<Handshake> {
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
        self.sweep_at(Instant::now());
    }

    fn sweep_at(&self, now: Instant) {
        let mut inner = self.lock();
        Self::sweep_locked(&mut inner, now);
        // After a burst of step 1s (up to `max` pending), give the table
        // back once it is mostly empty; the periodic sweep is rare enough
        // for the rehash not to matter, and a quarter full leaves room to
        // grow again without shrinking back and forth.
        crate::shrink::give_back(&mut inner.by_id);
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

#[cfg(test)]
mod tests {
    use super::*;
    use zkppd_srp::client;

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn a_handshake_key_is_the_first_line_trimmed_and_at_least_32_bytes() {
        let short = "k".repeat(HandshakeKey::MIN_LEN - 1);
        let err = HandshakeKey::from_file_text(&short).unwrap_err();
        assert!(err.contains("at least 32"), "{err}");
        // Whitespace does not count towards the length.
        assert!(HandshakeKey::from_file_text(&format!("  {short}  \n")).is_err());
        let exact = "k".repeat(HandshakeKey::MIN_LEN);
        let key = HandshakeKey::from_file_text(&format!(" {exact}\t\nsecond line")).unwrap();
        assert_eq!(&key.0[..], exact.as_bytes());
        // The secret never reaches a log line through Debug.
        let shown = format!("{key:?}");
        assert_eq!(shown, "HandshakeKey(..)");
        assert!(!shown.contains("kkkk"));
    }

    /// A real handshake of `id` with password "pw" (or of a verifier the
    /// client cannot know when `known` is false), and the client's side.
    fn handshake(id: &str, known: bool) -> (Handshake, client::Ephemeral, String) {
        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, id, "pw");
        let verifier_hex = if known {
            client::derive_verifier(&x)
        } else {
            client::derive_verifier(&client::derive_private_key(&salt, id, "other"))
        };
        let verifier = srp::Verifier::from_hex(&verifier_hex).unwrap();
        let b = srp::ServerSecret::random().unwrap();
        let big_b = srp::server_public(&verifier, &b);
        let eph = client::generate_ephemeral();
        let a = srp::ClientPublic::from_hex(&eph.public).unwrap();
        let hs = Handshake {
            b,
            big_b,
            a,
            verifier,
            salt: srp::hex::decode(&salt).unwrap(),
            known,
            stored: verifier_hex,
        };
        (hs, eph, salt)
    }

    fn m1_of(
        hs: &Handshake,
        id: &str,
        eph: &client::Ephemeral,
        salt: &str,
    ) -> client::ClientSession {
        let x = client::derive_private_key(salt, id, "pw");
        client::derive_session(eph, &srp::hex::encode(&hs.big_b), salt, id, &x).unwrap()
    }

    #[test]
    fn check_answers_m2_only_for_the_right_proof() {
        let (hs, eph, salt) = handshake("alice", true);
        let session = m1_of(&hs, "alice", &eph, &salt);
        let m1 = srp::hex::decode_array::<32>(&session.proof).unwrap();
        let m2 = hs.check("alice", &m1).expect("the right proof verifies");
        assert!(session.verify_server(&srp::hex::encode(&m2)));
        let mut wrong = m1;
        wrong[0] ^= 1;
        assert_eq!(hs.check("alice", &wrong), None);
        assert_eq!(hs.check("bob", &m1), None);
        // A password that does not match the verifier gives a wrong proof.
        let (other, eph, salt) = handshake("alice", false);
        let session = m1_of(&other, "alice", &eph, &salt);
        let m1 = srp::hex::decode_array::<32>(&session.proof).unwrap();
        assert_eq!(other.check("alice", &m1), None);
    }

    /// The handshake TTL boundary: good up to the instant before expiry,
    /// gone at it; and single-use.
    #[test]
    fn a_handshake_expires_at_its_ttl_and_is_single_use() {
        let hs = Handshakes::new(TTL, 8);
        let t0 = Instant::now();
        hs.insert_at("a", handshake("a", true).0, t0);
        let last = t0 + TTL - Duration::from_nanos(1);
        assert!(hs.take_at("a", last).is_some());
        assert!(hs.take_at("a", last).is_none(), "single use");
        hs.insert_at("a", handshake("a", true).0, t0);
        assert!(hs.take_at("a", t0 + TTL).is_none());
        // Taking an expired one still removes it.
        assert_eq!(hs.len(), 0);
        assert!(hs.take_at("nobody", t0).is_none());
    }

    #[test]
    fn take_keeps_the_others_in_order() {
        let hs = Handshakes::new(TTL, 2);
        let t0 = Instant::now();
        hs.insert_at("a", handshake("a", true).0, t0);
        hs.insert_at("b", handshake("b", true).0, t0);
        assert!(hs.take_at("a", t0).is_some());
        hs.insert_at("c", handshake("c", true).0, t0);
        assert_eq!(hs.len(), 2);
        // Full again: the oldest left is b, which goes for d.
        hs.insert_at("d", handshake("d", true).0, t0);
        assert!(hs.take_at("b", t0).is_none());
        assert!(hs.take_at("c", t0).is_some());
        assert!(hs.take_at("d", t0).is_some());
    }

    #[test]
    fn the_oldest_goes_when_full_and_a_new_one_replaces_the_pending() {
        let hs = Handshakes::new(TTL, 2);
        assert_eq!(hs.capacity(), 2);
        assert_eq!(Handshakes::new(TTL, 0).capacity(), 1);
        let t0 = Instant::now();
        hs.insert_at("a", handshake("a", true).0, t0);
        hs.insert_at("b", handshake("b", true).0, t0);
        assert_eq!(hs.len(), 2);
        // Replacing a's handshake does not evict b and makes a the newest.
        let (newer, ..) = handshake("a", true);
        let newer_b = newer.big_b;
        hs.insert_at("a", newer, t0);
        assert_eq!(hs.len(), 2);
        hs.insert_at("c", handshake("c", true).0, t0);
        assert_eq!(hs.len(), 2);
        assert!(hs.take_at("b", t0).is_none(), "b was the oldest");
        assert_eq!(hs.take_at("a", t0).map(|h| h.big_b), Some(newer_b));
        assert!(hs.take_at("c", t0).is_some());
    }

    #[test]
    fn remove_forgets_a_pending_handshake() {
        let hs = Handshakes::new(TTL, 8);
        hs.insert("a", handshake("a", true).0);
        hs.insert("b", handshake("b", true).0);
        hs.remove("a");
        assert_eq!(hs.len(), 1);
        assert!(hs.take("a").is_none());
        assert!(hs.take("b").is_some());
    }

    /// Expired handshakes leave memory on a sweep and on the next insert,
    /// at their expiry instant and not before.
    #[test]
    fn sweeps_drop_expired_handshakes_from_memory() {
        let hs = Handshakes::new(TTL, 8);
        let t0 = Instant::now();
        hs.insert_at("a", handshake("a", true).0, t0);
        hs.insert_at("b", handshake("b", true).0, t0 + Duration::from_secs(1));
        hs.sweep_at(t0 + TTL - Duration::from_nanos(1));
        assert_eq!(hs.len(), 2);
        hs.sweep_at(t0 + TTL);
        assert_eq!(hs.len(), 1);
        assert!(hs.take_at("b", t0 + TTL).is_some());
        hs.insert_at("c", handshake("c", true).0, t0);
        hs.insert_at("d", handshake("d", true).0, t0 + TTL);
        assert_eq!(hs.len(), 1, "the insert swept c");
        // The public sweep uses the real clock.
        let short = Handshakes::new(Duration::ZERO, 8);
        short.insert("e", handshake("e", true).0);
        short.sweep();
        assert_eq!(short.len(), 0);
    }

    /// A handshake without the SRP work (for tests of the bookkeeping).
    fn cheap() -> Handshake {
        Handshake {
            b: srp::ServerSecret::from_bytes([7; 32]),
            big_b: [0; srp::N_BYTES],
            a: srp::ClientPublic::from_hex("02").unwrap(),
            verifier: srp::Verifier::from_hex("02").unwrap(),
            salt: vec![1],
            known: false,
            stored: String::new(),
        }
    }

    /// After a burst the table goes back to a size for what is left, and
    /// what is left is still there.
    #[test]
    fn a_sweep_gives_the_table_of_a_burst_back() {
        let hs = Handshakes::new(TTL, 100_000);
        let t0 = Instant::now();
        for i in 0..20_000 {
            hs.insert_at(&format!("p{i}"), cheap(), t0);
        }
        let later = t0 + Duration::from_secs(1);
        for i in 0..10 {
            hs.insert_at(&format!("q{i}"), cheap(), later);
        }
        let burst = hs.lock().by_id.capacity();
        assert!(burst >= 20_010, "{burst}");
        hs.sweep_at(t0 + TTL - Duration::from_nanos(1));
        assert_eq!(hs.lock().by_id.capacity(), burst, "nothing expired yet");
        hs.sweep_at(t0 + TTL);
        assert_eq!(hs.len(), 10);
        let after = hs.lock().by_id.capacity();
        assert!(after < crate::shrink::FLOOR, "{after}");
        assert!(hs.take_at("q3", t0 + TTL).is_some());
    }
}
