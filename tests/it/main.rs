//! zkppd's integration tests, one module per concern, in one binary (one
//! link of SQLite, tokio and hyper): the in-process server, the real binary
//! and the raw HTTP client all come from `zkppd-testkit`. Heavy and
//! timing-sensitive tests take a guard of `zkppd_testkit::serial`, so that
//! two tests at a time on two cores cannot make each other fail.
//!
//! The scenarios that matter on either store (sign-up races, sign-in,
//! sessions, lockout, crash) are written once as `fn name(backend:
//! Backend) -> TestResult` and listed in [`on_both!`], which makes two
//! tests of each: `module::name::sqlite` and `module::name::postgres`.

/// Two tests for each body listed, one per store: `name::sqlite` and
/// `name::postgres` call `name(Backend::Sqlite)` and
/// `name(Backend::Postgres)` (a function and a module may share a name).
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() -> zkppd_testkit::TestResult {
                super::$name(zkppd_testkit::Backend::Sqlite)
            }

            #[test]
            fn postgres() -> zkppd_testkit::TestResult {
                super::$name(zkppd_testkit::Backend::Postgres)
            }
        }
    )+};
}

mod account;
mod admin_cli;
mod attacks;
mod binary;
mod bounds;
mod crash;
mod dropin;
mod faults;
mod first_hour;
mod forward_auth;
mod fuzz;
mod hardening;
mod hardening_conn;
mod hardening_invite;
mod hardening_wal;
mod healthcheck;
mod http_rules;
mod hygiene;
mod interop;
mod logs;
mod ops;
mod ops_tools;
mod postgres;
mod proxy;
mod signin;
mod signup;
mod store_conformance;
mod unlinkable;

/// The `zkppd` binary cargo built for these tests.
const BIN: &str = env!("CARGO_BIN_EXE_zkppd");
