//! Issue 14, the account lifecycle over HTTP: change the password from a
//! fresh session, sign out everywhere, list sessions, delete the profile,
//! and the operator's reset token (made by the real binary's admin
//! command beside the running server). Every status and message, the
//! freshness window, and the races with a sign-in in flight.

use std::time::Duration;

use serde_json::{Value, json};
use zkppd_testkit::{Account, TestResult, TestServer};

/// The body of a lifecycle route that takes only the session.
fn with_jwt(jwt: &Value) -> Value {
    json!({ "jwt": jwt })
}

/// A `/v1/password` body: the session and a new password's record.
fn password_body(jwt: &Value, new: &Account) -> Value {
    let signup = new.signup_body("unused");
    json!({"jwt": jwt, "salt": signup["salt"], "zkpp": signup["zkpp"]})
}

/// A reset token from the admin command, run as an operator would.
fn reset_token(s: &TestServer, id: &str, ttl: &str) -> String {
    let out = zkppd_testkit::process::command(crate::BIN)
        .args(["profile", "reset-token", id, "--ttl", ttl, "--db"])
        .arg(s.db_path())
        .output()
        .expect("run zkppd profile reset-token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    assert_eq!(token.len(), 43, "32 bytes of base64url: {token:?}");
    token
}

fn reset_body(id: &str, token: &str, new: &Account) -> Value {
    let signup = new.signup_body("unused");
    json!({"profile_id": id, "reset_token": token, "salt": signup["salt"], "zkpp": signup["zkpp"]})
}

#[test]
fn a_password_change_keeps_the_caller_and_ends_every_other_session() -> TestResult {
    let s = TestServer::start();
    let old = Account::new("changer", "old password");
    s.sign_up(&old);
    let other = s.session_for(&old);
    let mine = s.session_for(&old);
    // Four failures on the streak; the change clears them.
    for _ in 0..4 {
        assert_eq!(s.sign_in_as(&old.id, "wrong").step2.status, 401);
    }
    let new = Account::new("changer", "new password");
    let r = s.post("/v1/password", &password_body(&mine, &new));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));

    assert_eq!(s.post("/v1/verify", &with_jwt(&mine)).status, 200);
    s.post("/v1/verify", &with_jwt(&other))
        .assert_error(400, "Invalid token");
    s.sign_in_as(&old.id, &old.password)
        .step2
        .assert_error(401, "Invalid credentials");
    // Five more failures would be needed to lock: the streak was cleared.
    for _ in 0..3 {
        assert_eq!(s.sign_in_as(&old.id, "wrong").step2.status, 401);
    }
    assert_eq!(s.sign_in_as(&new.id, &new.password).step2.status, 200);
    Ok(())
}

#[test]
fn a_password_change_needs_a_fresh_live_session_and_a_valid_record() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::with(|st| {
        st.reauth_window = Duration::from_secs(1);
        st.session_ttl = Duration::from_secs(2);
    });
    let acc = Account::new("fresh", "pw");
    s.sign_up(&acc);
    let jwt = s.session_for(&acc);
    let new = Account::new("fresh", "pw2");

    // The record follows the sign-up rules; the id rule comes first.
    let mut bad = password_body(&jwt, &new);
    bad["zkpp"] = json!("00");
    s.post("/v1/password", &bad)
        .assert_error(400, "Invalid body");
    let mut bad = password_body(&jwt, &new);
    bad["salt"] = json!("xyz");
    s.post("/v1/password", &bad)
        .assert_error(400, "Invalid body");
    let mut bad = password_body(&jwt, &new);
    bad["jwt"]["profile_id"] = json!("");
    s.post("/v1/password", &bad)
        .assert_error(400, "Invalid profile ID");
    let mut extra = password_body(&jwt, &new);
    extra["extra"] = json!(1);
    s.post("/v1/password", &extra)
        .assert_error(400, "Invalid body");
    // Not a live session.
    let mut forged = password_body(&jwt, &new);
    forged["jwt"]["auth_token"] = json!("A".repeat(43));
    s.post("/v1/password", &forged)
        .assert_error(401, "Invalid token");

    // Live but older than the window: sign in again first.
    std::thread::sleep(Duration::from_millis(1200));
    s.post("/v1/password", &password_body(&jwt, &new))
        .assert_error(401, "Reauthentication required");
    s.post("/v1/profile/delete", &with_jwt(&jwt))
        .assert_error(401, "Reauthentication required");
    // Expired: not live (lifecycle routes do not tell expired apart).
    std::thread::sleep(Duration::from_millis(1000));
    s.post("/v1/password", &password_body(&jwt, &new))
        .assert_error(401, "Invalid token");
    // A fresh sign-in may.
    let jwt = s.session_for(&acc);
    assert_eq!(
        s.post("/v1/password", &password_body(&jwt, &new)).status,
        200
    );
    Ok(())
}

#[test]
fn signout_all_ends_every_session_and_sessions_lists_the_live_ones() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("many", "pw");
    let other = Account::new("someone-else", "pw");
    s.sign_up(&acc);
    s.sign_up(&other);
    let first = s.session_for(&acc);
    std::thread::sleep(Duration::from_millis(5));
    let second = s.session_for(&acc);
    std::thread::sleep(Duration::from_millis(5));
    let third = s.session_for(&acc);
    let theirs = s.session_for(&other);

    let r = s.post("/v1/sessions", &with_jwt(&second));
    assert_eq!(r.status, 200, "{}", r.text());
    let list = r.json()["sessions"].as_array().expect("a list").clone();
    assert_eq!(list.len(), 3);
    // Newest first, the asking one marked, never a token.
    let expiries: Vec<&Value> = list.iter().map(|e| &e["expiry"]).collect();
    assert_eq!(
        expiries,
        [
            &third["auth_expiry"],
            &second["auth_expiry"],
            &first["auth_expiry"]
        ]
    );
    let current: Vec<bool> = list.iter().map(|e| e["current"] == true).collect();
    assert_eq!(current, [false, true, false]);
    for e in &list {
        let keys: Vec<&String> = e.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["created", "current", "expiry"]);
        assert!(e["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    }
    assert!(!r.text().contains(second["auth_token"].as_str().unwrap()));

    let r = s.post("/v1/signout/all", &with_jwt(&first));
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"ended": 3}));
    for jwt in [&first, &second, &third] {
        s.post("/v1/verify", &with_jwt(jwt))
            .assert_error(400, "Invalid token");
    }
    // Another profile's session is untouched.
    assert_eq!(s.post("/v1/verify", &with_jwt(&theirs)).status, 200);
    // And a session that is gone can neither list nor end anything.
    s.post("/v1/signout/all", &with_jwt(&first))
        .assert_error(401, "Invalid token");
    s.post("/v1/sessions", &with_jwt(&first))
        .assert_error(401, "Invalid token");
    Ok(())
}

#[test]
fn a_deleted_profile_is_unknown_and_may_sign_up_again() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("leaving", "pw");
    s.sign_up(&acc);
    // The salt an unknown id gets, for comparison after the deletion.
    let never = s.sign_in_as("never-existed", "x");
    assert_eq!(never.step1.status, 200);
    for _ in 0..2 {
        assert_eq!(s.sign_in_as(&acc.id, "wrong").step2.status, 401);
    }
    let jwt = s.session_for(&acc);
    let spare = s.session_for(&acc);
    let r = s.post("/v1/profile/delete", &with_jwt(&jwt));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));

    assert_eq!(s.count("SELECT count(*) FROM profiles"), 0);
    assert_eq!(s.count("SELECT count(*) FROM sessions"), 0);
    s.post("/v1/verify", &with_jwt(&spare))
        .assert_error(400, "Invalid token");
    // Sign-in now answers as for an id that never existed: a fake salt of
    // the same form, and 401 after the same work.
    let r = s.sign_in_as(&acc.id, &acc.password);
    assert_eq!(r.step1.status, 200);
    let salt = r.step1.json()["salt"].as_str().unwrap().to_owned();
    assert_ne!(salt, acc.salt);
    assert_eq!(salt.len(), 64);
    assert_eq!(
        never.step1.json()["salt"].as_str().unwrap().len(),
        salt.len()
    );
    r.step2.assert_error(401, "Invalid credentials");
    // The same id may sign up again, with a new invitation.
    let again = Account::new("leaving", "another");
    let token = "tok-again".to_owned();
    assert_eq!(s.fill("profile", std::slice::from_ref(&token)).status, 200);
    assert_eq!(s.fill("signup", &["su-again".to_owned()]).status, 200);
    assert_eq!(s.post("/v1/signup", &again.signup_body(&token)).status, 200);
    assert_eq!(s.sign_in_as(&again.id, &again.password).step2.status, 200);
    Ok(())
}

#[test]
fn an_operator_reset_token_sets_a_new_password_once() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("forgetful", "lost password");
    s.sign_up(&acc);
    let jwt = s.session_for(&acc);
    let first = reset_token(&s, &acc.id, "24h");
    // A newer token replaces the older one.
    let token = reset_token(&s, &acc.id, "24h");
    assert_ne!(first, token);
    assert_eq!(s.count("SELECT count(*) FROM reset_tokens"), 1);
    let stored = s.count(&format!(
        "SELECT count(*) FROM reset_tokens WHERE token_hash = CAST('{token}' AS BLOB)"
    ));
    assert_eq!(stored, 0, "the token is kept only as a keyed hash");
    let new = Account::new("forgetful", "new password");
    s.post("/v1/password/reset", &reset_body(&acc.id, &first, &new))
        .assert_error(401, "Invalid token");

    let r = s.post("/v1/password/reset", &reset_body(&acc.id, &token, &new));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({}));
    s.post("/v1/verify", &with_jwt(&jwt))
        .assert_error(400, "Invalid token");
    s.sign_in_as(&acc.id, &acc.password)
        .step2
        .assert_error(401, "Invalid credentials");
    assert_eq!(s.sign_in_as(&new.id, &new.password).step2.status, 200);
    // Used: a second reset with it is refused like any wrong token.
    s.post("/v1/password/reset", &reset_body(&acc.id, &token, &acc))
        .assert_error(401, "Invalid token");
    Ok(())
}

#[test]
fn reset_refusals_are_one_answer_and_count_toward_the_lockout() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::start();
    let acc = Account::new("target", "pw");
    s.sign_up(&acc);
    let new = Account::new("target", "pw2");
    // An expired token, a wrong one, an unknown profile: the same 401.
    let expired = reset_token(&s, &acc.id, "1s");
    std::thread::sleep(Duration::from_millis(1100));
    let answers = [
        s.post("/v1/password/reset", &reset_body(&acc.id, &expired, &new)),
        s.post(
            "/v1/password/reset",
            &reset_body(&acc.id, &"A".repeat(43), &new),
        ),
        s.post("/v1/password/reset", &reset_body("nobody", &expired, &new)),
    ];
    for r in &answers {
        r.assert_error(401, "Invalid token");
    }
    assert!(answers.iter().all(|r| r.body == answers[0].body));
    // Unknown profiles cannot be given a token.
    let out = zkppd_testkit::process::command(crate::BIN)
        .args(["profile", "reset-token", "nobody", "--db"])
        .arg(s.db_path())
        .output()?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no profile"));
    // Three more wrong tokens make five failures on `target` (the unknown
    // id's counts apart): locked, for resets and sign-ins alike.
    for _ in 0..3 {
        s.post("/v1/password/reset", &reset_body(&acc.id, "nope", &new))
            .assert_error(401, "Invalid token");
    }
    s.post("/v1/password/reset", &reset_body(&acc.id, "nope", &new))
        .assert_error(429, "Too many requests");
    s.sign_in_as(&acc.id, &acc.password)
        .step1
        .assert_error(429, "Too many requests");
    // Bad input is still 400 first.
    let mut bad = reset_body(&acc.id, "nope", &new);
    bad["zkpp"] = json!("zz");
    s.post("/v1/password/reset", &bad)
        .assert_error(400, "Invalid body");
    Ok(())
}

#[test]
fn a_proof_made_with_the_old_password_makes_no_session_after_a_change() -> TestResult {
    let s = TestServer::start();
    let acc = Account::new("racer", "old");
    s.sign_up(&acc);
    let jwt = s.session_for(&acc);
    // Step 1 with the old verifier; the change commits; then step 2.
    let eph = zkppd_srp::client::generate_ephemeral();
    let step1 = s.post(
        "/v1/signin",
        &json!({"profile_id": acc.id, "key": eph.public}),
    );
    assert_eq!(step1.status, 200);
    let new = Account::new("racer", "new");
    assert_eq!(
        s.post("/v1/password", &password_body(&jwt, &new)).status,
        200
    );
    let b = step1.json()["key"].as_str().unwrap().to_owned();
    let session =
        zkppd_srp::client::derive_session(&eph, &b, &acc.salt, &acc.id, &acc.x).expect("valid B");
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": acc.id, "key": session.proof}),
    )
    .assert_error(401, "Invalid credentials");
    assert_eq!(
        s.count("SELECT count(*) FROM sessions"),
        1,
        "only the changer's"
    );

    // The same race with a deletion: the profile ends deleted, no session.
    let eph = zkppd_srp::client::generate_ephemeral();
    let step1 = s.post(
        "/v1/signin",
        &json!({"profile_id": new.id, "key": eph.public}),
    );
    let fresh = s.session_for(&new);
    assert_eq!(s.post("/v1/profile/delete", &with_jwt(&fresh)).status, 200);
    let b = step1.json()["key"].as_str().unwrap().to_owned();
    let session =
        zkppd_srp::client::derive_session(&eph, &b, &new.salt, &new.id, &new.x).expect("valid B");
    s.post(
        "/v1/signin/verify",
        &json!({"profile_id": new.id, "key": session.proof}),
    )
    .assert_error(401, "Invalid credentials");
    assert_eq!(s.count("SELECT count(*) FROM sessions"), 0);
    assert_eq!(s.count("SELECT count(*) FROM profiles"), 0);
    Ok(())
}
