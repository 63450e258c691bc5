//! The embedded SQLite store: opening the file (PRAGMAs, schema, version
//! checks), the connection pool, this process's writer turn, the WAL
//! housekeeping, and the [`Store`] calls. The SQL itself lives in one file
//! per group of tables; the admin-only operations (backup, check) are
//! methods of [`SqliteStore`] outside the trait.

mod buckets;
mod lockouts;
mod maintenance;
mod profiles;
mod resets;
mod sessions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::{BucketSizes, FillCount, ImportCount, InstallSecret, Record, Session, Store};
use crate::lockout::Counter;
use crate::{Error, Result};

/// The schema this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 3;
/// `PRAGMA application_id` of a zkppd file ("zkpp").
pub const APPLICATION_ID: i64 = 0x7a6b_7070;
const SCHEMA: &str = include_str!("../../../../../schema.sql");
/// How long a statement waits for another writer before giving up with 503.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every statement of a signup-token draw, so that a test can check each
/// one's query plan is a primary-key search (O(log n)), never a scan.
pub const DRAW_QUERIES: [&str; 4] = buckets::DRAW_QUERIES;

type Pool = r2d2::Pool<SqliteConnectionManager>;

/// The SQLite store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Pool,
    path: PathBuf,
    secret: Arc<InstallSecret>,
    /// Serialises this process's writers: SQLite allows one writer at a
    /// time, and waiting here in FIFO-ish order is far smoother than
    /// SQLite's busy handler sleeping with backoff (which measured
    /// multi-second stalls under concurrent sign-ups). Other processes
    /// (admin commands) still meet `busy_timeout`.
    writer: Arc<std::sync::Mutex<()>>,
    /// Set after a sign-up: the WAL still holds the page images of the
    /// handed-out token until a truncating checkpoint (see `maintain`).
    checkpoint_due: Arc<AtomicBool>,
    // Dropped after the pool (field order) so the directory goes last.
    _temp: Option<Arc<tempfile::TempDir>>,
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
         PRAGMA journal_size_limit = 0;",
    )
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path`, or a throw-away
    /// one in a temp dir when `path` is None. Errors name the cause.
    pub fn open(path: Option<&Path>) -> std::result::Result<SqliteStore, String> {
        let (path, temp) = match path {
            Some(p) => (p.to_path_buf(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("zkppd-")
                    .tempdir()
                    .map_err(|e| format!("cannot create a temp dir: {e}"))?;
                (dir.path().join("zkppd.db"), Some(Arc::new(dir)))
            }
        };
        let mut conn = Connection::open(&path)
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        let secret = prepare(&mut conn).map_err(|e| format!("database {}: {e}", path.display()))?;
        drop(conn);

        let manager = SqliteConnectionManager::file(&path).with_init(init_connection);
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            // r2d2 would otherwise run (and re-parse) a query on every
            // checkout: a measurable share of a /v1/verify.
            .test_on_check_out(false)
            .connection_timeout(BUSY_TIMEOUT)
            .build(manager)
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        Ok(SqliteStore {
            pool,
            path,
            secret: Arc::new(secret),
            writer: Arc::new(std::sync::Mutex::new(())),
            checkpoint_due: Arc::new(AtomicBool::new(false)),
            _temp: temp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pooled connection, for admin tools and tests that need SQLite
    /// itself (the services never do).
    pub fn connection(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` with a pooled connection.
    fn read<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        f(&mut *self.pool.get()?)
    }

    /// Runs `f` in this process's writer turn. The turn is taken before a
    /// pooled connection, so waiting writers never hold connections that
    /// readers need.
    fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let _turn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut *self.pool.get()?)
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
        self.write(|conn| buckets::fill_profile(conn, hashes))
    }

    fn fill_signup(&self, tokens: &[String]) -> Result<FillCount> {
        self.write(|conn| buckets::fill_signup(conn, tokens))
    }

    fn bucket_sizes(&self) -> Result<BucketSizes> {
        self.read(buckets::sizes)
    }

    fn sign_up(&self, token_hash: &[u8; 32], id: &str, record: &Record) -> Result<String> {
        let token = self.write(|conn| profiles::sign_up(conn, token_hash, id, record))?;
        // A sign-up's WAL frames include the bucket page before the draw,
        // i.e. the token handed out; `secure_delete` only cleans the main
        // file, so the WAL must be emptied (SPEC §5).
        self.checkpoint_due.store(true, Ordering::Relaxed);
        Ok(token)
    }

    fn profile(&self, id: &str) -> Result<Option<Record>> {
        self.read(|conn| profiles::get(conn, id))
    }

    fn import_profiles(&self, records: &[(usize, String, Record)]) -> Result<ImportCount> {
        self.write(|conn| profiles::import(conn, records))
    }

    fn delete_profile(&self, id: &str, lockout_key: &[u8; 32]) -> Result<Option<usize>> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ended = sessions::delete_for_profile(&tx, id)?;
            if !profiles::delete(&tx, id)? {
                return Ok(None);
            }
            lockouts::put(&tx, lockout_key, &Counter::default())?;
            tx.commit()?;
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
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !profiles::set_record(&tx, id, record)? {
                return Ok(false);
            }
            sessions::delete_others(&tx, id, keep)?;
            lockouts::put(&tx, lockout_key, &Counter::default())?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn put_reset_token(&self, id: &str, hash: &[u8; 32], expires_ms: i64) -> Result<bool> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if profiles::get(&tx, id)?.is_none() {
                return Ok(false);
            }
            resets::put(&tx, id, hash, expires_ms)?;
            tx.commit()?;
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
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !resets::take(&tx, id, hash, now_ms)? || !profiles::set_record(&tx, id, record)? {
                return Ok(false);
            }
            sessions::delete_for_profile(&tx, id)?;
            lockouts::put(&tx, lockout_key, &Counter::default())?;
            tx.commit()?;
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
        self.write(|conn| sessions::create(conn, token_hash, session, max, verifier))
    }

    fn live_sessions_of(&self, profile_id: &str, now_ms: i64) -> Result<Vec<([u8; 32], Session)>> {
        self.read(|conn| sessions::live_of(conn, profile_id, now_ms))
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.read(|conn| sessions::get(conn, token_hash))
    }

    fn end_session(
        &self,
        token_hash: &[u8; 32],
        profile_id: &str,
        expiry: &str,
        now_ms: i64,
    ) -> Result<bool> {
        self.write(|conn| sessions::delete_live(conn, token_hash, profile_id, expiry, now_ms))
    }

    fn end_sessions_of(&self, profile_id: &str) -> Result<usize> {
        self.write(|conn| sessions::delete_for_profile(conn, profile_id))
    }

    fn purge_expired_sessions(&self, now_ms: i64) -> Result<usize> {
        self.write(|conn| sessions::purge_expired(conn, now_ms))
    }

    fn live_sessions(&self, now_ms: i64) -> Result<i64> {
        self.read(|conn| sessions::count_live(conn, now_ms))
    }

    fn lockout(&self, key: &[u8; 32]) -> Result<Option<Counter>> {
        self.read(|conn| lockouts::get(conn, key))
    }

    fn save_lockout(&self, key: &[u8; 32], counter: &Counter) -> Result<()> {
        self.write(|conn| lockouts::put(conn, key, counter))
    }

    fn purge_lockouts(&self, now_ms: i64, idle_before_ms: i64) -> Result<usize> {
        self.write(|conn| lockouts::purge(conn, now_ms, idle_before_ms))
    }

    fn ping(&self) -> Result<()> {
        self.read(|conn| maintenance::ping(conn))
    }

    /// Runs the WAL checkpoint a sign-up asked for, in the writer turn.
    fn maintain(&self) -> Result<()> {
        if !self.checkpoint_due.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.write(|conn| truncate_wal(conn));
        if result.is_err() {
            self.checkpoint_due.store(true, Ordering::Relaxed);
        }
        result
    }

    /// Moves the WAL into the main file and truncates it.
    fn close(&self) -> Result<()> {
        self.write(|conn| truncate_wal(conn))
    }
}

/// Copies the WAL into the main file and truncates it to zero bytes.
fn truncate_wal(conn: &Connection) -> Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
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
        let steps: [(i64, &str); 2] = [(1, lockouts::MIGRATE_FROM_1), (2, resets::MIGRATE_TO_3)];
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
