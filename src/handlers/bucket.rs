//! `POST /v1/bucket/fill`: the admin fills a bucket with sign-up rights.

use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::db;
use crate::error::Error;
use crate::http::{self, Response};

/// Most tokens one request may carry.
pub const MAX_TOKENS: usize = 10_000;
/// Longest token, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FillBody {
    bucket: String,
    tokens: Vec<String>,
}

#[derive(Serialize)]
struct FillAnswer {
    inserted: u64,
    duplicates: u64,
}

/// 1–256 bytes of visible ASCII: no spaces, no control characters.
pub fn valid_token(t: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
}

/// Which bucket a name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Profile,
    Signup,
}

impl Bucket {
    pub fn parse(name: &str) -> Option<Bucket> {
        match name {
            "profile" => Some(Bucket::Profile),
            "signup" => Some(Bucket::Signup),
            _ => None,
        }
    }
}

/// Compares the bearer token with the configured one in constant time
/// (hashing both first makes the time independent of their lengths too).
pub fn authorize(state: &AppState, req: &Request<Incoming>) -> Result<(), Error> {
    let Some(expected) = &state.settings.admin_token else {
        return Err(Error::Unauthorized);
    };
    let given = http::bearer(req.headers()).unwrap_or("");
    let a = blake3::hash(given.as_bytes());
    let b = blake3::hash(expected.0.as_bytes());
    if bool::from(a.as_bytes().ct_eq(b.as_bytes())) && !given.is_empty() {
        Ok(())
    } else {
        Err(Error::Unauthorized)
    }
}

/// Inserts the tokens in one transaction: all or nothing.
pub fn fill_tokens(
    conn: &mut rusqlite::Connection,
    keys: &crate::keys::Keys,
    bucket: Bucket,
    tokens: &[String],
) -> Result<db::buckets::FillCount, Error> {
    match bucket {
        Bucket::Profile => {
            let hashes: Vec<[u8; 32]> = tokens.iter().map(|t| keys.profile_token_hash(t)).collect();
            db::buckets::fill_profile(conn, &hashes)
        }
        Bucket::Signup => db::buckets::fill_signup(conn, tokens),
    }
}

pub async fn fill(
    state: &AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Error> {
    if let Err(e) = authorize(state, &req) {
        // Failed admin authentication is worth an audit trail of its own.
        tracing::info!(target: "audit", op = "bucket_fill", outcome = "unauthorized", %peer);
        return Err(e);
    }
    let body: FillBody =
        http::read_json(req, http::FILL_BODY_LIMIT, 1, state.settings.body_timeout).await?;
    if body.tokens.len() > MAX_TOKENS || !body.tokens.iter().all(|t| valid_token(t)) {
        return Err(Error::InvalidBody);
    }
    let bucket = Bucket::parse(&body.bucket).ok_or(Error::InvalidBucket)?;
    let keys = state.keys.clone();
    let count = state
        .db
        .write(move |conn| fill_tokens(conn, &keys, bucket, &body.tokens))
        .await;
    match &count {
        Ok(c) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = "ok", bucket = ?bucket, inserted = c.inserted, duplicates = c.duplicates, %peer)
        }
        Err(_) => {
            tracing::info!(target: "audit", op = "bucket_fill", outcome = "error", bucket = ?bucket, %peer)
        }
    }
    let count = count?;
    Ok(http::json(
        StatusCode::OK,
        &FillAnswer {
            inserted: count.inserted,
            duplicates: count.duplicates,
        },
    ))
}
