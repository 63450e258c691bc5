//! zkppd: a self-hosted sign-in server. Profiles sign up with an SRP-6a
//! verifier gated by single-use tokens, sign in with a two-step SRP
//! handshake, and get session credentials other services check.
//!
//! Data flows one way: `server` (accept, shutdown) → `routes` (the one
//! match on method and path) → `handlers` (one fn per route) → the domain
//! and storage modules (`srp`, `keys`, `handshakes`, `lockout`, `sessions`,
//! `db`), which know nothing of HTTP.

pub mod config;
pub mod cors;
pub mod crypto;
pub mod db;
pub mod error;
pub mod handlers;
pub mod handshakes;
pub mod http;
pub mod keys;
pub mod lockout;
pub mod metrics;
pub mod net;
pub mod ratelimit;
pub mod routes;
pub mod server;
pub mod sessions;

use std::sync::Arc;

pub use zkppd_srp::{self as srp, hex};

pub use server::serve;

use config::{DbLocation, Settings};

/// Everything a request handler needs; cloned into every connection.
#[derive(Clone)]
pub struct AppState {
    pub db: db::Db,
    pub settings: Arc<Settings>,
    pub keys: Arc<keys::Keys>,
    pub handshakes: Arc<handshakes::Handshakes>,
    pub lockout: Arc<lockout::Lockout>,
    pub crypto: crypto::CryptoPool,
    pub metrics: Arc<metrics::Metrics>,
    /// The opt-in per-client limit of the unauthenticated routes.
    pub rate_limit: Option<Arc<ratelimit::RateLimit>>,
}

impl AppState {
    /// Opens the database the settings name and builds the shared state.
    pub fn open(settings: Settings) -> Result<AppState, String> {
        let db = match &settings.db {
            DbLocation::File(path) => db::Db::open(Some(path))?,
            DbLocation::Temp => db::Db::open(None)?,
        };
        // Group constants and the fixed-base table, built before the first
        // sign-in rather than during it.
        srp::precompute();
        Ok(AppState {
            keys: Arc::new(keys::Keys::new(db.secret())),
            handshakes: Arc::new(handshakes::Handshakes::new(
                settings.handshake_ttl,
                settings.max_handshakes,
            )),
            lockout: Arc::new(lockout::Lockout::new(settings.max_lockouts)),
            crypto: crypto::CryptoPool::new(crypto::CryptoPool::default_threads()),
            metrics: Arc::new(metrics::Metrics::new()),
            rate_limit: settings
                .rate_limit
                .map(|r| Arc::new(ratelimit::RateLimit::new(r))),
            settings: Arc::new(settings),
            db,
        })
    }
}
