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
