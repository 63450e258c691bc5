//! The service layer: every operation of zkppd as one async method of
//! [`Service`], called alike by the HTTP handlers and the admin commands.
//! It applies the rules in the SPEC's order, runs storage calls and the
//! SRP math off the async workers, and answers in domain types and
//! [`Error`]s. Split by concern: sign-up and fill, sign-in, sessions, and
//! the operators' calls.

mod admin;
#[cfg(test)]
mod fixture;
mod sessions;
mod signin;
mod signup;

use std::sync::Arc;
use std::time::Duration;

use crate::Result;
use crate::handshakes::{Handshake, HandshakeKey, Handshakes, SharedB};
use crate::invites::Invites;
use crate::keys::Keys;
use crate::lockout::Lockout;
use crate::pool::{CryptoPool, run_blocking};
use crate::store::Store;

pub use crate::store::{BucketSizes, FillCount, ImportCount};
pub use admin::MemoryCounts;
pub use sessions::SessionInfo;
pub use signin::{Challenge, SignedIn};
pub use signup::SignUp;

/// The knobs of the domain (the server's flags set them).
#[derive(Debug, Clone)]
pub struct Limits {
    pub session_ttl: Duration,
    pub handshake_ttl: Duration,
    /// Live sessions per profile; the oldest is evicted beyond it.
    pub max_sessions: u32,
    /// Pending handshakes kept in memory.
    pub max_handshakes: usize,
    /// Lockout counters kept in memory.
    pub max_lockouts: usize,
    /// How recent a sign-in must be for a password change or a deletion.
    pub reauth_window: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            session_ttl: Duration::from_secs(3600),
            handshake_ttl: Duration::from_secs(60),
            max_sessions: 16,
            max_handshakes: 16_384,
            max_lockouts: 65_536,
            reauth_window: Duration::from_secs(300),
        }
    }
}

/// zkppd's operations over one store; shared by every request.
pub struct Service {
    store: Arc<dyn Store>,
    keys: Keys,
    handshakes: Handshakes,
    lockout: Arc<Lockout>,
    /// The probing budget of each invite (profile token) at sign-up.
    invites: Invites,
    /// What a step 2 without a handshake checks, so that it costs what a
    /// real check costs (the timing must not tell that no step 1 came).
    decoy: Arc<Handshake>,
    crypto: CryptoPool,
    limits: Limits,
    /// The store is shared by other instances: handshakes and the lockout
    /// live there (see `Store::shares_state`), not in `handshakes` and
    /// `lockout`.
    shared: bool,
    /// How b is derived on a shared store; `None` until
    /// [`Service::with_handshake_key`] (sign-ins then fail).
    shared_b: Option<Arc<SharedB>>,
}

impl Service {
    /// Builds the service over `store` (the SRP group tables are built
    /// here, before the first sign-in rather than during it).
    pub fn new(store: Arc<dyn Store>, limits: Limits) -> Service {
        zkppd_srp::precompute();
        Service {
            keys: Keys::new(store.install_secret()),
            handshakes: Handshakes::new(limits.handshake_ttl, limits.max_handshakes),
            lockout: Arc::new(Lockout::new(limits.max_lockouts)),
            invites: Invites::new(),
            decoy: Arc::new(signin::decoy(store.install_secret())),
            crypto: CryptoPool::new(CryptoPool::default_threads()),
            shared: store.shares_state(),
            shared_b: None,
            store,
            limits,
        }
    }

    /// The key pending handshakes are sealed under on a shared store (a
    /// secret every instance is given, not in the database).
    pub fn with_handshake_key(mut self, key: &HandshakeKey) -> Service {
        self.shared_b = Some(Arc::new(SharedB::new(key, self.store.install_secret())));
        self
    }

    /// Whether handshakes and the lockout live in the store (PostgreSQL).
    pub fn shares_state(&self) -> bool {
        self.shared
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Where the data lives, for the start-up line.
    pub fn describe_store(&self) -> String {
        self.store.describe()
    }

    /// A short reference to a profile for audit lines: stable, but not
    /// reversible without the install secret (ids are often guessable).
    pub fn profile_ref(&self, id: &str) -> String {
        self.keys.profile_ref(id)
    }

    /// Runs a storage call off the async workers.
    async fn store<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        run_blocking(move || f(&*store)).await
    }
}
