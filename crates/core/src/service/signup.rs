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

#[cfg(test)]
mod tests {
    use zkppd_srp::client;

    use super::*;
    use crate::invites::FREE_REFUSALS;
    use crate::service::Limits;
    use crate::service::fixture::Fixture;
    use crate::store::Store;

    fn request(id: &str, invite: &str) -> SignUp {
        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, id, "pw");
        SignUp {
            profile_id: id.to_owned(),
            profile_token: Zeroizing::new(invite.to_owned()),
            verifier: Zeroizing::new(client::derive_verifier(&x)),
            salt,
        }
    }

    async fn filled(profile: &[&str], signup: &[&str]) -> Fixture {
        let f = Fixture::new(Limits::default());
        let own = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        f.service.fill("profile", own(profile)).await.unwrap();
        f.service.fill("signup", own(signup)).await.unwrap();
        f
    }

    #[tokio::test]
    async fn fill_refuses_invalid_tokens_and_hashes_profile_tokens() {
        let f = Fixture::new(Limits::default());
        let bad = vec!["ok".to_owned(), "has space".to_owned()];
        assert!(matches!(
            f.service.fill_any_number("signup", bad).await,
            Err(Error::Malformed("tokens"))
        ));
        assert_eq!(f.store.bucket_sizes().unwrap().signup, 0);
        let (bucket, count) = f
            .service
            .fill_any_number("profile", vec!["p1".to_owned(), "p2".to_owned()])
            .await
            .unwrap();
        assert_eq!(
            (bucket, count.inserted, count.duplicates),
            (Bucket::Profile, 2, 0)
        );
        let (bucket, count) = f
            .service
            .fill_any_number("signup", vec!["s1".to_owned()])
            .await
            .unwrap();
        assert_eq!((bucket, count.inserted), (Bucket::Signup, 1));
        let sizes = f.store.bucket_sizes().unwrap();
        assert_eq!((sizes.profile, sizes.signup), (2, 1));
    }

    #[tokio::test]
    async fn sign_up_hands_out_the_signup_token_and_stores_the_profile() {
        let f = filled(&["invite"], &["the-token"]).await;
        let req = request("alice", "invite");
        let verifier = req.verifier.as_str().to_owned();
        assert_eq!(f.service.sign_up(req).await.unwrap(), "the-token");
        let stored = f.store.profile("alice").unwrap().expect("profile stored");
        assert_eq!(stored.verifier, verifier);
        // The invite is spent.
        assert!(matches!(
            f.service.sign_up(request("bob", "invite")).await,
            Err(Error::UnknownProfileToken)
        ));
    }

    #[tokio::test]
    async fn sign_up_refuses_a_bad_verifier_or_salt_before_the_store() {
        let f = filled(&["invite"], &["t"]).await;
        let mut req = request("alice", "invite");
        req.verifier = Zeroizing::new("zz".to_owned());
        assert!(matches!(
            f.service.sign_up(req).await,
            Err(Error::Malformed("zkpp"))
        ));
        let mut req = request("alice", "invite");
        req.salt = "not hex".to_owned();
        assert!(matches!(
            f.service.sign_up(req).await,
            Err(Error::Malformed("salt"))
        ));
        let mut req = request("", "invite");
        req.profile_id = String::new();
        assert!(matches!(
            f.service.sign_up(req).await,
            Err(Error::InvalidProfileId)
        ));
        assert!(f.store.profile("alice").unwrap().is_none());
        assert_eq!(f.store.bucket_sizes().unwrap().profile, 1);
    }

    #[tokio::test]
    async fn duplicate_id_refusals_cost_the_invite() {
        let f = filled(&["invite"], &[]).await;
        f.add_profile("taken");
        for _ in 0..FREE_REFUSALS {
            assert!(matches!(
                f.service.sign_up(request("taken", "invite")).await,
                Err(Error::DuplicateId)
            ));
        }
        assert!(matches!(
            f.service.sign_up(request("taken", "invite")).await,
            Err(Error::LockedOut(_))
        ));
    }

    #[tokio::test]
    async fn refusals_that_are_not_probes_do_not_cost_the_invite() {
        let f = filled(&[], &[]).await;
        for _ in 0..FREE_REFUSALS + 2 {
            assert!(matches!(
                f.service.sign_up(request("alice", "unknown")).await,
                Err(Error::UnknownProfileToken)
            ));
        }
    }
}
