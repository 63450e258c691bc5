//! `POST /v1/signup`: a profile token and an SRP verifier become a profile,
//! and the client gets a signup token drawn at random from its bucket.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::check_profile_id;
use crate::AppState;
use crate::db::profiles::{self, Record, SignupRefusal};
use crate::error::Error;
use crate::http::{self, Response};
use crate::{hex, srp};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignupBody {
    profile_id: String,
    profile_token: String,
    zkpp: String,
    salt: String,
}

#[derive(Serialize)]
struct SignupAnswer {
    token: String,
}

/// The salt is stored and echoed verbatim: 2–512 hex characters.
pub fn valid_salt(salt: &str) -> bool {
    salt.len() <= 512 && hex::decode(salt).is_some()
}

pub async fn signup(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    let body: SignupBody =
        http::read_json(req, http::BODY_LIMIT, 0, state.settings.body_timeout).await?;
    check_profile_id(&body.profile_id)?;
    if srp::Verifier::from_hex(&body.zkpp).is_none() || !valid_salt(&body.salt) {
        return Err(Error::InvalidBody);
    }
    let token_hash = state.keys.profile_token_hash(&body.profile_token);
    let profile_ref = state.keys.profile_ref(&body.profile_id);
    let id = body.profile_id;
    let record = Record {
        verifier: body.zkpp,
        salt: body.salt,
    };
    let outcome = state
        .db
        .write(move |conn| profiles::sign_up(conn, &token_hash, &id, &record))
        .await;
    let label = match &outcome {
        Ok(Ok(_)) => "ok",
        Ok(Err(SignupRefusal::InvalidToken)) => "invalid_token",
        Ok(Err(SignupRefusal::DuplicateId)) => "duplicate_id",
        Ok(Err(SignupRefusal::BucketEmpty)) => "signup_bucket_empty",
        Err(_) => "error",
    };
    tracing::info!(target: "audit", op = "signup", outcome = label, profile = %profile_ref, %peer);
    match outcome? {
        Ok(token) => {
            state.db.want_checkpoint();
            Ok(http::json(StatusCode::OK, &SignupAnswer { token }))
        }
        Err(SignupRefusal::InvalidToken) => Err(Error::InvalidToken),
        Err(SignupRefusal::DuplicateId) => Err(Error::DuplicateId),
        Err(SignupRefusal::BucketEmpty) => Err(Error::SignupBucketEmpty),
    }
}
