//! CORS for browser clients, on only with `--cors-origin`: which origins
//! may call, the preflight answer, and the headers added to real answers.
//! Knows no URL (routes.rs says which paths allow which method) and does
//! nothing at all when no origin is configured.

use hyper::StatusCode;
use hyper::header::{HeaderMap, HeaderValue, ORIGIN, VARY};

use crate::config::Settings;
use crate::http::Response;

/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// The request's `Origin` if CORS is on and it is allowed.
pub fn allowed_origin(settings: &Settings, headers: &HeaderMap) -> Option<HeaderValue> {
    if settings.cors_origins.is_empty() {
        return None;
    }
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    let allowed = settings
        .cors_origins
        .iter()
        .any(|o| o == "*" || o.eq_ignore_ascii_case(text));
    allowed.then(|| origin.clone())
}

/// Whether this OPTIONS request is a CORS preflight asking for `method`
/// from an allowed origin: then it gets [`preflight`], else a 405.
pub fn is_preflight(settings: &Settings, headers: &HeaderMap, method: &str) -> bool {
    allowed_origin(settings, headers).is_some()
        && headers
            .get("access-control-request-method")
            .is_some_and(|m| m.as_bytes() == method.as_bytes())
}

/// The answer to a preflight for a route that allows `method`: 204 with
/// the allowed method and the two request headers the API uses (the
/// origin itself is added by [`decorate`], as on every answer).
pub fn preflight(method: &'static str) -> Response {
    let mut res = Response::new(Default::default());
    *res.status_mut() = StatusCode::NO_CONTENT;
    let h = res.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static(method),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert("access-control-max-age", HeaderValue::from_static(MAX_AGE));
    res
}

/// Whether a browser page from `origin` may call with credentials (the
/// session cookie): only with `--session-cookie` on, and only for an
/// origin named by `--cors-origin` itself, never one let in by `*`, so
/// that no page of any site can ride a signed-in browser's cookie.
fn allows_credentials(settings: &Settings, origin: &HeaderValue) -> bool {
    settings.session_cookie.is_some()
        && origin.to_str().is_ok_and(|text| {
            settings
                .cors_origins
                .iter()
                .any(|o| o != "*" && o.eq_ignore_ascii_case(text))
        })
}

/// Adds the CORS headers of an answer (a preflight's too). With CORS on,
/// every answer varies by `Origin`, so caches must know it.
pub fn decorate(settings: &Settings, origin: Option<HeaderValue>, res: &mut Response) {
    if settings.cors_origins.is_empty() {
        return;
    }
    let h = res.headers_mut();
    h.append(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        if allows_credentials(settings, &origin) {
            h.insert(
                "access-control-allow-credentials",
                HeaderValue::from_static("true"),
            );
        }
        h.insert("access-control-allow-origin", origin);
        // A page that asks /v1/auth who is signed in reads the id header.
        let expose = format!(
            "retry-after, www-authenticate, x-request-id, {}",
            settings.auth_header
        );
        if let Ok(expose) = HeaderValue::from_str(&expose) {
            h.insert("access-control-expose-headers", expose);
        }
    }
}
