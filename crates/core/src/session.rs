//! Session credentials: the random auth token and the expiry string handed
//! to clients, and the clock they are measured on. Storage is the store's;
//! this module has no I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// 32 bytes from the OS CSPRNG as base64url without padding (43 chars).
pub(crate) fn new_token() -> Result<Zeroizing<String>> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut bytes[..]).map_err(Error::rng)?;
    Ok(Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]),
    ))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, RFC 3339 with milliseconds).
pub fn format_expiry(unix_ms: i64) -> String {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
    humantime::format_rfc3339_millis(at).to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_milliseconds() {
        assert_eq!(format_expiry(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_expiry(1_795_629_600_000), "2026-11-25T18:00:00.000Z");
        assert_eq!(format_expiry(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(format_expiry(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn tokens_are_43_base64url_chars_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(*a, *b);
    }
}
