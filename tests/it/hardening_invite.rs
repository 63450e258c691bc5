//! Issue 10, finding 13: one valid invite (profile token) as an oracle of
//! which profile ids exist. SPEC §2's order is fixed (invalid token →
//! duplicate id → bucket empty), so `Duplicate ID` says an id is taken,
//! and while the signup bucket is empty `Signup bucket empty` says it is
//! free — neither spends the invite. Today nothing limits the asking.
//! Expected: after a few such answers the invite is locked, 429 with a
//! `Retry-After` that doubles; other invites, invalid tokens and a real
//! sign-up with the invite once the lock is over are unaffected.

use std::time::Duration;

use zkppd_core::FREE_REFUSALS;
use zkppd_testkit::{Reply, TestResult, TestServer, signup_body};

fn probe(s: &TestServer, id: &str, invite: &str) -> Reply {
    s.post("/v1/signup", &signup_body(id, invite))
}

#[test]
fn one_invite_cannot_probe_profile_ids_without_limit() -> TestResult {
    let s = TestServer::start();
    assert_eq!(
        s.fill(
            "profile",
            &["pt-victim".into(), "pt-probe".into(), "pt-other".into()]
        )
        .status,
        200
    );
    assert_eq!(s.fill("signup", &["st-1".into()]).status, 200);
    assert_eq!(probe(&s, "victim", "pt-victim").status, 200);
    // The signup bucket is empty now: probing costs the invite nothing.

    let mut answers = Vec::new();
    for i in 0..30 {
        let id = if i % 2 == 0 {
            "victim".to_owned()
        } else {
            format!("free-{i}")
        };
        answers.push(probe(&s, &id, "pt-probe"));
    }
    for (i, r) in answers.iter().enumerate().take(FREE_REFUSALS as usize) {
        let expected = if i % 2 == 0 {
            (400, "Duplicate ID")
        } else {
            (503, "Signup bucket empty")
        };
        r.assert_error(expected.0, expected.1);
    }
    let locked = answers
        .iter()
        .skip(FREE_REFUSALS as usize)
        .filter(|r| r.is_error(429, "Too many requests") && r.header("retry-after") == Some("1"))
        .count();
    assert_eq!(
        locked,
        30 - FREE_REFUSALS as usize,
        "answers past the budget: {:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );

    // Other invites and invalid tokens are not held up.
    probe(&s, "victim", "pt-other").assert_error(400, "Duplicate ID");
    for _ in 0..10 {
        probe(&s, "victim", "pt-bogus").assert_error(400, "Invalid token");
    }

    // The lock expires; the next refusal locks for twice as long.
    std::thread::sleep(Duration::from_millis(1100));
    probe(&s, "victim", "pt-probe").assert_error(400, "Duplicate ID");
    let r = probe(&s, "victim", "pt-probe");
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("2"));

    // The invite still signs up once its lock is over.
    assert_eq!(s.fill("signup", &["st-2".into()]).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(probe(&s, "the-real-one", "pt-probe").status, 200);
    Ok(())
}
