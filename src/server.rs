//! The accept loop: one task per connection under a connection cap and a
//! per-client cap, hyper's HTTP/1.1 with a header-read timeout, a write
//! timeout and a request cap per connection (see `conn`), background sweeps, and the
//! graceful shutdown (stop accepting, let in-flight requests finish within
//! a bound, checkpoint the WAL).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::header::{CONNECTION, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use tokio::sync::Semaphore;

use crate::conn::{PerClient, WriteDeadline};
use crate::{AppState, net, routes};

/// How long shutdown waits for in-flight requests.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often expired sessions, handshakes and idle counters are swept.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

/// The largest request head (request line, headers, the blank line) the
/// README promises to read; one byte more is hyper's 431. Without
/// `max_header_size`, hyper only stops at its read buffer, which its
/// adaptive reads overshoot (a ~100 KB head got through).
pub(crate) const HEAD_LIMIT: usize = 64 * 1024;

/// The canned answer past the connection cap (no hyper connection is set
/// up for it). Its length is checked by a unit test below.
const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 80\r\n\r\n{\"statusCode\":503,\"error\":\"Service Unavailable\",\"message\":\"Service unavailable\"}";

/// Serves `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let permits = Arc::new(Semaphore::new(state.settings.max_connections));
    let per_client = Arc::new(PerClient::default());
    let per_client_max = state.settings.per_client_connections();
    let max_requests = state.settings.max_requests_per_connection;
    // Stopped by a signal and awaited rather than aborted: an aborted task
    // leaves its store call running on the blocking pool, which could then
    // write after the final checkpoint (and leave the -wal file behind).
    let (stop_background, stopped) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(sweep_forever(state.clone(), stopped.clone()));
    let checkpointer = tokio::spawn(checkpoint_forever(state.clone(), stopped));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A trusted proxy carries many clients: only the global cap holds.
        let counted = if net::is_trusted(peer.ip(), &state.settings.trusted_proxies) {
            Some(None)
        } else {
            PerClient::admit(&per_client, net::canonical(peer.ip()), per_client_max).map(Some)
        };
        let Some(counted) = counted else {
            tracing::debug!(%peer, "a client past its connection cap was refused");
            tokio::spawn(refuse(stream));
            continue;
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let _ = stream.set_nodelay(true);
                let conn_state = state.clone();
                let served = AtomicU64::new(0);
                let service = service_fn(move |req| {
                    let last = served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests;
                    let answer = routes::handle(conn_state.clone(), peer, req);
                    // Boxed: hyper keeps a slot the size of this future in
                    // every connection, idle or not (about 10 KB for the
                    // route table's future); a box per request costs one
                    // allocation instead (see README, Footprint).
                    Box::pin(async move {
                        let mut res = answer.await?;
                        if last {
                            res.headers_mut()
                                .insert(CONNECTION, HeaderValue::from_static("close"));
                        }
                        Ok::<_, std::convert::Infallible>(res)
                    })
                });
                let io = WriteDeadline::new(stream, state.settings.write_timeout);
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(state.settings.header_timeout)
                    .max_header_size(HEAD_LIMIT)
                    .max_buf_size(HEAD_LIMIT)
                    .serve_connection(TokioIo::new(io), service);
                let watched = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = watched.await {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                    drop(permit);
                    drop(counted);
                });
            }
            // Past the cap: refuse at once rather than queue.
            Err(_) => {
                tokio::spawn(refuse(stream));
            }
        }
    }
    drop(listener);
    let _ = stop_background.send(true);
    let _ = sweeper.await;
    let _ = checkpointer.await;
    tracing::info!("shutting down: waiting for in-flight requests");
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within {SHUTDOWN_GRACE:?}");
    }
    if let Err(e) = state.core.close().await {
        tracing::warn!(error = %e, "closing the store failed");
    }
    Ok(())
}

async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(BUSY_RESPONSE)).await;
}

/// The store's housekeeping, twice a second (on SQLite: empties the WAL
/// within half a second of a sign-up, or of the reader that blocked it
/// closing).
async fn checkpoint_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while next_tick(&mut tick, &mut stop).await {
        if let Err(e) = state.core.maintain().await {
            tracing::warn!(error = %e, "store housekeeping failed; retrying");
        }
    }
}

/// Waits for the next tick; false once shutdown began.
async fn next_tick(
    tick: &mut tokio::time::Interval,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        _ = tick.tick() => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

async fn sweep_forever(state: AppState, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    while next_tick(&mut tick, &mut stop).await {
        match state.core.sweep().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(sessions = n, "purged expired sessions"),
            Err(e) => tracing::warn!(error = %e, "purging expired sessions failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_busy_answer_declares_its_real_length() {
        let text = std::str::from_utf8(super::BUSY_RESPONSE).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .rsplit_once("content-length: ")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap();
        assert_eq!(declared, body.len());
    }
}
