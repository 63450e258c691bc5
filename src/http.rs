//! HTTP plumbing shared by every route: the content-type check, bounded
//! body reading, strict JSON decoding, JSON and error responses, bearer
//! parsing. Knows no route and no domain rule.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

pub(crate) type Body = Full<Bytes>;
pub(crate) type Response = hyper::Response<Body>;

pub(crate) use zkppd_proto::limits::{BODY as BODY_LIMIT, FILL_BODY as FILL_BODY_LIMIT};

/// A JSON response with the given status.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_body(status, Bytes::from(bytes)),
        Err(_) => with_body(
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(
                br#"{"statusCode":500,"error":"Internal Server Error","message":"Internal error"}"#,
            ),
        ),
    }
}

fn with_body(status: StatusCode, body: Bytes) -> Response {
    let mut res = Response::new(Full::new(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The SPEC's error body `{statusCode, error, message}` plus headers.
pub(crate) fn error(err: &ApiError) -> Response {
    let (status, message, header) = err.parts();
    let body = zkppd_proto::ErrorBody {
        status_code: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        message: message.to_owned(),
    };
    let mut res = json(status, &body);
    if let Some((name, Ok(value))) = header.map(|(n, v)| (n, HeaderValue::from_str(&v))) {
        res.headers_mut().insert(name, value);
    }
    res
}

/// `application/json`, optionally with `charset=utf-8`, nothing else.
pub(crate) fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return false;
    }
    parts.all(|param| {
        let param = param.trim();
        match param.split_once('=') {
            Some((k, v)) => {
                k.trim().eq_ignore_ascii_case("charset")
                    && v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            None => param.is_empty(),
        }
    })
}

/// Reads a JSON body in the SPEC's order: 415, then 413, then 400. The
/// body must be an object with at most `arrays` arrays in it.
/// Unknown fields, duplicate keys, wrong types and missing fields are all
/// rejected by the target type's derived `Deserialize` (which must use
/// `deny_unknown_fields`).
pub(crate) async fn read_json<T: DeserializeOwned>(
    req: Request<Incoming>,
    limit: usize,
    arrays: usize,
    timeout: std::time::Duration,
) -> Result<T, ApiError> {
    if !is_json_content_type(req.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) || req.body().size_hint().lower() > limit as u64 {
        return Err(ApiError::PayloadTooLarge);
    }
    // A body that trickles in slower than the timeout is cut off, so a
    // slow client cannot hold a connection and its buffer for long.
    let collected =
        tokio::time::timeout(timeout, Limited::new(req.into_body(), limit).collect()).await;
    let bytes = match collected {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Err(ApiError::PayloadTooLarge);
        }
        Ok(Err(_)) | Err(_) => return Err(ApiError::InvalidBody),
    };
    // serde's derived structs also take a JSON array of their fields in
    // order (`["id", "A"]` for `{"profile_id": "id", "key": "A"}`, also
    // inside `jwt`). SPEC's bodies are objects whose only array is the
    // fill's `tokens`, so a body must open with `{` and hold no more `[`
    // (outside strings) than `arrays`: one byte scan, no allocation.
    let parsed = if object_with_arrays_at_most(&bytes, arrays) {
        serde_json::from_slice(&bytes).map_err(|_| ApiError::InvalidBody)
    } else {
        Err(ApiError::InvalidBody)
    };
    wipe(bytes);
    parsed
}

/// Zeroes a request body once parsed: it may hold a verifier, a token or
/// a session credential. Best effort: a body hyper handed over in several
/// chunks leaves those chunks (and hyper's read buffer) to the allocator.
fn wipe(bytes: Bytes) {
    if let Ok(mut owned) = bytes.try_into_mut() {
        zeroize::Zeroize::zeroize(&mut owned[..]);
    }
}

/// Whether `json` starts (after whitespace) with `{` and has at most
/// `max` array openings outside string literals. Only a pre-filter: the
/// real parse still decides everything else.
fn object_with_arrays_at_most(json: &[u8], max: usize) -> bool {
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return false;
    }
    let (mut in_string, mut escaped, mut arrays) = (false, false, 0usize);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b == b'[' {
            arrays += 1;
            if arrays > max {
                return false;
            }
        }
    }
    true
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive).
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(hyper::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        h
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "application/json; charset=\"utf-8\"",
        ] {
            assert!(is_json_content_type(&headers(ok)), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "",
            "application/json; boundary=x",
        ] {
            assert!(!is_json_content_type(&headers(bad)), "{bad}");
        }
        assert!(!is_json_content_type(&HeaderMap::new()));
    }

    #[test]
    fn only_objects_with_the_allowed_arrays_pass() {
        assert!(object_with_arrays_at_most(br#" {"a": "[x]"}"#, 0));
        assert!(object_with_arrays_at_most(br#"{"a": "\"[", "t": []}"#, 1));
        assert!(!object_with_arrays_at_most(br#"["id", "A"]"#, 1));
        assert!(!object_with_arrays_at_most(
            br#"{"jwt": ["a", "t", "e"]}"#,
            0
        ));
        assert!(!object_with_arrays_at_most(br#"{"t": [[]]}"#, 1));
        assert!(!object_with_arrays_at_most(b"", 0));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let mut h = HeaderMap::new();
        h.insert(
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("bEaReR abc"),
        );
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(
            hyper::header::AUTHORIZATION,
            HeaderValue::from_static("Basic abc"),
        );
        assert_eq!(bearer(&h), None);
    }
}
