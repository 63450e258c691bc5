//! CI smoke run of the load generator (issue 6): every scenario of
//! `zkppd-bench` for about a second against a real `zkppd`, checking only
//! that it completes with zero errors, never how fast it was. Also drives
//! the API through `zkppd::client` against the real binary, as a test of
//! the client the tests and the bench share.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use zkppd::client::{Client, Registration};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn bench(scenario: &str) -> TestResult {
    let out = Command::new(env!("CARGO_BIN_EXE_zkppd-bench"))
        .args([
            "--scenario",
            scenario,
            "--duration",
            "1s",
            "--warmup",
            "200ms",
            "--concurrency",
            "2",
            "--storm",
            "2",
            "--profiles",
            "4",
            "--footprint-profiles",
            "2000",
            "--footprint-connections",
            "50",
            "--json",
            "--zkppd",
            env!("CARGO_BIN_EXE_zkppd"),
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{scenario}: exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let report: Value = serde_json::from_str(stdout.trim())?;
    let rows = report["rows"].as_array().ok_or("no rows")?;
    assert!(!rows.is_empty(), "{scenario}: no rows");
    for row in rows {
        assert_eq!(row["errors"], 0, "{scenario}: {row}");
        assert!(
            row["ops"].as_u64().unwrap_or(0) > 0,
            "{scenario}: nothing measured: {row}"
        );
    }
    Ok(())
}

#[test]
fn scenario_ceiling() -> TestResult {
    bench("ceiling")
}

#[test]
fn scenario_verify() -> TestResult {
    bench("verify")
}

#[test]
fn scenario_signin() -> TestResult {
    bench("signin")
}

#[test]
fn scenario_signup() -> TestResult {
    bench("signup")
}

#[test]
fn scenario_timing() -> TestResult {
    bench("timing")
}

#[test]
fn scenario_mixed() -> TestResult {
    bench("mixed")
}

#[test]
fn scenario_footprint() -> TestResult {
    bench("footprint")
}

/// A real zkppd on a temp database, stopped on drop.
struct Zkppd {
    child: Child,
    addr: SocketAddr,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Zkppd {
    fn start() -> Result<Zkppd, Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let admin = "smoke-admin-token-0123456789".to_owned();
        let token_file = dir.path().join("admin");
        std::fs::write(&token_file, &admin)?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_zkppd"))
            .args(["--listen", "127.0.0.1:0", "--temp-db", "--admin-token-file"])
            .arg(&token_file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()?;
        let stderr = child.stderr.take().ok_or("stderr")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = rx.recv_timeout(Duration::from_secs(30))?.parse()?;
        Ok(Zkppd {
            child,
            addr,
            admin,
            _dir: dir,
        })
    }
}

impl Drop for Zkppd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn client_speaks_the_whole_api() -> TestResult {
    let server = Zkppd::start()?;
    let mut c = Client::new(server.addr);
    assert_eq!(c.fill(&server.admin, "profile", &["pt-1", "pt-2"])?, (2, 0));
    assert_eq!(c.fill(&server.admin, "signup", &["st-1", "st-2"])?, (2, 0));
    assert_eq!(c.fill(&server.admin, "profile", &["pt-1"])?, (0, 1));
    let err = c
        .fill("wrong-admin-token-xxxx", "profile", &["x"])
        .unwrap_err();
    assert_eq!(err.status(), Some(401));

    let id = "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d";
    let (token, reg) = c.sign_up(id, "correct horse", "pt-1")?;
    assert!(token.starts_with("st-"));
    assert_eq!(reg.salt.len(), 64);
    let dup = c.sign_up_with(id, "pt-2", &Registration::new(id, "x"));
    assert_eq!(dup.unwrap_err().status(), Some(400));

    let jwt = c.sign_in(id, "correct horse")?;
    assert_eq!(jwt.profile_id, id);
    assert_eq!(c.verify(&jwt)?, id);
    let wrong = c.sign_in(id, "wrong horse").unwrap_err();
    assert_eq!(wrong.status(), Some(401));
    let unknown = c.sign_in("nobody", "x").unwrap_err();
    assert_eq!(unknown.status(), Some(401));

    // The salt of step 1 is the one signed up with.
    let eph = zkppd::srp_client::generate_ephemeral();
    let challenge = c.sign_in_start(id, &eph.public)?;
    assert_eq!(challenge.salt, reg.salt);
    assert_eq!(challenge.key.len(), 512);
    assert_eq!(c.sign_in_finish(id, "00").unwrap_err().status(), Some(401));

    c.sign_out(&jwt)?;
    assert_eq!(c.verify(&jwt).unwrap_err().status(), Some(400));
    assert_eq!(c.sign_out(&jwt).unwrap_err().status(), Some(401));

    // A second client with its own connection, and one reopened after a
    // disconnect.
    let mut c2 = Client::from_url(&format!("http://{}", server.addr))?;
    let jwt2 = c2.sign_in(id, "correct horse")?;
    c2.disconnect();
    assert_eq!(c2.verify(&jwt2)?, id);
    Ok(())
}
