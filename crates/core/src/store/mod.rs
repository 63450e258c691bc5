//! The storage interface the services run on, and its implementations
//! (today the embedded SQLite one). Only the store modules write SQL.
//!
//! Methods block: the services call them off the async workers (see
//! `pool::run_blocking`), and sign-in step 2 stores its session on the
//! thread that checked the proof, which saves a thread hand-off per
//! sign-in. A store for another database implements the same calls with
//! the same guarantees (atomic sign-up, uniform draw, no cache).

pub mod sqlite;

use crate::Result;
pub use crate::lockout::Counter;

pub use sqlite::SqliteStore;

/// The per-install random secret every key is derived from; wiped on drop.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct InstallSecret(pub(crate) [u8; 32]);

/// A profile's SRP record, as the client sent it at sign-up.
#[derive(Clone, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Record {
    pub verifier: String,
    pub salt: String,
}

/// A session as stored: the expiry exactly as handed out (compared byte
/// for byte) and in milliseconds (for comparisons and purging).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub profile_id: String,
    pub expiry: String,
    pub expires_ms: i64,
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

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportCount {
    pub imported: u64,
    pub unchanged: u64,
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
    /// Stores profiles as given, in one transaction; an id already stored
    /// with the same record is left alone, one with another is an error.
    fn import_profiles(&self, records: &[(usize, String, Record)]) -> Result<ImportCount>;
    /// Deletes a profile and its sessions; `None` if there was none, else
    /// how many sessions ended.
    fn delete_profile(&self, id: &str) -> Result<Option<usize>>;

    /// Stores a session and evicts that profile's oldest beyond `max`.
    fn create_session(
        &self,
        token_hash: &[u8; 32],
        session: &Session,
        now_ms: i64,
        max: u32,
    ) -> Result<()>;
    /// The session under this token hash, live or not. No cache.
    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>>;
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
    fn purge_expired_sessions(&self, now_ms: i64) -> Result<usize>;
    fn live_sessions(&self, now_ms: i64) -> Result<i64>;

    /// The failure streak kept for a profile (by keyed hash), if any.
    fn lockout(&self, key: &[u8; 32]) -> Result<Option<Counter>>;
    /// Keeps a streak; a streak of zero failures removes it.
    fn save_lockout(&self, key: &[u8; 32], counter: &Counter) -> Result<()>;
    /// Forgets streaks not locked and idle since `idle_before_ms`.
    fn purge_lockouts(&self, now_ms: i64, idle_before_ms: i64) -> Result<usize>;

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
