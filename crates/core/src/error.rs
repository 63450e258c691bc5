//! The one error type of the core, in domain words. The root package maps
//! each variant to a status and a public message in one place; the strings
//! inside `Unavailable` and `Internal` are causes for the log only.

/// Every way a core operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not 1–128 bytes of UTF-8 without control characters.
    #[error("invalid profile id")]
    InvalidProfileId,
    /// A field that breaks its rule (hex, length, range); names the field.
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("unknown bucket")]
    UnknownBucket,
    /// Sign-up with a profile token that is not (or no longer) in the bucket.
    #[error("profile token not in the profile bucket")]
    UnknownProfileToken,
    #[error("profile id already signed up")]
    DuplicateId,
    #[error("signup bucket empty")]
    SignupBucketEmpty,
    /// Wrong proof, unknown profile, A ≡ 0: all one answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Step 2 without a pending handshake: answered exactly like
    /// `InvalidCredentials`, told apart only in the audit log.
    #[error("no pending handshake")]
    NoHandshake,
    /// Too many failed proofs; seconds until a retry may succeed.
    #[error("locked out for {0} s")]
    LockedOut(u64),
    /// Not a live session (unknown, ended, or fields that do not match).
    #[error("not a live session")]
    InvalidSession,
    /// A stored session matching in token, profile id and expiry whose
    /// expiry has passed (until it is purged).
    #[error("session expired")]
    ExpiredSession,
    /// A live session older than the re-authentication window, for an
    /// operation that needs a fresh sign-in.
    #[error("session not fresh")]
    StaleSession,
    /// An admin operation on a profile that does not exist.
    #[error("no profile `{0}`")]
    NoSuchProfile(String),
    /// An import line that clashes with a stored profile (1-based line).
    #[error("line {line}: profile `{id}` already exists with a different verifier or salt")]
    ImportConflict { line: usize, id: String },
    /// A storage fault that clears by itself (busy, locked, disk full).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else; the text is for the log.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A short stable word for audit lines and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Error::InvalidProfileId => "invalid_profile_id",
            Error::Malformed(_) => "invalid_body",
            Error::UnknownBucket => "invalid_bucket",
            Error::UnknownProfileToken => "invalid_token",
            Error::DuplicateId => "duplicate_id",
            Error::SignupBucketEmpty => "signup_bucket_empty",
            Error::InvalidCredentials => "bad_proof",
            Error::NoHandshake => "no_handshake",
            Error::LockedOut(_) => "locked",
            Error::InvalidSession => "invalid_token",
            Error::ExpiredSession => "token_expired",
            Error::StaleSession => "reauthentication_required",
            Error::NoSuchProfile(_) => "no_such_profile",
            Error::ImportConflict { .. } => "import_conflict",
            Error::Unavailable(_) | Error::Internal(_) => "error",
        }
    }

    /// The OS random source failed: nothing secret can be made.
    pub(crate) fn rng(e: getrandom::Error) -> Error {
        Error::Internal(format!("OS random source: {e}"))
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
            ) => Error::Unavailable(format!("database: {e}")),
            _ => Error::Internal(format!("database: {e}")),
        }
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Error {
        Error::Unavailable(format!("database pool: {e}"))
    }
}
