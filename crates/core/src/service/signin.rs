//! The two SRP sign-in steps. An unknown profile gets the same answers,
//! from a fake verifier and salt, and the same work, so that nothing tells
//! whether it exists. Checking the lockout and counting a guess are one
//! step (see `Lockout::attempt`), so concurrent wrong proofs cannot all be
//! checked before the lock takes effect; the lock metric, though, counts a
//! lock only once the guess that started it has failed.

use zeroize::Zeroizing;
use zkppd_srp::{self as srp, hex};

use super::Service;
use crate::handshakes::Handshake;
use crate::keys::{Keys, session_token_hash};
use crate::lockout::{Attempt, Counter, Lockout, State, delay_after};
use crate::session::{self, now_ms};
use crate::store::{Guess, InstallSecret, PendingHandshake, Record, Session, Store};
use crate::{Error, Result, rules};

/// Step 1's answer: B (512 lowercase hex) and the profile's salt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub key: String,
    pub salt: String,
}

/// Step 2's answer: M2 and the new session's credential.
pub struct SignedIn {
    /// M2, lowercase hex.
    pub proof: String,
    pub profile_id: String,
    pub auth_token: Zeroizing<String>,
    pub auth_expiry: String,
    /// `auth_expiry` in milliseconds since the Unix epoch (for a cookie's
    /// `Max-Age`).
    pub expires_ms: i64,
}

/// The lockout key a step 2 without a handshake writes (keys are keyed
/// hashes, so no profile's is all zeros).
const DECOY_KEY: [u8; 32] = [0; 32];

/// A handshake of a made-up profile, checked by a step 2 that has none.
pub(super) fn decoy(secret: &InstallSecret) -> Handshake {
    let keys = Keys::new(secret);
    let verifier = keys.fake_verifier("zkppd decoy");
    let b = srp::ServerSecret::from_bytes(blake3::derive_key("zkppd 2026-11 decoy b", &secret.0));
    let big_b = srp::server_public(&verifier, &b);
    // Any valid A does: B of the same group is one.
    let a = srp::ClientPublic::from_hex(&hex::encode(&big_b)).unwrap_or_else(|_| {
        srp::ClientPublic::from_hex("02").unwrap_or_else(|_| unreachable!("2 is a valid A"))
    });
    Handshake {
        b,
        big_b,
        a,
        verifier,
        salt: hex::decode(&keys.fake_salt("zkppd decoy")).unwrap_or_default(),
        known: false,
        stored: String::new(),
    }
}

/// A sign-in on a shared store before `Service::with_handshake_key`.
fn no_handshake_key() -> Error {
    Error::Internal("no handshake key: a shared store needs --handshake-key-file".into())
}

impl Service {
    /// `Err(LockedOut)` while `id`'s lock holds; loads its streak from the
    /// store when memory does not have it. On a shared store, asks it.
    async fn check_lock(&self, key: [u8; 32]) -> Result<()> {
        if self.shared {
            let stored = self.store(move |s| s.lockout(&key)).await?;
            return match stored.and_then(|c| c.locked_for(now_ms())) {
                Some(secs) => Err(Error::LockedOut(secs)),
                None => Ok(()),
            };
        }
        let state = match self.lockout.check(&key, now_ms()) {
            State::Unknown => {
                let stored = self.stored_lockout(key).await?;
                self.lockout.load_and_check(&key, stored, now_ms())
            }
            known => known,
        };
        match state {
            State::Locked(secs) => Err(Error::LockedOut(secs)),
            State::Open | State::Unknown => Ok(()),
        }
    }

    /// Counts one guess (see `Lockout::attempt`, or `Store::count_guess`
    /// on a shared store); the failures stored before, for
    /// [`Service::end_guess`].
    pub(super) async fn begin_guess(&self, key: [u8; 32]) -> Result<u32> {
        if self.shared {
            return match self.store(move |s| s.count_guess(&key, now_ms())).await? {
                Guess::Counted { prior, .. } => Ok(prior),
                Guess::Locked(secs) => Err(Error::LockedOut(secs)),
            };
        }
        let attempt = match self.lockout.attempt(&key, now_ms()) {
            Attempt::Unknown => {
                let stored = self.stored_lockout(key).await?;
                self.lockout.load_and_attempt(&key, stored, now_ms())
            }
            known => known,
        };
        match attempt {
            Attempt::Counted { prior } => Ok(prior),
            Attempt::Locked(secs) => Err(Error::LockedOut(secs)),
            // The entry was inserted in the same critical section.
            Attempt::Unknown => Err(Error::Internal("a lockout entry vanished".into())),
        }
    }

    /// Ends a guess begun by [`Service::begin_guess`] (which returned
    /// `prior`), on the thread of the caller: in memory (then the store
    /// keeps the count), or on a shared store, where the count is already
    /// stored and only a success clears it.
    pub(super) fn end_guess(
        shared: bool,
        lockout: &Lockout,
        store: &dyn Store,
        key: &[u8; 32],
        prior: u32,
        correct: bool,
    ) -> Result<()> {
        // The count of a 5th (or later) guess started a lock; it is one in
        // the metric only when the guess fails, since a right proof clears
        // the streak and locks nobody out. Counted here, not at the count,
        // on both paths alike.
        if !correct && delay_after(prior.saturating_add(1)).is_some() {
            lockout.note_lock_started();
        }
        if shared {
            return if correct {
                store.save_lockout(key, &Counter::default())
            } else {
                Ok(())
            };
        }
        let counter = lockout.finish(key, correct);
        if lockout.settle(key, &counter) {
            store.save_lockout(key, &counter)
        } else {
            Ok(())
        }
    }

    /// The streak the store keeps for `key` (none: no failures).
    async fn stored_lockout(&self, key: [u8; 32]) -> Result<Counter> {
        let stored = match self.store.lockout_now(&key) {
            Some(answer) => answer?,
            None => self.store(move |s| s.lockout(&key)).await?,
        };
        Ok(stored.unwrap_or_default())
    }

    /// `id`'s stored record: read on this worker when the store can answer
    /// without blocking (a thread hand-off costs more than the read), else
    /// off the async workers.
    async fn profile_of(&self, id: &str) -> Result<Option<Record>> {
        match self.store.profile_now(id) {
            Some(answer) => answer,
            None => {
                let id = id.to_owned();
                self.store(move |s| s.profile(&id)).await
            }
        }
    }

    /// Forgets the pending handshake of `id`, wherever it is kept.
    pub(super) async fn drop_handshake(&self, id: &str) -> Result<()> {
        if self.shared {
            let key = self.keys.handshake_key(id);
            self.store(move |s| s.take_handshake(&key, i64::MIN).map(drop))
                .await
        } else {
            self.handshakes.remove(id);
            Ok(())
        }
    }

    /// The shared store's pending handshake of `id`, taken (consumed) and
    /// made whole again: b from its nonce, the fake verifier of an unknown
    /// id derived again.
    async fn take_shared(&self, id: &str) -> Result<Option<Handshake>> {
        let key = self.keys.handshake_key(id);
        let Some(p) = self
            .store(move |s| s.take_handshake(&key, now_ms()))
            .await?
        else {
            return Ok(None);
        };
        let shared_b = self.shared_b.as_ref().ok_or_else(no_handshake_key)?;
        let bad = || Error::Internal("a stored handshake is invalid".into());
        let a = srp::ClientPublic::from_hex(&hex::encode(&p.a)).map_err(|_| bad())?;
        let big_b: [u8; srp::N_BYTES] = p.big_b.as_slice().try_into().map_err(|_| bad())?;
        let verifier = match &p.verifier {
            Some(v) => srp::Verifier::from_hex(v).ok_or_else(bad)?,
            None => self.keys.fake_verifier(id),
        };
        Ok(Some(Handshake {
            b: shared_b.b(&key, &p.nonce),
            big_b,
            a,
            verifier,
            salt: hex::decode(&p.salt).ok_or_else(bad)?,
            known: p.verifier.is_some(),
            stored: p.verifier.clone().unwrap_or_default(),
        }))
    }

    /// Step 1: A in, B and the salt out; the handshake stays pending.
    pub async fn sign_in_start(&self, profile_id: String, a_hex: &str) -> Result<Challenge> {
        rules::check_profile_id(&profile_id)?;
        let a = srp::ClientPublic::from_hex(a_hex).map_err(|e| match e {
            srp::PublicKeyError::Malformed => Error::Malformed("key"),
            srp::PublicKeyError::ZeroModN => Error::InvalidCredentials,
        })?;
        let a_bytes = hex::decode(a_hex).unwrap_or_default();
        let lock_key = self.keys.lockout_key(&profile_id);
        self.check_lock(lock_key).await?;

        // The profile's record (a primary-key read, on this worker when the
        // store can), then B from its verifier or, for an unknown id, from
        // a fake one, in the crypto turn.
        let record = self.profile_of(&profile_id).await?;
        let lockout = self.lockout.clone();
        let (fake_verifier, fake_salt) = (
            self.keys.fake_verifier(&profile_id),
            self.keys.fake_salt(&profile_id),
        );
        // On a shared store b comes from a nonce (kept in the row) under a
        // key that is not in the database.
        let row_key = self.keys.handshake_key(&profile_id);
        let (nonce, b) = if self.shared {
            let shared_b = self.shared_b.as_ref().ok_or_else(no_handshake_key)?;
            let (nonce, b) = shared_b.fresh(&row_key)?;
            (Some(nonce), b)
        } else {
            (None, srp::ServerSecret::random().map_err(Error::rng)?)
        };
        let (handshake, salt) = self
            .crypto
            .run(move || {
                // A lock that began while this job queued (a burst of
                // guesses) is answered at once: the queue drains in
                // milliseconds instead of computing B for every waiter, so
                // a burst cannot outlast the lock it triggered.
                if let State::Locked(secs) = lockout.check(&lock_key, now_ms()) {
                    return Err(Error::LockedOut(secs));
                }
                let (verifier, salt, stored) = match record {
                    Some(r) => {
                        let v = srp::Verifier::from_hex(&r.verifier)
                            .ok_or_else(|| Error::Internal("stored verifier is invalid".into()))?;
                        (v, r.salt.clone(), Some(r.verifier.clone()))
                    }
                    None => (fake_verifier, fake_salt, None),
                };
                let salt_bytes = hex::decode(&salt)
                    .ok_or_else(|| Error::Internal("stored salt is invalid".into()))?;
                let big_b = srp::server_public(&verifier, &b);
                let handshake = Handshake {
                    b,
                    big_b,
                    a,
                    verifier,
                    salt: salt_bytes,
                    known: stored.is_some(),
                    stored: stored.unwrap_or_default(),
                };
                Ok((handshake, salt))
            })
            .await??;
        // A lock that began while B was computed (a burst of guesses)
        // holds for this step too: no handshake is left pending for it.
        self.check_lock(lock_key).await?;
        let key = hex::encode(&handshake.big_b);
        match nonce {
            None => self.handshakes.insert(&profile_id, handshake),
            Some(nonce) => {
                let ttl_ms =
                    i64::try_from(self.limits.handshake_ttl.as_millis()).unwrap_or(i64::MAX);
                let pending = PendingHandshake {
                    nonce,
                    a: a_bytes,
                    big_b: handshake.big_b.to_vec(),
                    salt: salt.clone(),
                    verifier: handshake.known.then(|| handshake.stored.clone()),
                    expires_ms: now_ms().saturating_add(ttl_ms),
                };
                self.store(move |s| s.put_handshake(&row_key, &pending))
                    .await?;
            }
        }
        tracing::debug!(profile_id = %profile_id, "sign-in step 1");
        Ok(Challenge { key, salt })
    }

    /// Step 2: M1 in; M2 and a new session out when it is right. The
    /// pending handshake is consumed whatever the outcome.
    pub async fn sign_in_finish(&self, profile_id: String, m1_hex: &str) -> Result<SignedIn> {
        rules::check_profile_id(&profile_id)?;
        let lock_key = self.keys.lockout_key(&profile_id);
        let handshake = if self.shared {
            self.take_shared(&profile_id).await?
        } else {
            self.handshakes.take(&profile_id)
        };
        // A malformed proof still goes through the whole check, against zeros.
        let m1 = hex::decode_array::<32>(m1_hex);
        let well_formed = m1.is_some();
        let m1 = m1.unwrap_or([0u8; 32]);
        // Without a handshake no guess was made: it does not count, but it
        // costs what a check costs, so its timing tells nothing.
        let Some(hs) = handshake else {
            self.check_lock(lock_key).await?;
            let (decoy, id, store) = (self.decoy.clone(), profile_id.clone(), self.store.clone());
            self.crypto
                .run_then(
                    move || std::hint::black_box(decoy.check(&id, &m1)).is_some(),
                    // The same write as a failed proof's count, of a key
                    // no profile has.
                    move |_| {
                        let counter = Counter {
                            failures: 1,
                            locked_until_ms: 0,
                            last_failure_ms: now_ms(),
                        };
                        store.save_lockout(&DECOY_KEY, &counter)
                    },
                )
                .await?;
            return Err(Error::NoHandshake);
        };
        // Counted now, before the proof is checked, and undone if it is
        // right: checking and counting are one step.
        let prior = self.begin_guess(lock_key).await?;
        // Prepared up front so that the crypto job can store the session
        // right after a correct proof, on the same thread.
        let token = session::new_token()?;
        let token_hash = session_token_hash(&token);
        let max = self.limits.max_sessions;
        let ttl_ms = i64::try_from(self.limits.session_ttl.as_millis()).unwrap_or(i64::MAX);
        let (store, lockout, shared) = (self.store.clone(), self.lockout.clone(), self.shared);
        let id = profile_id.clone();
        let outcome = self
            .crypto
            .run_then(
                move || {
                    let m2 = hs.check(&id, &m1);
                    (m2.filter(|_| hs.known && well_formed), id, hs)
                },
                move |(m2, profile_id, hs)| {
                    let ended =
                        Self::end_guess(shared, &lockout, &*store, &lock_key, prior, m2.is_some());
                    let Some(m2) = m2 else {
                        // Kept before answering: a restart forgets no guess.
                        if let Err(e) = ended {
                            tracing::warn!(error = %e, "cannot store a failed proof's count");
                        }
                        return Ok(None);
                    };
                    ended?;
                    let now = now_ms();
                    let expires_ms = now.saturating_add(ttl_ms);
                    let session = Session {
                        profile_id,
                        expiry: session::format_expiry(expires_ms),
                        expires_ms,
                        created_ms: now,
                    };
                    // A password change or deletion that committed since
                    // step 1 wins: no session from the old verifier.
                    if !store.create_session(&token_hash, &session, max, &hs.stored)? {
                        return Ok(None);
                    }
                    Ok(Some((m2, session)))
                },
            )
            .await;
        match outcome {
            Ok(Some((m2, session))) => Ok(SignedIn {
                proof: hex::encode(&m2),
                profile_id: session.profile_id,
                auth_token: token,
                auth_expiry: session.expiry,
                expires_ms: session.expires_ms,
            }),
            Ok(None) => Err(Error::InvalidCredentials),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Limits;
    use crate::service::fixture::{Fixture, PASSWORD};
    use crate::store::Store;

    fn fixture() -> Fixture {
        let f = Fixture::new(Limits::default());
        f.add_profile("alice");
        f
    }

    fn stored_lockout(f: &Fixture, id: &str) -> Option<Counter> {
        f.store.lockout(&f.service.keys.lockout_key(id)).unwrap()
    }

    #[tokio::test]
    async fn the_right_password_signs_in_and_stores_the_session() {
        let f = fixture();
        let before = now_ms();
        let signed = f.sign_in("alice", PASSWORD).await.unwrap();
        assert_eq!(signed.profile_id, "alice");
        let stored = f
            .store
            .session(&session_token_hash(&signed.auth_token))
            .unwrap()
            .expect("the session is stored");
        assert_eq!(stored.profile_id, "alice");
        assert_eq!(stored.expiry, signed.auth_expiry);
        assert_eq!(stored.expires_ms, signed.expires_ms);
        let ttl = i64::try_from(Limits::default().session_ttl.as_millis()).unwrap();
        assert!(stored.created_ms >= before && stored.created_ms <= now_ms());
        assert_eq!(stored.expires_ms, stored.created_ms + ttl);
        assert_eq!(stored_lockout(&f, "alice"), None);
        // The handshake was used up.
        assert!(matches!(
            f.service
                .sign_in_finish("alice".into(), &"00".repeat(32))
                .await,
            Err(Error::NoHandshake)
        ));
    }

    #[tokio::test]
    async fn a_wrong_password_is_counted_in_memory_and_in_the_store() {
        let f = fixture();
        assert!(matches!(
            f.sign_in("alice", "wrong").await,
            Err(Error::InvalidCredentials)
        ));
        let c = stored_lockout(&f, "alice").expect("a failure is stored");
        assert_eq!(c.failures, 1);
        assert_eq!(c.locked_until_ms, 0);
        assert!(c.last_failure_ms > 0);
    }

    /// The 5th failure locks both steps; the lock is in the store, so a
    /// restart keeps it; it ends at its expiry instant (1 s later).
    #[tokio::test]
    async fn the_fifth_failure_locks_both_steps_across_a_restart() {
        let f = fixture();
        for _ in 0..4 {
            assert!(matches!(
                f.sign_in("alice", "wrong").await,
                Err(Error::InvalidCredentials)
            ));
        }
        assert_eq!(stored_lockout(&f, "alice").unwrap().locked_until_ms, 0);
        assert_eq!(f.service.lockout.locks_started(), 0);
        // Step 1 of the 5th guess, then the 5th wrong proof.
        let session = f.start(&f.service, "alice", "wrong").await.unwrap();
        assert!(matches!(
            f.service
                .sign_in_finish("alice".into(), &session.proof)
                .await,
            Err(Error::InvalidCredentials)
        ));
        let c = stored_lockout(&f, "alice").unwrap();
        assert_eq!(c.failures, 5);
        assert_eq!(c.locked_until_ms, c.last_failure_ms + 1000);
        // Exactly one lock in the metric; refused attempts start none.
        assert_eq!(f.service.lockout.locks_started(), 1);
        assert!(matches!(
            f.start(&f.service, "alice", PASSWORD).await,
            Err(Error::LockedOut(1))
        ));
        assert_eq!(f.service.lockout.locks_started(), 1);
        let restarted = f.restart();
        assert!(matches!(
            f.start(&restarted, "alice", PASSWORD).await,
            Err(Error::LockedOut(1))
        ));
        // Other ids are not locked.
        f.add_profile("bob");
        assert!(f.sign_in("bob", PASSWORD).await.is_ok());
        // After the lock the right password signs in and clears the streak.
        let wait = c.locked_until_ms - now_ms();
        if wait > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64 + 5)).await;
        }
        f.sign_in("alice", PASSWORD).await.unwrap();
        assert_eq!(stored_lockout(&f, "alice"), None);
    }

    /// Four failures, then the right password: the 5th guess's count
    /// started a lock while its proof was checked, but the proof was right,
    /// so the lock metric stays at 0. Five wrong proofs of an unknown id
    /// (no verifier) lock it, and count one.
    #[tokio::test]
    async fn a_right_fifth_proof_counts_no_lock() {
        let f = fixture();
        for _ in 0..4 {
            assert!(f.sign_in("alice", "wrong").await.is_err());
        }
        f.sign_in("alice", PASSWORD).await.unwrap();
        assert_eq!(stored_lockout(&f, "alice"), None);
        assert_eq!(f.service.lockout.locks_started(), 0);
        for _ in 0..5 {
            assert!(matches!(
                f.sign_in("nobody", PASSWORD).await,
                Err(Error::InvalidCredentials)
            ));
        }
        assert!(stored_lockout(&f, "nobody").unwrap().locked_until_ms > 0);
        assert_eq!(f.service.lockout.locks_started(), 1);
    }

    /// A success after failures clears the stored streak too (else a
    /// restart would bring the old failures back).
    #[tokio::test]
    async fn a_success_clears_the_stored_streak() {
        let f = fixture();
        for _ in 0..3 {
            assert!(f.sign_in("alice", "wrong").await.is_err());
        }
        assert_eq!(stored_lockout(&f, "alice").unwrap().failures, 3);
        f.sign_in("alice", PASSWORD).await.unwrap();
        assert_eq!(stored_lockout(&f, "alice"), None);
        let restarted = f.restart();
        let session = f.start(&restarted, "alice", "wrong").await.unwrap();
        assert!(
            restarted
                .sign_in_finish("alice".into(), &session.proof)
                .await
                .is_err()
        );
        assert_eq!(stored_lockout(&f, "alice").unwrap().failures, 1);
    }

    #[tokio::test]
    async fn an_unknown_id_gets_a_stable_fake_salt_and_is_counted() {
        let f = fixture();
        let eph = zkppd_srp::client::generate_ephemeral();
        let one = f
            .service
            .sign_in_start("nobody".into(), &eph.public)
            .await
            .unwrap();
        let two = f
            .service
            .sign_in_start("nobody".into(), &eph.public)
            .await
            .unwrap();
        assert_eq!(one.salt, f.service.keys.fake_salt("nobody"));
        assert_eq!(one.salt, two.salt);
        assert_eq!(one.key.len(), 512);
        assert_ne!(one.key, two.key, "a fresh b each time");
        assert!(matches!(
            f.sign_in("nobody", PASSWORD).await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(stored_lockout(&f, "nobody").unwrap().failures, 1);
    }

    #[tokio::test]
    async fn a_step_two_without_step_one_is_no_handshake_and_not_counted() {
        let f = fixture();
        assert!(matches!(
            f.service
                .sign_in_finish("alice".into(), &"11".repeat(32))
                .await,
            Err(Error::NoHandshake)
        ));
        assert_eq!(stored_lockout(&f, "alice"), None);
        // The decoy's write, of a key no profile has.
        assert_eq!(f.store.lockout(&DECOY_KEY).unwrap().unwrap().failures, 1);
        assert!(matches!(
            f.service.sign_in_finish("bad id\n".into(), "00").await,
            Err(Error::InvalidProfileId)
        ));
    }

    #[tokio::test]
    async fn a_malformed_proof_fails_and_counts() {
        let f = fixture();
        f.start(&f.service, "alice", PASSWORD).await.unwrap();
        assert!(matches!(
            f.service.sign_in_finish("alice".into(), "zz").await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(stored_lockout(&f, "alice").unwrap().failures, 1);
    }

    #[tokio::test]
    async fn step_one_checks_id_and_key() {
        let f = fixture();
        assert!(matches!(
            f.service.sign_in_start("".into(), "02").await,
            Err(Error::InvalidProfileId)
        ));
        assert!(matches!(
            f.service.sign_in_start("alice".into(), "xyz").await,
            Err(Error::Malformed("key"))
        ));
        assert!(matches!(
            f.service.sign_in_start("alice".into(), "00").await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(f.service.handshakes.len(), 0);
    }

    /// A password change between the steps wins: the old verifier's proof
    /// makes no session.
    #[tokio::test]
    async fn a_password_change_between_the_steps_wins() {
        let f = fixture();
        let session = f.start(&f.service, "alice", PASSWORD).await.unwrap();
        let record = crate::store::Record {
            verifier: "aa".repeat(256),
            salt: "bb".repeat(32),
        };
        assert!(
            f.store
                .set_password(
                    "alice",
                    &record,
                    &[0; 32],
                    &f.service.keys.lockout_key("alice")
                )
                .unwrap()
        );
        assert!(matches!(
            f.service
                .sign_in_finish("alice".into(), &session.proof)
                .await,
            Err(Error::InvalidCredentials)
        ));
        assert_eq!(f.store.live_sessions(0).unwrap(), 0);
    }
}
