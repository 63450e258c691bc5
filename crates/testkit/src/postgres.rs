//! The real PostgreSQL of the tests: `zkppd-pgtemp`, which the bench's
//! `--store postgres` starts too, under the name the tests use.

pub use zkppd_pgtemp::*;
