//! The one error type of the service and its mapping to HTTP: status,
//! public message and extra headers, all in [`Error::parts`]. Causes of a
//! 5xx are logged by the caller's span, never sent to the client.

use hyper::StatusCode;

/// Every way a request can fail. The public message is fixed per variant.
#[derive(Debug)]
pub enum Error {
    InvalidBody,
    InvalidToken,
    /// Sign-out of a session that is not live: 401, where verify says 400.
    InvalidSession,
    InvalidProfileId,
    DuplicateId,
    InvalidBucket,
    InvalidCredentials,
    Unauthorized,
    SignupBucketEmpty,
    /// Locked out or rate limited; seconds until a retry may succeed.
    TooManyRequests(u64),
    NotFound,
    MethodNotAllowed(&'static str),
    UnsupportedMediaType,
    PayloadTooLarge,
    /// A database fault that clears by itself (busy, locked, disk full).
    ServiceUnavailable(String),
    /// Anything else; the string is for the log only.
    Internal(String),
}

impl Error {
    /// Status, public message and an optional extra header.
    pub fn parts(&self) -> (StatusCode, &'static str, Option<(&'static str, String)>) {
        use Error::*;
        match self {
            InvalidBody => (StatusCode::BAD_REQUEST, "Invalid body", None),
            InvalidToken => (StatusCode::BAD_REQUEST, "Invalid token", None),
            InvalidSession => (StatusCode::UNAUTHORIZED, "Invalid token", None),
            InvalidProfileId => (StatusCode::BAD_REQUEST, "Invalid profile ID", None),
            DuplicateId => (StatusCode::BAD_REQUEST, "Duplicate ID", None),
            InvalidBucket => (StatusCode::BAD_REQUEST, "Invalid bucket", None),
            InvalidCredentials => (StatusCode::UNAUTHORIZED, "Invalid credentials", None),
            Unauthorized => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                Some(("www-authenticate", "Bearer".to_owned())),
            ),
            SignupBucketEmpty => (StatusCode::SERVICE_UNAVAILABLE, "Signup bucket empty", None),
            TooManyRequests(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                Some(("retry-after", secs.max(&1).to_string())),
            ),
            NotFound => (StatusCode::NOT_FOUND, "Not found", None),
            MethodNotAllowed(allow) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                Some(("allow", (*allow).to_owned())),
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                None,
            ),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", None),
            ServiceUnavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service unavailable",
                Some(("retry-after", "1".to_owned())),
            ),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error", None),
        }
    }

    /// The cause to log, for the variants that have one.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Error::ServiceUnavailable(c) | Error::Internal(c) => Some(c),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            // Faults that clear by themselves: another writer, a full or
            // read-only disk, an I/O hiccup.
            Some(
                DatabaseBusy | DatabaseLocked | DiskFull | ReadOnly | SystemIoFailure | CannotOpen
                | OutOfMemory,
            ) => Error::ServiceUnavailable(format!("database: {e}")),
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Error {
        Error::ServiceUnavailable(format!("database pool: {e}"))
    }
}
