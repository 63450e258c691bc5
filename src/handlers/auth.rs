//! `GET /v1/auth`: forward-auth for reverse proxies (nginx `auth_request`,
//! Caddy `forward_auth`, Traefik `ForwardAuth`). The credential is a
//! session's auth token, from a bearer header or the session cookie; a
//! live session is `200` with the profile id in a header, anything else
//! one and the same `401`. Not rate limited and not audited: the proxy
//! calls it for every request of the apps behind it.

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};
use zkppd_core::Error as CoreError;

use crate::error::ApiError;
use crate::http::{self, Response};
use crate::{AppState, cookie};

pub(crate) async fn check(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let headers = req.headers();
    // The bearer first, then each value of the session cookie: a proxy
    // forwards every header of the app's request, and an app may use its
    // own bearer tokens while the browser also carries the cookie.
    let mut tokens: Vec<&str> = http::bearer(headers).into_iter().collect();
    if let Some(c) = &state.settings.session_cookie {
        tokens.extend(cookie::values(headers, &c.name));
    }
    for token in tokens {
        match state.core.authenticate(token).await {
            Ok(profile_id) => return granted(state, &profile_id),
            Err(CoreError::InvalidSession) => continue,
            // A store fault is a 503, not a 401: the proxy must not treat
            // a passing database hiccup as "signed out".
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unauthorized)
}

fn granted(state: &AppState, profile_id: &str) -> Result<Response, ApiError> {
    let value = header_value(profile_id)
        .ok_or_else(|| ApiError::Internal("profile id header value".to_owned()))?;
    let mut res = Response::new(Default::default());
    *res.status_mut() = StatusCode::OK;
    res.headers_mut()
        .insert(state.settings.auth_header.clone(), value);
    Ok(res)
}

/// The profile id as a header value: printable ASCII stays as it is, and
/// every other byte (space, non-ASCII UTF-8) and `%` itself become `%XX`.
/// UUIDs, e-mail addresses and plain names pass unchanged; an id that is
/// not a safe header value is never put in one; and the map is one-to-one,
/// so no profile can pick an id whose header equals another's.
fn header_value(profile_id: &str) -> Option<HeaderValue> {
    let mut out = String::with_capacity(profile_id.len());
    for b in profile_id.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // Only printable ASCII is left, which is always a valid value.
    HeaderValue::from_str(&out).ok()
}

#[cfg(test)]
mod tests {
    use super::header_value;

    #[test]
    fn plain_ids_pass_and_others_are_percent_encoded() {
        for plain in [
            "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b",
            "alice@example.com",
            "Bob_O'Neil+tag",
        ] {
            assert_eq!(header_value(plain).unwrap(), plain);
        }
        assert_eq!(header_value("jürgen").unwrap(), "j%C3%BCrgen");
        assert_eq!(header_value(" a b ").unwrap(), "%20a%20b%20");
        assert_eq!(header_value("100%").unwrap(), "100%25");
        assert_eq!(header_value("x\u{85}y").unwrap(), "x%C2%85y");
        // One-to-one: the id that spells another's encoding differs.
        assert_ne!(header_value("%C3%BC"), header_value("ü"));
    }
}
