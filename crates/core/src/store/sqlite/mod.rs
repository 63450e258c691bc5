//! The embedded SQLite store: opening the file (PRAGMAs, schema, version
//! checks), the connection pool, this process's writer turn, the WAL
//! housekeeping, and the [`Store`] calls. The SQL itself lives in one file
//! per group of tables; the admin-only operations (backup, check) are
//! methods of [`SqliteStore`] outside the trait.

mod buckets;
mod conns;
mod dump;
mod group;
mod inline;
mod lock;
mod lockouts;
mod maintenance;
mod profiles;
mod resets;
mod sessions;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};

use super::{
    BucketSizes, Dump, FillCount, ImportCount, InstallSecret, ProfileEntry, Record, Session, Store,
};
use crate::lockout::Counter;
use crate::{Error, Result};
pub use lock::ServeLock;

/// The schema this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 4;
/// `PRAGMA application_id` of a zkppd file ("zkpp").
pub const APPLICATION_ID: i64 = 0x7a6b_7070;
const SCHEMA: &str = include_str!("../../../../../schema.sql");
/// How long a statement waits for another writer before giving up with 503.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the WAL checkpoint after a sign-up waits for readers while it
/// holds this process's writer turn: short, so that sign-ins queued behind
/// it are not held up; a checkpoint that a reader blocks is retried later.
const CHECKPOINT_PATIENCE: Duration = Duration::from_millis(25);
/// A reader that keeps handed-out tokens in the WAL longer than this is
/// worth a warning (SPEC §5's unlinkability waits on it).
const CHECKPOINT_WARN_AFTER: Duration = Duration::from_secs(5);
/// How often that warning repeats while the reader stays.
const CHECKPOINT_WARN_EVERY: Duration = Duration::from_secs(30);
/// How often the file's identity (deleted, moved) and writability are
/// checked at most; a cached answer in between.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Every statement of a signup-token draw, so that a test can check each
/// one's query plan is a primary-key search (O(log n)), never a scan.
pub const DRAW_QUERIES: [&str; 4] = buckets::DRAW_QUERIES;

/// The SQLite store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<conns::Conns>,
    /// Tells this store's per-thread readers apart from another store's.
    id: u64,
    path: PathBuf,
    secret: Arc<InstallSecret>,
    /// This process's writers: one writer turn (SQLite allows one writer
    /// at a time, and waiting here is far smoother than SQLite's busy
    /// handler sleeping with backoff) and group commit (see `group`).
    /// Other processes (admin commands) still meet `busy_timeout`.
    writer: Arc<group::Group>,
    /// Set after a sign-up: the WAL still holds the page images of the
    /// handed-out token until a truncating checkpoint (see `maintain`).
    checkpoint_due: Arc<AtomicBool>,
    /// Since when the WAL has held a handed-out token, and when a blocked
    /// checkpoint was last reported.
    wal_dirty: Arc<Mutex<WalDirty>>,
    /// Device and inode of the file opened: the path naming another file
    /// (or none) means the database was deleted or moved while serving.
    identity: (u64, u64),
    /// The last identity check: when, and the fault it found.
    moved: Arc<Checked>,
    /// The last write probe of the health check: when, and its fault.
    probe: Arc<Checked>,
    // Dropped after the pool (field order) so the directory goes last.
    _temp: Option<Arc<tempfile::TempDir>>,
}

#[derive(Default)]
struct WalDirty {
    since: Option<Instant>,
    warned: Option<Instant>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The last run of a periodic check: when, and the fault it found.
type Checked = Mutex<Option<(Instant, Option<String>)>>;

/// A check run at most once per [`FILE_CHECK_EVERY`]; in between, its last
/// answer.
fn cached(cell: &Checked, check: impl FnOnce() -> Option<String>) -> Result<()> {
    let mut last = lock(cell);
    let fault = match &*last {
        Some((at, fault)) if at.elapsed() < FILE_CHECK_EVERY => fault.clone(),
        _ => {
            let fault = check();
            *last = Some((Instant::now(), fault.clone()));
            fault
        }
    };
    match fault {
        None => Ok(()),
        Some(f) => Err(Error::Unavailable(f)),
    }
}

/// Device and inode of the file at `path`.
fn identity_of(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// Why SQLite could not open or set up the file at `path`, when the cause
/// is the directory or the file's permissions rather than its content.
fn not_writable(path: &Path) -> Option<String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Err(e) = tempfile::tempfile_in(dir) {
        return Some(format!(
            "the database's directory {} is not writable ({e}); SQLite keeps its -wal and -shm files there",
            dir.display()
        ));
    }
    if path.exists()
        && let Err(e) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
    {
        return Some(format!("database {} is not writable: {e}", path.display()));
    }
    None
}

/// Creates the database file, empty and 0600, when it does not exist yet,
/// so that SQLite never creates it under the umask (0644 by default): the
/// file holds the install secret and every verifier. SQLite gives its -wal
/// and -shm files the mode of the database file, so they are 0600 too. An
/// existing file keeps its mode (an operator may have chosen it; the
/// server warns at start-up when others can read it).
fn create_private(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create database {}: {e}", path.display())),
    }
}

/// What `zkppd check` reports.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// `["ok"]` for a sound file, else the problems.
    pub integrity: Vec<String>,
    /// Rows breaking a foreign key; empty for a sound file.
    pub foreign_keys: Vec<String>,
    pub schema_version: i64,
    pub profiles: i64,
    pub live_sessions: i64,
    /// Profiles with a failure streak (locked or not).
    pub lockouts: i64,
}

impl CheckReport {
    pub fn ok(&self) -> bool {
        self.integrity == ["ok"] && self.foreign_keys.is_empty()
    }
}

/// What a verified backup copy holds.
#[derive(Debug, Clone, Copy)]
pub struct BackupReport {
    pub schema_version: i64,
    pub profiles: i64,
}

/// Settings every connection gets, on every open (some are per-connection
/// in SQLite and would silently be lost otherwise).
fn init_connection(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = FULL;
         PRAGMA secure_delete = ON;
         PRAGMA journal_size_limit = 0;
         PRAGMA cache_size = -1024;",
    )
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, or a throw-away
    /// one in a temp dir when `path` is None. Errors name the cause.
    pub fn open(path: Option<&Path>) -> std::result::Result<SqliteStore, String> {
        let (path, temp) = match path {
            Some(p) => (p.to_path_buf(), None),
            None => {
                // 0700: the directory holds the install secret and every
                // verifier (tempfile's default follows the umask, 0755).
                let dir = tempfile::Builder::new()
                    .prefix("zkppd-")
                    .permissions(
                        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(
                            0o700,
                        ),
                    )
                    .tempdir()
                    .map_err(|e| format!("cannot create a temp dir: {e}"))?;
                (dir.path().join("zkppd.db"), Some(Arc::new(dir)))
            }
        };
        // A file or directory this user cannot write: SQLite would open the
        // file read-only (every write then a 503) or fail with a misleading
        // message; say what is wrong instead.
        if let Some(cause) = not_writable(&path) {
            return Err(cause);
        }
        create_private(&path)?;
        let mut conn = Connection::open(&path)
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            return Err(format!(
                "database {} can only be opened read-only (file mode, mount or ownership); zkppd must write it",
                path.display()
            ));
        }
        let secret = prepare(&mut conn).map_err(|e| format!("database {}: {e}", path.display()))?;
        drop(conn);
        let identity = identity_of(&path)
            .map_err(|e| format!("cannot stat database {}: {e}", path.display()))?;

        // Eight: plenty for the blocking pool's readers beside one writer.
        let pool = Arc::new(conns::Conns::new(
            path.clone(),
            init_connection,
            8,
            BUSY_TIMEOUT,
        ));
        Ok(SqliteStore {
            id: inline::next_store_id(),
            pool,
            path,
            secret: Arc::new(secret),
            writer: Arc::new(group::Group::default()),
            checkpoint_due: Arc::new(AtomicBool::new(false)),
            wal_dirty: Arc::new(Mutex::new(WalDirty::default())),
            identity,
            moved: Arc::new(Mutex::new(None)),
            probe: Arc::new(Mutex::new(None)),
            _temp: temp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pooled connection, for admin tools and tests that need SQLite
    /// itself (the services never do).
    pub fn connection(&self) -> Result<conns::Lent<'_>> {
        self.pool.get()
    }

    /// Runs `f` with a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut *self.pool.get()?)
    }

    /// Runs the read `f` on this thread's own reader, which never waits:
    /// `None` when SQLite is busy at once (a checkpoint holds the WAL
    /// index), for the caller to ask off the async workers instead.
    fn read_now<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Option<Result<T>> {
        match inline::with_reader(self.id, &self.path, f) {
            Err(Error::Unavailable(_)) => None,
            answer => Some(answer),
        }
    }

    /// Runs `f` in a transaction, committed together with the other
    /// writes of this process queued meanwhile (group commit); `f`'s
    /// changes are all or nothing. The turn is taken before a pooled
    /// connection, so waiting writers never hold connections that readers
    /// need. A database file deleted or moved away is refused first: the
    /// write would land in a file nobody will open again.
    fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.check_file()?;
        self.writer.write(|| self.pool.get(), f)
    }

    /// Runs `f` in the writer turn outside any transaction (a checkpoint).
    fn exclusive<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let _turn = self.writer.turn();
        f(&mut *self.pool.get()?)
    }

    /// Whether the path still names the file this store opened (checked at
    /// most once a second).
    fn check_file(&self) -> Result<()> {
        cached(&self.moved, || match identity_of(&self.path) {
            Ok(id) if id == self.identity => None,
            Ok(_) => Some(format!(
                "database file {} was replaced by another file while serving; restart zkppd",
                self.path.display()
            )),
            Err(e) => Some(format!(
                "database file {} was deleted or moved while serving ({e}); writes would be lost; restart zkppd",
                self.path.display()
            )),
        })
    }

    /// A committed write, at most once a second: proves the file, the
    /// disk and the directory still take writes (a full disk, a file made
    /// read-only, a file-size limit), for the health check.
    fn write_probe(&self) -> Result<()> {
        cached(&self.probe, || {
            self.write(maintenance::probe)
                .err()
                .map(|e| format!("write probe failed: {e}"))
        })
    }

    /// The post-sign-up checkpoint, once: true when the WAL is empty.
    fn checkpoint_after_sign_up(&self) -> Result<bool> {
        self.exclusive(|conn| {
            // In the writer turn no sign-up runs: one that comes after
            // this sets the flag again.
            self.checkpoint_due.store(false, Ordering::Relaxed);
            // PASSIVE never waits: if a reader's snapshot keeps frames
            // from the database file, the TRUNCATE could not finish
            // either, so skip its wait and retry on the next call.
            if !passive_checkpoint(conn)? {
                return Ok(false);
            }
            conn.busy_timeout(CHECKPOINT_PATIENCE)?;
            let result = truncate_wal(conn);
            conn.busy_timeout(BUSY_TIMEOUT)?;
            match result {
                Ok(done) => Ok(done),
                // Another process's writer: as busy as a reader.
                Err(Error::Unavailable(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    /// Copies the database to the new file `dest` with SQLite's online
    /// backup (a consistent snapshot while others write), waiting up to
    /// `patience` for a busy database, then checks the copy.
    pub fn backup_to(&self, dest: &Path, patience: Duration) -> Result<BackupReport> {
        self.read(|conn| maintenance::backup(conn, dest, patience))?;
        let copy = Connection::open(dest)?;
        let integrity = maintenance::integrity_check(&copy)?;
        if integrity != ["ok"] {
            return Err(Error::Internal(format!(
                "the copy failed integrity_check: {}",
                integrity.join("; ")
            )));
        }
        let (schema_version, app_id) = maintenance::version(&copy)?;
        if app_id != APPLICATION_ID {
            return Err(Error::Internal("the copy is not a zkppd database".into()));
        }
        let profiles = maintenance::profile_count(&copy)?;
        copy.close().map_err(|(_, e)| Error::from(e))?;
        Ok(BackupReport {
            schema_version,
            profiles,
        })
    }

    /// `integrity_check`, `foreign_key_check`, the schema version, counts.
    pub fn check(&self, now_ms: i64) -> Result<CheckReport> {
        self.read(|conn| {
            Ok(CheckReport {
                integrity: maintenance::integrity_check(conn)?,
                foreign_keys: maintenance::foreign_key_check(conn)?,
                schema_version: maintenance::version(conn)?.0,
                profiles: maintenance::profile_count(conn)?,
                live_sessions: sessions::count_live(conn, now_ms)?,
                lockouts: lockouts::count(conn)?,
            })
        })
    }
}

impl Store for SqliteStore {
    fn install_secret(&self) -> &InstallSecret {
        &self.secret
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }

    fn fill_profile(&self, hashes: &[[u8; 32]]) -> Result<FillCount> {
        let hashes = hashes.to_vec();
        self.write(move |conn| buckets::fill_profile(conn, &hashes))
    }

    fn fill_signup(&self, tokens: &[String]) -> Result<FillCount> {
        let tokens = tokens.to_vec();
        self.write(move |conn| buckets::fill_signup(conn, &tokens))
    }

    fn bucket_sizes(&self) -> Result<BucketSizes> {
        self.read(buckets::sizes)
    }

    fn sign_up(&self, token_hash: &[u8; 32], id: &str, record: &Record) -> Result<String> {
        let (hash, id, record) = (*token_hash, id.to_owned(), record.clone());
        let (due, dirty) = (self.checkpoint_due.clone(), self.wal_dirty.clone());
        self.write(move |conn| {
            let token = profiles::sign_up(conn, &hash, &id, &record)?;
            // A sign-up's WAL frames include the bucket page before the
            // draw, i.e. the token handed out; `secure_delete` only cleans
            // the main file, so the WAL must be emptied (SPEC §5). Set in
            // the writer turn, so that a checkpoint cannot clear it first.
            due.store(true, Ordering::Relaxed);
            lock(&dirty).since.get_or_insert_with(Instant::now);
            Ok(token)
        })
    }

    fn profile(&self, id: &str) -> Result<Option<Record>> {
        self.read(|conn| profiles::get(conn, id))
    }

    /// On this thread's own reader, like [`Store::session_now`].
    fn profile_now(&self, id: &str) -> Option<Result<Option<Record>>> {
        self.read_now(|conn| profiles::get(conn, id))
    }

    fn import_profiles(&self, records: &[(usize, String, Record)]) -> Result<ImportCount> {
        let records = records.to_vec();
        self.write(move |conn| profiles::import(conn, &records))
    }

    fn list_profiles(&self) -> Result<Vec<ProfileEntry>> {
        self.read(|conn| profiles::list(conn))
    }

    fn delete_profile(&self, id: &str, lockout_key: &[u8; 32]) -> Result<Option<usize>> {
        let (id, key) = (id.to_owned(), *lockout_key);
        self.write(move |tx| {
            let ended = sessions::delete_for_profile(tx, &id)?;
            if !profiles::delete(tx, &id)? {
                return Ok(None);
            }
            lockouts::put(tx, &key, &Counter::default())?;
            Ok(Some(ended))
        })
    }

    fn set_password(
        &self,
        id: &str,
        record: &Record,
        keep: &[u8; 32],
        lockout_key: &[u8; 32],
    ) -> Result<bool> {
        let (id, record, keep, key) = (id.to_owned(), record.clone(), *keep, *lockout_key);
        self.write(move |tx| {
            if !profiles::set_record(tx, &id, &record)? {
                return Ok(false);
            }
            sessions::delete_others(tx, &id, &keep)?;
            lockouts::put(tx, &key, &Counter::default())?;
            Ok(true)
        })
    }

    fn put_reset_token(&self, id: &str, hash: &[u8; 32], expires_ms: i64) -> Result<bool> {
        let (id, hash) = (id.to_owned(), *hash);
        self.write(move |tx| {
            if profiles::get(tx, &id)?.is_none() {
                return Ok(false);
            }
            resets::put(tx, &id, &hash, expires_ms)?;
            Ok(true)
        })
    }

    fn reset_password(
        &self,
        id: &str,
        hash: &[u8; 32],
        now_ms: i64,
        record: &Record,
        lockout_key: &[u8; 32],
    ) -> Result<bool> {
        let (id, hash, record, key) = (id.to_owned(), *hash, record.clone(), *lockout_key);
        self.write(move |tx| {
            // The token exists only while its profile does (foreign key),
            // so a taken token always has a profile to set.
            if !resets::take(tx, &id, &hash, now_ms)? || !profiles::set_record(tx, &id, &record)? {
                return Ok(false);
            }
            sessions::delete_for_profile(tx, &id)?;
            lockouts::put(tx, &key, &Counter::default())?;
            Ok(true)
        })
    }

    fn create_session(
        &self,
        token_hash: &[u8; 32],
        session: &Session,
        max: u32,
        verifier: &str,
    ) -> Result<bool> {
        let (hash, session, verifier) = (*token_hash, session.clone(), verifier.to_owned());
        self.write(move |tx| sessions::create(tx, &hash, &session, max, &verifier))
    }

    fn live_sessions_of(&self, profile_id: &str, now_ms: i64) -> Result<Vec<([u8; 32], Session)>> {
        self.read(|conn| sessions::live_of(conn, profile_id, now_ms))
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.read(|conn| sessions::get(conn, token_hash))
    }

    /// On a connection of this thread's own that never waits: a WAL
    /// reader is not blocked by the writer, and the rare moment a
    /// checkpoint holds the WAL index (SQLITE_BUSY at once) falls back to
    /// the blocking path.
    fn commits(&self) -> u64 {
        self.writer.commits()
    }

    fn session_now(&self, token_hash: &[u8; 32]) -> Option<Result<Option<Session>>> {
        self.read_now(|conn| sessions::get(conn, token_hash))
    }

    fn end_session(
        &self,
        token_hash: &[u8; 32],
        profile_id: &str,
        expiry: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let (hash, id, expiry) = (*token_hash, profile_id.to_owned(), expiry.to_owned());
        self.write(move |tx| sessions::delete_live(tx, &hash, &id, &expiry, now_ms))
    }

    fn end_sessions_of(&self, profile_id: &str) -> Result<usize> {
        let id = profile_id.to_owned();
        self.write(move |tx| sessions::delete_for_profile(tx, &id))
    }

    fn purge_expired_sessions(&self, now_ms: i64) -> Result<usize> {
        self.write(move |tx| sessions::purge_expired(tx, now_ms))
    }

    fn live_sessions(&self, now_ms: i64) -> Result<i64> {
        self.read(|conn| sessions::count_live(conn, now_ms))
    }

    fn lockout(&self, key: &[u8; 32]) -> Result<Option<Counter>> {
        self.read(|conn| lockouts::get(conn, key))
    }

    /// On this thread's own reader, like [`Store::session_now`].
    fn lockout_now(&self, key: &[u8; 32]) -> Option<Result<Option<Counter>>> {
        self.read_now(|conn| lockouts::get(conn, key))
    }

    fn save_lockout(&self, key: &[u8; 32], counter: &Counter) -> Result<()> {
        let (key, counter) = (*key, *counter);
        self.write(move |tx| lockouts::put(tx, &key, &counter))
    }

    fn purge_lockouts(&self, now_ms: i64, idle_before_ms: i64) -> Result<usize> {
        self.write(move |tx| lockouts::purge(tx, now_ms, idle_before_ms))
    }

    fn export(&self) -> Result<Dump> {
        self.read(dump::export)
    }

    fn import_dump(&self, dump: &Dump) -> Result<()> {
        // A one-off admin load in a transaction of its own, in the writer
        // turn (outside group commit: the dump is borrowed).
        self.exclusive(|conn| dump::import(conn, dump))?;
        // The imported signup tokens' slots are dense from 0; nothing was
        // handed out, so the WAL holds no link to empty.
        Ok(())
    }

    /// The file answers a read, is still the file opened, and takes a
    /// write (the last two at most once a second).
    fn ping(&self) -> Result<()> {
        self.read(|conn| maintenance::ping(conn))?;
        self.check_file()?;
        self.write_probe()
    }

    /// Runs the WAL checkpoint a sign-up asked for, and again on the next
    /// call until the WAL is empty. A reader holding an old snapshot (an
    /// operator's sqlite3 shell, a backup) blocks it; past a few seconds
    /// that is logged, since the WAL then still holds handed-out tokens.
    fn maintain(&self) -> Result<()> {
        if !self.checkpoint_due.load(Ordering::Relaxed) {
            return Ok(());
        }
        let outcome = self.checkpoint_after_sign_up();
        let emptied = matches!(outcome, Ok(true));
        if !emptied {
            self.checkpoint_due.store(true, Ordering::Relaxed);
        }
        let mut dirty = lock(&self.wal_dirty);
        let waited = dirty.since.map(|t| t.elapsed()).unwrap_or_default();
        if emptied {
            if dirty.warned.is_some() {
                tracing::warn!(
                    waited_s = waited.as_secs(),
                    "the WAL is empty again: the handed-out signup tokens are gone from disk"
                );
            }
            if !self.checkpoint_due.load(Ordering::Relaxed) {
                *dirty = WalDirty::default();
            }
        } else if waited >= CHECKPOINT_WARN_AFTER
            && dirty
                .warned
                .is_none_or(|w| w.elapsed() >= CHECKPOINT_WARN_EVERY)
        {
            dirty.warned = Some(Instant::now());
            tracing::warn!(
                waited_s = waited.as_secs(),
                db = %self.path.display(),
                "the WAL still holds handed-out signup tokens: a reader (an open read transaction, \
                 e.g. a sqlite3 shell or a backup) blocks the checkpoint; it is retried until it succeeds"
            );
        }
        outcome.map(|_| ())
    }

    /// Moves the WAL into the main file and truncates it (waiting for
    /// readers up to the usual busy timeout: the process is leaving).
    fn close(&self) -> Result<()> {
        if !self.exclusive(truncate_wal)? {
            tracing::warn!(
                db = %self.path.display(),
                "a reader kept the WAL from being emptied at shutdown"
            );
        }
        Ok(())
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copies what it can without waiting;
/// true when every frame of the WAL is in the database file.
fn passive_checkpoint(conn: &mut Connection) -> Result<bool> {
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy == 0 && log == done)
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the main file and
/// truncates it to zero bytes. True when it did (its result row is
/// `busy = 0` and every frame checkpointed); SQLite reports a checkpoint
/// that readers blocked in that row, not as an error.
fn truncate_wal(conn: &mut Connection) -> Result<bool> {
    let (busy, log, done): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    Ok(busy == 0 && log == done)
}

/// Checks the file is a zkppd database of a version this binary knows,
/// applies the schema to an empty file, and returns the install secret.
fn prepare(conn: &mut Connection) -> Result<InstallSecret, String> {
    init_connection(conn).map_err(|e| format!("not a zkppd database ({e})"))?;
    // Reading the header fails here on a file that is not SQLite at all.
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| format!("not a zkppd database ({e})"))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))
        .map_err(|e| format!("not a zkppd database ({e})"))?;

    if tables == 0 && app_id == 0 && version == 0 {
        let journal: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(format!("cannot switch to WAL mode (got {journal})"));
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| format!("OS random source: {e}"))?;
        let tx = conn.transaction().map_err(|e| e.to_string())?;
        tx.execute_batch(SCHEMA).map_err(|e| e.to_string())?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('install_secret', ?1)",
            [&secret[..]],
        )
        .map_err(|e| e.to_string())?;
        tx.execute_batch(&format!(
            "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
        ))
        .map_err(|e| e.to_string())?;
        tx.commit().map_err(|e| e.to_string())?;
        secret.iter_mut().for_each(|b| *b = 0);
    } else if app_id != APPLICATION_ID {
        return Err("not a zkppd database (it holds other data)".into());
    } else if version > SCHEMA_VERSION {
        return Err(format!(
            "schema version {version} is newer than this binary's ({SCHEMA_VERSION}); upgrade zkppd"
        ));
    } else if version < 1 {
        return Err(format!("unknown schema version {version}"));
    } else {
        let journal: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(format!("cannot switch to WAL mode (got {journal})"));
        }
        // Each step in its own transaction, so a crash leaves a version
        // the next start migrates on from.
        let steps: [(i64, &str); 3] = [
            (1, lockouts::MIGRATE_FROM_1),
            (2, resets::MIGRATE_TO_3),
            (3, profiles::MIGRATE_TO_4),
        ];
        for (from, sql) in steps {
            if version <= from {
                let tx = conn.transaction().map_err(|e| e.to_string())?;
                tx.execute_batch(sql)
                    .and_then(|()| {
                        tx.execute_batch(&format!("PRAGMA user_version = {};", from + 1))
                    })
                    .and_then(|()| tx.commit())
                    .map_err(|e| format!("cannot migrate schema {from} to {}: {e}", from + 1))?;
            }
        }
    }

    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| format!("quick_check failed: {e}"))?;
    if check != "ok" {
        return Err(format!("database is damaged (quick_check: {check})"));
    }

    let secret: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'install_secret'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    match secret.and_then(|s| <[u8; 32]>::try_from(s.as_slice()).ok()) {
        Some(bytes) => Ok(InstallSecret(bytes)),
        None => Err("install secret missing: not a zkppd database".into()),
    }
}

/// A store in a temp dir with profiles "a" (verifier "va") and "b" ("vb"),
/// for the table modules' tests.
#[cfg(test)]
pub(crate) fn with_profiles_a_and_b() -> SqliteStore {
    let s = SqliteStore::open(None).unwrap();
    s.connection()
        .unwrap()
        .execute_batch(
            "INSERT INTO profiles (id, verifier, salt) VALUES ('a', 'va', 's'), ('b', 'vb', 's')",
        )
        .unwrap();
    s
}
