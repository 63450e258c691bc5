//! The operators' routes: `GET /healthz` for load balancers and systemd
//! watchers, `GET /v1/buckets` (admin) for the bucket counts, and the
//! `/metrics` scrape on the separate metrics listener.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Serialize;

use super::bucket::authorize;
use crate::AppState;
use crate::db;
use crate::error::Error;
use crate::http::{self, Response};
use crate::metrics::{self, Sample};

/// A health check that takes longer than this is a failed one: a load
/// balancer should rather route around a server whose database stalls.
const HEALTH_DEADLINE: Duration = Duration::from_secs(2);

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

#[derive(Serialize)]
struct BucketCounts {
    profile: i64,
    signup: i64,
}

/// 200 `{"status":"ok"}` when the database answers a read within the
/// deadline, else 503 `{"status":"unavailable"}` (the cause is logged).
pub async fn healthz(state: &AppState) -> Result<Response, Error> {
    let probe = state.db.run(|conn| db::maintenance::ping(conn));
    let failure = match tokio::time::timeout(HEALTH_DEADLINE, probe).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.cause().unwrap_or("database error").to_owned()),
        Err(_) => Some(format!(
            "database did not answer within {HEALTH_DEADLINE:?}"
        )),
    };
    let mut res = match failure {
        None => http::json(StatusCode::OK, &Health { status: "ok" }),
        Some(cause) => {
            tracing::warn!(cause, "health check failed");
            let mut res = http::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &Health {
                    status: "unavailable",
                },
            );
            res.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            res
        }
    };
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /v1/buckets`: unused tokens per bucket, for the admin.
pub async fn buckets(state: &AppState, req: Request<Incoming>) -> Result<Response, Error> {
    authorize(state, &req)?;
    let counts = state
        .db
        .run(|conn| {
            let sizes = db::buckets::sizes(conn)?;
            Ok(BucketCounts {
                profile: sizes.profile,
                signup: sizes.signup,
            })
        })
        .await?;
    Ok(http::json(StatusCode::OK, &counts))
}

/// The Prometheus scrape: gauges sampled from the database, then the text.
pub async fn metrics(state: &AppState) -> Result<Response, Error> {
    let sample = state
        .db
        .run(|conn| {
            let sizes = db::buckets::sizes(conn)?;
            Ok(Sample {
                profile_tokens: sizes.profile,
                signup_tokens: sizes.signup,
                live_sessions: db::sessions::count_live(conn, db::now_ms())?,
            })
        })
        .await?;
    let text = state
        .metrics
        .encode(state, &sample)
        .map_err(|e| Error::Internal(format!("encoding metrics: {e}")))?;
    let mut res = Response::new(Full::new(Bytes::from(text)));
    res.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    Ok(res)
}
