//! The one map from failures to HTTP: a core [`zkppd_core::Error`] or a
//! wire-level refusal becomes a status, the SPEC's public message and any
//! extra header, in [`ApiError::parts`]. Causes of a 5xx are logged by the
//! caller's span, never sent to the client.

use hyper::StatusCode;
use zkppd_core::Error as Core;

/// Every way a request can fail.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// What the domain refused, answered as the route's default says.
    Core(Core),
    /// The refusal of a route that acts on the caller's session (sign-out
    /// and the lifecycle routes): a session that is not live is 401 there,
    /// where verify says 400 (as the original service answered).
    SessionRefused(Core),
    InvalidBody,
    Unauthorized,
    /// The opt-in per-client rate limit; seconds until a retry.
    RateLimited(u64),
    NotFound,
    MethodNotAllowed(&'static str),
    UnsupportedMediaType,
    PayloadTooLarge,
    /// A server fault outside the core; the string is for the log.
    Internal(String),
}

impl From<Core> for ApiError {
    fn from(e: Core) -> ApiError {
        ApiError::Core(e)
    }
}

type Parts = (StatusCode, &'static str, Option<(&'static str, String)>);

fn retry_after(secs: u64) -> Option<(&'static str, String)> {
    Some(("retry-after", secs.max(1).to_string()))
}

impl ApiError {
    /// Status, public message and an optional extra header.
    pub(crate) fn parts(&self) -> Parts {
        use StatusCode as S;
        match self {
            ApiError::Core(e) => core_parts(e),
            ApiError::SessionRefused(e) => match (e, core_parts(e)) {
                (Core::InvalidSession | Core::ExpiredSession, (_, message, header)) => {
                    (S::UNAUTHORIZED, message, header)
                }
                (_, other) => other,
            },
            ApiError::InvalidBody => (S::BAD_REQUEST, "Invalid body", None),
            ApiError::Unauthorized => (
                S::UNAUTHORIZED,
                "Unauthorized",
                Some(("www-authenticate", "Bearer".to_owned())),
            ),
            ApiError::RateLimited(secs) => (
                S::TOO_MANY_REQUESTS,
                "Too many requests",
                retry_after(*secs),
            ),
            ApiError::NotFound => (S::NOT_FOUND, "Not found", None),
            ApiError::MethodNotAllowed(allow) => (
                S::METHOD_NOT_ALLOWED,
                "Method not allowed",
                Some(("allow", (*allow).to_owned())),
            ),
            ApiError::UnsupportedMediaType => {
                (S::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type", None)
            }
            ApiError::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "Payload too large", None),
            ApiError::Internal(_) => (S::INTERNAL_SERVER_ERROR, "Internal error", None),
        }
    }

    /// The cause to log, for the failures that have one.
    pub(crate) fn cause(&self) -> Option<String> {
        match self {
            ApiError::Core(e @ (Core::Unavailable(_) | Core::Internal(_)))
            | ApiError::SessionRefused(e @ (Core::Unavailable(_) | Core::Internal(_))) => {
                Some(e.to_string())
            }
            ApiError::Internal(c) => Some(c.clone()),
            _ => None,
        }
    }
}

/// The domain's refusals as the SPEC answers them.
fn core_parts(e: &Core) -> Parts {
    use StatusCode as S;
    match e {
        Core::InvalidProfileId => (S::BAD_REQUEST, "Invalid profile ID", None),
        Core::Malformed(_) => (S::BAD_REQUEST, "Invalid body", None),
        Core::UnknownBucket => (S::BAD_REQUEST, "Invalid bucket", None),
        Core::UnknownProfileToken | Core::InvalidSession => (S::BAD_REQUEST, "Invalid token", None),
        Core::ExpiredSession => (S::BAD_REQUEST, "Token is expired", None),
        Core::StaleSession => (S::UNAUTHORIZED, "Reauthentication required", None),
        Core::DuplicateId => (S::BAD_REQUEST, "Duplicate ID", None),
        Core::SignupBucketEmpty => (S::SERVICE_UNAVAILABLE, "Signup bucket empty", None),
        Core::InvalidCredentials | Core::NoHandshake => {
            (S::UNAUTHORIZED, "Invalid credentials", None)
        }
        Core::LockedOut(secs) => (
            S::TOO_MANY_REQUESTS,
            "Too many requests",
            retry_after(*secs),
        ),
        Core::Unavailable(_) => (
            S::SERVICE_UNAVAILABLE,
            "Service unavailable",
            retry_after(1),
        ),
        // Admin-command refusals never reach HTTP; if one did, it is ours.
        Core::NoSuchProfile(_) | Core::ImportConflict { .. } | Core::Internal(_) => {
            (S::INTERNAL_SERVER_ERROR, "Internal error", None)
        }
    }
}
