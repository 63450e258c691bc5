//! The operators' calls: bucket sizes, live sessions and in-memory counts
//! for metrics, the health probe, periodic housekeeping, and the admin
//! commands (delete a profile, end its sessions, import profiles).

use std::time::Duration;

use super::Service;
use crate::store::{BucketSizes, ImportCount, ProfileEntry, Record};
use crate::{Error, Result, now_ms, rules};

/// Unlocked lockout counters idle this long are forgotten.
const LOCKOUT_IDLE: Duration = Duration::from_secs(3600);

/// In-memory counts, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct MemoryCounts {
    pub pending_handshakes: usize,
    pub max_handshakes: usize,
    pub lockout_counters: usize,
    pub max_lockouts: usize,
    /// Locks started since the process began.
    pub lockouts_started: u64,
    /// Write transactions the store committed (group commit: several
    /// writes each).
    pub store_commits: u64,
}

impl Service {
    pub async fn bucket_sizes(&self) -> Result<BucketSizes> {
        self.store(|s| s.bucket_sizes()).await
    }

    pub async fn live_sessions(&self) -> Result<i64> {
        self.store(|s| s.live_sessions(now_ms())).await
    }

    /// Proves the store answers.
    pub async fn health(&self) -> Result<()> {
        self.store(|s| s.ping()).await
    }

    pub fn memory_counts(&self) -> MemoryCounts {
        MemoryCounts {
            pending_handshakes: self.handshakes.len(),
            max_handshakes: self.handshakes.capacity(),
            lockout_counters: self.lockout.len(),
            max_lockouts: self.lockout.capacity(),
            lockouts_started: self.lockout.locks_started(),
            store_commits: self.store.commits(),
        }
    }

    /// Drops expired handshakes, idle lockout counters and expired
    /// sessions; how many sessions were purged.
    pub async fn sweep(&self) -> Result<usize> {
        self.handshakes.sweep();
        let now = now_ms();
        self.invites.sweep(now);
        let idle_before = now - i64::try_from(LOCKOUT_IDLE.as_millis()).unwrap_or(0);
        self.lockout.sweep(now, idle_before);
        let expired_before =
            now - i64::try_from(super::sessions::EXPIRED_KEPT.as_millis()).unwrap_or(0);
        self.store(move |s| {
            s.purge_handshakes(now)?;
            s.purge_lockouts(now, idle_before)?;
            s.purge_expired_sessions(expired_before)
        })
        .await
    }

    /// The store's periodic housekeeping (about once a second).
    pub async fn maintain(&self) -> Result<()> {
        self.store(|s| s.maintain()).await
    }

    /// Leaves the store tidy before exit.
    pub async fn close(&self) -> Result<()> {
        self.store(|s| s.close()).await
    }

    /// Deletes a profile and its sessions; how many sessions ended.
    pub async fn delete_profile(&self, id: &str) -> Result<usize> {
        rules::check_profile_id(id)?;
        let owned = id.to_owned();
        let key = self.keys.lockout_key(id);
        let deleted = self.store(move |s| s.delete_profile(&owned, &key)).await?;
        // After the commit: a step 2 racing this finds no handshake, or
        // finds its session refused (the profile is gone).
        self.drop_handshake(id).await?;
        self.lockout.forget(&key);
        deleted.ok_or_else(|| Error::NoSuchProfile(id.to_owned()))
    }

    /// Every profile's id and creation time, oldest first.
    pub async fn list_profiles(&self) -> Result<Vec<ProfileEntry>> {
        self.store(|s| s.list_profiles()).await
    }

    /// Ends every session of a profile; how many.
    pub async fn revoke_sessions(&self, id: &str) -> Result<usize> {
        rules::check_profile_id(id)?;
        let id = id.to_owned();
        self.store(move |s| s.end_sessions_of(&id)).await
    }

    /// Imports `(line, profile_id, verifier, salt)` records after checking
    /// each like a sign-up; all in one transaction. The error of a bad
    /// line is returned with its line number.
    pub async fn import_profiles(
        &self,
        lines: Vec<(usize, String, String, String)>,
    ) -> std::result::Result<ImportCount, (Option<usize>, Error)> {
        let mut records = Vec::with_capacity(lines.len());
        for (line, id, verifier, salt) in lines {
            rules::check_profile_id(&id).map_err(|e| (Some(line), e))?;
            if !rules::valid_verifier(&verifier) {
                return Err((Some(line), Error::Malformed("zkpp")));
            }
            if !rules::valid_salt(&salt) {
                return Err((Some(line), Error::Malformed("salt")));
            }
            records.push((line, id, Record { verifier, salt }));
        }
        self.store(move |s| s.import_profiles(&records))
            .await
            .map_err(|e| (None, e))
    }
}

#[cfg(test)]
mod tests {
    use zkppd_srp::client;

    use super::*;
    use crate::keys::session_token_hash;
    use crate::lockout::Counter;
    use crate::service::Limits;
    use crate::service::fixture::Fixture;
    use crate::session::format_expiry;
    use crate::store::{Session, Store};

    const HOUR: i64 = 3_600_000;

    fn fixture() -> Fixture {
        let f = Fixture::new(Limits::default());
        f.add_profile("alice");
        f.add_profile("bob");
        f
    }

    fn plant(f: &Fixture, id: &str, token: &str, expires_ms: i64) {
        let verifier = f.store.profile(id).unwrap().unwrap().verifier.clone();
        let session = Session {
            profile_id: id.to_owned(),
            expiry: format_expiry(expires_ms),
            expires_ms,
            created_ms: now_ms(),
        };
        let hash = session_token_hash(token);
        assert!(
            f.store
                .create_session(&hash, &session, 16, &verifier)
                .unwrap()
        );
    }

    fn stored(f: &Fixture, token: &str) -> bool {
        f.store
            .session(&session_token_hash(token))
            .unwrap()
            .is_some()
    }

    fn wal_len(f: &Fixture) -> u64 {
        let mut wal = f.store.path().as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len())
    }

    fn line(n: usize, id: &str) -> (usize, String, String, String) {
        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, id, "pw");
        (n, id.to_owned(), client::derive_verifier(&x), salt)
    }

    #[tokio::test]
    async fn live_sessions_counts_only_unexpired_ones() {
        let f = fixture();
        plant(&f, "alice", "a1", now_ms() + HOUR);
        plant(&f, "alice", "a2", now_ms() + HOUR);
        plant(&f, "bob", "b1", now_ms() - 1000);
        assert_eq!(f.service.live_sessions().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn sweep_purges_sessions_expired_over_a_day_and_idle_lockouts() {
        let f = fixture();
        let now = now_ms();
        plant(&f, "alice", "live", now + HOUR);
        plant(&f, "alice", "recent", now - 2 * HOUR);
        plant(&f, "bob", "old", now - 25 * HOUR);
        plant(&f, "bob", "older", now - 48 * HOUR);
        let counter = |last| Counter {
            failures: 1,
            locked_until_ms: 0,
            last_failure_ms: last,
        };
        f.store
            .save_lockout(&[1; 32], &counter(now - 2 * HOUR))
            .unwrap();
        f.store
            .save_lockout(&[2; 32], &counter(now - 60_000))
            .unwrap();
        assert_eq!(f.service.sweep().await.unwrap(), 2);
        assert!(stored(&f, "live") && stored(&f, "recent"));
        assert!(!stored(&f, "old") && !stored(&f, "older"));
        assert!(f.store.lockout(&[1; 32]).unwrap().is_none(), "idle: purged");
        assert!(f.store.lockout(&[2; 32]).unwrap().is_some(), "recent: kept");
        assert_eq!(f.service.sweep().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn health_fails_when_the_file_is_gone() {
        let f = fixture();
        let moved = f.store.path().with_extension("moved");
        std::fs::rename(f.store.path(), &moved).unwrap();
        // The file checks run at most once a second: wait out the last.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert!(f.service.health().await.is_err());
    }

    #[tokio::test]
    async fn maintain_empties_the_wal_after_a_sign_up() {
        let f = fixture();
        f.service
            .fill("profile", vec!["invite".to_owned()])
            .await
            .unwrap();
        f.service
            .fill("signup", vec!["tok".to_owned()])
            .await
            .unwrap();
        let (_, id, verifier, salt) = line(1, "carol");
        let req = crate::service::signup::SignUp {
            profile_id: id,
            profile_token: "invite".to_owned().into(),
            verifier: verifier.into(),
            salt,
        };
        assert_eq!(f.service.sign_up(req).await.unwrap(), "tok");
        assert!(wal_len(&f) > 0, "the sign-up is in the WAL");
        f.service.maintain().await.unwrap();
        assert_eq!(wal_len(&f), 0, "the handed-out token is gone from the WAL");
    }

    #[tokio::test]
    async fn close_empties_the_wal() {
        let f = fixture();
        plant(&f, "alice", "a1", now_ms() + HOUR);
        assert!(wal_len(&f) > 0);
        f.service.close().await.unwrap();
        assert_eq!(wal_len(&f), 0);
    }

    #[tokio::test]
    async fn delete_profile_ends_its_sessions() {
        let f = fixture();
        plant(&f, "alice", "a1", now_ms() + HOUR);
        plant(&f, "alice", "a2", now_ms() + HOUR);
        plant(&f, "bob", "b1", now_ms() + HOUR);
        assert_eq!(f.service.delete_profile("alice").await.unwrap(), 2);
        assert!(f.store.profile("alice").unwrap().is_none());
        assert!(!stored(&f, "a1") && stored(&f, "b1"));
        assert!(matches!(
            f.service.delete_profile("alice").await,
            Err(Error::NoSuchProfile(_))
        ));
        assert_eq!(f.service.delete_profile("bob").await.unwrap(), 1);
    }

    #[tokio::test]
    async fn revoke_sessions_counts_what_it_ended() {
        let f = fixture();
        plant(&f, "alice", "a1", now_ms() + HOUR);
        plant(&f, "alice", "a2", now_ms() + HOUR);
        plant(&f, "bob", "b1", now_ms() + HOUR);
        assert_eq!(f.service.revoke_sessions("alice").await.unwrap(), 2);
        assert!(!stored(&f, "a2") && stored(&f, "b1"));
        assert_eq!(f.service.revoke_sessions("bob").await.unwrap(), 1);
        assert!(f.store.profile("alice").unwrap().is_some());
    }

    #[tokio::test]
    async fn list_and_import_profiles() {
        let f = Fixture::new(Limits::default());
        let count = f
            .service
            .import_profiles(vec![line(1, "x"), line(2, "y")])
            .await
            .unwrap();
        assert_eq!(count.imported, 2);
        let ids: Vec<_> = f
            .service
            .list_profiles()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["x", "y"]);
        let mut bad = line(2, "z");
        bad.2 = "zz".to_owned();
        assert!(matches!(
            f.service.import_profiles(vec![line(1, "w"), bad]).await,
            Err((Some(2), Error::Malformed("zkpp")))
        ));
        let mut bad = line(3, "z");
        bad.3 = "z".to_owned();
        assert!(matches!(
            f.service.import_profiles(vec![bad]).await,
            Err((Some(3), Error::Malformed("salt")))
        ));
        assert!(matches!(
            f.service.import_profiles(vec![line(4, "")]).await,
            Err((Some(4), Error::InvalidProfileId))
        ));
        assert!(f.store.profile("w").unwrap().is_none(), "all or nothing");
    }
}
