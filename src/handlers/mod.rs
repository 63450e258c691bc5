//! One async fn per route: read the body as its `zkppd-proto` message,
//! call the core service, shape the answer and write the audit line. No
//! SQL, no domain rule and no URL here.

pub(crate) mod account;
pub(crate) mod auth;
pub(crate) mod bucket;
pub(crate) mod ops;
pub(crate) mod session;
pub(crate) mod signin;
pub(crate) mod signup;

use hyper::Request;
use hyper::body::Incoming;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;
use crate::http;

/// Reads a JSON body of the API's usual limit (no arrays inside).
async fn body<T: DeserializeOwned>(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    http::read_json(req, http::BODY_LIMIT, 0, state.settings.body_timeout).await
}

/// The audit label of an outcome.
fn outcome<T>(result: &Result<T, zkppd_core::Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.label(),
    }
}
