//! Test fixtures for zkppd's integration tests, written once: an in-process
//! [`TestServer`] on `127.0.0.1:0` over a throw-away SQLite file (or a
//! PostgreSQL database of its own, [`Backend`]), one
//! spawner for the real `zkppd` binary ([`Spawn`], [`Process`]), one raw
//! HTTP/1.1 client whose replies are parsed with `httparse` ([`Reply`],
//! [`Http`]), the SRP client steps the tests repeat ([`Account`],
//! [`sign_in`]), a few reads of the database file ([`db`]), a real
//! PostgreSQL started by the tests ([`postgres::Postgres`]) and the gate
//! that keeps heavy tests away from timing-sensitive ones ([`serial`]).
//!
//! It is a dev-only crate: nothing here may be used by the server itself,
//! and it knows the server only through `zkppd::AppState::open`,
//! `zkppd::serve` and `zkppd::config`, the way a test harness would.
//! The path of the binary is the caller's (`env!("CARGO_BIN_EXE_zkppd")`
//! only exists in the root package's tests).

pub mod db;
pub mod http;
pub mod process;
pub mod serial;
pub mod server;
pub mod srp;

/// The PostgreSQL fixture, from its own crate (zkppd-core's tests use it
/// too, and cannot depend on this kit).
pub use zkppd_pgtemp as postgres;

pub use http::{Failure, Http, Reply};
pub use process::{Process, Signal, Spawn};
pub use server::{Backend, TestServer};
pub use srp::{Account, SignIn, sign_in, signup_body, some_salt, some_verifier};

/// What test functions return, so that they can use `?`.
pub type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The admin token of every server the kit starts (in process, or through
/// the token file of [`admin_token_file`]).
pub const ADMIN: &str = "test-admin-token-0123456789";

/// Writes [`ADMIN`] to `dir/admin-token`, as `--admin-token-file` reads it;
/// returns the path.
pub fn admin_token_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("admin-token");
    std::fs::write(&path, format!("{ADMIN}\n")).expect("write the admin token file");
    path
}

/// A number that differs from run to run (no RNG crate needed).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
