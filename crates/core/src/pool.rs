//! Where blocking work runs: [`run_blocking`] for storage calls, and the
//! small [`CryptoPool`] for the big-number work of sign-in, capped below the
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

    /// Runs `f` under a permit, then `then` on the same blocking thread
    /// after giving the permit back: follow-up I/O (a database write and
    /// its fsync) neither holds up the next sign-in's math nor costs a
    /// second thread hand-off.
    pub(crate) async fn run_then<A, T, F, G>(&self, f: F, then: G) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> A + Send + 'static,
        G: FnOnce(A) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("crypto pool closed".into()))?;
        run_blocking(move || {
            let a = f();
            drop(permit);
            then(a)
        })
        .await
    }

    /// [`CryptoPool::run_then`] without follow-up work.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        self.run_then(f, |r| r).await
    }
}
