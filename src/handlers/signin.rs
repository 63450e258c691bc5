//! `POST /v1/signin` and `POST /v1/signin/verify`: the two SRP steps (and,
//! with `--session-cookie`, the cookie a successful step 2 sets).

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::header::SET_COOKIE;
use hyper::{Request, StatusCode};
use zeroize::Zeroize;
use zkppd_core::Error as CoreError;
use zkppd_proto::{Challenge, Jwt, SigninRequest, Welcome};

use super::{body, outcome};
use crate::error::ApiError;
use crate::http::{self, Response};
use crate::{AppState, cookie};

pub(crate) async fn start(
    state: &AppState,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: SigninRequest = body(state, req).await?;
    let challenge = state.core.sign_in_start(body.profile_id, &body.key).await?;
    Ok(http::json(
        StatusCode::OK,
        &Challenge {
            key: challenge.key,
            salt: challenge.salt,
        },
    ))
}

pub(crate) async fn verify(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: SigninRequest = body(state, req).await?;
    let profile_ref = state.core.profile_ref(&body.profile_id);
    let result = state.core.sign_in_finish(body.profile_id, &body.key).await;
    state.metrics.signin(match &result {
        Ok(_) => "ok",
        Err(CoreError::InvalidCredentials | CoreError::NoHandshake) => "invalid_credentials",
        Err(CoreError::LockedOut(_)) => "locked",
        Err(CoreError::Unavailable(_) | CoreError::Internal(_)) => "error",
        Err(_) => "invalid",
    });
    tracing::info!(target: "audit", op = "signin", outcome = outcome(&result), profile = %profile_ref, %peer);
    let done = result?;
    // With --session-cookie the browser also gets the token as an
    // HttpOnly cookie that lives exactly as long as the session.
    let set_cookie = state.settings.session_cookie.as_ref().and_then(|c| {
        let remaining_ms = done.expires_ms.saturating_sub(zkppd_core::now_ms()).max(0);
        cookie::set(c, &done.auth_token, remaining_ms.unsigned_abs() / 1000)
    });
    let mut welcome = Welcome {
        proof: done.proof,
        jwt: Jwt {
            profile_id: done.profile_id,
            auth_token: done.auth_token.to_string(),
            auth_expiry: done.auth_expiry,
        },
    };
    let mut res = http::json(StatusCode::OK, &welcome);
    // The wire type holds a plain String: wipe it once serialized (the
    // core's copy is a `Zeroizing` already).
    welcome.jwt.auth_token.zeroize();
    if let Some(value) = set_cookie {
        res.headers_mut().append(SET_COOKIE, value);
    }
    Ok(res)
}
