//! The input rules of SPEC §1–2, in one place for the HTTP routes and the
//! admin commands alike: profile ids, bucket names and tokens, salts and
//! verifiers.

use zkppd_srp as srp;

use crate::{Error, Result};

/// Most tokens one fill may carry.
pub const MAX_TOKENS: usize = 10_000;
/// Longest token, in bytes.
pub const MAX_TOKEN_LEN: usize = 256;
/// Longest profile id, in bytes.
pub const MAX_PROFILE_ID_LEN: usize = 128;
/// Longest salt, in hex characters.
pub const MAX_SALT_LEN: usize = 512;

/// 1–128 bytes of UTF-8 without control characters (Unicode Cc).
pub fn check_profile_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_PROFILE_ID_LEN || id.chars().any(char::is_control) {
        return Err(Error::InvalidProfileId);
    }
    Ok(())
}

/// 1–256 bytes of visible ASCII: no spaces, no control characters.
pub fn valid_token(t: &str) -> bool {
    (1..=MAX_TOKEN_LEN).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
}

/// A fill's tokens: at most [`MAX_TOKENS`], each a [`valid_token`].
pub fn check_tokens(tokens: &[String]) -> Result<()> {
    if tokens.len() > MAX_TOKENS || !tokens.iter().all(|t| valid_token(t)) {
        return Err(Error::Malformed("tokens"));
    }
    Ok(())
}

/// The salt is stored and echoed verbatim: 2–512 hex characters.
pub fn valid_salt(salt: &str) -> bool {
    salt.len() <= MAX_SALT_LEN && srp::hex::decode(salt).is_some()
}

/// A verifier is hex with 1 < v < N.
pub fn valid_verifier(zkpp: &str) -> bool {
    srp::Verifier::from_hex(zkpp).is_some()
}

/// Which bucket a name means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Profile,
    Signup,
}

impl Bucket {
    pub fn parse(name: &str) -> Result<Bucket> {
        match name {
            "profile" => Ok(Bucket::Profile),
            "signup" => Ok(Bucket::Signup),
            _ => Err(Error::UnknownBucket),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bucket::Profile => "profile",
            Bucket::Signup => "signup",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_ids() {
        for ok in [
            "a",
            "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d",
            "ünïcødé ✓",
            &"x".repeat(128),
            " spaced ",
        ] {
            assert!(check_profile_id(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            &"x".repeat(129),
            "a\nb",
            "\u{0}",
            "tab\t",
            "del\u{7f}",
            "c1\u{85}",
            &"é".repeat(65),
        ] {
            assert!(check_profile_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_and_salts() {
        assert!(valid_token("a"));
        assert!(valid_token(&"~".repeat(256)));
        for bad in ["", " a", "a b", "é", "a\tb", &"x".repeat(257)] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        assert!(check_tokens(&vec!["t".to_owned(); MAX_TOKENS]).is_ok());
        assert!(check_tokens(&vec!["t".to_owned(); MAX_TOKENS + 1]).is_err());
        assert!(valid_salt("ab"));
        assert!(valid_salt(&"Ab".repeat(256)));
        for bad in ["", "a", "zz", &"ab".repeat(257)] {
            assert!(!valid_salt(bad), "{bad:?}");
        }
        assert_eq!(Bucket::parse("signup").unwrap(), Bucket::Signup);
        assert!(Bucket::parse("Signup").is_err());
    }

    #[test]
    fn verifiers_must_be_hex_in_range() {
        assert!(valid_verifier("02"));
        assert!(valid_verifier("ab12"));
        for bad in ["", "00", "01", "2", "zz", "not hex"] {
            assert!(!valid_verifier(bad), "{bad:?}");
        }
    }

    #[test]
    fn bucket_names_round_trip() {
        for b in [Bucket::Profile, Bucket::Signup] {
            assert_eq!(Bucket::parse(b.name()).unwrap(), b);
        }
        assert_eq!(Bucket::Profile.name(), "profile");
        assert_eq!(Bucket::Signup.name(), "signup");
        assert_eq!(Bucket::parse("profile").unwrap(), Bucket::Profile);
        assert!(matches!(Bucket::parse("xyzzy"), Err(Error::UnknownBucket)));
    }
}
