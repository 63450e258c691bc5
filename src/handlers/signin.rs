//! `POST /v1/signin` and `POST /v1/signin/verify`: the two SRP steps. An
//! unknown profile gets the same answers, from a fake verifier and salt, and
//! the same work, so that nothing tells whether it exists.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};

use super::check_profile_id;
use crate::AppState;
use crate::db;
use crate::error::Error;
use crate::handshakes::Handshake;
use crate::http::{self, Response};
use crate::sessions;
use crate::{hex, srp};

/// Both steps send `{"profile_id", "key"}`: A at step 1, M1 at step 2.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    profile_id: String,
    key: String,
}

#[derive(Serialize)]
struct Challenge {
    key: String,
    salt: String,
}

#[derive(Serialize)]
pub struct Jwt {
    pub profile_id: String,
    pub auth_token: String,
    pub auth_expiry: String,
}

#[derive(Serialize)]
struct Welcome {
    proof: String,
    jwt: Jwt,
}

fn locked(state: &AppState, id: &str) -> Result<(), Error> {
    state.lockout.check(id).map_err(Error::TooManyRequests)
}

pub async fn start(
    state: &AppState,
    _peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    let body: StepBody =
        http::read_json(req, http::BODY_LIMIT, state.settings.body_timeout).await?;
    check_profile_id(&body.profile_id)?;
    let a = srp::ClientPublic::from_hex(&body.key).map_err(|e| match e {
        srp::PublicKeyError::Malformed => Error::InvalidBody,
        srp::PublicKeyError::ZeroModN => Error::InvalidCredentials,
    })?;
    locked(state, &body.profile_id)?;

    let id = body.profile_id;
    let lookup_id = id.clone();
    let record = state
        .db
        .run(move |conn| db::profiles::get(conn, &lookup_id))
        .await?;
    let (verifier, salt, known) = match record {
        Some(r) => {
            let v = srp::Verifier::from_hex(&r.verifier)
                .ok_or_else(|| Error::Internal("stored verifier is invalid".into()))?;
            (v, r.salt, true)
        }
        None => (
            state.keys.fake_verifier(&id),
            state.keys.fake_salt(&id),
            false,
        ),
    };
    let salt_bytes =
        hex::decode(&salt).ok_or_else(|| Error::Internal("stored salt is invalid".into()))?;

    let (b, big_b, verifier) = state
        .crypto
        .run(move || {
            let b = srp::ServerSecret::random();
            let big_b = srp::server_public(&verifier, &b);
            (b, big_b, verifier)
        })
        .await?;
    let key = hex::encode(&big_b);
    state.handshakes.insert(
        &id,
        Handshake {
            b,
            big_b,
            a,
            verifier,
            salt: salt_bytes,
            known,
        },
    );
    tracing::debug!(profile_id = %id, known, "sign-in step 1");
    Ok(http::json(StatusCode::OK, &Challenge { key, salt }))
}

pub async fn verify(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    let body: StepBody =
        http::read_json(req, http::BODY_LIMIT, state.settings.body_timeout).await?;
    check_profile_id(&body.profile_id)?;
    let id = body.profile_id;
    let profile_ref = state.keys.profile_ref(&id);
    // Consumed whatever happens next: one guess per handshake.
    let handshake = state.handshakes.take(&id);
    if let Err(secs) = state.lockout.check(&id) {
        tracing::info!(target: "audit", op = "signin", outcome = "locked", profile = %profile_ref, %peer);
        return Err(Error::TooManyRequests(secs));
    }
    let Some(hs) = handshake else {
        if state.lockout.record_failure(&id).is_some() {
            state.metrics.lockout();
        }
        tracing::info!(target: "audit", op = "signin", outcome = "no_handshake", profile = %profile_ref, %peer);
        return Err(Error::InvalidCredentials);
    };
    // A malformed proof still goes through the whole check, against zeros.
    let m1 = hex::decode_array::<32>(&body.key);
    let well_formed = m1.is_some();
    let m1 = m1.unwrap_or([0u8; 32]);
    let proof_id = id.clone();
    let (m2, known) = state
        .crypto
        .run(move || {
            let m2 = srp::verify_proof(
                &proof_id,
                &hs.salt,
                &hs.verifier,
                &hs.a,
                &hs.b,
                &hs.big_b,
                &m1,
            );
            (m2, hs.known)
        })
        .await?;
    let m2 = match m2 {
        Some(m2) if known && well_formed => m2,
        _ => {
            let lock = state.lockout.record_failure(&id);
            if lock.is_some() {
                state.metrics.lockout();
            }
            tracing::info!(target: "audit", op = "signin", outcome = "bad_proof", locked = lock.is_some(), profile = %profile_ref, %peer);
            return Err(Error::InvalidCredentials);
        }
    };
    state.lockout.record_success(&id);

    let token = sessions::new_token()?;
    let now = db::now_ms();
    let expires_ms = now.saturating_add(state.settings.session_ttl.as_millis() as i64);
    let session = db::sessions::Session {
        profile_id: id,
        expiry: sessions::format_rfc3339_ms(expires_ms),
        expires_ms,
    };
    let token_hash = crate::keys::session_token_hash(&token);
    let max = state.settings.max_sessions;
    let session = state
        .db
        .write(move |conn| {
            db::sessions::create(conn, &token_hash, &session, now, max)?;
            Ok(session)
        })
        .await;
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(target: "audit", op = "signin", outcome = "error", profile = %profile_ref, %peer);
            return Err(e);
        }
    };
    tracing::info!(target: "audit", op = "signin", outcome = "ok", profile = %profile_ref, %peer);
    Ok(http::json(
        StatusCode::OK,
        &Welcome {
            proof: hex::encode(&m2),
            jwt: Jwt {
                profile_id: session.profile_id,
                auth_token: token.to_string(),
                auth_expiry: session.expiry,
            },
        },
    ))
}
