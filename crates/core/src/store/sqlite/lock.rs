//! The serving lock: an exclusive advisory lock (`flock`) on a file next to
//! the database, `<db>-lock`, held by a serving process for its lifetime.
//! A second server on the same file refuses to start (two servers would
//! each keep their own pending handshakes and lockout memory, so a sign-in
//! whose steps landed on different ones would fail at random). The admin
//! commands never take it: they are meant to run beside a server.
//!
//! A file of its own rather than a lock on the database: SQLite's POSIX
//! locks on the database are all dropped when any descriptor of that file
//! in the process closes, so a second descriptor on it is a hazard.
//! The lock file is left in place on exit (removing it would race with a
//! server starting); the kernel drops the lock when the process ends,
//! however it ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held while serving; dropping it releases the lock.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
    path: PathBuf,
}

impl ServeLock {
    /// The lock file of the database at `db`.
    pub fn path_for(db: &Path) -> PathBuf {
        let mut name = db.as_os_str().to_owned();
        name.push("-lock");
        PathBuf::from(name)
    }

    /// Takes the lock of the database at `db`, or says who holds it.
    pub fn acquire(db: &Path) -> Result<ServeLock, String> {
        let path = Self::path_for(db);
        // flock needs no write access: a lock file left by another user
        // (a root run before the service user's) still locks read-only.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .or_else(|e| match e.kind() {
                std::io::ErrorKind::PermissionDenied => File::open(&path),
                _ => Err(e),
            })
            .map_err(|e| {
                format!(
                    "cannot open the lock file {}: {e} (the database's directory must be writable)",
                    path.display()
                )
            })?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let pid = if !holder.is_empty() && holder.bytes().all(|b| b.is_ascii_digit()) {
                    format!(" (pid {holder})")
                } else {
                    String::new()
                };
                return Err(format!(
                    "database {} is already served by another zkppd process{pid}, which holds {}; \
                     run one server per database file (admin subcommands may run beside it)",
                    db.display(),
                    path.display()
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
        // Who holds it, for the next one's error line; only a courtesy.
        let _ = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| write!(file, "{}", std::process::id()));
        Ok(ServeLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_database_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("zkppd.db");
        let first = ServeLock::acquire(&db).unwrap();
        let err = ServeLock::acquire(&db).unwrap_err();
        assert!(err.contains("already served"), "{err}");
        assert!(
            err.contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(ServeLock::acquire(&db).is_ok());
    }
}
