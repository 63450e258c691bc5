//! Verify, forward-auth, sign-out and the session-holder's operations on
//! the profile:
//! list sessions, sign out everywhere, change the password, delete the
//! profile, and the operator's reset. Every check goes to the store (no
//! cache), so a revocation by another process counts at once.

use std::time::Duration;

use base64::Engine as _;
use zeroize::Zeroizing;

use super::Service;
use crate::keys::session_token_hash;
use crate::session::{format_expiry, now_ms};
use crate::store::{Record, Session};
use crate::{Error, Result, rules};

/// How long an expired session is kept (so that verify can say `Token is
/// expired` rather than `Invalid token`) before the sweep purges it.
pub(crate) const EXPIRED_KEPT: Duration = Duration::from_secs(24 * 3600);

/// The longest token [`Service::authenticate`] looks up.
const MAX_TOKEN_LEN: usize = 256;

/// One of a profile's live sessions, as its holder may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// When the sign-in happened (RFC 3339, milliseconds, UTC).
    pub created: String,
    /// The session's expiry, as handed out.
    pub expiry: String,
    /// Whether it is the session asking.
    pub current: bool,
}

impl Service {
    /// The session stored under `hash`: read on this thread when the store
    /// can do so without blocking (verify's hot path), else off the async
    /// workers. Never a cache.
    async fn session_by_hash(&self, hash: [u8; 32]) -> Result<Option<Session>> {
        match self.store.session_now(&hash) {
            Some(answer) => answer,
            None => self.store(move |s| s.session(&hash)).await,
        }
    }

    /// The stored session `(profile_id, token, expiry)` names: `Ok` when
    /// it matches all three exactly and is live, `ExpiredSession` when it
    /// matches but has expired, `InvalidSession` otherwise.
    async fn session_of(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
    ) -> Result<([u8; 32], Session)> {
        rules::check_profile_id(profile_id)?;
        let hash = session_token_hash(token);
        let stored = self.session_by_hash(hash).await?;
        match stored {
            Some(s) if s.profile_id == profile_id && s.expiry == expiry => {
                if s.expires_ms > now_ms() {
                    Ok((hash, s))
                } else {
                    Err(Error::ExpiredSession)
                }
            }
            _ => Err(Error::InvalidSession),
        }
    }

    /// A live session that is also fresh (see `Limits::reauth_window`);
    /// an expired one is simply not live here.
    async fn fresh_session_of(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
    ) -> Result<([u8; 32], Session)> {
        let (hash, session) = self.live_session_of(profile_id, token, expiry).await?;
        let window = i64::try_from(self.limits.reauth_window.as_millis()).unwrap_or(i64::MAX);
        if session.created_ms < now_ms().saturating_sub(window) {
            return Err(Error::StaleSession);
        }
        Ok((hash, session))
    }

    /// [`Service::session_of`], with an expired session as `InvalidSession`.
    async fn live_session_of(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
    ) -> Result<([u8; 32], Session)> {
        self.session_of(profile_id, token, expiry)
            .await
            .map_err(|e| match e {
                Error::ExpiredSession => Error::InvalidSession,
                other => other,
            })
    }

    /// The profile id of the live session `(profile_id, token, expiry)`.
    pub async fn verify(&self, profile_id: &str, token: &str, expiry: &str) -> Result<String> {
        let (_, session) = self.session_of(profile_id, token, expiry).await?;
        Ok(session.profile_id)
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
        let stored = self.session_by_hash(hash).await?;
        match stored {
            Some(s) if s.expires_ms > now_ms() => Ok(s.profile_id),
            _ => Err(Error::InvalidSession),
        }
    }

    /// Ends that one session if it is live.
    pub async fn sign_out(&self, profile_id: &str, token: &str, expiry: &str) -> Result<()> {
        rules::check_profile_id(profile_id)?;
        let hash = session_token_hash(token);
        let (id, exp) = (profile_id.to_owned(), expiry.to_owned());
        let ended = self
            .store(move |s| s.end_session(&hash, &id, &exp, now_ms()))
            .await?;
        if ended {
            return Ok(());
        }
        // Not live: say whether it matched an expired one (a read only on
        // this failure path).
        self.session_of(profile_id, token, expiry).await?;
        Err(Error::InvalidSession)
    }

    /// Ends every session of the profile, the caller's included; how many.
    pub async fn sign_out_all(&self, profile_id: &str, token: &str, expiry: &str) -> Result<usize> {
        self.live_session_of(profile_id, token, expiry).await?;
        let id = profile_id.to_owned();
        self.store(move |s| s.end_sessions_of(&id)).await
    }

    /// The profile's live sessions, newest first.
    pub async fn sessions(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
    ) -> Result<Vec<SessionInfo>> {
        let (current, _) = self.live_session_of(profile_id, token, expiry).await?;
        let id = profile_id.to_owned();
        let live = self
            .store(move |s| s.live_sessions_of(&id, now_ms()))
            .await?;
        Ok(live
            .into_iter()
            .map(|(hash, s)| SessionInfo {
                created: format_expiry(s.created_ms),
                expiry: s.expiry,
                current: hash == current,
            })
            .collect())
    }

    /// Checks a new salt and verifier as sign-up does.
    fn new_record(verifier: &str, salt: &str) -> Result<Record> {
        if !rules::valid_verifier(verifier) {
            return Err(Error::Malformed("zkpp"));
        }
        if !rules::valid_salt(salt) {
            return Err(Error::Malformed("salt"));
        }
        Ok(Record {
            verifier: verifier.to_owned(),
            salt: salt.to_owned(),
        })
    }

    /// Replaces the password (salt and verifier) from a fresh session: every
    /// other session ends, the lockout streak clears, pending handshakes of
    /// the old verifier cannot make a session any more.
    pub async fn change_password(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
        verifier: &str,
        salt: &str,
    ) -> Result<()> {
        rules::check_profile_id(profile_id)?;
        let record = Self::new_record(verifier, salt)?;
        let (keep, _) = self.fresh_session_of(profile_id, token, expiry).await?;
        let id = profile_id.to_owned();
        let key = self.keys.lockout_key(profile_id);
        let changed = self
            .store(move |s| s.set_password(&id, &record, &keep, &key))
            .await?;
        self.drop_handshake(profile_id).await?;
        self.lockout.forget(&key);
        if changed {
            Ok(())
        } else {
            Err(Error::InvalidSession)
        }
    }

    /// Deletes the profile of a fresh session, with its sessions, pending
    /// handshake, reset token and lockout streak.
    pub async fn delete_own_profile(
        &self,
        profile_id: &str,
        token: &str,
        expiry: &str,
    ) -> Result<()> {
        self.fresh_session_of(profile_id, token, expiry).await?;
        self.delete_profile(profile_id)
            .await
            .map(|_| ())
            .map_err(|e| match e {
                // Deleted by someone else meanwhile: the session went with it.
                Error::NoSuchProfile(_) => Error::InvalidSession,
                other => other,
            })
    }

    /// An operator's one-time reset token for a profile, live for `ttl`;
    /// it replaces an older one. Only its keyed hash is stored.
    pub async fn issue_reset_token(
        &self,
        profile_id: &str,
        ttl: Duration,
    ) -> Result<Zeroizing<String>> {
        rules::check_profile_id(profile_id)?;
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut bytes[..]).map_err(Error::rng)?;
        let token =
            Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]));
        let hash = self.keys.reset_token_hash(&token);
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let id = profile_id.to_owned();
        let stored = self
            .store(move |s| s.put_reset_token(&id, &hash, now_ms().saturating_add(ttl_ms)))
            .await?;
        if stored {
            Ok(token)
        } else {
            Err(Error::NoSuchProfile(profile_id.to_owned()))
        }
    }

    /// Sets a new password with an operator's reset token: every session
    /// ends, the streak clears, the token is consumed. A wrong, used or
    /// expired token and an unknown profile are one answer
    /// (`InvalidSession`), and count toward the lockout as a wrong proof.
    pub async fn reset_password(
        &self,
        profile_id: &str,
        reset_token: &str,
        verifier: &str,
        salt: &str,
    ) -> Result<()> {
        rules::check_profile_id(profile_id)?;
        let record = Self::new_record(verifier, salt)?;
        let key = self.keys.lockout_key(profile_id);
        let prior = self.begin_guess(key).await?;
        let hash = self.keys.reset_token_hash(reset_token);
        let id = profile_id.to_owned();
        let outcome = self
            .store(move |s| s.reset_password(&id, &hash, now_ms(), &record, &key))
            .await;
        let done = matches!(outcome, Ok(true));
        let (lockout, shared) = (self.lockout.clone(), self.shared);
        // A success cleared the streak in the store's transaction already:
        // memory learns it first, so it is not written again.
        if done {
            self.lockout.forget(&key);
        }
        self.store(move |s| Self::end_guess(shared, &lockout, s, &key, prior, done))
            .await?;
        match outcome? {
            true => {
                self.drop_handshake(profile_id).await?;
                Ok(())
            }
            false => Err(Error::InvalidSession),
        }
    }
}

#[cfg(test)]
mod tests {
    use zkppd_srp::client;

    use super::*;
    use crate::service::Limits;
    use crate::service::fixture::{Fixture, PASSWORD};
    use crate::store::Store;

    const MIN: i64 = 60_000;

    fn fixture() -> Fixture {
        let f = Fixture::new(Limits::default());
        f.add_profile("alice");
        f.add_profile("bob");
        f
    }

    /// Stores a session of `id` under `token` directly; its expiry string.
    fn plant(f: &Fixture, id: &str, token: &str, expires_ms: i64, created_ms: i64) -> String {
        let verifier = f.store.profile(id).unwrap().unwrap().verifier.clone();
        let session = Session {
            profile_id: id.to_owned(),
            expiry: format_expiry(expires_ms),
            expires_ms,
            created_ms,
        };
        assert!(
            f.store
                .create_session(&session_token_hash(token), &session, 16, &verifier)
                .unwrap()
        );
        session.expiry
    }

    fn live(f: &Fixture, id: &str, token: &str) -> String {
        plant(f, id, token, now_ms() + 10 * MIN, now_ms())
    }

    fn new_password(id: &str, password: &str) -> (String, String) {
        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, id, password);
        (client::derive_verifier(&x), salt)
    }

    #[tokio::test]
    async fn verify_needs_token_profile_and_expiry_to_match() {
        let f = fixture();
        let e = live(&f, "alice", "tok-a");
        let gone = plant(&f, "alice", "tok-old", now_ms() - MIN, now_ms() - 2 * MIN);
        let s = &f.service;
        assert_eq!(s.verify("alice", "tok-a", &e).await.unwrap(), "alice");
        assert!(matches!(
            s.verify("bob", "tok-a", &e).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.verify("alice", "tok-a", &gone).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.verify("alice", "tok-x", &e).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.verify("bob", "tok-old", &gone).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.verify("alice", "tok-old", &gone).await,
            Err(Error::ExpiredSession)
        ));
        assert!(matches!(
            s.verify("", "tok-a", &e).await,
            Err(Error::InvalidProfileId)
        ));
    }

    #[tokio::test]
    async fn a_real_sign_in_verifies() {
        let f = fixture();
        let signed = f.sign_in("alice", PASSWORD).await.unwrap();
        let answer = f
            .service
            .verify("alice", &signed.auth_token, &signed.auth_expiry)
            .await
            .unwrap();
        assert_eq!(answer, "alice");
        assert_eq!(
            f.service.authenticate(&signed.auth_token).await.unwrap(),
            "alice"
        );
    }

    #[tokio::test]
    async fn authenticate_takes_live_tokens_up_to_the_length_cap() {
        let f = fixture();
        let long = "t".repeat(MAX_TOKEN_LEN);
        let too_long = "t".repeat(MAX_TOKEN_LEN + 1);
        live(&f, "bob", &long);
        live(&f, "bob", &too_long);
        live(&f, "bob", "");
        live(&f, "alice", "short");
        plant(&f, "alice", "expired", now_ms() - MIN, now_ms() - 2 * MIN);
        let s = &f.service;
        assert_eq!(s.authenticate(&long).await.unwrap(), "bob");
        assert_eq!(s.authenticate("short").await.unwrap(), "alice");
        for refused in [too_long.as_str(), "", "expired", "unknown"] {
            assert!(
                matches!(s.authenticate(refused).await, Err(Error::InvalidSession)),
                "{refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn sign_out_ends_only_that_session() {
        let f = fixture();
        let e1 = live(&f, "alice", "one");
        let e2 = live(&f, "alice", "two");
        let old = plant(&f, "alice", "old", now_ms() - MIN, now_ms() - 2 * MIN);
        let s = &f.service;
        s.sign_out("alice", "one", &e1).await.unwrap();
        assert!(matches!(
            s.verify("alice", "one", &e1).await,
            Err(Error::InvalidSession)
        ));
        assert_eq!(s.verify("alice", "two", &e2).await.unwrap(), "alice");
        assert!(matches!(
            s.sign_out("alice", "one", &e1).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.sign_out("bob", "two", &e2).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.sign_out("alice", "old", &old).await,
            Err(Error::ExpiredSession)
        ));
        assert!(matches!(
            s.sign_out("", "two", &e2).await,
            Err(Error::InvalidProfileId)
        ));
    }

    #[tokio::test]
    async fn sign_out_all_ends_every_session_of_the_profile() {
        let f = fixture();
        let e1 = live(&f, "alice", "one");
        let e2 = live(&f, "alice", "two");
        let eb = live(&f, "bob", "bob's");
        let s = &f.service;
        assert!(matches!(
            s.sign_out_all("alice", "nope", &e1).await,
            Err(Error::InvalidSession)
        ));
        assert_eq!(s.sign_out_all("alice", "one", &e1).await.unwrap(), 2);
        assert!(matches!(
            s.verify("alice", "two", &e2).await,
            Err(Error::InvalidSession)
        ));
        assert_eq!(s.verify("bob", "bob's", &eb).await.unwrap(), "bob");
        assert_eq!(s.sign_out_all("bob", "bob's", &eb).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn sessions_lists_the_live_ones_and_marks_the_caller() {
        let f = fixture();
        let now = now_ms();
        let e1 = plant(&f, "alice", "one", now + 10 * MIN, now - 2000);
        let e2 = plant(&f, "alice", "two", now + 20 * MIN, now - 1000);
        live(&f, "bob", "bob's");
        plant(&f, "alice", "old", now - MIN, now - 2 * MIN);
        let list = f.service.sessions("alice", "one", &e1).await.unwrap();
        assert_eq!(
            list,
            vec![
                SessionInfo {
                    created: format_expiry(now - 1000),
                    expiry: e2.clone(),
                    current: false,
                },
                SessionInfo {
                    created: format_expiry(now - 2000),
                    expiry: e1.clone(),
                    current: true,
                },
            ]
        );
        let list = f.service.sessions("alice", "two", &e2).await.unwrap();
        assert_eq!(
            list.iter().map(|i| i.current).collect::<Vec<_>>(),
            [true, false]
        );
    }

    #[tokio::test]
    async fn change_password_needs_a_fresh_session_and_valid_fields() {
        let f = fixture();
        let now = now_ms();
        let fresh = live(&f, "alice", "fresh");
        let other = live(&f, "alice", "other");
        let stale = plant(&f, "alice", "stale", now + 10 * MIN, now - 6 * MIN);
        let (v, salt) = new_password("alice", "new pw");
        let s = &f.service;
        assert!(matches!(
            s.change_password("alice", "stale", &stale, &v, &salt).await,
            Err(Error::StaleSession)
        ));
        assert!(matches!(
            s.change_password("alice", "fresh", &fresh, "zz", &salt)
                .await,
            Err(Error::Malformed("zkpp"))
        ));
        assert!(matches!(
            s.change_password("alice", "fresh", &fresh, &v, "z").await,
            Err(Error::Malformed("salt"))
        ));
        assert!(matches!(
            s.change_password("alice", "nope", &fresh, &v, &salt).await,
            Err(Error::InvalidSession)
        ));
        assert_ne!(f.store.profile("alice").unwrap().unwrap().verifier, v);
        s.change_password("alice", "fresh", &fresh, &v, &salt)
            .await
            .unwrap();
        let stored = f.store.profile("alice").unwrap().unwrap();
        assert_eq!(
            (stored.verifier.as_str(), stored.salt.as_str()),
            (v.as_str(), salt.as_str())
        );
        assert_eq!(s.verify("alice", "fresh", &fresh).await.unwrap(), "alice");
        assert!(matches!(
            s.verify("alice", "other", &other).await,
            Err(Error::InvalidSession)
        ));
        f.sign_in("alice", "new pw").await.unwrap();
    }

    #[tokio::test]
    async fn delete_own_profile_needs_a_fresh_session() {
        let f = fixture();
        let now = now_ms();
        let stale = plant(&f, "alice", "stale", now + 10 * MIN, now - 6 * MIN);
        let fresh = live(&f, "alice", "fresh");
        let s = &f.service;
        assert!(matches!(
            s.delete_own_profile("alice", "stale", &stale).await,
            Err(Error::StaleSession)
        ));
        assert!(f.store.profile("alice").unwrap().is_some());
        s.delete_own_profile("alice", "fresh", &fresh)
            .await
            .unwrap();
        assert!(f.store.profile("alice").unwrap().is_none());
        assert!(matches!(
            s.verify("alice", "fresh", &fresh).await,
            Err(Error::InvalidSession)
        ));
        assert!(f.store.profile("bob").unwrap().is_some());
    }

    #[tokio::test]
    async fn a_reset_token_sets_the_password_once() {
        let f = fixture();
        let e = live(&f, "alice", "tok");
        let s = &f.service;
        assert!(matches!(
            s.issue_reset_token("nobody", Duration::from_secs(60)).await,
            Err(Error::NoSuchProfile(_))
        ));
        let token = s
            .issue_reset_token("alice", Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(token.len(), 43);
        let again = s
            .issue_reset_token("alice", Duration::from_secs(60))
            .await
            .unwrap();
        assert_ne!(*token, *again, "random");
        let (v, salt) = new_password("alice", "reset pw");
        // The older token was replaced; a wrong one is refused.
        for wrong in [token.as_str(), "", "xyzzy"] {
            assert!(matches!(
                s.reset_password("alice", wrong, &v, &salt).await,
                Err(Error::InvalidSession)
            ));
        }
        assert!(matches!(
            s.reset_password("alice", &again, "zz", &salt).await,
            Err(Error::Malformed("zkpp"))
        ));
        assert!(matches!(
            s.reset_password("alice", &again, &v, "z").await,
            Err(Error::Malformed("salt"))
        ));
        s.reset_password("alice", &again, &v, &salt).await.unwrap();
        assert_eq!(f.store.profile("alice").unwrap().unwrap().verifier, v);
        assert!(matches!(
            s.verify("alice", "tok", &e).await,
            Err(Error::InvalidSession)
        ));
        assert!(matches!(
            s.reset_password("alice", &again, &v, &salt).await,
            Err(Error::InvalidSession)
        ));
        f.sign_in("alice", "reset pw").await.unwrap();
    }

    #[tokio::test]
    async fn an_expired_reset_token_is_refused() {
        let f = fixture();
        let token = f
            .service
            .issue_reset_token("alice", Duration::ZERO)
            .await
            .unwrap();
        let (v, salt) = new_password("alice", "x");
        assert!(matches!(
            f.service.reset_password("alice", &token, &v, &salt).await,
            Err(Error::InvalidSession)
        ));
    }
}
