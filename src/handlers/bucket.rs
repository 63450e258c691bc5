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
    let Some(expected) = state.admin_token() else {
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

/// How a fill was let in: the bearer token, or a client address inside an
/// `--admin-trusted-network` (the original platform's token service,
/// whose client cannot send headers).
fn authorize_fill(
    state: &AppState,
    peer: SocketAddr,
    req: &Request<Incoming>,
) -> Result<&'static str, ApiError> {
    if http::bearer(req.headers()).is_some() || state.settings.admin_trusted_networks.is_empty() {
        return authorize(state, req).map(|()| "token");
    }
    let trusted = state
        .settings
        .admin_trusted_networks
        .iter()
        .any(|net| crate::net::holds(net, peer.ip()));
    if trusted {
        Ok("trusted_network")
    } else {
        Err(ApiError::Unauthorized)
    }
}

pub(crate) async fn fill(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let auth = match authorize_fill(state, peer, &req) {
        Ok(how) => how,
        Err(e) => {
            // Failed admin authentication is worth an audit trail of its own.
            tracing::info!(target: "audit", op = "bucket_fill", outcome = "unauthorized", %peer);
            return Err(e);
        }
    };
    let body: FillRequest =
        http::read_json(req, http::FILL_BODY_LIMIT, 1, state.settings.body_timeout).await?;
    let result = state.core.fill(&body.bucket, body.tokens).await;
    match &result {
        Ok((bucket, c)) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = "ok", auth, bucket = bucket.name(), inserted = c.inserted, duplicates = c.duplicates, %peer)
        }
        Err(_) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = outcome(&result), auth, %peer)
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
