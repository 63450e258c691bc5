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
        http::read_json(req, http::BODY_LIMIT, 0, state.settings.body_timeout).await?;
    check_profile_id(&body.profile_id)?;
    let a = srp::ClientPublic::from_hex(&body.key).map_err(|e| match e {
        srp::PublicKeyError::Malformed => Error::InvalidBody,
        srp::PublicKeyError::ZeroModN => Error::InvalidCredentials,
    })?;
    locked(state, &body.profile_id)?;

    let id = body.profile_id;
    // One job on the crypto pool: look the profile up, then compute B
    // from its verifier or, for an unknown id, from a fake one.
    let (store, keys, job_id) = (state.db.clone(), state.keys.clone(), id.clone());
    let (b, big_b, verifier, salt, salt_bytes, known) = state
        .crypto
        .run(move || -> Result<_, Error> {
            let record = db::profiles::get(&*store.conn()?, &job_id)?;
            let (verifier, salt, known) = match record {
                Some(r) => {
                    let v = srp::Verifier::from_hex(&r.verifier)
                        .ok_or_else(|| Error::Internal("stored verifier is invalid".into()))?;
                    (v, r.salt, true)
                }
                None => (keys.fake_verifier(&job_id), keys.fake_salt(&job_id), false),
            };
            let salt_bytes = hex::decode(&salt)
                .ok_or_else(|| Error::Internal("stored salt is invalid".into()))?;
            let b = srp::ServerSecret::random()
                .map_err(|e| Error::Internal(format!("OS random source: {e}")))?;
            let big_b = srp::server_public(&verifier, &b);
            Ok((b, big_b, verifier, salt, salt_bytes, known))
        })
        .await??;
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
        http::read_json(req, http::BODY_LIMIT, 0, state.settings.body_timeout).await?;
    check_profile_id(&body.profile_id)?;
    let id = body.profile_id;
    let profile_ref = state.keys.profile_ref(&id);
    // Consumed whatever happens next: one guess per handshake.
    let handshake = state.handshakes.take(&id);
    if let Err(secs) = state.lockout.check(&id) {
        tracing::info!(target: "audit", op = "signin", outcome = "locked", profile = %profile_ref, %peer);
        return Err(Error::TooManyRequests(secs));
    }
    // Without a handshake no guess was made: it does not count as a
    // failure (SPEC: only a step 2 that consumed a handshake counts).
    let Some(hs) = handshake else {
        tracing::info!(target: "audit", op = "signin", outcome = "no_handshake", profile = %profile_ref, %peer);
        return Err(Error::InvalidCredentials);
    };
    // A malformed proof still goes through the whole check, against zeros.
    let m1 = hex::decode_array::<32>(&body.key);
    let well_formed = m1.is_some();
    let m1 = m1.unwrap_or([0u8; 32]);
    // Prepared up front so that the crypto job can store the session right
    // after a correct proof, on the same thread.
    let token = sessions::new_token()?;
    let token_hash = crate::keys::session_token_hash(&token);
    let max = state.settings.max_sessions;
    let ttl_ms = state.settings.session_ttl.as_millis() as i64;
    let (store, proof_id) = (state.db.clone(), id.clone());
    let outcome = state
        .crypto
        .run_then(
            move || {
                let m2 = srp::verify_proof(
                    &proof_id,
                    &hs.salt,
                    &hs.verifier,
                    &hs.a,
                    &hs.b,
                    &hs.big_b,
                    &m1,
                );
                (m2.filter(|_| hs.known && well_formed), proof_id)
            },
            move |(m2, profile_id)| {
                let m2 = m2?;
                let now = db::now_ms();
                let expires_ms = now.saturating_add(ttl_ms);
                let session = db::sessions::Session {
                    profile_id,
                    expiry: sessions::format_rfc3339_ms(expires_ms),
                    expires_ms,
                };
                let stored = store
                    .write_here(|conn| db::sessions::create(conn, &token_hash, &session, now, max));
                Some(stored.map(|()| (m2, session)))
            },
        )
        .await?;
    let Some(stored) = outcome else {
        let lock = state.lockout.record_failure(&id);
        if lock.is_some() {
            state.metrics.lockout();
        }
        tracing::info!(target: "audit", op = "signin", outcome = "bad_proof", locked = lock.is_some(), profile = %profile_ref, %peer);
        return Err(Error::InvalidCredentials);
    };
    state.lockout.record_success(&id);
    let (m2, session) = match stored {
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
