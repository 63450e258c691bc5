//! The operators' routes: `GET /healthz` for load balancers and systemd
//! watchers, `GET /v1/buckets` (admin) for the bucket counts, and the
//! `/metrics` scrape on the separate metrics listener.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode};
use zkppd_proto::{BucketCounts, Health};

use super::bucket::authorize;
use crate::AppState;
use crate::error::ApiError;
use crate::http::{self, Response};
use crate::metrics::{self, Sample};

/// A health check that takes longer than this is a failed one: a load
/// balancer should rather route around a server whose database stalls.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);

/// 200 `{"status":"ok"}` when the database answers within the deadline,
/// else 503 `{"status":"unavailable"}` (the cause is logged).
pub(crate) async fn healthz(state: &AppState) -> Result<Response, ApiError> {
    let failure = match tokio::time::timeout(HEALTH_DEADLINE, state.core.health()).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some(format!(
            "database did not answer within {HEALTH_DEADLINE:?}"
        )),
    };
    let (status, word) = match &failure {
        None => (StatusCode::OK, "ok"),
        Some(cause) => {
            tracing::warn!(cause, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
    };
    let mut res = http::json(
        status,
        &Health {
            status: word.to_owned(),
        },
    );
    if failure.is_some() {
        res.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /v1/buckets`: unused tokens per bucket, for the admin.
pub(crate) async fn buckets(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    authorize(state, &req)?;
    let sizes = state.core.bucket_sizes().await?;
    Ok(http::json(
        StatusCode::OK,
        &BucketCounts {
            profile: sizes.profile,
            signup: sizes.signup,
        },
    ))
}

/// The Prometheus scrape: gauges sampled from the database, then the text.
pub(crate) async fn metrics(state: &AppState) -> Result<Response, ApiError> {
    let sizes = state.core.bucket_sizes().await?;
    let sample = Sample {
        profile_tokens: sizes.profile,
        signup_tokens: sizes.signup,
        live_sessions: state.core.live_sessions().await?,
        memory: state.core.memory_counts(),
    };
    let text = state
        .metrics
        .encode(&sample)
        .map_err(|e| ApiError::Internal(format!("encoding metrics: {e}")))?;
    let mut res = Response::new(Full::new(Bytes::from(text)));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(res)
}
