//! Verify, forward-auth and sign-out. Every check goes to the store (no
//! cache), so a revocation by another process counts at once.

use super::Service;
use crate::keys::session_token_hash;
use crate::session::now_ms;
use crate::{Error, Result, rules};

/// The longest token [`Service::authenticate`] looks up.
const MAX_TOKEN_LEN: usize = 256;

impl Service {
    /// The profile id of the live session `(profile_id, token, expiry)`:
    /// a stored session must match all three exactly and not have expired.
    pub async fn verify(&self, profile_id: &str, token: &str, expiry: &str) -> Result<String> {
        rules::check_profile_id(profile_id)?;
        let hash = session_token_hash(token);
        let stored = self.store(move |s| s.session(&hash)).await?;
        match stored {
            Some(s)
                if s.profile_id == profile_id && s.expiry == expiry && s.expires_ms > now_ms() =>
            {
                Ok(s.profile_id)
            }
            _ => Err(Error::InvalidSession),
        }
    }

    /// The profile id of the live session whose auth token is `token`
    /// (forward-auth: a reverse proxy has only the token, from a bearer
    /// header or a cookie). Unknown, ended and expired sessions are all
    /// `InvalidSession`: the caller answers them alike.
    pub async fn authenticate(&self, token: &str) -> Result<String> {
        // Tokens are 43 characters; a longer one cannot match, and is not
        // worth hashing (a proxy forwards whatever the client sent).
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::InvalidSession);
        }
        let hash = session_token_hash(token);
        let stored = self.store(move |s| s.session(&hash)).await?;
        match stored {
            Some(s) if s.expires_ms > now_ms() => Ok(s.profile_id),
            _ => Err(Error::InvalidSession),
        }
    }

    /// Ends that one session if it is live.
    pub async fn sign_out(&self, profile_id: &str, token: &str, expiry: &str) -> Result<()> {
        rules::check_profile_id(profile_id)?;
        let hash = session_token_hash(token);
        let (id, expiry) = (profile_id.to_owned(), expiry.to_owned());
        let ended = self
            .store(move |s| s.end_session(&hash, &id, &expiry, now_ms()))
            .await?;
        if ended {
            Ok(())
        } else {
            Err(Error::InvalidSession)
        }
    }
}
