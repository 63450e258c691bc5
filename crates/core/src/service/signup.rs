//! Bucket fill and sign-up: the admin's tokens in, a profile and a signup
//! token drawn at random out.

use zeroize::Zeroizing;

use super::Service;
use crate::invites::{Begin, End};
use crate::rules::{self, Bucket};
use crate::session::now_ms;
use crate::store::{FillCount, Record};
use crate::{Error, Result};

/// A sign-up as the client sends it.
pub struct SignUp {
    pub profile_id: String,
    pub profile_token: Zeroizing<String>,
    /// The SRP verifier (`zkpp` on the wire), wiped once stored.
    pub verifier: Zeroizing<String>,
    pub salt: String,
}

impl Service {
    /// Adds tokens to a bucket, all or nothing. The tokens are checked
    /// before the bucket name (SPEC leaves the order open; README says so).
    pub async fn fill(&self, bucket: &str, tokens: Vec<String>) -> Result<(Bucket, FillCount)> {
        rules::check_tokens(&tokens)?;
        self.fill_any_number(bucket, tokens).await
    }

    /// [`Service::fill`] without the cap on tokens per request, for the
    /// admin command's files (still one transaction).
    pub async fn fill_any_number(
        &self,
        bucket: &str,
        tokens: Vec<String>,
    ) -> Result<(Bucket, FillCount)> {
        if !tokens.iter().all(|t| rules::valid_token(t)) {
            return Err(Error::Malformed("tokens"));
        }
        let bucket = Bucket::parse(bucket)?;
        let count = match bucket {
            Bucket::Profile => {
                let hashes: Vec<[u8; 32]> = tokens
                    .iter()
                    .map(|t| self.keys.profile_token_hash(t))
                    .collect();
                self.store(move |s| s.fill_profile(&hashes)).await?
            }
            Bucket::Signup => self.store(move |s| s.fill_signup(&tokens)).await?,
        };
        Ok((bucket, count))
    }

    /// The sign-up: id, then verifier and salt, then one transaction.
    /// Returns the signup token handed out.
    pub async fn sign_up(&self, req: SignUp) -> Result<String> {
        rules::check_profile_id(&req.profile_id)?;
        if !rules::valid_verifier(&req.verifier) {
            return Err(Error::Malformed("zkpp"));
        }
        if !rules::valid_salt(&req.salt) {
            return Err(Error::Malformed("salt"));
        }
        let token_hash = self.keys.profile_token_hash(&req.profile_token);
        let record = Record {
            verifier: req.verifier.as_str().to_owned(),
            salt: req.salt.clone(),
        };
        let id = req.profile_id.clone();
        // Refusals that tell whether an id exists cost the invite (see
        // `invites`); the lock is answered before the store is asked.
        if let Begin::Locked(secs) = self.invites.begin(&token_hash, now_ms()) {
            return Err(Error::LockedOut(secs));
        }
        let result = self
            .store(move |s| s.sign_up(&token_hash, &id, &record))
            .await;
        let end = match &result {
            Err(Error::DuplicateId | Error::SignupBucketEmpty) => End::Probe,
            _ => End::Other,
        };
        self.invites.finish(&token_hash, end);
        result
    }
}
