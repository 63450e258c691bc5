//! SPEC §2 bucket fill and sign-up, over real HTTP against a real file;
//! the refusals, the accounting and the sign-up race also on PostgreSQL
//! ([`on_both!`](crate::on_both)).

use std::collections::HashSet;

use serde_json::json;
use zkppd_testkit::{
    ADMIN, Backend, TestResult, TestServer, signup_body, some_salt, some_verifier,
};

const N_HEX: &str = "ac6bdb41324a9a9bf166de5e1389582faf72b6651987ee07fc3192943db56050a37329cbb4a099ed8193e0757767a13dd52312ab4b03310dcd7f48a9da04fd50e8083969edb767b0cf6095179a163ab3661a05fbd5faaae82918a9962f0b93b855f97993ec975eeaa80d740adbf4ff747359d041d5c33ea71d281e446b14773bca97b43a23fb801676bd207a436c6481f1d2b9078717461a5b9d32e688f87748544523b524b0d57d5ea77a2775d2ecfa032cfbdbf52fb3786160279004e57ae6af874e7303ce53299ccc041c7bc308d82a5698f3a8d0c38271ae35f8e9dbfbb694b5c803d89f7ae435de236d525f54759b65e372fcd68ef20fa7111f9e4aff73";

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn bucket_sizes(s: &TestServer) -> (i64, i64) {
    (
        s.count("SELECT count(*) FROM profile_tokens WHERE NOT used"),
        s.count("SELECT count(*) FROM signup_tokens"),
    )
}

#[test]
fn fill_requires_the_admin_token() -> TestResult {
    let s = TestServer::start();
    let body = json!({"bucket": "signup", "tokens": ["a"]}).to_string();
    let ct = ("Content-Type", "application/json");
    let wrong = format!("Bearer {ADMIN}x");
    let basic = format!("Basic {ADMIN}");
    let bare = ADMIN.to_string();
    for auth in [
        None,
        Some(wrong.as_str()),
        Some(basic.as_str()),
        Some(bare.as_str()),
        Some("Bearer "),
        Some("Bearer"),
    ] {
        let mut headers = vec![ct];
        if let Some(a) = auth {
            headers.push(("Authorization", a));
        }
        let r = s.request("POST", "/v1/bucket/fill", &headers, body.as_bytes());
        r.assert_error(401, "Unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(bucket_sizes(&s), (0, 0));
    // The scheme is case-insensitive.
    let lower = format!("bearer {ADMIN}");
    let r = s.request(
        "POST",
        "/v1/bucket/fill",
        &[ct, ("Authorization", &lower)],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"inserted": 1, "duplicates": 0}));
    Ok(())
}

#[test]
fn fill_without_configured_admin_token_is_always_401() -> TestResult {
    let s = TestServer::with(|st| st.admin_token = None);
    let r = s.fill("signup", &strings(&["a"]));
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    Ok(())
}

#[test]
fn fill_validates_tokens_and_bucket() -> TestResult {
    let s = TestServer::start();
    let long = "x".repeat(257);
    for bad in [
        "",
        "has space",
        "tab\t",
        "nl\n",
        "é",
        long.as_str(),
        "\u{7f}",
    ] {
        s.fill("signup", &strings(&["good", bad]))
            .assert_error(400, "Invalid body");
        s.fill("profile", &strings(&[bad]))
            .assert_error(400, "Invalid body");
    }
    let too_many: Vec<String> = (0..10_001).map(|i| format!("t{i}")).collect();
    s.fill("signup", &too_many)
        .assert_error(400, "Invalid body");
    for bucket in ["Profile", "", "other", "signups"] {
        s.fill(bucket, &strings(&["a"]))
            .assert_error(400, "Invalid bucket");
    }
    for body in [
        json!({"bucket": "signup"}),
        json!({"tokens": []}),
        json!({"bucket": "signup", "tokens": "a"}),
        json!({"bucket": "signup", "tokens": [1]}),
        json!({"bucket": 1, "tokens": []}),
        json!({"bucket": "signup", "tokens": [], "x": 0}),
    ] {
        s.admin_post("/v1/bucket/fill", &body)
            .assert_error(400, "Invalid body");
    }
    // Nothing of the refused requests was stored: all or nothing.
    assert_eq!(bucket_sizes(&s), (0, 0));
    let max: Vec<String> = (0..10_000).map(|i| format!("{i:~>256}")).collect();
    let r = s.fill("signup", &max);
    assert_eq!(r.json(), json!({"inserted": 10_000, "duplicates": 0}));
    Ok(())
}

fn duplicates_are_counted_not_refused(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    for bucket in ["profile", "signup"] {
        let r = s.fill(bucket, &strings(&["a", "b", "a", "c"]));
        assert_eq!(r.json(), json!({"inserted": 3, "duplicates": 1}));
        let r = s.fill(bucket, &strings(&["c", "d", "b", "d"]));
        assert_eq!(r.json(), json!({"inserted": 1, "duplicates": 3}));
        let r = s.fill(bucket, &[]);
        assert_eq!(r.json(), json!({"inserted": 0, "duplicates": 0}));
    }
    assert_eq!(bucket_sizes(&s), (4, 4));
    Ok(())
}

fn signup_returns_a_token_from_the_bucket_and_consumes_the_profile_token(
    backend: Backend,
) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    s.fill("profile", &strings(&["pt-1", "pt-2"]));
    s.fill("signup", &strings(&["st-1", "st-2", "st-3"]));
    let r = s.post("/v1/signup", &signup_body("alice", "pt-1"));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let token = r.json()["token"].as_str().unwrap().to_owned();
    assert!(["st-1", "st-2", "st-3"].contains(&token.as_str()));
    assert_eq!(r.json(), json!({"token": token}));
    assert_eq!(bucket_sizes(&s), (1, 2));
    // The profile is stored verbatim.
    assert_eq!(
        s.strings("SELECT verifier || ' ' || salt FROM profiles WHERE id = 'alice'"),
        [format!("{} {}", some_verifier(), some_salt())]
    );
    // A consumed token is gone for good: reuse, refill, reuse.
    s.post("/v1/signup", &signup_body("bob", "pt-1"))
        .assert_error(400, "Invalid token");
    let r = s.fill("profile", &strings(&["pt-1"]));
    assert_eq!(r.json(), json!({"inserted": 0, "duplicates": 1}));
    s.post("/v1/signup", &signup_body("bob", "pt-1"))
        .assert_error(400, "Invalid token");
    assert_eq!(bucket_sizes(&s), (1, 2));
    Ok(())
}

fn refused_signups_change_nothing(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    s.fill("profile", &strings(&["pt-1", "pt-2", "pt-3"]));
    s.fill("signup", &strings(&["st-1"]));
    assert_eq!(
        s.post("/v1/signup", &signup_body("alice", "pt-1")).status,
        200
    );
    let before = bucket_sizes(&s);
    assert_eq!(before, (2, 0));

    // Unknown token.
    s.post("/v1/signup", &signup_body("bob", "nope"))
        .assert_error(400, "Invalid token");
    assert_eq!(bucket_sizes(&s), before);
    // Duplicate id: the token is not consumed.
    s.post("/v1/signup", &signup_body("alice", "pt-2"))
        .assert_error(400, "Duplicate ID");
    assert_eq!(bucket_sizes(&s), before);
    // Invalid token wins over duplicate id (checked first).
    s.post("/v1/signup", &signup_body("alice", "nope"))
        .assert_error(400, "Invalid token");
    // Empty signup bucket: 503 and nothing consumed.
    let r = s.post("/v1/signup", &signup_body("bob", "pt-2"));
    r.assert_error(503, "Signup bucket empty");
    assert_eq!(bucket_sizes(&s), before);
    assert_eq!(s.count("SELECT count(*) FROM profiles"), 1);
    // Once refilled, the same token works.
    s.fill("signup", &strings(&["st-2"]));
    let r = s.post("/v1/signup", &signup_body("bob", "pt-2"));
    assert_eq!(r.json(), json!({"token": "st-2"}));
    assert_eq!(bucket_sizes(&s), (1, 0));
    Ok(())
}

#[test]
fn signup_validates_verifier_and_salt() -> TestResult {
    let s = TestServer::start();
    s.fill_both("v", 2);
    let n_plus_1 = {
        // N ends in ...73; N+1 ends in ...74.
        format!("{}74", &N_HEX[..N_HEX.len() - 2])
    };
    let n_minus_1 = format!("{}72", &N_HEX[..N_HEX.len() - 2]);
    let long_salt = "a".repeat(514);
    let bad = [
        ("00", some_salt()),
        ("01", some_salt()),
        ("0000", some_salt()),
        (N_HEX, some_salt()),
        (n_plus_1.as_str(), some_salt()),
        ("0g", some_salt()),
        ("123", some_salt()),
        ("", some_salt()),
        ("02", "".to_string()),
        ("02", "a".to_string()),
        ("02", "zz".to_string()),
        ("02", "abc".to_string()),
        ("02", long_salt),
    ];
    for (zkpp, salt) in &bad {
        let body = json!({"profile_id": "x", "profile_token": "v-p0", "zkpp": zkpp, "salt": salt});
        s.post("/v1/signup", &body)
            .assert_error(400, "Invalid body");
    }
    assert_eq!(bucket_sizes(&s), (2, 2));
    // Edges that are fine: v = 2, v = N-1, 2-char salt, 512-char salt,
    // upper case hex kept verbatim.
    let salt512 = "AB".repeat(256);
    for (i, (zkpp, salt)) in [("02", "0A"), (n_minus_1.as_str(), salt512.as_str())]
        .iter()
        .enumerate()
    {
        let body = json!({"profile_id": format!("ok{i}"), "profile_token": format!("v-p{i}"), "zkpp": zkpp, "salt": salt});
        assert_eq!(s.post("/v1/signup", &body).status, 200);
        let stored: String = s.sqlite().query_row(
            "SELECT salt FROM profiles WHERE id = ?1",
            [format!("ok{i}")],
            |r| r.get(0),
        )?;
        assert_eq!(&stored, salt);
    }
    Ok(())
}

#[test]
fn profile_tokens_are_never_stored_in_clear() -> TestResult {
    let s = TestServer::start();
    let token = "profile-token-that-must-not-appear-0123456789";
    s.fill("profile", &[token.to_string()]);
    s.fill("signup", &strings(&["s1"]));
    assert_eq!(s.post("/v1/signup", &signup_body("p", token)).status, 200);
    s.fill("profile", &["second-token-also-secret-xyz".to_string()]);
    let dir = s.stop();
    for entry in std::fs::read_dir(dir.path())? {
        let bytes = std::fs::read(entry?.path())?;
        for needle in [token.as_bytes(), b"second-token-also-secret-xyz"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "token found in clear"
            );
        }
    }
    Ok(())
}

fn concurrent_signups_never_reuse_a_token(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let profile: Vec<String> = (0..40).map(|i| format!("race-p{i}")).collect();
    let signup: Vec<String> = (0..20).map(|i| format!("race-s{i}")).collect();
    s.fill("profile", &profile);
    s.fill("signup", &signup);
    let addr = s.addr;
    // 80 attempts: each profile token tried twice at once, with two ids.
    let handles: Vec<_> = (0..80)
        .map(|i| {
            let token = format!("race-p{}", i / 2);
            std::thread::spawn(move || {
                let body = signup_body(&format!("id-{i}"), &token);
                (
                    token,
                    zkppd_testkit::http::post(addr, "/v1/signup", &body, None),
                )
            })
        })
        .collect();
    let mut handed_out = Vec::new();
    let mut used_profile_tokens = Vec::new();
    for h in handles {
        let (token, r) = h.join().unwrap();
        match r.status {
            200 => {
                handed_out.push(r.json()["token"].as_str().unwrap().to_owned());
                used_profile_tokens.push(token);
            }
            400 => assert_eq!(r.json()["message"], "Invalid token"),
            503 => assert_eq!(r.json()["message"], "Signup bucket empty"),
            other => panic!("unexpected status {other}: {:?}", r.json()),
        }
    }
    assert_eq!(handed_out.len(), 20);
    let distinct: HashSet<_> = handed_out.iter().collect();
    assert_eq!(distinct.len(), 20, "a signup token was handed out twice");
    assert_eq!(distinct, signup.iter().collect::<HashSet<_>>());
    let distinct_pt: HashSet<_> = used_profile_tokens.iter().collect();
    assert_eq!(distinct_pt.len(), 20, "a profile token was used twice");
    assert_eq!(s.count("SELECT count(*) FROM profiles"), 20);
    assert_eq!(bucket_sizes(&s), (20, 0));
    assert_eq!(
        s.count("SELECT count(*) FROM profile_tokens WHERE used"),
        20
    );
    Ok(())
}

/// Every position of the bucket (by insertion order) must be drawn with
/// its fair frequency: the bucket is kept at 8 tokens, and each draw's rank
/// among them (0 = oldest) is counted.
#[test]
fn signup_tokens_are_drawn_uniformly() -> TestResult {
    const SIZE: usize = 8;
    const DRAWS: usize = 2000;
    let s = TestServer::start();
    let profile: Vec<String> = (0..DRAWS).map(|i| format!("u-p{i}")).collect();
    for chunk in profile.chunks(1000) {
        s.fill("profile", chunk);
    }
    let mut bucket: Vec<String> = (0..SIZE).map(|i| format!("u-s{i}")).collect();
    s.fill("signup", &bucket);
    let mut counts = [0usize; SIZE];
    for (i, token) in profile.iter().enumerate() {
        let r = s.post("/v1/signup", &signup_body(&format!("u{i}"), token));
        let drawn = r.json()["token"].as_str().unwrap().to_owned();
        let rank = bucket
            .iter()
            .position(|t| *t == drawn)
            .expect("drawn token was in the bucket");
        counts[rank] += 1;
        bucket.remove(rank);
        let fresh = format!("u-s{}", SIZE + i);
        s.fill("signup", std::slice::from_ref(&fresh));
        bucket.push(fresh);
    }
    let p = 1.0 / SIZE as f64;
    let expected = DRAWS as f64 * p;
    let sigma = (DRAWS as f64 * p * (1.0 - p)).sqrt();
    for (rank, &c) in counts.iter().enumerate() {
        assert!(
            (c as f64 - expected).abs() < 4.5 * sigma,
            "rank {rank} drawn {c} times, expected {expected:.0} ± {:.0}: {counts:?}",
            4.5 * sigma
        );
    }
    Ok(())
}

#[test]
fn the_draw_uses_index_searches_not_scans() -> TestResult {
    let s = TestServer::start();
    s.fill(
        "signup",
        &(0..100).map(|i| format!("q{i}")).collect::<Vec<_>>(),
    );
    let conn = s.sqlite();
    for sql in zkppd_core::store::sqlite::DRAW_QUERIES {
        let params =
            rusqlite::params_from_iter(std::iter::repeat_n(1i64, sql.matches('?').count()));
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?
            .query_map(params, |r| r.get::<_, String>(3))?
            .collect::<Result<_, _>>()?;
        let plan = plan.join(" | ");
        assert!(!plan.contains("SCAN"), "{sql}: {plan}");
        assert!(plan.starts_with("SEARCH signup_tokens"), "{sql}: {plan}");
    }
    Ok(())
}

on_both!(
    duplicates_are_counted_not_refused,
    signup_returns_a_token_from_the_bucket_and_consumes_the_profile_token,
    refused_signups_change_nothing,
    concurrent_signups_never_reuse_a_token,
);
