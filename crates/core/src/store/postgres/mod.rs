//! The PostgreSQL store, for several zkppd instances over one database:
//! parsing and describing the URL (never with its password), the pool of
//! blocking connections with a statement cache each, the schema (applied
//! and versioned at start-up under an advisory lock, another application's
//! schema or a newer one refused), the post-sign-up `VACUUM FULL` of the
//! signup bucket, and the [`Store`] calls. The SQL lives in one file per
//! group of tables, as in the SQLite store.
//!
//! Why the blocking `postgres` crate and not an async client: the core's
//! store calls block by design (they run on tokio's blocking pool or on the
//! crypto pool right after a proof check, see ARCHITECTURE.md), exactly as
//! SQLite's do; an async client would be driven from those threads through
//! `block_on` anyway. `postgres` is tokio-postgres with that done for us.
//!
//! Everything instances must agree on lives here: the install secret (one
//! row, created once), pending handshakes (`handshakes`, without b), the
//! lockout counters (checked and counted in one statement).

mod buckets;
pub use buckets::DRAW_QUERIES;
mod dump;
mod lockouts;
mod profiles;
mod sessions;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::config::Host;
use postgres::error::SqlState;
use postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{
    BucketSizes, Dump, FillCount, Guess, ImportCount, InstallSecret, PendingHandshake,
    ProfileEntry, Record, Session, Store,
};
use crate::lockout::Counter;
use crate::{Error, Result};

/// The schema this binary writes and understands.
pub const SCHEMA_VERSION: i64 = 1;
/// `zkppd_meta.application` of a zkppd database.
const APPLICATION: &[u8] = b"zkppd";
const SCHEMA: &str = include_str!("schema.sql");
/// Advisory-lock keys ("zkpp" and a number): the schema set-up, and the
/// signup bucket (every draw and fill; see `buckets`).
const SETUP_LOCK: i64 = 0x7a6b_7070_0001;
pub(crate) const SIGNUP_LOCK: i64 = 0x7a6b_7070_0002;
/// How long a request waits for a pooled connection (PostgreSQL down or
/// every connection busy) before it is answered 503.
const POOL_WAIT: Duration = Duration::from_secs(3);
/// Connect timeout when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the post-sign-up `VACUUM FULL` waits for its lock; a busy
/// bucket is vacuumed on a later tick rather than queueing sign-ups
/// behind the waiting lock.
const VACUUM_LOCK_WAIT: &str = "200ms";
/// At most one vacuum of the signup bucket per instance this often.
const VACUUM_EVERY: Duration = Duration::from_secs(1);

/// One pooled connection and its prepared statements.
pub(crate) struct PgConn {
    client: Client,
    cache: HashMap<&'static str, Statement>,
}

impl PgConn {
    /// The prepared statement of `sql` on this connection (prepared once).
    fn stmt(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql)?;
        self.cache.insert(sql, s.clone());
        Ok(s)
    }

    /// A read-only transaction on one snapshot (counts and copies that
    /// must agree with each other).
    fn snapshot(&mut self) -> Result<postgres::Transaction<'_>> {
        Ok(self
            .client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?)
    }

    /// Statements for a transaction, prepared before it starts.
    fn stmts<const N: usize>(&mut self, sql: [&'static str; N]) -> Result<[Statement; N]> {
        let mut out = Vec::with_capacity(N);
        for s in sql {
            out.push(self.stmt(s)?);
        }
        out.try_into()
            .map_err(|_| Error::Internal("statement count".into()))
    }
}

struct Manager {
    config: postgres::Config,
    tls: MakeRustlsConnect,
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<PgConn, postgres::Error> {
        Ok(PgConn {
            client: self.config.connect(self.tls.clone())?,
            cache: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> std::result::Result<(), postgres::Error> {
        conn.client.simple_query("").map(drop)
    }

    /// A connection the server closed (a restart, a failover) is dropped
    /// when given back, so the pool reconnects by itself.
    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.client.is_closed()
    }
}

/// The pool, closed off any async runtime. A `postgres::Client` closes
/// itself with a `block_on` of its own, which panics on a tokio worker
/// thread — and in a destructor that aborts the process: after SIGTERM the
/// server's last reference to the store goes with the runtime's tasks, on
/// a worker, and zkppd on PostgreSQL exited with SIGABRT instead of 0.
struct Pool(Option<r2d2::Pool<Manager>>);

impl std::ops::Deref for Pool {
    type Target = r2d2::Pool<Manager>;

    fn deref(&self) -> &Self::Target {
        // Only `drop` takes it out.
        self.0
            .as_ref()
            .expect("the pool lives as long as the store")
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        let Some(pool) = self.0.take() else { return };
        // A plain thread belongs to no runtime; joined, so that the
        // connections are closed when the store is gone.
        let closer = std::thread::Builder::new()
            .name("postgres-close".into())
            .spawn(move || drop(pool));
        if let Ok(closer) = closer {
            let _ = closer.join();
        }
    }
}

/// The PostgreSQL store: cheap to clone, shared by every request.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Arc<Pool>,
    secret: Arc<InstallSecret>,
    described: Arc<str>,
    /// Set after a sign-up: the drawn token's dead row is still in the
    /// table's files until a `VACUUM FULL` (see `maintain`).
    vacuum_due: Arc<AtomicBool>,
    last_vacuum: Arc<Mutex<Option<Instant>>>,
}

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `postgres://user@host:port/db`: the URL without its password or
/// options, for logs.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .zip(config.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(h, p)| match h {
            Host::Tcp(name) => format!("{name}:{p}"),
            Host::Unix(dir) => format!("{}:{p}", dir.display()),
        })
        .collect();
    format!(
        "postgres://{}@{}/{}",
        config.get_user().unwrap_or(""),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl PostgresStore {
    /// Connects to the database at `url` (a `postgres://` URL; `password`
    /// wins over one in it), checks it is a zkppd database of a version
    /// this binary knows or an empty one (then creates the schema), and
    /// reads the install secret. Errors name the cause, never the password.
    pub fn open(url: &str, password: Option<&str>) -> std::result::Result<PostgresStore, String> {
        let mut config =
            postgres::Config::from_str(url).map_err(|e| format!("invalid PostgreSQL URL: {e}"))?;
        if let Some(p) = password {
            config.password(p);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("zkppd");
        }
        let described = describe(&config);
        let tls = tls_connector().map_err(|e| format!("cannot set up TLS for {described}: {e}"))?;

        // One connection first, for a start-up error that names the cause
        // (the pool would only say it timed out).
        let mut first = config
            .connect(tls.clone())
            .map_err(|e| format!("cannot connect to {described}: {}", cause(&e)))?;
        let secret = prepare(&mut first).map_err(|e| format!("database {described}: {e}"))?;
        drop(first);

        let pool = r2d2::Pool::builder()
            .max_size(16)
            .min_idle(Some(1))
            .test_on_check_out(false)
            .connection_timeout(POOL_WAIT)
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Manager { config, tls })
            .map_err(|e| format!("cannot connect to {described}: {e}"))?;
        Ok(PostgresStore {
            pool: Arc::new(Pool(Some(pool))),
            secret: Arc::new(secret),
            described: described.into(),
            vacuum_due: Arc::new(AtomicBool::new(false)),
            last_vacuum: Arc::new(Mutex::new(None)),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut PgConn) -> Result<T>) -> Result<T> {
        f(&mut *self.pool.get()?)
    }

    /// `VACUUM FULL signup_tokens`: rewrites the table and its indexes into
    /// new files, so the drawn tokens' dead rows are gone from the
    /// database's files (plain VACUUM only marks their space free). True
    /// when it ran; false when its lock was not to be had quickly.
    fn vacuum_signup(&self) -> Result<bool> {
        self.with(|c| {
            c.client
                .batch_execute(&format!("SET lock_timeout = '{VACUUM_LOCK_WAIT}'"))?;
            let result = c.client.batch_execute("VACUUM FULL signup_tokens");
            c.client.batch_execute("RESET lock_timeout")?;
            match result {
                Ok(()) => Ok(true),
                Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
    }

    /// Whether a vacuum of the signup bucket is still due (for tests).
    pub fn vacuum_due(&self) -> bool {
        self.vacuum_due.load(Ordering::Relaxed)
    }

    /// The schema version and counts, for `zkppd check`.
    pub fn check(&self, now_ms: i64) -> Result<(i64, i64, i64)> {
        self.with(|c| {
            let version = meta_version(&mut c.client)?.unwrap_or(0);
            let profiles: i64 = c
                .client
                .query_one("SELECT count(*) FROM profiles", &[])?
                .get(0);
            let live = sessions::count_live(c, now_ms)?;
            Ok((version, profiles, live))
        })
    }
}

/// TLS for `sslmode=prefer|require`: rustls (linked in, so the FROM-scratch
/// image needs no TLS library) trusting the system's CA store, which
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` can point elsewhere (a private CA).
/// The server's certificate and name are always verified.
fn tls_connector() -> std::result::Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    // A store that cannot be read is not fatal: a database without TLS
    // needs none, and one with TLS then fails to connect, saying why.
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        tracing::debug!(
            errors = found.errors.len(),
            "no CA certificates found for PostgreSQL TLS"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The cause of a connection failure, without the URL.
fn cause(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

fn meta_version(client: &mut Client) -> Result<Option<i64>> {
    let row = client.query_opt(
        "SELECT value FROM zkppd_meta WHERE key = 'schema_version'",
        &[],
    )?;
    Ok(row.and_then(|r| {
        let v: Vec<u8> = r.get(0);
        std::str::from_utf8(&v).ok()?.parse().ok()
    }))
}

/// Checks the database (its current schema) holds zkppd's tables of a
/// version this binary knows, or nothing (then creates them, once, under
/// an advisory lock), and returns the install secret.
fn prepare(client: &mut Client) -> std::result::Result<InstallSecret, String> {
    let s = |e: postgres::Error| cause(&e);
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .map_err(s)?
        .get(0);
    if !encoding.eq_ignore_ascii_case("UTF8") {
        return Err(format!(
            "server_encoding is {encoding}; zkppd needs a UTF8 database (profile ids are UTF-8)"
        ));
    }
    let mut tx = client.transaction().map_err(s)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
        .map_err(s)?;
    let schema: Option<String> = tx
        .query_one("SELECT current_schema()", &[])
        .map_err(s)?
        .get(0);
    let schema = schema.ok_or("no schema to create tables in (check search_path)")?;
    let ours: bool = tx
        .query_one("SELECT to_regclass('zkppd_meta') IS NOT NULL", &[])
        .map_err(s)?
        .get(0);
    if !ours {
        let tables: i64 = tx
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .map_err(s)?
            .get(0);
        if tables > 0 {
            return Err(format!(
                "not a zkppd database (schema `{schema}` holds {tables} tables of another application)"
            ));
        }
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut secret[..]).map_err(|e| format!("OS random source: {e}"))?;
        tx.batch_execute(SCHEMA).map_err(s)?;
        let version = SCHEMA_VERSION.to_string();
        tx.execute(
            "INSERT INTO zkppd_meta (key, value) VALUES ('application', $1),
             ('schema_version', $2), ('install_secret', $3)",
            &[&APPLICATION, &version.as_bytes(), &&secret[..]],
        )
        .map_err(s)?;
    } else {
        let app: Option<Vec<u8>> = tx
            .query_opt(
                "SELECT value FROM zkppd_meta WHERE key = 'application'",
                &[],
            )
            .map_err(s)?
            .map(|r| r.get(0));
        if app.as_deref() != Some(APPLICATION) {
            return Err("not a zkppd database (its zkppd_meta is another's)".into());
        }
        let version: i64 = tx
            .query_opt(
                "SELECT value FROM zkppd_meta WHERE key = 'schema_version'",
                &[],
            )
            .map_err(s)?
            .and_then(|r| {
                let v: Vec<u8> = r.get(0);
                std::str::from_utf8(&v).ok()?.parse().ok()
            })
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(format!(
                "schema version {version} is newer than this binary's ({SCHEMA_VERSION}); upgrade zkppd"
            ));
        }
        if version < 1 {
            return Err(format!("unknown schema version {version}"));
        }
    }
    let secret: Option<Vec<u8>> = tx
        .query_opt(
            "SELECT value FROM zkppd_meta WHERE key = 'install_secret'",
            &[],
        )
        .map_err(s)?
        .map(|r| r.get(0));
    tx.commit().map_err(s)?;
    match secret.and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok()) {
        Some(bytes) => Ok(InstallSecret(bytes)),
        None => Err("install secret missing: not a zkppd database".into()),
    }
}

impl Store for PostgresStore {
    fn install_secret(&self) -> &InstallSecret {
        &self.secret
    }

    fn describe(&self) -> String {
        self.described.to_string()
    }

    fn fill_profile(&self, hashes: &[[u8; 32]]) -> Result<FillCount> {
        self.with(|c| buckets::fill_profile(c, hashes))
    }

    fn fill_signup(&self, tokens: &[String]) -> Result<FillCount> {
        self.with(|c| buckets::fill_signup(c, tokens))
    }

    fn bucket_sizes(&self) -> Result<BucketSizes> {
        self.with(buckets::sizes)
    }

    fn sign_up(&self, token_hash: &[u8; 32], id: &str, record: &Record) -> Result<String> {
        let token = self.with(|c| profiles::sign_up(c, token_hash, id, record))?;
        self.vacuum_due.store(true, Ordering::Relaxed);
        Ok(token)
    }

    fn profile(&self, id: &str) -> Result<Option<Record>> {
        self.with(|c| profiles::get(c, id))
    }

    fn list_profiles(&self) -> Result<Vec<ProfileEntry>> {
        self.with(profiles::list)
    }

    fn import_profiles(&self, records: &[(usize, String, Record)]) -> Result<ImportCount> {
        self.with(|c| profiles::import(c, records))
    }

    fn delete_profile(&self, id: &str, lockout_key: &[u8; 32]) -> Result<Option<usize>> {
        self.with(|c| profiles::delete(c, id, lockout_key))
    }

    fn set_password(
        &self,
        id: &str,
        record: &Record,
        keep: &[u8; 32],
        lockout_key: &[u8; 32],
    ) -> Result<bool> {
        self.with(|c| profiles::set_password(c, id, record, keep, lockout_key))
    }

    fn put_reset_token(&self, id: &str, hash: &[u8; 32], expires_ms: i64) -> Result<bool> {
        self.with(|c| profiles::put_reset_token(c, id, hash, expires_ms))
    }

    fn reset_password(
        &self,
        id: &str,
        hash: &[u8; 32],
        now_ms: i64,
        record: &Record,
        lockout_key: &[u8; 32],
    ) -> Result<bool> {
        self.with(|c| profiles::reset_password(c, id, hash, now_ms, record, lockout_key))
    }

    fn create_session(
        &self,
        token_hash: &[u8; 32],
        session: &Session,
        max: u32,
        verifier: &str,
    ) -> Result<bool> {
        self.with(|c| sessions::create(c, token_hash, session, max, verifier))
    }

    fn live_sessions_of(&self, profile_id: &str, now_ms: i64) -> Result<Vec<([u8; 32], Session)>> {
        self.with(|c| sessions::live_of(c, profile_id, now_ms))
    }

    fn session(&self, token_hash: &[u8; 32]) -> Result<Option<Session>> {
        self.with(|c| sessions::get(c, token_hash))
    }

    fn end_session(
        &self,
        token_hash: &[u8; 32],
        profile_id: &str,
        expiry: &str,
        now_ms: i64,
    ) -> Result<bool> {
        self.with(|c| sessions::delete_live(c, token_hash, profile_id, expiry, now_ms))
    }

    fn end_sessions_of(&self, profile_id: &str) -> Result<usize> {
        self.with(|c| sessions::delete_for_profile(c, profile_id))
    }

    fn purge_expired_sessions(&self, before_ms: i64) -> Result<usize> {
        self.with(|c| sessions::purge_expired(c, before_ms))
    }

    fn live_sessions(&self, now_ms: i64) -> Result<i64> {
        self.with(|c| sessions::count_live(c, now_ms))
    }

    fn lockout(&self, key: &[u8; 32]) -> Result<Option<Counter>> {
        self.with(|c| lockouts::get(c, key))
    }

    fn save_lockout(&self, key: &[u8; 32], counter: &Counter) -> Result<()> {
        self.with(|c| lockouts::put(c, key, counter))
    }

    fn purge_lockouts(&self, now_ms: i64, idle_before_ms: i64) -> Result<usize> {
        self.with(|c| lockouts::purge(c, now_ms, idle_before_ms))
    }

    fn shares_state(&self) -> bool {
        true
    }

    fn put_handshake(&self, key: &[u8; 32], pending: &PendingHandshake) -> Result<()> {
        self.with(|c| lockouts::put_handshake(c, key, pending))
    }

    fn take_handshake(&self, key: &[u8; 32], now_ms: i64) -> Result<Option<PendingHandshake>> {
        self.with(|c| lockouts::take_handshake(c, key, now_ms))
    }

    fn purge_handshakes(&self, now_ms: i64) -> Result<usize> {
        self.with(|c| lockouts::purge_handshakes(c, now_ms))
    }

    fn count_guess(&self, key: &[u8; 32], now_ms: i64) -> Result<Guess> {
        self.with(|c| lockouts::count_guess(c, key, now_ms))
    }

    fn export(&self) -> Result<Dump> {
        self.with(dump::export)
    }

    fn import_dump(&self, dump: &Dump) -> Result<()> {
        self.with(|c| dump::import(c, dump))
    }

    /// A query answers, and not from a read-only standby (a failover that
    /// left this URL on the old primary's replica).
    fn ping(&self) -> Result<()> {
        self.with(|c| {
            let stmt = c.stmt("SELECT pg_is_in_recovery()")?;
            let standby: bool = c.client.query_one(&stmt, &[])?.get(0);
            if standby {
                return Err(Error::Unavailable(
                    "the database is a read-only standby".into(),
                ));
            }
            Ok(())
        })
    }

    /// After sign-ups, at most once a second: `VACUUM FULL` of the signup
    /// bucket (see [`PostgresStore::vacuum_signup`]), retried until it runs.
    fn maintain(&self) -> Result<()> {
        if !self.vacuum_due.load(Ordering::Relaxed) {
            return Ok(());
        }
        {
            let mut last = lock(&self.last_vacuum);
            if last.is_some_and(|t| t.elapsed() < VACUUM_EVERY) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        // Cleared first: a sign-up committing during the vacuum sets it
        // again, and is vacuumed next time.
        self.vacuum_due.store(false, Ordering::Relaxed);
        match self.vacuum_signup() {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.vacuum_due.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.vacuum_due.store(true, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn close(&self) -> Result<()> {
        if self.vacuum_due.load(Ordering::Relaxed) {
            self.vacuum_signup()?;
        }
        Ok(())
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        match e.code() {
            // No SQLSTATE: the connection broke (PostgreSQL restarting, a
            // network fault) — it clears by itself.
            None => Error::Unavailable(format!("database: {}", cause(&e))),
            Some(code) => {
                let c = code.code();
                let transient = c.starts_with("08") // connection exception
                    || c.starts_with("53") // insufficient resources
                    || c.starts_with("57P") // admin/crash shutdown, cannot connect now
                    || c == "40001" // serialization failure
                    || c == "40P01" // deadlock
                    || c == "55P03" // lock not available
                    || c == "25006" // read-only transaction (a standby)
                    || c == "57014"; // query cancelled
                let text = format!("database: {}", cause(&e));
                if transient {
                    Error::Unavailable(text)
                } else {
                    Error::Internal(text)
                }
            }
        }
    }
}
