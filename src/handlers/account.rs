//! The account lifecycle routes: `/v1/password` (change from a fresh
//! session), `/v1/signout/all`, `/v1/sessions`, `/v1/profile/delete` and
//! `/v1/password/reset` (an operator's one-time token). One audit line each,
//! with the keyed profile reference, never the id.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use zkppd_proto::{
    Empty, Ended, PasswordRequest, ResetRequest, SessionEntry, SessionList, SessionRequest,
};

use super::{body, outcome};
use crate::AppState;
use crate::error::ApiError;
use crate::http::{self, Response};

/// Writes the audit line of `op` and turns a refusal into its answer.
fn audited<T>(
    state: &AppState,
    op: &'static str,
    profile_id: &str,
    peer: SocketAddr,
    result: Result<T, zkppd_core::Error>,
) -> Result<T, ApiError> {
    let profile = state.core.profile_ref(profile_id);
    tracing::info!(target: "audit", op, outcome = outcome(&result), profile = %profile, %peer);
    result.map_err(ApiError::SessionRefused)
}

pub(crate) async fn password(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let PasswordRequest { jwt, salt, zkpp } = body(state, req).await?;
    let result = state
        .core
        .change_password(
            &jwt.profile_id,
            &jwt.auth_token,
            &jwt.auth_expiry,
            &zkpp,
            &salt,
        )
        .await;
    audited(state, "password_change", &jwt.profile_id, peer, result)?;
    Ok(http::json(StatusCode::OK, &Empty {}))
}

pub(crate) async fn signout_all(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let SessionRequest { jwt } = body(state, req).await?;
    let result = state
        .core
        .sign_out_all(&jwt.profile_id, &jwt.auth_token, &jwt.auth_expiry)
        .await;
    let ended = audited(state, "signout_all", &jwt.profile_id, peer, result)?;
    Ok(http::json(
        StatusCode::OK,
        &Ended {
            ended: u64::try_from(ended).unwrap_or(u64::MAX),
        },
    ))
}

pub(crate) async fn sessions(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let SessionRequest { jwt } = body(state, req).await?;
    let result = state
        .core
        .sessions(&jwt.profile_id, &jwt.auth_token, &jwt.auth_expiry)
        .await;
    let list = audited(state, "sessions", &jwt.profile_id, peer, result)?;
    let sessions = list
        .into_iter()
        .map(|s| SessionEntry {
            created: s.created,
            expiry: s.expiry,
            current: s.current,
        })
        .collect();
    Ok(http::json(StatusCode::OK, &SessionList { sessions }))
}

pub(crate) async fn profile_delete(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let SessionRequest { jwt } = body(state, req).await?;
    let result = state
        .core
        .delete_own_profile(&jwt.profile_id, &jwt.auth_token, &jwt.auth_expiry)
        .await;
    audited(state, "profile_delete", &jwt.profile_id, peer, result)?;
    Ok(http::json(StatusCode::OK, &Empty {}))
}

pub(crate) async fn password_reset(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let ResetRequest {
        profile_id,
        reset_token,
        salt,
        zkpp,
    } = body(state, req).await?;
    let reset_token = zeroize::Zeroizing::new(reset_token);
    let result = state
        .core
        .reset_password(&profile_id, &reset_token, &zkpp, &salt)
        .await;
    audited(state, "password_reset", &profile_id, peer, result)?;
    Ok(http::json(StatusCode::OK, &Empty {}))
}
