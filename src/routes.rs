//! The only place that knows URLs: one `match` on method and path, 404 and
//! 405, and the turning of every `Result` into a response.

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper::body::Incoming;
use hyper::{Method, Request};

use crate::AppState;
use crate::error::Error;
use crate::handlers::{bucket, session, signin, signup};
use crate::http::{self, Response};

/// Every route of the API is a POST.
const API_PATHS: [&str; 6] = [
    "/v1/bucket/fill",
    "/v1/signup",
    "/v1/signin",
    "/v1/signin/verify",
    "/v1/verify",
    "/v1/signout",
];

pub async fn handle(
    state: AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = match (&method, path.as_str()) {
        (&Method::POST, "/v1/bucket/fill") => bucket::fill(&state, peer, req).await,
        (&Method::POST, "/v1/signup") => signup::signup(&state, peer, req).await,
        (&Method::POST, "/v1/signin") => signin::start(&state, peer, req).await,
        (&Method::POST, "/v1/signin/verify") => signin::verify(&state, peer, req).await,
        (&Method::POST, "/v1/verify") => session::verify(&state, peer, req).await,
        (&Method::POST, "/v1/signout") => session::signout(&state, peer, req).await,
        (_, p) if API_PATHS.contains(&p) => Err(Error::MethodNotAllowed("POST")),
        _ => Err(Error::NotFound),
    };
    Ok(match result {
        Ok(res) => res,
        Err(err) => {
            if let Some(cause) = err.cause() {
                tracing::error!(%method, path, cause, "request failed");
            }
            http::error(&err)
        }
    })
}
