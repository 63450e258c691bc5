//! Which tests may share the machine. All of the root package's tests run
//! in one binary, two at a time on a 2-core machine; a test that loads
//! every core (a flood of sign-ins, a crash under load, node's SRP) would
//! make a neighbour that measures time (a header timeout, a lock that must
//! last one second, a rate-limit refill) fail for no fault of the server.
//!
//! So a heavy test holds [`alone`] and a timing-sensitive one holds
//! [`timed`]: heavy tests exclude each other and every timed test, timed
//! tests run beside each other and beside any ordinary test, as they did
//! when each file was its own binary. Ordinary tests take no guard.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

static GATE: RwLock<()> = RwLock::new(());

/// Held for the whole of a test that loads every core.
#[must_use = "the test runs alone only while the guard lives"]
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    // A failed heavy test poisons the lock; the others still run.
    GATE.write().unwrap_or_else(PoisonError::into_inner)
}

/// Held for the whole of a test that asserts on wall-clock time.
#[must_use = "the test is kept from heavy ones only while the guard lives"]
pub fn timed() -> RwLockReadGuard<'static, ()> {
    GATE.read().unwrap_or_else(PoisonError::into_inner)
}
