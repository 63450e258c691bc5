//! zkppd's domain core: the services the server and the admin commands
//! call (sign-up, the two sign-in steps, bucket fill, verify, sign-out and
//! the operators' operations), the rules they apply (profile id, tokens,
//! salt), the keys derived from the install secret, the pending handshakes,
//! the lockout, session tokens, and the [`store::Store`] they run on.
//!
//! It knows no HTTP, no URL and no JSON: the root package turns wire
//! messages into calls of [`Service`] and its [`Error`] into statuses.

mod error;
mod handshakes;
mod invites;
mod keys;
mod lockout;
mod pool;
pub mod rules;
mod service;
mod session;
mod shrink;
pub mod store;

pub use error::{Error, Result};
pub use handshakes::HandshakeKey;
pub use invites::FREE_REFUSALS;
pub use keys::session_token_hash;
pub use lockout::{FREE_FAILURES, MAX_DELAY};
pub use service::{
    BucketSizes, Challenge, FillCount, ImportCount, Limits, MemoryCounts, Service, SessionInfo,
    SignUp, SignedIn,
};
pub use session::{format_expiry, now_ms};
