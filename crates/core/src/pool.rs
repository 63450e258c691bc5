//! Where slow work runs: [`run_blocking`] for storage calls, and the
//! [`CryptoPool`] turn for the big-number work of sign-in, capped below the
//! core count so that a sign-in storm cannot starve the cheap routes
//! (`/v1/verify` stays fast while sign-ins queue here).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::{Error, Result};

/// Runs `f` on tokio's blocking pool; a panic in `f` is re-raised in the
/// caller, so it is never silently swallowed.
pub(crate) async fn run_blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::Internal(format!("blocking task: {e}"))),
    }
}

/// The sign-in math's turn: at most `threads` jobs at once, each run on the
/// async worker that asked. A job takes about a millisecond, less than the
/// two thread wake-ups a hand-off to another thread costs per job under
/// load; the cap (one less than the cores) keeps a worker free for the
/// cheap routes, so `/v1/verify` stays fast while sign-ins queue here.
#[derive(Clone)]
pub(crate) struct CryptoPool {
    permits: Arc<Semaphore>,
}

impl CryptoPool {
    /// `threads` jobs at most run at once; the rest wait their turn.
    pub(crate) fn new(threads: usize) -> CryptoPool {
        CryptoPool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// One less than the cores, at least one.
    pub(crate) fn default_threads() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }

    /// Runs `f` (pure computation: no I/O, no lock held long) on this
    /// worker under a permit, then `then` on the blocking pool after giving
    /// the permit back: follow-up I/O (a database write and its fsync)
    /// neither holds up the next sign-in's math nor an async worker.
    pub(crate) async fn run_then<A, T, F, G>(&self, f: F, then: G) -> Result<T>
    where
        A: Send + 'static,
        T: Send + 'static,
        F: FnOnce() -> A,
        G: FnOnce(A) -> Result<T> + Send + 'static,
    {
        let a = self.run(f).await?;
        run_blocking(move || then(a)).await
    }

    /// Runs `f` (pure computation) on this worker under a permit.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> T,
    {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("crypto pool closed".into()))?;
        Ok(f())
    }
}
