//! zkppd, the server: hyper listeners, the one route table, the small
//! wrappers every request passes (request id, client address, CORS, rate
//! limit, access log), the handlers that turn wire messages into calls of
//! the domain core and back, the one map from core errors to statuses, and
//! the metrics registry. The domain itself is `zkppd-core`; the wire
//! messages are `zkppd-proto`.
//!
//! Data flows one way: `server` (accept, shutdown) → `routes` → `handlers`
//! → `zkppd_core::Service` → its store.

pub mod config;
mod conn;
mod cookie;
mod cors;
mod error;
mod handlers;
mod http;
mod metrics;
pub mod net;
mod process_metrics;
mod ratelimit;
mod routes;
mod server;

use std::sync::{Arc, RwLock};

pub use metrics::serve as serve_metrics;
pub use server::serve;
use zkppd_core::store::sqlite::ServeLock;
use zkppd_core::store::{PostgresStore, SqliteStore, Store};

use config::{AdminToken, DbLocation, Settings};

/// Everything a request needs; cloned into every connection.
#[derive(Clone)]
pub struct AppState {
    /// The domain: every operation the routes call.
    pub core: Arc<zkppd_core::Service>,
    pub settings: Arc<Settings>,
    metrics: Arc<metrics::Metrics>,
    /// The opt-in per-client limit of the unauthenticated routes.
    rate_limit: Option<Arc<ratelimit::RateLimit>>,
    /// This process serves the database file alone (see `ServeLock`).
    _serve_lock: Option<Arc<ServeLock>>,
    /// The admin bearer token, swapped by SIGHUP (`reload_admin_token`);
    /// taken out of `settings`, so that there is still one copy.
    admin_token: Arc<RwLock<Option<Arc<AdminToken>>>>,
}

impl AppState {
    /// Takes the database's serving lock (a second server on one file is
    /// refused), opens the database the settings name and builds the
    /// shared state.
    pub fn open(settings: Settings) -> Result<AppState, String> {
        let (store, lock) = match &settings.db {
            DbLocation::File(path) => {
                let lock = ServeLock::acquire(path)?;
                (SqliteStore::open(Some(path))?, Some(Arc::new(lock)))
            }
            DbLocation::Temp => (SqliteStore::open(None)?, None),
            // Any number of instances share a PostgreSQL database: no
            // serving lock, the shared state lives in the database.
            DbLocation::Postgres(pg) => {
                let store = PostgresStore::open(&pg.url, pg.password.as_deref())?;
                let mut state = AppState::with_store(settings, Arc::new(store));
                state._serve_lock = None;
                return Ok(state);
            }
        };
        if settings.handshake_key.is_some() {
            tracing::warn!(
                "--handshake-key-file is only used with a postgres:// --db: on SQLite pending handshakes stay in memory"
            );
        }
        let mut state = AppState::with_store(settings, Arc::new(store));
        state._serve_lock = lock;
        Ok(state)
    }

    /// The shared state over a store opened by the caller.
    pub fn with_store(mut settings: Settings, store: Arc<dyn Store>) -> AppState {
        let admin_token = settings.admin_token.take().map(Arc::new);
        let mut core = zkppd_core::Service::new(store, settings.limits());
        if let Some(key) = &settings.handshake_key {
            core = core.with_handshake_key(key);
        }
        AppState {
            core: Arc::new(core),
            metrics: Arc::new(metrics::Metrics::new()),
            rate_limit: settings
                .rate_limit
                .map(|r| Arc::new(ratelimit::RateLimit::new(r))),
            settings: Arc::new(settings),
            _serve_lock: None,
            admin_token: Arc::new(RwLock::new(admin_token)),
        }
    }

    /// The admin token in force now.
    pub(crate) fn admin_token(&self) -> Option<Arc<AdminToken>> {
        self.admin_token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads `--admin-token-file` again and puts its token in force (the
    /// requests already past `authorize` are not affected). A file that
    /// cannot be read or holds no valid token leaves the old token in
    /// force; the error names the cause. Ok(false): there is no file.
    pub fn reload_admin_token(&self) -> Result<bool, String> {
        let Some(path) = &self.settings.admin_token_file else {
            return Ok(false);
        };
        let token = config::read_admin_token(path)?;
        *self.admin_token.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(token));
        Ok(true)
    }
}
