//! Prometheus metrics: the registry of one server (no globals, so two
//! servers in one process count apart), the cheap hooks the request path
//! calls (atomic counters and a histogram, label sets without allocation),
//! the gauges sampled at scrape time, and the separate `--metrics-listen`
//! accept loop. Encoding is prometheus-client's, in the text format 0.0.4.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

use crate::AppState;

/// The content type of what [`Metrics::encode`] writes.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BucketLabels {
    bucket: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 3 s: a verify is well under a millisecond, a sign-in
    // step tens of milliseconds, anything past a second is trouble.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 16,
    ))
}

/// Everything a server counts.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    signins: Family<OutcomeLabels, Counter>,
    lockouts: Counter,
    store_commits: Counter,
    bucket_tokens: Family<BucketLabels, Gauge>,
    live_sessions: Gauge,
    pending_handshakes: Gauge,
    lockout_counters: Gauge,
    next_request_id: AtomicU64,
    /// When this server started (seconds since the epoch).
    started: f64,
}

/// What the scrape samples from the database.
pub(crate) struct Sample {
    pub(crate) profile_tokens: i64,
    pub(crate) signup_tokens: i64,
    pub(crate) live_sessions: i64,
    /// The core's in-memory counts.
    pub(crate) memory: zkppd_core::MemoryCounts,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("zkppd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response, by route",
            latency.clone(),
        );
        let signins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "signin_verify",
            "Sign-in proofs (step 2) by outcome: ok, invalid_credentials, locked, invalid, error",
            signins.clone(),
        );
        let store_commits = Counter::default();
        registry.register(
            "store_commits",
            "Write transactions committed (one fsync each; group commit puts several writes in one)",
            store_commits.clone(),
        );
        let lockouts = Counter::default();
        registry.register(
            "lockouts",
            "Failed proofs that locked a profile out (again)",
            lockouts.clone(),
        );
        let bucket_tokens = Family::<BucketLabels, Gauge>::default();
        registry.register(
            "bucket_tokens",
            "Unused tokens per bucket, sampled at scrape",
            bucket_tokens.clone(),
        );
        let live_sessions = Gauge::default();
        registry.register(
            "live_sessions",
            "Sessions not yet expired, sampled at scrape",
            live_sessions.clone(),
        );
        let pending_handshakes = Gauge::default();
        registry.register(
            "pending_handshakes",
            "Sign-in handshakes waiting for step 2",
            pending_handshakes.clone(),
        );
        let lockout_counters = Gauge::default();
        registry.register(
            "lockout_counters",
            "Profiles with failed proofs being counted (locked or not)",
            lockout_counters.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "Always 1; its labels name the version and the git commit of this binary",
            build_info.clone(),
        );
        build_info
            .get_or_create(&BuildLabels {
                version: crate::process_metrics::VERSION,
                commit: crate::process_metrics::COMMIT,
            })
            .set(1);
        let mut seed = [0u8; 8];
        // A random start keeps ids from two runs apart in one log; the
        // counter alone makes them unique within a run.
        let _ = getrandom::fill(&mut seed);
        Metrics {
            registry,
            requests,
            latency,
            signins,
            lockouts,
            store_commits,
            bucket_tokens,
            live_sessions,
            pending_handshakes,
            lockout_counters,
            next_request_id: AtomicU64::new(u64::from_le_bytes(seed) >> 1),
            started: crate::process_metrics::now_seconds(),
        }
    }

    /// A fresh request id.
    pub(crate) fn request_id(&self) -> u64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Counts one answered request.
    pub(crate) fn observe(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts the outcome of a sign-in proof (step 2).
    pub(crate) fn signin(&self, outcome: &'static str) {
        self.signins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The exposition text, with the gauges set from `sample` and the
    /// in-memory state.
    pub(crate) fn encode(&self, sample: &Sample) -> Result<String, std::fmt::Error> {
        self.bucket_tokens
            .get_or_create(&BucketLabels { bucket: "profile" })
            .set(sample.profile_tokens);
        self.bucket_tokens
            .get_or_create(&BucketLabels { bucket: "signup" })
            .set(sample.signup_tokens);
        self.live_sessions.set(sample.live_sessions);
        let memory = &sample.memory;
        self.pending_handshakes
            .set(i64::try_from(memory.pending_handshakes).unwrap_or(i64::MAX));
        self.lockout_counters
            .set(i64::try_from(memory.lockout_counters).unwrap_or(i64::MAX));
        // The core counts locks; the counter catches up at each scrape.
        let counted = self.lockouts.get();
        if memory.lockouts_started > counted {
            self.lockouts.inc_by(memory.lockouts_started - counted);
        }
        let committed = self.store_commits.get();
        if memory.store_commits > committed {
            self.store_commits.inc_by(memory.store_commits - committed);
        }
        let mut out = String::with_capacity(4096);
        prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)?;
        crate::process_metrics::encode(&mut out, self.started);
        Ok(out)
    }
}

/// Serves `listener` (the `--metrics-listen` address) until the task is
/// dropped; every connection goes to `routes::handle_metrics`. Small and
/// separate from the API's accept loop: a scrape must not compete with
/// sign-ins for the API's connection cap.
pub async fn serve(listener: TcpListener, state: AppState) {
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    loop {
        let (stream, peer): (_, SocketAddr) = match listener.accept().await {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let conn_state = state.clone();
        let service = service_fn(move |req| crate::routes::handle_metrics(conn_state.clone(), req));
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "metrics connection ended with an error");
            }
            drop(permit);
        });
    }
}
