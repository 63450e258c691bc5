//! `POST /v1/bucket/fill`: the admin fills a bucket with sign-up rights.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use subtle::ConstantTimeEq;
use zkppd_proto::{FillRequest, FillResponse};

use super::outcome;
use crate::AppState;
use crate::error::ApiError;
use crate::http::{self, Response};

/// Compares the bearer token with the configured one in constant time
/// (hashing both first makes the time independent of their lengths too).
pub(crate) fn authorize(state: &AppState, req: &Request<Incoming>) -> Result<(), ApiError> {
    let Some(expected) = &state.settings.admin_token else {
        return Err(ApiError::Unauthorized);
    };
    let given = http::bearer(req.headers()).unwrap_or("");
    let a = blake3::hash(given.as_bytes());
    let b = blake3::hash(expected.expose().as_bytes());
    if bool::from(a.as_bytes().ct_eq(b.as_bytes())) && !given.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

pub(crate) async fn fill(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    if let Err(e) = authorize(state, &req) {
        // Failed admin authentication is worth an audit trail of its own.
        tracing::info!(target: "audit", op = "bucket_fill", outcome = "unauthorized", %peer);
        return Err(e);
    }
    let body: FillRequest =
        http::read_json(req, http::FILL_BODY_LIMIT, 1, state.settings.body_timeout).await?;
    let result = state.core.fill(&body.bucket, body.tokens).await;
    match &result {
        Ok((bucket, c)) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = "ok", bucket = bucket.name(), inserted = c.inserted, duplicates = c.duplicates, %peer)
        }
        Err(_) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = outcome(&result), %peer)
        }
    }
    let (_, count) = result?;
    Ok(http::json(
        StatusCode::OK,
        &FillResponse {
            inserted: count.inserted,
            duplicates: count.duplicates,
        },
    ))
}
