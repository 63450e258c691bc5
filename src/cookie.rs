//! The opt-in session cookie (`--session-cookie`): the `Set-Cookie` lines
//! that hand a session to a browser at sign-in and take it back at
//! sign-out, and the reading of that cookie's values from a request. Knows
//! no URL and no session rule: the handlers decide when, the core decides
//! whether a token is live.

use hyper::header::{COOKIE, HeaderMap, HeaderValue};

use crate::config::SessionCookie;

/// At most this many values of the session cookie are tried per request
/// (a browser may hold one per Domain/Path; more is someone's noise).
pub(crate) const MAX_VALUES: usize = 4;

/// `Set-Cookie` for a session token that lives `max_age` more seconds.
/// `None` only if the token is not a valid header value, which a token of
/// the core (base64url) never is.
pub(crate) fn set(cookie: &SessionCookie, token: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&line(cookie, token, max_age)).ok()
}

/// `Set-Cookie` that makes the browser drop the session cookie: the same
/// name, Domain and Path, and `Max-Age=0`.
pub(crate) fn clear(cookie: &SessionCookie) -> Option<HeaderValue> {
    HeaderValue::from_str(&line(cookie, "", 0)).ok()
}

fn line(cookie: &SessionCookie, value: &str, max_age: u64) -> String {
    // SameSite=Lax: sent on top-level navigation to the protected apps
    // (a link from elsewhere works), not on cross-site sub-requests.
    let secure = if cookie.secure { "; Secure" } else { "" };
    let mut line = format!(
        "{}={value}; HttpOnly{secure}; SameSite=Lax; Path=/; Max-Age={max_age}",
        cookie.name
    );
    if let Some(domain) = &cookie.domain {
        line.push_str("; Domain=");
        line.push_str(domain);
    }
    line
}

/// The values of the cookie `name` in the request's `Cookie` headers, in
/// order, at most [`MAX_VALUES`]. Values in double quotes (RFC 6265 allows
/// them) are unquoted; empty values are skipped.
pub(crate) fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| n.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
        .filter(|v| !v.is_empty())
        .take(MAX_VALUES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_clear_lines() {
        let mut c = SessionCookie::new("sid");
        assert_eq!(
            set(&c, "tok", 3600).unwrap(),
            "sid=tok; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=3600"
        );
        c.domain = Some("example.com".into());
        c.secure = false;
        assert_eq!(
            clear(&c).unwrap(),
            "sid=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0; Domain=example.com"
        );
        assert!(set(&c, "a\nb", 1).is_none());
    }

    #[test]
    fn reads_every_value_of_the_name_only() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; sid=x; sidx=no; sid=\"y\""),
        );
        h.append(COOKIE, HeaderValue::from_static("sid=; sid = z"));
        assert_eq!(values(&h, "sid"), ["x", "y", "z"]);
        h.append(COOKIE, HeaderValue::from_static("sid=1; sid=2; sid=3"));
        assert_eq!(values(&h, "sid").len(), MAX_VALUES);
        assert!(values(&HeaderMap::new(), "sid").is_empty());
    }
}
