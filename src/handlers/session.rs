//! `POST /v1/verify` and `POST /v1/signout`: checks and ends a session. Every
//! check goes to the database (no cache), so a revocation by another process
//! counts at once.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::check_profile_id;
use crate::AppState;
use crate::db;
use crate::error::Error;
use crate::http::{self, Response};
use crate::keys::session_token_hash;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtIn {
    profile_id: String,
    auth_token: String,
    auth_expiry: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    jwt: JwtIn,
}

#[derive(Serialize)]
struct Verified {
    profile_id: String,
}

#[derive(Serialize)]
struct Empty {}

async fn read(state: &AppState, req: Request<Incoming>) -> Result<JwtIn, Error> {
    let body: SessionBody =
        http::read_json(req, http::BODY_LIMIT, 0, state.settings.body_timeout).await?;
    check_profile_id(&body.jwt.profile_id)?;
    Ok(body.jwt)
}

pub async fn verify(
    state: &AppState,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    let jwt = read(state, req).await?;
    let hash = session_token_hash(&jwt.auth_token);
    let stored = state
        .db
        .run(move |conn| db::sessions::get(conn, &hash))
        .await?;
    let now = db::now_ms();
    match stored {
        Some(s)
            if s.profile_id == jwt.profile_id
                && s.expiry == jwt.auth_expiry
                && s.expires_ms > now =>
        {
            Ok(http::json(
                StatusCode::OK,
                &Verified {
                    profile_id: s.profile_id,
                },
            ))
        }
        _ => Err(Error::InvalidToken),
    }
}

pub async fn signout(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    let jwt = read(state, req).await?;
    let hash = session_token_hash(&jwt.auth_token);
    let profile_ref = state.keys.profile_ref(&jwt.profile_id);
    let deleted = state
        .db
        .write(move |conn| {
            db::sessions::delete_live(conn, &hash, &jwt.profile_id, &jwt.auth_expiry, db::now_ms())
        })
        .await;
    let outcome = match &deleted {
        Ok(true) => "ok",
        Ok(false) => "invalid_token",
        Err(_) => "error",
    };
    tracing::info!(target: "audit", op = "signout", outcome, profile = %profile_ref, %peer);
    if deleted? {
        Ok(http::json(StatusCode::OK, &Empty {}))
    } else {
        Err(Error::InvalidSession)
    }
}
