//! A small pool for the big-number work of sign-in, off the async workers
//! and capped below the core count so that a sign-in storm cannot starve
//! the cheap routes (`/v1/verify` stays fast while sign-ins queue here).

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::Error;

#[derive(Clone)]
pub struct CryptoPool {
    permits: Arc<Semaphore>,
}

impl CryptoPool {
    /// `threads` jobs at most run at once; the rest wait their turn.
    pub fn new(threads: usize) -> CryptoPool {
        CryptoPool {
            permits: Arc::new(Semaphore::new(threads.max(1))),
        }
    }

    /// One less than the cores, at least one.
    pub fn default_threads() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }

    /// Runs `f` on the blocking pool once a permit is free; a panic in `f`
    /// is re-raised in the caller.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.run_then(f, |t| t).await
    }

    /// Runs `f` under a permit, then `then` on the same blocking thread
    /// after giving the permit back: follow-up I/O (a database write and
    /// its fsync) neither holds up the next sign-in's math nor costs a
    /// second thread hand-off.
    pub async fn run_then<A, T, F, G>(&self, f: F, then: G) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> A + Send + 'static,
        G: FnOnce(A) -> T + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("crypto pool closed".into()))?;
        let job = move || {
            let a = f();
            drop(permit);
            then(a)
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(v) => Ok(v),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(Error::Internal(format!("crypto task: {e}"))),
        }
    }
}
