//! SPEC §2–3: the SRP sign-in, sessions, verify and sign-out, over real
//! HTTP against a real file, with the client math of the original library;
//! all but the two SQLite-file checks also on PostgreSQL
//! ([`on_both!`](crate::on_both)).

use std::time::Duration;

use serde_json::{Value, json};
use zkppd_testkit::{Account, Backend, Reply, TestResult, TestServer};

const N_HEX: &str = "ac6bdb41324a9a9bf166de5e1389582faf72b6651987ee07fc3192943db56050a37329cbb4a099ed8193e0757767a13dd52312ab4b03310dcd7f48a9da04fd50e8083969edb767b0cf6095179a163ab3661a05fbd5faaae82918a9962f0b93b855f97993ec975eeaa80d740adbf4ff747359d041d5c33ea71d281e446b14773bca97b43a23fb801676bd207a436c6481f1d2b9078717461a5b9d32e688f87748544523b524b0d57d5ea77a2775d2ecfa032cfbdbf52fb3786160279004e57ae6af874e7303ce53299ccc041c7bc308d82a5698f3a8d0c38271ae35f8e9dbfbb694b5c803d89f7ae435de236d525f54759b65e372fcd68ef20fa7111f9e4aff73";

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn verify(s: &TestServer, jwt: &Value) -> Reply {
    s.post("/v1/verify", &json!({"jwt": jwt}))
}

fn signout(s: &TestServer, jwt: &Value) -> Reply {
    s.post("/v1/signout", &json!({"jwt": jwt}))
}

fn full_sign_in_issues_a_session_that_verifies(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let alice = Account::new("4d1a1c6e-2b6c-4f0b-9a7e-0c3f1b2a9d11", "correct horse");
    s.sign_up(&alice);
    let r = s.sign_in_as(&alice.id, &alice.password);
    let step1 = r.step1.json();
    assert_eq!(step1.as_object().unwrap().len(), 2);
    assert!(is_lower_hex(step1["key"].as_str().unwrap(), 512));
    assert_eq!(step1["salt"], json!(alice.salt));
    assert_eq!(r.step2.status, 200);
    let body = r.step2.json();
    assert_eq!(body.as_object().unwrap().len(), 2);
    assert!(is_lower_hex(body["proof"].as_str().unwrap(), 64));
    let jwt = &body["jwt"];
    assert_eq!(jwt.as_object().unwrap().len(), 3);
    assert_eq!(jwt["profile_id"], json!(alice.id));
    let token = jwt["auth_token"].as_str().unwrap();
    assert_eq!(token.len(), 43);
    assert!(
        token
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    );
    // auth_expiry is now + 1 h, RFC 3339 UTC with milliseconds.
    let expiry = jwt["auth_expiry"].as_str().unwrap();
    assert_eq!(expiry.len(), 24, "{expiry}");
    assert!(
        expiry.ends_with('Z') && expiry.as_bytes()[10] == b'T' && expiry.as_bytes()[19] == b'.'
    );
    // SQLite's clock formats now + 1 h the same way (the server's own
    // formatter is not the oracle).
    let expected: String = rusqlite::Connection::open_in_memory()?.query_row(
        "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 hour')",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(expected.len(), 24, "{expected}");
    assert_eq!(
        &expiry[..16],
        &expected[..16],
        "expiry {expiry} vs {expected}"
    );

    let v = verify(&s, jwt);
    assert_eq!(v.status, 200);
    assert_eq!(v.json(), json!({"profile_id": alice.id}));
    // The token is stored only as a hash.
    let hex = match backend {
        Backend::Sqlite => "lower(hex(token_hash))",
        Backend::Postgres => "encode(token_hash, 'hex')",
    };
    let hash = blake3::hash(token.as_bytes()).to_hex();
    assert_eq!(
        s.count(&format!(
            "SELECT count(*) FROM sessions WHERE {hex} = '{hash}'"
        )),
        1
    );
    assert_eq!(s.count("SELECT count(*) FROM sessions"), 1);
    if backend == Backend::Sqlite {
        let bytes = std::fs::read(s.db_path())?;
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
    Ok(())
}

fn wrong_proofs_all_get_the_same_401(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let bob = Account::new("bob", "pw");
    s.sign_up(&bob);
    // Wrong password.
    let r = s.sign_in_as("bob", "not-pw");
    assert_eq!(r.step1.status, 200);
    r.step2.assert_error(401, "Invalid credentials");
    // Malformed proofs after a real step 1.
    for key in [
        "",
        "zz",
        &"0".repeat(63),
        &"0".repeat(65),
        &"g".repeat(64),
        &"00".repeat(33),
    ] {
        let eph = zkppd_srp::client::generate_ephemeral();
        assert_eq!(
            s.post(
                "/v1/signin",
                &json!({"profile_id": "bob", "key": eph.public})
            )
            .status,
            200
        );
        s.post(
            "/v1/signin/verify",
            &json!({"profile_id": "bob", "key": key}),
        )
        .assert_error(401, "Invalid credentials");
        // Reset the failure streak so the lockout does not interfere.
        assert_eq!(s.sign_in_as("bob", "pw").step2.status, 200);
    }
    // No handshake at all, and unknown profiles.
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "bob", "key": "00".repeat(32)}),
    )
    .assert_error(401, "Invalid credentials");
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "nobody", "key": "00".repeat(32)}),
    )
    .assert_error(401, "Invalid credentials");
    let r = s.sign_in_as("nobody", "pw");
    assert_eq!(r.step1.status, 200);
    r.step2.assert_error(401, "Invalid credentials");
    Ok(())
}

#[test]
fn uppercase_proof_is_accepted() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("case", "pw");
    s.sign_up(&acc);
    let eph = zkppd_srp::client::generate_ephemeral();
    let step1 = s
        .post(
            "/v1/signin",
            &json!({"profile_id": "case", "key": eph.public.to_uppercase()}),
        )
        .json();
    let b = step1["key"].as_str().unwrap();
    let salt = step1["salt"].as_str().unwrap();
    // A is hashed as sent: upper and lower case hex decode to the same bytes.
    let session = zkppd_srp::client::derive_session(&eph, b, salt, "case", &acc.x).unwrap();
    let r = s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "case", "key": session.proof.to_uppercase()}),
    );
    assert_eq!(r.status, 200);
    assert!(session.verify_server(r.json()["proof"].as_str().unwrap()));
    Ok(())
}

#[test]
fn step_one_validates_a() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("a-check", "pw");
    s.sign_up(&acc);
    for id in ["a-check", "unknown-id"] {
        for key in [
            "",
            "0",
            "abc",
            "xyz0",
            &"f".repeat(514),
            &"00".repeat(257),
            "0g",
        ] {
            s.post("/v1/signin", &json!({"profile_id": id, "key": key}))
                .assert_error(400, "Invalid body");
        }
        let two_n = {
            // 2N does not fit in 256 bytes: malformed; N and 0 are ≡ 0 mod N.
            format!("01{}", "00".repeat(256))
        };
        s.post("/v1/signin", &json!({"profile_id": id, "key": two_n}))
            .assert_error(400, "Invalid body");
        for key in ["00", &"00".repeat(256), N_HEX, &N_HEX.to_uppercase()] {
            s.post("/v1/signin", &json!({"profile_id": id, "key": key}))
                .assert_error(401, "Invalid credentials");
        }
        // Short and non-reduced values are accepted (hashed as sent).
        for key in ["02", "ff", &"ff".repeat(256)] {
            assert_eq!(
                s.post("/v1/signin", &json!({"profile_id": id, "key": key}))
                    .status,
                200
            );
        }
    }
    Ok(())
}

fn unknown_profiles_look_like_known_ones(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let known = Account::new("known", "pw");
    s.sign_up(&known);
    let eph = zkppd_srp::client::generate_ephemeral();
    let ask = |id: &str| s.post("/v1/signin", &json!({"profile_id": id, "key": eph.public}));
    let k = ask("known");
    let u1 = ask("ghost");
    let u2 = ask("ghost");
    for r in [&k, &u1, &u2] {
        assert_eq!(r.status, 200);
        let body = r.json();
        let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["key", "salt"]);
        assert!(is_lower_hex(body["key"].as_str().unwrap(), 512));
        assert!(is_lower_hex(body["salt"].as_str().unwrap(), 64));
    }
    // The salt is stable across calls, B is fresh each time.
    assert_eq!(u1.json()["salt"], u2.json()["salt"]);
    assert_ne!(u1.json()["key"], u2.json()["key"]);
    assert_ne!(u1.json()["salt"], ask("ghost2").json()["salt"]);
    // 500 fake B values: all full width and below N.
    let n = N_HEX;
    for i in 0..500 {
        let b = ask(&format!("nobody-{i}")).json()["key"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(is_lower_hex(&b, 512));
        assert!(b.as_str() < n, "B ≥ N for nobody-{i}");
    }
    // The salt of an unknown id survives a restart (it is keyed by a
    // secret kept in the database).
    let salt = u1.json()["salt"].clone();
    let s = s.restart(|_| {});
    let again = s.post(
        "/v1/signin",
        &json!({"profile_id": "ghost", "key": eph.public}),
    );
    assert_eq!(again.json()["salt"], salt);
    Ok(())
}

fn a_handshake_is_single_use_and_replaced_by_a_new_step_one(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("replay", "pw");
    s.sign_up(&acc);
    let r = s.sign_in_as("replay", "pw");
    assert_eq!(r.step2.status, 200);
    // Replaying the same M1 fails: the handshake is gone.
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "replay", "key": r.m1}),
    )
    .assert_error(401, "Invalid credentials");

    // A second step 1 replaces the first: the first proof no longer works.
    let eph1 = zkppd_srp::client::generate_ephemeral();
    let c1 = s
        .post(
            "/v1/signin",
            &json!({"profile_id": "replay", "key": eph1.public}),
        )
        .json();
    let eph2 = zkppd_srp::client::generate_ephemeral();
    let c2 = s
        .post(
            "/v1/signin",
            &json!({"profile_id": "replay", "key": eph2.public}),
        )
        .json();
    let salt = c1["salt"].as_str().unwrap();
    let s1 = zkppd_srp::client::derive_session(
        &eph1,
        c1["key"].as_str().unwrap(),
        salt,
        "replay",
        &acc.x,
    )
    .unwrap();
    let s2 = zkppd_srp::client::derive_session(
        &eph2,
        c2["key"].as_str().unwrap(),
        salt,
        "replay",
        &acc.x,
    )
    .unwrap();
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "replay", "key": s1.proof}),
    )
    .assert_error(401, "Invalid credentials");
    // ...and that failed attempt consumed the second handshake too.
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "replay", "key": s2.proof}),
    )
    .assert_error(401, "Invalid credentials");
    Ok(())
}

/// The right proof sent 500 times at once for one handshake: exactly one
/// answer is a session, every other is 401, and one session is stored.
fn a_right_proof_sent_five_hundred_times_at_once_makes_one_session(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("racer", "pw");
    s.sign_up(&acc);
    let eph = zkppd_srp::client::generate_ephemeral();
    let c = s
        .post(
            "/v1/signin",
            &json!({"profile_id": "racer", "key": eph.public}),
        )
        .json();
    let session = zkppd_srp::client::derive_session(
        &eph,
        c["key"].as_str().unwrap(),
        c["salt"].as_str().unwrap(),
        "racer",
        &acc.x,
    )
    .unwrap();
    let n = 500;
    let barrier = std::sync::Barrier::new(n);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let (barrier, s, proof) = (&barrier, &s, &session.proof);
                scope.spawn(move || {
                    barrier.wait();
                    s.post(
                        "/v1/signin/verify",
                        &json!({"profile_id": "racer", "key": proof}),
                    )
                    .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|&&st| st == 200).count(), 1);
    assert_eq!(statuses.iter().filter(|&&st| st == 401).count(), n - 1);
    assert_eq!(
        s.count("SELECT count(*) FROM sessions WHERE profile_id = 'racer'"),
        1
    );
    Ok(())
}

fn handshakes_expire(backend: Backend) -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::on_backend(backend, |st| st.handshake_ttl = Duration::from_secs(1));
    let acc = Account::new("slow", "pw");
    s.sign_up(&acc);
    let eph = zkppd_srp::client::generate_ephemeral();
    let c = s
        .post(
            "/v1/signin",
            &json!({"profile_id": "slow", "key": eph.public}),
        )
        .json();
    let session = zkppd_srp::client::derive_session(
        &eph,
        c["key"].as_str().unwrap(),
        c["salt"].as_str().unwrap(),
        "slow",
        &acc.x,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "slow", "key": session.proof}),
    )
    .assert_error(401, "Invalid credentials");
    // Within the TTL it works.
    assert_eq!(s.sign_in_as("slow", "pw").step2.status, 200);
    Ok(())
}

fn sessions_expire(backend: Backend) -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::on_backend(backend, |st| st.session_ttl = Duration::from_secs(1));
    let acc = Account::new("brief", "pw");
    s.sign_up(&acc);
    let jwt = s.session_for(&acc);
    assert_eq!(verify(&s, &jwt).status, 200);
    std::thread::sleep(Duration::from_millis(1200));
    // The session matches in token, profile id and expiry but has expired:
    // the original's message, so a caller can tell "sign in again" from
    // "forged" (SPEC §2).
    verify(&s, &jwt).assert_error(400, "Token is expired");
    signout(&s, &jwt).assert_error(401, "Token is expired");
    // Anything that does not match all three stays `Invalid token`.
    let mut forged = jwt.clone();
    forged["auth_token"] = json!("A".repeat(43));
    verify(&s, &forged).assert_error(400, "Invalid token");
    signout(&s, &forged).assert_error(401, "Invalid token");
    let mut other_expiry = jwt.clone();
    other_expiry["auth_expiry"] = json!("2000-01-01T00:00:00.000Z");
    verify(&s, &other_expiry).assert_error(400, "Invalid token");
    // An expired session is purged a day after it expired; before that the
    // sweep leaves it (it is still there to be told apart).
    assert_eq!(s.count("SELECT count(*) FROM sessions"), 1);
    Ok(())
}

fn verify_needs_every_field_to_match(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("match", "pw");
    let other = Account::new("other", "pw");
    s.sign_up(&acc);
    s.sign_up(&other);
    let jwt = s.session_for(&acc);
    let mut variants = Vec::new();
    for (field, value) in [
        ("profile_id", json!("other")),
        ("profile_id", json!("MATCH")),
        ("auth_token", json!("A".repeat(43))),
        (
            "auth_token",
            json!(jwt["auth_token"].as_str().unwrap().to_uppercase()),
        ),
        ("auth_expiry", json!("2999-01-01T00:00:00.000Z")),
        (
            "auth_expiry",
            json!(jwt["auth_expiry"].as_str().unwrap().replace(".", ",")),
        ),
    ] {
        let mut v = jwt.clone();
        v[field] = value;
        variants.push(v);
    }
    for v in &variants {
        verify(&s, v).assert_error(400, "Invalid token");
        signout(&s, v).assert_error(401, "Invalid token");
    }
    // None of those ended the real session.
    assert_eq!(verify(&s, &jwt).status, 200);
    Ok(())
}

fn two_sessions_side_by_side_and_signout_ends_only_one(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("two-devices", "pw");
    s.sign_up(&acc);
    let phone = s.session_for(&acc);
    let laptop = s.session_for(&acc);
    assert_ne!(phone["auth_token"], laptop["auth_token"]);
    assert_eq!(verify(&s, &phone).status, 200);
    assert_eq!(verify(&s, &laptop).status, 200);
    let r = signout(&s, &phone);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({}));
    verify(&s, &phone).assert_error(400, "Invalid token");
    signout(&s, &phone).assert_error(401, "Invalid token");
    assert_eq!(verify(&s, &laptop).status, 200);
    Ok(())
}

fn the_session_cap_evicts_the_oldest(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |st| st.max_sessions = 3);
    let acc = Account::new("many", "pw");
    s.sign_up(&acc);
    let sessions: Vec<Value> = (0..5)
        .map(|_| {
            let jwt = s.session_for(&acc);
            // created_ms orders sessions; keep them apart.
            std::thread::sleep(Duration::from_millis(5));
            jwt
        })
        .collect();
    for (i, jwt) in sessions.iter().enumerate() {
        let expect = if i < 2 { 400 } else { 200 };
        assert_eq!(verify(&s, jwt).status, expect, "session {i}");
    }
    assert_eq!(s.count("SELECT count(*) FROM sessions"), 3);
    Ok(())
}

fn a_session_revoked_by_another_process_is_invalid_at_once(backend: Backend) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("revoked", "pw");
    s.sign_up(&acc);
    let jwt = s.session_for(&acc);
    assert_eq!(verify(&s, &jwt).status, 200);
    assert_eq!(
        s.execute("DELETE FROM sessions WHERE profile_id = 'revoked'"),
        1
    );
    verify(&s, &jwt).assert_error(400, "Invalid token");
    Ok(())
}

fn lockout_after_five_failures_doubles_and_resets_on_success(backend: Backend) -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("target", "right");
    s.sign_up(&acc);
    for _ in 0..5 {
        s.sign_in_as("target", "wrong")
            .step2
            .assert_error(401, "Invalid credentials");
    }
    // Locked: both steps answer 429 with Retry-After, even with the right
    // password.
    let eph = zkppd_srp::client::generate_ephemeral();
    let r = s.post(
        "/v1/signin",
        &json!({"profile_id": "target", "key": eph.public}),
    );
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("1"));
    let r = s.post(
        "/v1/signin/verify",
        &json!({"profile_id": "target", "key": "00".repeat(32)}),
    );
    r.assert_error(429, "Too many requests");
    // A 429 does not count as a failure: after 1 s, one more failure locks
    // for 2 s.
    std::thread::sleep(Duration::from_millis(1100));
    s.sign_in_as("target", "wrong")
        .step2
        .assert_error(401, "Invalid credentials");
    let r = s.post(
        "/v1/signin",
        &json!({"profile_id": "target", "key": eph.public}),
    );
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("2"));
    std::thread::sleep(Duration::from_millis(2100));
    // A success resets the streak: the next failure does not lock.
    assert_eq!(s.sign_in_as("target", "right").step2.status, 200);
    s.sign_in_as("target", "wrong")
        .step2
        .assert_error(401, "Invalid credentials");
    assert_eq!(s.sign_in_as("target", "right").step2.status, 200);

    // Unknown ids lock the same way.
    for _ in 0..5 {
        s.sign_in_as("ghost", "x")
            .step2
            .assert_error(401, "Invalid credentials");
    }
    s.post(
        "/v1/signin",
        &json!({"profile_id": "ghost", "key": eph.public}),
    )
    .assert_error(429, "Too many requests");
    Ok(())
}

fn a_step_two_without_a_handshake_does_not_count_towards_the_lockout(
    backend: Backend,
) -> TestResult {
    let s = TestServer::on_backend(backend, |_| {});
    let acc = Account::new("patient", "pw");
    s.sign_up(&acc);
    for _ in 0..10 {
        s.post(
            "/v1/signin/verify",
            &json!({"profile_id": "patient", "key": "00".repeat(32)}),
        )
        .assert_error(401, "Invalid credentials");
    }
    assert_eq!(s.sign_in_as("patient", "pw").step2.status, 200);
    Ok(())
}

on_both!(
    full_sign_in_issues_a_session_that_verifies,
    wrong_proofs_all_get_the_same_401,
    unknown_profiles_look_like_known_ones,
    a_handshake_is_single_use_and_replaced_by_a_new_step_one,
    a_right_proof_sent_five_hundred_times_at_once_makes_one_session,
    handshakes_expire,
    sessions_expire,
    verify_needs_every_field_to_match,
    two_sessions_side_by_side_and_signout_ends_only_one,
    the_session_cap_evicts_the_oldest,
    a_session_revoked_by_another_process_is_invalid_at_once,
    lockout_after_five_failures_doubles_and_resets_on_success,
    a_step_two_without_a_handshake_does_not_count_towards_the_lockout,
);
