//! zkppd's integration tests, one module per concern, in one binary (one
//! link of SQLite, tokio and hyper): the in-process server, the real binary
//! and the raw HTTP client all come from `zkppd-testkit`. Heavy and
//! timing-sensitive tests take a guard of `zkppd_testkit::serial`, so that
//! two tests at a time on two cores cannot make each other fail.

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
