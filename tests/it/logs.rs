//! Issue 4, secrets and audit: the real `zkppd` binary is run at `debug`
//! (and `trace`), in text and in JSON, through a whole life — bucket fills
//! with the admin token, sign-ups (accepted and refused), sign-ins (right
//! proof, wrong proofs, no handshake, locked out), a session check and
//! sign-outs — and its stderr is searched for every secret that went over
//! the wire: admin token, profile and signup tokens, auth_token, the
//! password, the salt, the verifier, A, B, M1 and M2, in any letter case and
//! also as any 24-character piece (a truncated value is still a leak).
//!
//! The audit trail is checked line by line: exactly one `audit` line per
//! operation (bucket fill, sign-up, each step 2, sign-out), in order, each
//! with its outcome, the peer address and — for profile operations — a
//! short keyed reference, never the raw profile id.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use zkppd_testkit::{Account, Process, Reply, Spawn, TestResult};

/// A running `zkppd` whose stderr the kit collects line by line, and the
/// directory of its database and admin token file.
struct Zkppd {
    process: Process,
    _dir: tempfile::TempDir,
}

impl Zkppd {
    fn start(admin_token: &str, args: &[&str]) -> Result<Zkppd, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let token_file = dir.path().join("admin-token");
        std::fs::write(&token_file, format!("{admin_token}\n"))?;
        let process = Spawn::server(crate::BIN, &dir.path().join("zkppd.db"), &token_file)
            .env("NO_COLOR", "1")
            .args(args)
            .start();
        Ok(Zkppd { process, _dir: dir })
    }

    /// SIGTERM, a clean exit, and every line the process wrote.
    fn stop(mut self) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let status = self.process.terminate(Duration::from_secs(20));
        assert!(status.success(), "exit status {status:?}");
        Ok(self.process.lines())
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_as(path, body, None)
    }

    fn post_as(&self, path: &str, body: &Value, bearer: Option<&str>) -> Reply {
        zkppd_testkit::http::post(self.process.addr(), path, body, bearer)
    }
}

/// A distinctive random value, so that finding it in a log is no accident.
fn random(prefix: &str) -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS random");
    format!("{prefix}-{}", zkppd_srp::hex::encode(&b))
}

/// What a run sent and received that must never be logged, and the
/// operations it performed, in order, as the audit trail must show them.
struct Run {
    secrets: Vec<(&'static str, String)>,
    /// Profile ids: allowed in the log at debug level only.
    ids: Vec<String>,
    /// (op, outcome, whose profile: an index into `ids`; none for fills).
    audit: Vec<(&'static str, &'static str, Option<usize>)>,
}

/// Drives a full life through `z`, asserting every answer on the way.
fn drive(z: &Zkppd, admin: &str) -> Run {
    let mut secrets: Vec<(&'static str, String)> = vec![("admin token", admin.to_owned())];
    let mut audit = Vec::new();
    let profile_token = random("profile-token");
    let spare_token = random("profile-token");
    let signup_token = random("signup-token");
    secrets.push(("profile token", profile_token.clone()));
    secrets.push(("profile token", spare_token.clone()));
    secrets.push(("signup token", signup_token.clone()));

    // Bucket fills with the admin token.
    let fill = |bucket: &str, tokens: &[&String]| {
        z.post_as(
            "/v1/bucket/fill",
            &json!({"bucket": bucket, "tokens": tokens}),
            Some(admin),
        )
    };
    assert_eq!(fill("profile", &[&profile_token, &spare_token]).status, 200);
    audit.push(("bucket_fill", "ok", None));
    assert_eq!(fill("signup", &[&signup_token]).status, 200);
    audit.push(("bucket_fill", "ok", None));

    // Sign-up.
    let password = random("correct horse battery staple");
    let account = Account::new(&random("c0ffee00-profile"), &password);
    let verifier = zkppd_srp::client::derive_verifier(&account.x);
    secrets.push(("password", password));
    secrets.push(("salt", account.salt.clone()));
    secrets.push(("verifier", verifier));
    let r = z.post("/v1/signup", &account.signup_body(&profile_token));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json(), json!({"token": signup_token}));
    audit.push(("signup", "ok", Some(0)));

    // Refused sign-ups: the same id again, an unknown token, an empty
    // signup bucket.
    z.post("/v1/signup", &account.signup_body(&spare_token))
        .assert_error(400, "Duplicate ID");
    audit.push(("signup", "duplicate_id", Some(0)));
    let other = Account::new(&random("other-profile"), &random("other password"));
    let unknown_token = random("unknown-token");
    secrets.push(("profile token", unknown_token.clone()));
    secrets.push(("salt", other.salt.clone()));
    z.post("/v1/signup", &other.signup_body(&unknown_token))
        .assert_error(400, "Invalid token");
    audit.push(("signup", "invalid_token", Some(1)));
    z.post("/v1/signup", &other.signup_body(&spare_token))
        .assert_error(503, "Signup bucket empty");
    audit.push(("signup", "signup_bucket_empty", Some(1)));

    // A sign-in with the right password; both steps' values are secrets.
    let sign_in = |password: &str, secrets: &mut Vec<(&'static str, String)>| {
        let post = |path: &str, body: &Value| Ok::<_, Infallible>(z.post(path, body));
        let Ok(done) = zkppd_testkit::sign_in(post, &account.id, password);
        assert_eq!(done.step1.status, 200);
        assert_eq!(done.step1.json()["salt"], json!(account.salt));
        secrets.push(("A", done.a));
        secrets.push(("B", done.b));
        secrets.push(("M1", done.m1));
        secrets.extend(done.m2.map(|m2| ("M2", m2)));
        done.step2
    };
    let ok = sign_in(&account.password, &mut secrets);
    assert_eq!(ok.status, 200);
    audit.push(("signin", "ok", Some(0)));
    let jwt = ok.json()["jwt"].clone();
    secrets.push(("auth_token", jwt["auth_token"].as_str().unwrap().to_owned()));
    assert_eq!(z.post("/v1/verify", &json!({"jwt": jwt})).status, 200);

    // A wrong password, then a step 2 with no handshake.
    sign_in("wrong password", &mut secrets).assert_error(401, "Invalid credentials");
    audit.push(("signin", "bad_proof", Some(0)));
    let stray = random("5eed").replace('-', "");
    z.post(
        "/v1/signin/verify",
        &json!({"profile_id": account.id, "key": stray}),
    )
    .assert_error(401, "Invalid credentials");
    audit.push(("signin", "no_handshake", Some(0)));

    // Sign-out, and again with the same, now dead, session.
    assert_eq!(z.post("/v1/signout", &json!({"jwt": jwt})).status, 200);
    audit.push(("signout", "ok", Some(0)));
    z.post("/v1/signout", &json!({"jwt": jwt}))
        .assert_error(401, "Invalid token");
    audit.push(("signout", "invalid_token", Some(0)));

    // Four more wrong passwords lock the profile; step 2 then says 429.
    for _ in 0..4 {
        sign_in("wrong password", &mut secrets).assert_error(401, "Invalid credentials");
        audit.push(("signin", "bad_proof", Some(0)));
    }
    z.post(
        "/v1/signin/verify",
        &json!({"profile_id": account.id, "key": "00".repeat(32)}),
    )
    .assert_error(429, "Too many requests");
    audit.push(("signin", "locked", Some(0)));

    Run {
        secrets,
        ids: vec![account.id.clone(), other.id.clone()],
        audit,
    }
}

/// Every secret of the run, whole or any 24-character piece of it, in any
/// letter case: none may be in the log.
fn assert_no_secrets(lines: &[String], run: &Run) {
    let log = lines.join("\n").to_lowercase();
    for (name, secret) in &run.secrets {
        let secret = secret.to_lowercase();
        let piece = 24.min(secret.len());
        for start in 0..=secret.len() - piece {
            let window = &secret[start..start + piece];
            if let Some(at) = log.find(window) {
                let line = log[..at].matches('\n').count();
                panic!(
                    "{name} ({secret}) leaked into the log, line {}: {}",
                    line + 1,
                    lines[line]
                );
            }
        }
    }
}

fn log_run(args: &[&str]) -> Result<(Vec<String>, Run), Box<dyn std::error::Error>> {
    let admin = random("admin-token");
    let z = Zkppd::start(&admin, args)?;
    let run = drive(&z, &admin);
    let lines = z.stop()?;
    assert!(lines.len() > 20, "suspiciously short log: {lines:#?}");
    Ok((lines, run))
}

#[test]
fn no_secret_is_logged_at_debug() -> TestResult {
    let (lines, run) = log_run(&["--log-level", "debug"])?;
    assert_no_secrets(&lines, &run);
    // The debug lines really were on (step 1 logs one).
    assert!(
        lines.iter().any(|l| l.contains("DEBUG")),
        "no debug line: {lines:#?}"
    );
    let audit = lines.iter().filter(|l| l.contains(" audit: ")).count();
    assert_eq!(audit, run.audit.len(), "{lines:#?}");
    Ok(())
}

#[test]
fn no_secret_is_logged_at_trace() -> TestResult {
    let (lines, run) = log_run(&["--log-level", "trace"])?;
    assert_no_secrets(&lines, &run);
    Ok(())
}

#[test]
fn no_secret_and_no_profile_id_is_logged_at_info() -> TestResult {
    let (lines, run) = log_run(&[])?;
    assert_no_secrets(&lines, &run);
    // SPEC §1: profile ids only at debug level.
    let log = lines.join("\n");
    for id in &run.ids {
        assert!(!log.contains(id.as_str()), "profile id {id} logged at info");
    }
    Ok(())
}

#[test]
fn json_log_lines_parse_and_hold_no_secret() -> TestResult {
    let (lines, run) = log_run(&["--log-format", "json", "--log-level", "debug"])?;
    for line in &lines {
        let v: Value =
            serde_json::from_str(line).map_err(|e| format!("not a JSON line ({e}): {line}"))?;
        assert!(v.is_object(), "{line}");
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(v["target"].is_string(), "{line}");
    }
    assert_no_secrets(&lines, &run);
    Ok(())
}

#[test]
fn one_audit_line_per_operation_with_outcome_reference_and_peer() -> TestResult {
    let (lines, run) = log_run(&["--log-format", "json"])?;
    let audit: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    let seen: Vec<(String, String)> = audit
        .iter()
        .map(|v| {
            (
                v["op"].as_str().unwrap_or("?").to_owned(),
                v["outcome"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = run
        .audit
        .iter()
        .map(|(op, outcome, _)| ((*op).to_owned(), (*outcome).to_owned()))
        .collect();
    assert_eq!(seen, expected, "audit trail: {audit:#?}");

    // The reference each profile's lines carry.
    let mut refs: Vec<Option<String>> = vec![None; run.ids.len()];
    for (v, (_, _, whose)) in audit.iter().zip(&run.audit) {
        let line = v.to_string();
        let peer: SocketAddr = v["peer"]
            .as_str()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| format!("no peer address: {line}"))?;
        assert!(peer.ip().is_loopback(), "{line}");
        for id in &run.ids {
            assert!(!line.contains(id.as_str()), "raw profile id in {line}");
        }
        let Some(whose) = *whose else { continue };
        let profile = v["profile"]
            .as_str()
            .ok_or_else(|| format!("no profile reference: {line}"))?;
        assert!(
            (8..=16).contains(&profile.len())
                && profile
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "not a short reference: {line}"
        );
        // Stable: every line of one profile has the same reference.
        let known = refs[whose].get_or_insert_with(|| profile.to_owned());
        assert_eq!(known, profile, "{line}");
    }
    assert_ne!(refs[0], refs[1], "two profiles, one reference");
    assert_no_secrets(&lines, &run);
    Ok(())
}

#[test]
fn a_refused_admin_token_leaves_one_audit_line_without_the_guess() -> TestResult {
    let admin = random("admin-token");
    let z = Zkppd::start(&admin, &["--log-format", "json"])?;
    let guess = random("guessed-admin-token");
    let body = serde_json::json!({"bucket": "signup", "tokens": ["a"]});
    z.post_as("/v1/bucket/fill", &body, Some(&guess))
        .assert_error(401, "Unauthorized");
    let lines = z.stop()?;
    let audit: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "audit")
        .collect();
    assert_eq!(audit.len(), 1, "{audit:#?}");
    assert_eq!(audit[0]["op"], "bucket_fill");
    assert_eq!(audit[0]["outcome"], "unauthorized");
    assert!(
        audit[0]["peer"]
            .as_str()
            .is_some_and(|p| p.starts_with("127.0.0.1"))
    );
    assert!(!lines.join("\n").contains(&guess));
    assert!(!lines.join("\n").contains(&admin));
    Ok(())
}

/// The access log is written in batches by a thread of its own: a graceful
/// stop still writes every line, the last request's included.
#[test]
fn a_graceful_stop_writes_every_access_line() -> TestResult {
    let z = Zkppd::start("logs-admin-token-0123456789", &[])?;
    let n = 500;
    let mut http = zkppd_testkit::Http::new(z.process.addr());
    for i in 0..n {
        let r = http.must(
            "/v1/verify",
            &json!({"profileId": format!("nobody-{i}"), "authToken": "x", "authExpiry": "y"}),
        );
        assert!(r.status < 500, "{}", r.status);
    }
    let lines = z.stop()?;
    let access = lines
        .iter()
        .filter(|l| l.contains("zkppd::access") && l.contains("/v1/verify"))
        .count();
    assert_eq!(access, n, "access lines of {n} requests");
    Ok(())
}
