//! One async fn per route: decode the body, apply the route's rules in the
//! SPEC's order, call the domain and database modules, shape the answer.
//! No SQL and no URL here.

pub mod bucket;
pub mod ops;
pub mod session;
pub mod signin;
pub mod signup;

use crate::error::Error;

/// SPEC §1: 1–128 bytes of UTF-8 without control characters (Unicode Cc).
pub fn check_profile_id(id: &str) -> Result<(), Error> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(Error::InvalidProfileId);
    }
    Ok(())
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
}
