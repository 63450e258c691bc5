//! `POST /v1/signup`: a profile token and an SRP verifier become a profile,
//! and the client gets a signup token drawn at random from its bucket.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use zeroize::Zeroizing;
use zkppd_core::SignUp;
use zkppd_proto::{SignupRequest, SignupResponse};

use super::{body, outcome};
use crate::AppState;
use crate::error::ApiError;
use crate::http::{self, Response};

pub(crate) async fn signup(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let body: SignupRequest = body(state, req).await?;
    let profile_ref = state.core.profile_ref(&body.profile_id);
    let result = state
        .core
        .sign_up(SignUp {
            profile_id: body.profile_id,
            profile_token: Zeroizing::new(body.profile_token),
            verifier: Zeroizing::new(body.zkpp),
            salt: body.salt,
        })
        .await;
    tracing::info!(target: "audit", op = "signup", outcome = outcome(&result), profile = %profile_ref, %peer);
    Ok(http::json(
        StatusCode::OK,
        &SignupResponse { token: result? },
    ))
}
