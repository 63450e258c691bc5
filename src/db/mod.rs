//! The SQLite file: opening it (PRAGMAs, schema, version checks), the
//! connection pool, and [`Db::run`], which moves every SQL call off the
//! async workers. The SQL itself lives in one file per group of tables.
//! No HTTP and no JSON here.

pub mod buckets;
pub mod maintenance;
pub mod profiles;
pub mod sessions;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OptionalExtension};

use crate::error::Error;

/// The schema this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 1;
/// `PRAGMA application_id` of a zkppd file ("zkpp").
pub const APPLICATION_ID: i64 = 0x7a6b_7070;
const SCHEMA: &str = include_str!("../../schema.sql");
/// How long a statement waits for another writer before giving up with 503.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

/// Handle to the database: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct Db {
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
    /// handed-out token until a truncating checkpoint (see `checkpoint`).
    checkpoint_due: Arc<std::sync::atomic::AtomicBool>,
    // Dropped after the pool (field order) so the directory goes last.
    _temp: Option<Arc<tempfile::TempDir>>,
}

/// The per-install random secret, read once at open.
pub struct InstallSecret(pub [u8; 32]);

impl Drop for InstallSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
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

impl Db {
    /// Opens (creating if missing) the database at `path`, or a throw-away
    /// one in a temp dir when `path` is None. Errors name the cause.
    pub fn open(path: Option<&Path>) -> Result<Db, String> {
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
        Ok(Db {
            pool,
            path,
            secret: Arc::new(secret),
            writer: Arc::new(std::sync::Mutex::new(())),
            checkpoint_due: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            _temp: temp,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn secret(&self) -> &InstallSecret {
        &self.secret
    }

    /// Runs `f` with a pooled connection on the blocking pool; a panic in
    /// `f` is re-raised here so it is not silently swallowed.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        self.blocking(None, f).await
    }

    /// Like [`Db::run`], for work that writes: one writer of this process
    /// at a time. The turn is taken before a pooled connection, so waiting
    /// writers never hold connections that readers need.
    pub async fn write<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        self.blocking(Some(self.writer.clone()), f).await
    }

    async fn blocking<T, F>(
        &self,
        writer: Option<Arc<std::sync::Mutex<()>>>,
        f: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        match tokio::task::spawn_blocking(move || with_conn(&pool, writer.as_deref(), f)).await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Internal(format!("blocking task: {e}"))),
        }
    }

    /// [`Db::write`] for code already on a blocking thread (the crypto
    /// pool's follow-up work), which saves a second thread hand-off.
    pub fn write_here<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        with_conn(&self.pool, Some(&self.writer), f)
    }

    /// A connection for synchronous callers (admin commands, tests).
    pub fn conn(&self) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, Error> {
        Ok(self.pool.get()?)
    }

    /// Asks for a truncating checkpoint soon (the server's background task
    /// runs it within a second, off the response path).
    pub fn want_checkpoint(&self) {
        self.checkpoint_due
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Runs the checkpoint asked for, if any, in this process's writer turn.
    /// A sign-up's WAL frames include the bucket page before the draw, i.e.
    /// the token handed out; `secure_delete` only cleans the main file, so
    /// the WAL must be emptied (SPEC §5: nothing links a token to a profile).
    pub async fn checkpoint_if_due(&self) -> Result<(), Error> {
        if !self
            .checkpoint_due
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Ok(());
        }
        self.write(|conn| truncate_wal(conn)).await
    }

    /// Moves the WAL into the main file and truncates it; called at shutdown.
    pub fn checkpoint(&self) -> Result<(), Error> {
        truncate_wal(&*self.conn()?)
    }
}

/// Copies the WAL into the main file and truncates it to zero bytes.
fn truncate_wal(conn: &Connection) -> Result<(), Error> {
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

/// Takes the writer turn (if asked), then a pooled connection, then runs `f`.
fn with_conn<T>(
    pool: &Pool,
    writer: Option<&std::sync::Mutex<()>>,
    f: impl FnOnce(&mut Connection) -> Result<T, Error>,
) -> Result<T, Error> {
    let _turn = writer.map(|w| w.lock().unwrap_or_else(|p| p.into_inner()));
    let mut conn = pool.get()?;
    f(&mut conn)
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

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
