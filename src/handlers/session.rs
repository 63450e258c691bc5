//! `POST /v1/verify` and `POST /v1/signout`: checks and ends a session
//! (a sign-out also clears the `--session-cookie`).

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::SET_COOKIE;
use hyper::{Request, StatusCode};
use zeroize::Zeroize;
use zkppd_proto::{Empty, SessionRequest, Verified};

use super::{body, outcome};
use crate::error::ApiError;
use crate::http::{self, Response};
use crate::{AppState, cookie};

pub(crate) async fn verify(
    state: &AppState,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let SessionRequest { mut jwt } = body(state, req).await?;
    let result = state
        .core
        .verify(&jwt.profile_id, &jwt.auth_token, &jwt.auth_expiry)
        .await;
    jwt.auth_token.zeroize();
    let profile_id = result?;
    Ok(http::json(StatusCode::OK, &Verified { profile_id }))
}

pub(crate) async fn signout(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let SessionRequest { mut jwt } = body(state, req).await?;
    let profile_ref = state.core.profile_ref(&jwt.profile_id);
    let result = state
        .core
        .sign_out(&jwt.profile_id, &jwt.auth_token, &jwt.auth_expiry)
        .await;
    jwt.auth_token.zeroize();
    tracing::info!(target: "audit", op = "signout", outcome = outcome(&result), profile = %profile_ref, %peer);
    result.map_err(ApiError::SessionRefused)?;
    let mut res = http::json(StatusCode::OK, &Empty {});
    // Only a successful sign-out clears the cookie: a refused one may have
    // named another session than the one the browser holds.
    if let Some(value) = state
        .settings
        .session_cookie
        .as_ref()
        .and_then(cookie::clear)
    {
        res.headers_mut().append(SET_COOKIE, value);
    }
    Ok(res)
}
