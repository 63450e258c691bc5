//! Forward-auth over HTTP (`GET /v1/auth`, issue 15) and the opt-in session
//! cookie, against the in-process server: every status and header a
//! reverse proxy or a browser relies on, the one 401 for every kind of
//! refusal, the cookie's attributes at sign-in and sign-out, CORS
//! credentials, and the start-up checks of the new flags (real binary).

use std::time::Duration;

use serde_json::{Value, json};
use zkppd::config::{SessionCookie, Settings};
use zkppd_testkit::process::command;
use zkppd_testkit::{Account, Reply, TestResult, TestServer};

use crate::BIN;

const AUTH: &str = "/v1/auth";

fn get_auth(server: &TestServer, headers: &[(&str, &str)]) -> Reply {
    server.request("GET", AUTH, headers, b"")
}

fn bearer(jwt: &Value) -> String {
    format!("Bearer {}", jwt["auth_token"].as_str().expect("auth_token"))
}

/// A signed-up account and one live session of it. The bucket tokens are
/// numbered, so that any profile id (spaces, non-ASCII) can sign up.
fn signed_in(server: &TestServer, id: &str) -> (Account, Value) {
    let account = Account::new(id, "correct horse battery staple");
    let n = zkppd_testkit::random_u64();
    let token = format!("tok-{n:x}");
    assert_eq!(
        server.fill("profile", std::slice::from_ref(&token)).status,
        200
    );
    assert_eq!(server.fill("signup", &[format!("su-{n:x}")]).status, 200);
    let r = server.post("/v1/signup", &account.signup_body(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    let jwt = server.session_for(&account);
    (account, jwt)
}

/// The granted answer: 200, empty body, the id header, `no-store`.
#[track_caller]
fn assert_granted(r: &Reply, header: &str, id: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.is_empty(), "body {:?}", r.text());
    assert_eq!(r.header(header), Some(id));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("content-length"), Some("0"));
}

/// The one refusal: 401 `Unauthorized`, `WWW-Authenticate: Bearer`,
/// `no-store`, no id header; returns the body to compare across cases.
#[track_caller]
fn assert_refused(r: &Reply) -> Vec<u8> {
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("x-profile-id"), None);
    r.body.clone()
}

fn with_cookie(name: &str) -> impl FnOnce(&mut Settings) {
    let name = name.to_owned();
    move |s: &mut Settings| s.session_cookie = Some(SessionCookie::new(&name))
}

#[test]
fn a_live_bearer_is_200_with_the_profile_id_and_head_too() -> TestResult {
    let server = TestServer::start();
    let id = "3f2b8c1e-5a4d-4e6f-9b7a-0c1d2e3f4a5b";
    let (_, jwt) = signed_in(&server, id);
    let auth = bearer(&jwt);
    assert_granted(
        &get_auth(&server, &[("Authorization", &auth)]),
        "x-profile-id",
        id,
    );
    // The scheme is case-insensitive, as everywhere else.
    let lower = auth.replacen("Bearer", "bEARER", 1);
    assert_granted(
        &get_auth(&server, &[("Authorization", &lower)]),
        "x-profile-id",
        id,
    );
    let head = server.request("HEAD", AUTH, &[("Authorization", &auth)], b"");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-profile-id"), Some(id));
    assert_eq!(head.header("cache-control"), Some("no-store"));
    // A query string (proxies may pass the original one on) changes nothing.
    let q = server.request("GET", "/v1/auth?next=/x", &[("Authorization", &auth)], b"");
    assert_granted(&q, "x-profile-id", id);
    Ok(())
}

#[test]
fn every_refusal_is_the_same_401() -> TestResult {
    let server = TestServer::with(with_cookie("zkppd_session"));
    let (_, jwt) = signed_in(&server, "alice");
    let (_, ended) = signed_in(&server, "bob");
    let r = server.post("/v1/signout", &json!({ "jwt": ended }));
    assert_eq!(r.status, 200);
    let (_, expired) = signed_in(&server, "carol");
    let changed = server.sqlite().execute(
        "UPDATE sessions SET expires_ms = expires_ms - 7200000 WHERE profile_id = 'carol'",
        [],
    )?;
    assert_eq!(changed, 1);

    let live = jwt["auth_token"].as_str().unwrap().to_owned();
    let long = "A".repeat(300);
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("Authorization", "Bearer".into())],
        vec![("Authorization", "Bearer ".into())],
        vec![("Authorization", "Bearer not-a-session-token".into())],
        vec![("Authorization", format!("Bearer {long}"))],
        vec![("Authorization", format!("Basic {live}"))],
        vec![("Authorization", live.clone())],
        vec![("Authorization", bearer(&ended))],
        vec![("Authorization", bearer(&expired))],
        vec![("Cookie", "zkppd_session=nope".into())],
        vec![("Cookie", format!("other={live}"))],
        vec![("Cookie", format!("zkppd_session_x={live}"))],
        vec![(
            "Cookie",
            format!("zkppd_session={}", expired["auth_token"].as_str().unwrap()),
        )],
        vec![("X-Auth-Token", live.clone())],
    ];
    let mut bodies = Vec::new();
    for headers in &cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = get_auth(&server, &headers);
        bodies.push(assert_refused(&r));
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "refusals differ: {bodies:?}");
    // The live one still passes: the refusals were about the credential.
    assert_granted(
        &get_auth(&server, &[("Authorization", &format!("Bearer {live}"))]),
        "x-profile-id",
        "alice",
    );
    Ok(())
}

#[test]
fn a_session_ended_by_another_process_is_refused_at_once() -> TestResult {
    let server = TestServer::start();
    let (_, jwt) = signed_in(&server, "dave");
    let auth = bearer(&jwt);
    assert_eq!(get_auth(&server, &[("Authorization", &auth)]).status, 200);
    // As `zkppd session revoke` would, straight in the database file.
    let deleted = server
        .sqlite()
        .execute("DELETE FROM sessions WHERE profile_id = 'dave'", [])?;
    assert_eq!(deleted, 1);
    assert_refused(&get_auth(&server, &[("Authorization", &auth)]));
    Ok(())
}

#[test]
fn a_session_past_its_ttl_is_refused() -> TestResult {
    let _timed = zkppd_testkit::serial::timed();
    let server = TestServer::with(|s| s.session_ttl = Duration::from_secs(2));
    let (_, jwt) = signed_in(&server, "erin");
    let auth = bearer(&jwt);
    assert_eq!(get_auth(&server, &[("Authorization", &auth)]).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert_refused(&get_auth(&server, &[("Authorization", &auth)]));
    Ok(())
}

#[test]
fn other_methods_are_405_with_allow() -> TestResult {
    let server = TestServer::start();
    let (_, jwt) = signed_in(&server, "frank");
    let auth = bearer(&jwt);
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = server.request(method, AUTH, &[("Authorization", &auth)], b"");
        r.assert_error(405, "Method not allowed");
        assert_eq!(r.header("allow"), Some("GET, HEAD"), "{method}");
    }
    // Paths next to it are not it.
    for path in ["/v1/auth/", "/v1/Auth", "/v1/authx"] {
        server
            .request("GET", path, &[("Authorization", &auth)], b"")
            .assert_error(404, "Not found");
    }
    Ok(())
}

#[test]
fn the_header_name_is_configurable() -> TestResult {
    let server = TestServer::with(|s| s.auth_header = "remote-user".parse().unwrap());
    let (_, jwt) = signed_in(&server, "grace");
    let r = get_auth(&server, &[("Authorization", &bearer(&jwt))]);
    assert_granted(&r, "remote-user", "grace");
    assert_eq!(r.header("x-profile-id"), None);
    Ok(())
}

#[test]
fn ids_that_are_not_plain_ascii_are_percent_encoded() -> TestResult {
    let server = TestServer::start();
    for (id, header) in [
        ("jürgen 100%", "j%C3%BCrgen%20100%25"),
        ("%C3%BC", "%25C3%25BC"),
        ("ü", "%C3%BC"),
        ("  x\u{a0}", "%20%20x%C2%A0"),
    ] {
        let (_, jwt) = signed_in(&server, id);
        let r = get_auth(&server, &[("Authorization", &bearer(&jwt))]);
        assert_granted(&r, "x-profile-id", header);
    }
    Ok(())
}

#[test]
fn not_rate_limited() -> TestResult {
    // Three a second: just the sign-up and the two sign-in steps.
    let server = TestServer::with(|s| s.rate_limit = Some(3));
    let (_, jwt) = signed_in(&server, "heidi");
    let auth = bearer(&jwt);
    for _ in 0..30 {
        assert_eq!(get_auth(&server, &[("Authorization", &auth)]).status, 200);
        assert_eq!(get_auth(&server, &[]).status, 401);
    }
    // The limit itself is on: the sign-in routes do get 429.
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            server
                .post("/v1/signin", &json!({"profile_id": "x", "key": "00"}))
                .status
        })
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    Ok(())
}

/// The `Set-Cookie` of an answer, split into the `name=value` pair and
/// the attributes.
fn set_cookie(r: &Reply) -> Option<(String, Vec<String>)> {
    let all: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(all.len() <= 1, "several Set-Cookie: {all:?}");
    let mut parts = all.first()?.split("; ").map(str::to_owned);
    let pair = parts.next()?;
    Some((pair, parts.collect()))
}

#[test]
fn sign_in_sets_the_cookie_and_sign_out_clears_it() -> TestResult {
    let ttl = 3600;
    let server = TestServer::with(with_cookie("zkppd_session"));
    let account = Account::new("ivan", "pw");
    server.sign_up(&account);
    let done = server.sign_in_as(&account.id, &account.password);
    assert_eq!(done.step2.status, 200);
    // The JSON answer is exactly as without the cookie.
    let body = done.step2.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["jwt", "proof"]);
    let jwt = body["jwt"].clone();
    let token = jwt["auth_token"].as_str().unwrap();

    let (pair, attrs) = set_cookie(&done.step2).expect("a Set-Cookie");
    assert_eq!(pair, format!("zkppd_session={token}"));
    let max_age: u64 = attrs
        .iter()
        .find_map(|a| a.strip_prefix("Max-Age="))
        .expect("Max-Age")
        .parse()?;
    assert!((ttl - 2..=ttl).contains(&max_age), "Max-Age={max_age}");
    let mut rest: Vec<&str> = attrs
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("Max-Age="))
        .collect();
    rest.sort_unstable();
    assert_eq!(rest, ["HttpOnly", "Path=/", "SameSite=Lax", "Secure"]);
    // Step 1 sets nothing.
    assert!(set_cookie(&done.step1).is_none());

    // The cookie alone is a credential, among other cookies too.
    let cookie = format!("theme=dark; zkppd_session={token}; lang=en");
    assert_granted(
        &get_auth(&server, &[("Cookie", &cookie)]),
        "x-profile-id",
        "ivan",
    );
    // A stale value of the same name before the live one does not hide it
    // (a browser may hold one per Domain/Path), nor does a foreign bearer.
    let stale = format!("zkppd_session=stale; zkppd_session=\"{token}\"");
    assert_granted(
        &get_auth(
            &server,
            &[
                ("Authorization", "Bearer app-own-token"),
                ("Cookie", &stale),
            ],
        ),
        "x-profile-id",
        "ivan",
    );

    // A refused sign-out leaves the cookie alone.
    let mut wrong = jwt.clone();
    wrong["auth_expiry"] = json!("2000-01-01T00:00:00.000Z");
    let r = server.post("/v1/signout", &json!({ "jwt": wrong }));
    r.assert_error(401, "Invalid token");
    assert!(set_cookie(&r).is_none());

    let r = server.post("/v1/signout", &json!({ "jwt": jwt }));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    let (pair, mut attrs) = set_cookie(&r).expect("a clearing Set-Cookie");
    assert_eq!(pair, "zkppd_session=");
    attrs.sort_unstable();
    assert_eq!(
        attrs,
        ["HttpOnly", "Max-Age=0", "Path=/", "SameSite=Lax", "Secure"]
    );
    assert_refused(&get_auth(&server, &[("Cookie", &cookie)]));
    Ok(())
}

#[test]
fn cookie_domain_and_insecure_show_in_the_cookie() -> TestResult {
    let server = TestServer::with(|s| {
        s.session_cookie = Some(SessionCookie {
            name: "sid".into(),
            domain: Some("example.com".into()),
            secure: false,
        })
    });
    let account = Account::new("judy", "pw");
    server.sign_up(&account);
    let done = server.sign_in_as(&account.id, &account.password);
    let (_, attrs) = set_cookie(&done.step2).expect("a Set-Cookie");
    assert!(
        attrs.contains(&"Domain=example.com".to_owned()),
        "{attrs:?}"
    );
    assert!(!attrs.contains(&"Secure".to_owned()), "{attrs:?}");
    let jwt = done.step2.json()["jwt"].clone();
    let r = server.post("/v1/signout", &json!({ "jwt": jwt }));
    let (_, attrs) = set_cookie(&r).expect("a clearing Set-Cookie");
    assert!(
        attrs.contains(&"Domain=example.com".to_owned()),
        "{attrs:?}"
    );
    assert!(attrs.contains(&"Max-Age=0".to_owned()), "{attrs:?}");
    Ok(())
}

#[test]
fn without_the_flag_no_cookie_is_set_or_read() -> TestResult {
    let server = TestServer::start();
    let account = Account::new("ken", "pw");
    server.sign_up(&account);
    let done = server.sign_in_as(&account.id, &account.password);
    assert_eq!(done.step2.status, 200);
    assert!(set_cookie(&done.step2).is_none());
    let jwt = done.step2.json()["jwt"].clone();
    let cookie = format!("zkppd_session={}", jwt["auth_token"].as_str().unwrap());
    assert_refused(&get_auth(&server, &[("Cookie", &cookie)]));
    let r = server.post("/v1/signout", &json!({ "jwt": jwt }));
    assert_eq!(r.status, 200);
    assert!(set_cookie(&r).is_none());
    Ok(())
}

#[test]
fn cors_credentials_only_for_named_origins_with_the_cookie() -> TestResult {
    let app = "https://app.example";
    let server = TestServer::with(|s| {
        s.cors_origins = vec![app.into(), "*".into()];
        s.session_cookie = Some(SessionCookie::new("sid"));
    });
    let (_, jwt) = signed_in(&server, "leo");
    let auth = bearer(&jwt);
    // The named origin: credentials allowed, the id header readable.
    let r = get_auth(&server, &[("Authorization", &auth), ("Origin", app)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    let expose = r.header("access-control-expose-headers").unwrap_or("");
    assert!(expose.contains("x-profile-id"), "{expose}");
    // A preflight of /v1/auth from it, and of sign-in step 2.
    for (path, method) in [(AUTH, "GET"), ("/v1/signin/verify", "POST")] {
        let r = server.request(
            "OPTIONS",
            path,
            &[("Origin", app), ("Access-Control-Request-Method", method)],
            b"",
        );
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
        assert_eq!(r.header("access-control-allow-methods"), Some(method));
    }
    // Any other origin is let in by `*`, but never with credentials.
    let other = "https://evil.example";
    let r = get_auth(&server, &[("Authorization", &auth), ("Origin", other)]);
    assert_eq!(r.header("access-control-allow-origin"), Some(other));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    let r = server.request(
        "OPTIONS",
        AUTH,
        &[("Origin", other), ("Access-Control-Request-Method", "GET")],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-credentials"), None);

    // Without the cookie, credentials are never allowed.
    let server = TestServer::with(|s| s.cors_origins = vec![app.into()]);
    let r = get_auth(&server, &[("Origin", app)]);
    assert_eq!(r.header("access-control-allow-origin"), Some(app));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    Ok(())
}

/// Runs the binary expecting a start-up failure; returns its stderr. A
/// binary that starts anyway is killed after a while, not waited for.
fn fails(args: &[&str], env: Option<(&str, &str)>) -> String {
    let mut cmd = command(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--temp-db"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run zkppd");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for zkppd") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    assert!(
        status.is_some_and(|s| !s.success()),
        "{args:?} {env:?} started: {stderr}"
    );
    stderr
}

#[test]
fn bad_cookie_and_header_flags_stop_start_up() -> TestResult {
    for (args, needle) in [
        (&["--session-cookie", "a b"][..], "invalid cookie name"),
        (&["--session-cookie", "a;b"][..], "invalid cookie name"),
        (&["--session-cookie", ""][..], "invalid cookie name"),
        (&["--cookie-domain", "example.com"][..], "--session-cookie"),
        (&["--cookie-insecure"][..], "--session-cookie"),
        (
            &["--session-cookie", "s", "--cookie-domain", "a_b.com"][..],
            "invalid cookie domain",
        ),
        (
            &[
                "--session-cookie",
                "__Host-s",
                "--cookie-domain",
                "example.com",
            ][..],
            "__Host-",
        ),
        (
            &["--session-cookie", "__Secure-s", "--cookie-insecure"][..],
            "__Secure-",
        ),
        (&["--auth-header-name", "Content-Length"][..], "header name"),
        (&["--auth-header-name", "a b"][..], "invalid header name"),
    ] {
        let stderr = fails(args, None);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
    // The environment variable is checked the same way.
    let stderr = fails(&[], Some(("ZKPPD_SESSION_COOKIE", "bad name")));
    assert!(stderr.contains("invalid cookie name"), "{stderr}");
    let stderr = fails(&[], Some(("ZKPPD_COOKIE_DOMAIN", "example.com")));
    assert!(stderr.contains("--session-cookie"), "{stderr}");
    Ok(())
}
