//! The storage interface the services run on, and its implementations:
//! the embedded SQLite one (the default: one process, pending handshakes
//! and the lockout's front in memory) and the PostgreSQL one (any number
//! of processes: handshakes and lockout counters live in the database, see
//! [`Store::shares_state`]). Only the store modules write SQL.
//!
//! Methods block: the services call them off the async workers (see
//! `pool::run_blocking`), and sign-in step 2 stores its session on the
//! thread that checked the proof, which saves a thread hand-off per
//! sign-in. A store for another database implements the same calls with
//! the same guarantees (atomic sign-up, uniform draw, no cache).

pub mod postgres;
pub mod sqlite;

pub use crate::lockout::Counter;
use crate::{Error, Result};

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// The per-install random secret every key is derived from; wiped on drop.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct InstallSecret(pub(crate) [u8; 32]);

impl InstallSecret {
    /// A one-way fingerprint, to tell whether two stores share the secret
    /// (a migration, several instances) without showing it.
    pub fn fingerprint(&self) -> [u8; 32] {
        blake3::derive_key("zkppd 2026-11 install secret fingerprint", &self.0)
    }
}

/// A profile's SRP record, as the client sent it at sign-up.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Record {
    pub verifier: String,
    pub salt: String,
}

/// A session as stored: the expiry exactly as handed out (compared byte
/// for byte) and in milliseconds (for comparisons and purging), and when
/// the sign-in that made it happened (for freshness and listing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub profile_id: String,
    pub expiry: String,
    pub expires_ms: i64,
    pub created_ms: i64,
}

/// Counts of a fill: new tokens and skipped duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillCount {
    pub inserted: u64,
    pub duplicates: u64,
}

/// Unused tokens per bucket, read at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSizes {
    pub profile: i64,
    pub signup: i64,
}

/// A profile as `zkppd profile list` shows it: no secret in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileEntry {
    pub id: String,
    /// When it signed up or was imported, in ms since the epoch; 0 for a
    /// profile from before schema 4.
    pub created_ms: i64,
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCount {
    pub imported: u64,
    pub unchanged: u64,
}

/// A pending sign-in handshake as a shared store keeps it. The secret b is
/// not in it: b is derived from `nonce` under a key that is not in the
/// database (see `Service::with_handshake_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingHandshake {
    pub nonce: [u8; 32],
    /// A exactly as the client sent it.
    pub a: Vec<u8>,
    /// B, 256 bytes.
    pub big_b: Vec<u8>,
    /// The salt answered (the profile's, or the fake one).
    pub salt: String,
    /// The verifier as stored when step 1 read it; `None` for an unknown
    /// profile (step 2 derives the fake one again).
    pub verifier: Option<String>,
    pub expires_ms: i64,
}

/// The outcome of [`Store::count_guess`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// Counted: `prior` failures were stored before it, `failures` after.
    Counted { prior: u32, failures: u32 },
    /// Locked for this many more seconds; nothing counted.
    Locked(u64),
}

/// Everything a database holds, for `zkppd migrate` (one store to another).
#[derive(Default)]
pub struct Dump {
    pub install_secret: Option<InstallSecret>,
    /// Profile-token hashes and whether each was consumed.
    pub profile_tokens: Vec<([u8; 32], bool)>,
    /// Signup tokens in slot order.
    pub signup_tokens: Vec<String>,
    pub profiles: Vec<(String, Record)>,
    pub sessions: Vec<([u8; 32], Session)>,
    pub lockouts: Vec<([u8; 32], Counter)>,
    /// `(profile_id, token_hash, expires_ms)`.
    pub reset_tokens: Vec<(String, [u8; 32], i64)>,
}

fn no_shared_state() -> Error {
    Error::Internal("this store keeps pending handshakes in memory".into())
}

/// Everything the services need from a database.
pub trait Store: Send + Sync + 'static {
    /// The secret every key derives from, created with the database.
    fn install_secret(&self) -> &InstallSecret;
    /// Where the data lives, for the start-up log line.
    fn describe(&self) -> String;

    /// Adds profile-token hashes, all or nothing; a hash ever seen (unused
    /// or consumed) is a duplicate.
    fn fill_profile(&self, hashes: &[[u8; 32]]) -> Result<FillCount>;
    /// Adds signup tokens, all or nothing; one already there is a duplicate.
    fn fill_signup(&self, tokens: &[String]) -> Result<FillCount>;
    fn bucket_sizes(&self) -> Result<BucketSizes>;

    /// The sign-up, in one transaction: the profile token must be unused
    /// (`UnknownProfileToken`), the id new (`DuplicateId`), the signup
    /// bucket non-empty (`SignupBucketEmpty`); then the token is consumed,
    /// a signup token drawn uniformly at random in O(log n) and returned,
    /// and the profile stored. Any refusal changes nothing.
    fn sign_up(&self, token_hash: &[u8; 32], id: &str, record: &Record) -> Result<String>;
    fn profile(&self, id: &str) -> Result<Option<Record>>;
    /// [`Store::profile`] on the calling async worker, for stores that can
    /// answer a primary-key read there without blocking (sign-in step 1's
    /// lookup, like [`Store::session_now`]); `None`: ask `profile` off the
    /// async workers instead.
    fn profile_now(&self, _id: &str) -> Option<Result<Option<Record>>> {
        None
    }
    /// Stores profiles as given, in one transaction; an id already stored
    /// with the same record is left alone, one with another is an error.
    fn import_profiles(&self, records: &[(usize, String, Record)]) -> Result<ImportCount>;
    /// Every profile's id and creation time, oldest first.
    fn list_profiles(&self) -> Result<Vec<ProfileEntry>>;
    /// Deletes a profile, its sessions, its reset token and its failure
    /// streak (under `lockout_key`) in one transaction; `None` if there was
    /// no profile, else how many sessions ended.
    fn delete_profile(&self, id: &str, lockout_key: &[u8; 32]) -> Result<Option<usize>>;
    /// Replaces a profile's salt and verifier, ends every session of it but
    /// `keep`, and clears its failure streak, in one transaction; false if
    /// there is no such profile.
    fn set_password(
        &self,
        id: &str,
        record: &Record,
        keep: &[u8; 32],
        lockout_key: &[u8; 32],
    ) -> Result<bool>;
    /// Stores a profile's reset token (keyed hash), replacing an older one;
    /// false if there is no such profile.
    fn put_reset_token(&self, id: &str, hash: &[u8; 32], expires_ms: i64) -> Result<bool>;
    /// If the profile's reset token is `hash` and live: consumes it, sets
    /// the new record, ends every session and clears the failure streak,
    /// in one transaction. False (nothing changed) otherwise.
    fn reset_password(
        &self,
        id: &str,
        hash: &[u8; 32],
        now_ms: i64,
        record: &Record,
        lockout_key: &[u8; 32],
    ) -> Result<bool>;

    /// Stores a session and evicts that profile's oldest beyond `max`, if
    /// the profile still has `verifier` (the one the proof was checked
    /// against); false, storing nothing, if it changed or went.
    fn create_session(
        &self,
        token_hash: &[u8; 32],
        session: &Session,
        max: u32,
        verifier: &str,
    ) -> Result<bool>;
    /// A profile's live sessions with their token hashes, newest first.
    fn live_sessions_of(&self, profile_id: &str, now_ms: i64) -> Result<Vec<([u8; 32], Session)>>;
    /// The session under this token hash, live or not. No cache.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>>;
    /// [`Store::session`] on the calling thread, an async worker, for
    /// stores that can answer a primary-key read there without blocking
    /// (a thread hand-off costs more than the read). `None` means "ask
    /// `session` off the async workers instead"; the default for stores
    /// that would block.
    fn session_now(&self, _token_hash: &[u8; 32]) -> Option<Result<Option<Session>>> {
        None
    }
    /// Deletes the session with this hash if it matches the profile id and
    /// expiry exactly and is live; true if one was deleted.
    fn end_session(
        &self,
        token_hash: &[u8; 32],
        profile_id: &str,
        expiry: &str,
        now_ms: i64,
    ) -> Result<bool>;
    /// Deletes every session of a profile; how many.
    fn end_sessions_of(&self, profile_id: &str) -> Result<usize>;
    /// Deletes sessions that expired before `before_ms`.
    fn purge_expired_sessions(&self, before_ms: i64) -> Result<usize>;
    fn live_sessions(&self, now_ms: i64) -> Result<i64>;

    /// The failure streak kept for a profile (by keyed hash), if any.
    fn lockout(&self, key: &[u8; 32]) -> Result<Option<Counter>>;
    /// [`Store::lockout`] on the calling async worker, like
    /// [`Store::session_now`]: the first guess on an id costs no thread
    /// hand-off more than the next ones (nor a timing difference that
    /// tells an id seen recently from one that was not).
    fn lockout_now(&self, _key: &[u8; 32]) -> Option<Result<Option<Counter>>> {
        None
    }
    /// Keeps a streak; a streak of zero failures removes it.
    fn save_lockout(&self, key: &[u8; 32], counter: &Counter) -> Result<()>;
    /// Forgets streaks not locked and idle since `idle_before_ms`.
    fn purge_lockouts(&self, now_ms: i64, idle_before_ms: i64) -> Result<usize>;

    /// Write transactions committed by this process so far (each one
    /// durable write to disk), for metrics; 0 if the store does not count.
    fn commits(&self) -> u64 {
        0
    }

    /// Whether other processes serve the same data at once: then pending
    /// handshakes and the lockout live in the store ([`Store::put_handshake`],
    /// [`Store::count_guess`]) rather than in this process's memory.
    fn shares_state(&self) -> bool {
        false
    }
    /// Keeps the pending handshake of a profile (by keyed hash), replacing
    /// any other.
    fn put_handshake(&self, _key: &[u8; 32], _pending: &PendingHandshake) -> Result<()> {
        Err(no_shared_state())
    }
    /// Removes and returns the pending handshake of a profile if it has not
    /// expired: one proof per handshake, whichever instance gets it.
    fn take_handshake(&self, _key: &[u8; 32], _now_ms: i64) -> Result<Option<PendingHandshake>> {
        Err(no_shared_state())
    }
    /// Forgets expired handshakes.
    fn purge_handshakes(&self, _now_ms: i64) -> Result<usize> {
        Ok(0)
    }
    /// The lock check and the count of one guess, in one atomic step
    /// across every process on the database.
    fn count_guess(&self, _key: &[u8; 32], _now_ms: i64) -> Result<Guess> {
        Err(no_shared_state())
    }

    /// Everything stored, for a migration.
    fn export(&self) -> Result<Dump>;
    /// Loads a dump into an empty store in one transaction (the install
    /// secret included); refuses a store holding any profile, token,
    /// session or streak.
    fn import_dump(&self, dump: &Dump) -> Result<()>;

    /// The cheapest call that proves the store answers.
    fn ping(&self) -> Result<()>;
    /// Periodic housekeeping (about once a second).
    fn maintain(&self) -> Result<()>;
    /// Leaves the data tidy before the process exits.
    fn close(&self) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile's verifier is wiped when its record is dropped (issue 10).
    #[test]
    fn records_and_the_install_secret_are_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<Record>();
        wiped_on_drop::<InstallSecret>();
        let mut r = Record {
            verifier: "ab".repeat(10),
            salt: "cd".into(),
        };
        zeroize::Zeroize::zeroize(&mut r);
        assert!(r.verifier.is_empty() && r.salt.is_empty());
    }
}
