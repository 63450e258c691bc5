//! The wire messages of zkppd, written once for the server, the Rust client
//! and the load generator: every request and response body, the session
//! credential [`Jwt`], the SPEC's error body, and the route paths.
//!
//! Requests are strict (`deny_unknown_fields`, every field required, exact
//! types), as SPEC §1 says; serde only, no I/O and no HTTP types.

use serde::{Deserialize, Serialize};

/// The route paths. Only these strings name routes anywhere in the project.
pub mod paths {
    pub const BUCKET_FILL: &str = "/v1/bucket/fill";
    pub const SIGNUP: &str = "/v1/signup";
    pub const SIGNIN: &str = "/v1/signin";
    pub const SIGNIN_VERIFY: &str = "/v1/signin/verify";
    pub const VERIFY: &str = "/v1/verify";
    pub const SIGNOUT: &str = "/v1/signout";
    pub const SIGNOUT_ALL: &str = "/v1/signout/all";
    pub const SESSIONS: &str = "/v1/sessions";
    pub const PASSWORD: &str = "/v1/password";
    pub const PASSWORD_RESET: &str = "/v1/password/reset";
    pub const PROFILE_DELETE: &str = "/v1/profile/delete";
    pub const HEALTHZ: &str = "/healthz";
    pub const BUCKETS: &str = "/v1/buckets";
    pub const METRICS: &str = "/metrics";
    /// Forward-auth for reverse proxies: `GET` (and `HEAD`) with the
    /// session's auth token as a bearer or the session cookie.
    pub const AUTH: &str = "/v1/auth";

    /// Every `POST` route of the API: the seed API's six, then the
    /// account lifecycle.
    pub const API: [&str; 11] = [
        BUCKET_FILL,
        SIGNUP,
        SIGNIN,
        SIGNIN_VERIFY,
        VERIFY,
        SIGNOUT,
        SIGNOUT_ALL,
        SESSIONS,
        PASSWORD,
        PASSWORD_RESET,
        PROFILE_DELETE,
    ];
    /// The operators' `GET` routes on the API listener.
    pub const OPERATOR: [&str; 2] = [HEALTHZ, BUCKETS];
}

/// Body size limits (SPEC §1): past them a request gets 413.
pub mod limits {
    /// Every route but bucket fill.
    pub const BODY: usize = 64 * 1024;
    /// `/v1/bucket/fill` (10,000 tokens of up to 256 bytes).
    pub const FILL_BODY: usize = 4 * 1024 * 1024;
}

/// The session credential: handed out by sign-in, taken by verify and
/// sign-out. `auth_expiry` is compared byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    pub profile_id: String,
    pub auth_token: String,
    pub auth_expiry: String,
}

/// `POST /v1/bucket/fill`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillRequest {
    pub bucket: String,
    pub tokens: Vec<String>,
}

/// The answer of a fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FillResponse {
    pub inserted: u64,
    pub duplicates: u64,
}

/// `POST /v1/signup`: `zkpp` is the SRP verifier, `salt` the SRP salt (hex).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    pub profile_id: String,
    pub profile_token: String,
    pub zkpp: String,
    pub salt: String,
}

/// The answer of a sign-up: a signup token drawn at random.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignupResponse {
    pub token: String,
}

/// Both sign-in steps: `key` is A at step 1 and M1 at step 2.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigninRequest {
    pub profile_id: String,
    pub key: String,
}

/// Step 1's answer: B and the profile's salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub key: String,
    pub salt: String,
}

/// Step 2's answer: M2 and the new session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    pub proof: String,
    pub jwt: Jwt,
}

/// `POST /v1/verify` and `POST /v1/signout`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub jwt: Jwt,
}

/// The answer of a verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verified {
    pub profile_id: String,
}

/// `{}`: the answer of a sign-out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `POST /v1/password`: a new salt and verifier from a fresh session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub jwt: Jwt,
    pub salt: String,
    pub zkpp: String,
}

/// `POST /v1/password/reset`: a new salt and verifier with an operator's
/// one-time reset token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub profile_id: String,
    pub reset_token: String,
    pub salt: String,
    pub zkpp: String,
}

/// The answer of `POST /v1/signout/all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ended {
    pub ended: u64,
}

/// One live session in `POST /v1/sessions`'s answer (never a token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEntry {
    pub created: String,
    pub expiry: String,
    pub current: bool,
}

/// The answer of `POST /v1/sessions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionList {
    pub sessions: Vec<SessionEntry>,
}

/// `GET /healthz`: `ok` or `unavailable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Health {
    pub status: String,
}

/// `GET /v1/buckets`: unused tokens per bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketCounts {
    pub profile: i64,
    pub signup: i64,
}

/// Every error answer: `{"statusCode", "error", "message"}`, as the
/// original service sent it (its clients parse this shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// The status's reason phrase.
    pub error: String,
    /// One of the SPEC's messages.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_original_field_names() {
        let body = ErrorBody {
            status_code: 400,
            error: "Bad Request".into(),
            message: "Invalid token".into(),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"statusCode":400,"error":"Bad Request","message":"Invalid token"}"#
        );
    }

    #[test]
    fn requests_are_strict() {
        let extra = r#"{"jwt":{"profile_id":"a","auth_token":"t","auth_expiry":"e","x":1}}"#;
        assert!(serde_json::from_str::<SessionRequest>(extra).is_err());
        let missing = r#"{"profile_id":"a"}"#;
        assert!(serde_json::from_str::<SigninRequest>(missing).is_err());
        let wrong_type = r#"{"profile_id":1,"key":"ab"}"#;
        assert!(serde_json::from_str::<SigninRequest>(wrong_type).is_err());
        let dup = r#"{"profile_id":"a","profile_id":"b","key":"ab"}"#;
        assert!(serde_json::from_str::<SigninRequest>(dup).is_err());
    }
}
