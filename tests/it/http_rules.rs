//! SPEC §1: the wire rules every route shares, sent as real requests to a
//! real server.

use serde_json::json;
use zkppd_testkit::{ADMIN, Http, TestResult, TestServer, signup_body};

const ROUTES: [&str; 6] = [
    "/v1/bucket/fill",
    "/v1/signup",
    "/v1/signin",
    "/v1/signin/verify",
    "/v1/verify",
    "/v1/signout",
];

#[test]
fn unknown_paths_are_404() -> TestResult {
    let s = TestServer::start();
    for path in [
        "/",
        "/v1",
        "/v1/signup/",
        "/v1/nope",
        "/V1/SIGNUP",
        "/v2/signup",
    ] {
        s.post(path, &json!({})).assert_error(404, "Not found");
        s.request("GET", path, &[], b"")
            .assert_error(404, "Not found");
    }
    Ok(())
}

#[test]
fn other_methods_are_405_with_allow() -> TestResult {
    let s = TestServer::start();
    for path in ROUTES {
        for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let r = s.request(method, path, &[("Content-Type", "application/json")], b"{}");
            r.assert_error(405, "Method not allowed");
            assert_eq!(r.header("allow"), Some("POST"), "{method} {path}");
        }
    }
    Ok(())
}

#[test]
fn wrong_content_type_is_415() -> TestResult {
    let s = TestServer::start();
    let body = signup_body("a", "t").to_string();
    for path in ROUTES.iter().filter(|p| **p != "/v1/bucket/fill") {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin1",
            "application/jsonp",
        ] {
            s.request("POST", path, &[("Content-Type", ct)], body.as_bytes())
                .assert_error(415, "Unsupported media type");
        }
        s.request("POST", path, &[], body.as_bytes())
            .assert_error(415, "Unsupported media type");
    }
    // The charset parameter is allowed.
    let r = s.request(
        "POST",
        "/v1/signup",
        &[("Content-Type", "application/json; charset=utf-8")],
        body.as_bytes(),
    );
    r.assert_error(400, "Invalid token");
    Ok(())
}

#[test]
fn bodies_over_the_limit_are_413() -> TestResult {
    let s = TestServer::start();
    let big = vec![b'x'; 64 * 1024 + 1];
    for path in ROUTES.iter().filter(|p| **p != "/v1/bucket/fill") {
        s.post_raw(path, &big)
            .assert_error(413, "Payload too large");
    }
    // Exactly at the limit is read (and then fails as JSON).
    s.post_raw("/v1/signup", &vec![b' '; 64 * 1024])
        .assert_error(400, "Invalid body");
    // Chunked bodies are limited as they stream in.
    let mut req = b"POST /v1/signin HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        req.extend_from_slice(b"1000\r\n");
        req.extend_from_slice(&[b' '; 0x1000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    s.raw(&req).assert_error(413, "Payload too large");

    // Bucket fill takes up to 4 MiB.
    let auth = format!("Bearer {ADMIN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    let tokens: Vec<String> = (0..1000).map(|i| format!("{i:0>100}")).collect();
    let body = json!({"bucket": "signup", "tokens": tokens}).to_string();
    assert!(body.len() > 64 * 1024);
    let r = s.request("POST", "/v1/bucket/fill", &headers, body.as_bytes());
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"inserted": 1000, "duplicates": 0}));
    let huge = vec![b' '; 4 * 1024 * 1024 + 1];
    s.request("POST", "/v1/bucket/fill", &headers, &huge)
        .assert_error(413, "Payload too large");
    Ok(())
}

#[test]
fn checks_run_in_the_spec_order() -> TestResult {
    let s = TestServer::start();
    let big = vec![b'x'; 5 * 1024 * 1024];
    // 404 before 405 before anything else.
    s.request("GET", "/nope", &[("Content-Type", "text/plain")], &big)
        .assert_error(404, "Not found");
    s.request(
        "GET",
        "/v1/bucket/fill",
        &[("Content-Type", "text/plain")],
        &big,
    )
    .assert_error(405, "Method not allowed");
    // 401 before 415 and 413 on admin routes.
    let r = s.request(
        "POST",
        "/v1/bucket/fill",
        &[("Content-Type", "text/plain")],
        &big,
    );
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // 415 before 413.
    s.request(
        "POST",
        "/v1/signup",
        &[("Content-Type", "text/plain")],
        &big,
    )
    .assert_error(415, "Unsupported media type");
    // 413 before 400.
    s.post_raw("/v1/signup", &big)
        .assert_error(413, "Payload too large");
    // Invalid body before the profile-id rule, which comes before the rest.
    s.post(
        "/v1/signup",
        &json!({"profile_id": "", "profile_token": 1, "zkpp": "x", "salt": "y"}),
    )
    .assert_error(400, "Invalid body");
    s.post(
        "/v1/signup",
        &json!({"profile_id": "", "profile_token": "t", "zkpp": "x", "salt": "y"}),
    )
    .assert_error(400, "Invalid profile ID");
    Ok(())
}

#[test]
fn malformed_json_is_invalid_body_on_every_route() -> TestResult {
    let s = TestServer::start();
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"x\"".to_vec(),
        b"{} {}".to_vec(),
        b"{\"profile_id\": \"\xff\xfe\", \"key\": \"00\"}".to_vec(),
        b"{\"profile_id\": \"a\", \"key\": \"02\", \"key\": \"02\"}".to_vec(),
        b"{\"profile_id\": \"a\"}".to_vec(),
        b"{\"profile_id\": \"a\", \"key\": 2}".to_vec(),
        b"{\"profile_id\": \"a\", \"key\": \"02\", \"extra\": 1}".to_vec(),
        b"{\"profile_id\": null, \"key\": \"02\"}".to_vec(),
        b"{\"profile_id\": [\"a\"], \"key\": \"02\"}".to_vec(),
    ];
    for path in ["/v1/signin", "/v1/signin/verify"] {
        for body in &bodies {
            s.post_raw(path, body).assert_error(400, "Invalid body");
        }
    }
    let signup_bad = [
        json!({"profile_id": "a", "profile_token": "t", "zkpp": "02"}),
        json!({"profile_id": "a", "profile_token": "t", "zkpp": "02", "salt": "ab", "x": 1}),
        json!({"profile_id": "a", "profile_token": 5, "zkpp": "02", "salt": "ab"}),
        json!({"profile_id": 7, "profile_token": "t", "zkpp": "02", "salt": "ab"}),
        json!({"profile_id": "a", "profile_token": "t", "zkpp": 2, "salt": "ab"}),
        json!({"profile_id": "a", "profile_token": "t", "zkpp": "02", "salt": true}),
    ];
    for body in &signup_bad {
        s.post("/v1/signup", body).assert_error(400, "Invalid body");
    }
    let jwt = json!({"profile_id": "a", "auth_token": "t", "auth_expiry": "e"});
    let session_bad = [
        json!({}),
        json!({"jwt": null}),
        json!({"jwt": "x"}),
        json!({"jwt": jwt, "extra": 1}),
        json!({"jwt": {"profile_id": "a", "auth_token": "t"}}),
        json!({"jwt": {"profile_id": "a", "auth_token": "t", "auth_expiry": "e", "x": 1}}),
        json!({"jwt": {"profile_id": "a", "auth_token": 1, "auth_expiry": "e"}}),
        json!({"jwt": {"profile_id": "a", "auth_token": "t", "auth_expiry": 0}}),
    ];
    for path in ["/v1/verify", "/v1/signout"] {
        for body in &session_bad {
            s.post(path, body).assert_error(400, "Invalid body");
        }
        s.post_raw(path, b"{\"jwt\": {\"profile_id\": \"a\", \"profile_id\": \"a\", \"auth_token\": \"t\", \"auth_expiry\": \"e\"}}")
            .assert_error(400, "Invalid body");
    }
    Ok(())
}

#[test]
fn profile_id_rule_holds_on_every_route() -> TestResult {
    let s = TestServer::start();
    let long = "x".repeat(129);
    let bad_ids = [
        "",
        long.as_str(),
        "a\u{0}b",
        "line\nbreak",
        "tab\there",
        "del\u{7f}",
        "c1\u{9f}",
    ];
    for id in bad_ids {
        s.post("/v1/signup", &signup_body(id, "t"))
            .assert_error(400, "Invalid profile ID");
        s.post("/v1/signin", &json!({"profile_id": id, "key": "02"}))
            .assert_error(400, "Invalid profile ID");
        s.post(
            "/v1/signin/verify",
            &json!({"profile_id": id, "key": "00".repeat(32)}),
        )
        .assert_error(400, "Invalid profile ID");
        let jwt = json!({"jwt": {"profile_id": id, "auth_token": "t", "auth_expiry": "e"}});
        s.post("/v1/verify", &jwt)
            .assert_error(400, "Invalid profile ID");
        s.post("/v1/signout", &jwt)
            .assert_error(400, "Invalid profile ID");
    }
    // 128 bytes of multi-byte UTF-8 is fine; 129 bytes is not.
    let ok = "é".repeat(64);
    s.post("/v1/signup", &signup_body(&ok, "t"))
        .assert_error(400, "Invalid token");
    let over = format!("{}x", "é".repeat(64));
    s.post("/v1/signup", &signup_body(&over, "t"))
        .assert_error(400, "Invalid profile ID");
    Ok(())
}

#[test]
fn keep_alive_serves_several_requests() -> TestResult {
    let s = TestServer::start();
    let mut http = Http::new(s.addr);
    let body = b"{\"jwt\":{\"profile_id\":\"a\",\"auth_token\":\"t\",\"auth_expiry\":\"e\"}}";
    for _ in 0..3 {
        http.request("POST", "/v1/verify", body, None)?
            .assert_error(400, "Invalid token");
    }
    // All three answers came over the first connection.
    assert_eq!(http.connections(), 1);
    Ok(())
}
