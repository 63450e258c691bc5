//! The only place that knows URLs: one `match` on method and path, 404 and
//! 405, and the turning of every `Result` into a response.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, HeaderValue};
use hyper::{Method, Request};
use tracing::Instrument;

use zkppd_proto::paths::{self, API, OPERATOR};

use crate::error::ApiError;
use crate::handlers::{account, auth, bucket, ops, session, signin, signup};
use crate::http::{self, Response};
use crate::{AppState, cors, net};

/// The unauthenticated routes the opt-in rate limit applies to
/// (`/v1/verify` is left out: other services call it for every request).
const LIMITED_PATHS: [&str; 9] = [
    paths::SIGNUP,
    paths::SIGNIN,
    paths::SIGNIN_VERIFY,
    paths::SIGNOUT,
    paths::SIGNOUT_ALL,
    paths::SESSIONS,
    paths::PASSWORD,
    paths::PASSWORD_RESET,
    paths::PROFILE_DELETE,
];

fn rate_limited(state: &AppState, peer: SocketAddr) -> Result<(), ApiError> {
    match &state.rate_limit {
        Some(limit) => limit.check(peer.ip()).map_err(ApiError::RateLimited),
        None => Ok(()),
    }
}

/// The label of a path in logs and metrics: the route itself (a static
/// string, no allocation), or `unmatched`, so that a client's arbitrary
/// path never becomes a metric label or a log field.
fn route_label(path: &str) -> &'static str {
    API.iter()
        .chain(OPERATOR.iter())
        .chain(std::iter::once(&paths::AUTH))
        .find(|p| **p == path)
        .copied()
        .unwrap_or("unmatched")
}

/// A request id as logs and the `x-request-id` header show it.
struct RequestId(u64);

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Every request of the API listener: dispatch inside a span that carries
/// the request id, then the CORS headers, the metrics and one access line
/// (route, status, latency: never a body or a header value).
pub(crate) async fn handle(
    state: AppState,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let started = Instant::now();
    // Behind a trusted proxy, the client is who X-Forwarded-For names.
    let peer = SocketAddr::new(
        net::client_ip(peer.ip(), req.headers(), &state.settings.trusted_proxies),
        peer.port(),
    );
    let route = route_label(req.uri().path());
    let method = req.method().clone();
    let request_id = RequestId(state.metrics.request_id());
    let origin = cors::allowed_origin(&state.settings, req.headers());
    let span = tracing::info_span!("request", request_id = %request_id, route);
    let mut res = match dispatch(&state, peer, method.clone(), req)
        .instrument(span.clone())
        .await
    {
        Ok(res) => res,
        Err(err) => {
            if let Some(cause) = err.cause() {
                span.in_scope(|| tracing::error!(%method, route, cause, "request failed"));
            }
            http::error(&err)
        }
    };
    if route == paths::AUTH {
        // A proxy or browser cache must never answer for the session
        // store: every status of forward-auth is for this request only.
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    cors::decorate(&state.settings, origin, &mut res);
    if let Ok(id) = HeaderValue::from_str(&request_id.to_string()) {
        res.headers_mut().insert("x-request-id", id);
    }
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe(route, status, elapsed);
    span.in_scope(|| {
        tracing::info!(
            target: "zkppd::access",
            request_id = %request_id,
            %method,
            route,
            status,
            latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            "request"
        )
    });
    Ok(res)
}

async fn dispatch(
    state: &AppState,
    peer: SocketAddr,
    method: Method,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let path = req.uri().path().to_owned();
    let settings = &state.settings;
    if method == Method::POST && LIMITED_PATHS.contains(&path.as_str()) {
        rate_limited(state, peer)?;
    }
    match (&method, path.as_str()) {
        (&Method::POST, paths::BUCKET_FILL) => bucket::fill(state, peer, req).await,
        (&Method::POST, paths::SIGNUP) => signup::signup(state, peer, req).await,
        (&Method::POST, paths::SIGNIN) => signin::start(state, peer, req).await,
        (&Method::POST, paths::SIGNIN_VERIFY) => signin::verify(state, peer, req).await,
        (&Method::POST, paths::VERIFY) => session::verify(state, peer, req).await,
        (&Method::POST, paths::SIGNOUT) => session::signout(state, peer, req).await,
        (&Method::POST, paths::SIGNOUT_ALL) => account::signout_all(state, peer, req).await,
        (&Method::POST, paths::SESSIONS) => account::sessions(state, peer, req).await,
        (&Method::POST, paths::PASSWORD) => account::password(state, peer, req).await,
        (&Method::POST, paths::PASSWORD_RESET) => account::password_reset(state, peer, req).await,
        (&Method::POST, paths::PROFILE_DELETE) => account::profile_delete(state, peer, req).await,
        (&Method::GET, paths::HEALTHZ) => ops::healthz(state).await,
        (&Method::GET, paths::BUCKETS) => ops::buckets(state, req).await,
        // Not rate limited, like /v1/verify: proxies call it per request.
        (&Method::GET | &Method::HEAD, paths::AUTH) => auth::check(state, req).await,
        // A CORS preflight, only when --cors-origin allows the origin;
        // any other OPTIONS is a 405 like any other method.
        (&Method::OPTIONS, p)
            if API.contains(&p) && cors::is_preflight(settings, req.headers(), "POST") =>
        {
            Ok(cors::preflight("POST"))
        }
        (&Method::OPTIONS, paths::BUCKETS | paths::AUTH)
            if cors::is_preflight(settings, req.headers(), "GET") =>
        {
            Ok(cors::preflight("GET"))
        }
        (_, p) if API.contains(&p) => Err(ApiError::MethodNotAllowed("POST")),
        (_, p) if OPERATOR.contains(&p) => Err(ApiError::MethodNotAllowed("GET")),
        (_, paths::AUTH) => Err(ApiError::MethodNotAllowed("GET, HEAD")),
        _ => Err(ApiError::NotFound),
    }
}

/// Every request of the `--metrics-listen` listener: `GET /metrics` only.
pub(crate) async fn handle_metrics(
    state: AppState,
    req: Request<Incoming>,
) -> Result<Response, Infallible> {
    let result = match (req.method(), req.uri().path()) {
        (&Method::GET, paths::METRICS) => ops::metrics(&state).await,
        (_, paths::METRICS) => Err(ApiError::MethodNotAllowed("GET")),
        _ => Err(ApiError::NotFound),
    };
    Ok(result.unwrap_or_else(|err| {
        if let Some(cause) = err.cause() {
            tracing::error!(cause, "metrics scrape failed");
        }
        http::error(&err)
    }))
}
