//! Connection hygiene (issue 4): slow clients are cut off, the connection
//! cap refuses quickly, the opt-in rate limit and trusted proxies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use zkppd_testkit::{Reply, TestResult, TestServer, signup_body};

const VERIFY: &[u8] =
    b"{\"jwt\":{\"profile_id\":\"a\",\"auth_token\":\"t\",\"auth_expiry\":\"e\"}}";

fn verify_request() -> Vec<u8> {
    let mut req = format!(
        "POST /v1/verify HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        VERIFY.len()
    )
    .into_bytes();
    req.extend_from_slice(VERIFY);
    req
}

/// Sends `bytes` one per `gap` until the server closes; returns how long
/// the connection lived.
fn trickle(addr: std::net::SocketAddr, bytes: &[u8], gap: Duration) -> Duration {
    let start = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    for b in bytes.iter().cycle() {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => break,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
        std::thread::sleep(gap);
        if start.elapsed() > Duration::from_secs(20) {
            panic!("slow client was never cut off");
        }
    }
    start.elapsed()
}

#[test]
fn a_slow_loris_is_cut_off_after_the_header_timeout_while_others_are_served() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::with(|st| st.header_timeout = Duration::from_secs(2));
    let addr = s.addr;
    let loris = std::thread::spawn(move || {
        trickle(
            addr,
            b"POST /v1/verify HTTP/1.1\r\nHost: a-very-slow-client\r\nX-Padding: ",
            Duration::from_secs(1),
        )
    });
    // Meanwhile, a normal client is served promptly, several times.
    for _ in 0..5 {
        let started = Instant::now();
        let r = s.raw(&verify_request());
        r.assert_error(400, "Invalid token");
        assert!(started.elapsed() < Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(300));
    }
    let lived = loris.join().unwrap();
    assert!(
        lived >= Duration::from_millis(1900),
        "closed too early: {lived:?}"
    );
    assert!(lived < Duration::from_secs(5), "closed too late: {lived:?}");
    Ok(())
}

#[test]
fn a_slow_body_is_cut_off_after_the_body_timeout() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::with(|st| st.body_timeout = Duration::from_secs(1));
    let started = Instant::now();
    let mut stream = TcpStream::connect(s.addr)?;
    stream.write_all(b"POST /v1/signin HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    Reply::parse(&out).assert_error(400, "Invalid body");
    Ok(())
}

/// The answer to [`verify_request`] past the connection cap.
///
/// The answer past the connection cap, parsed strictly: its declared
/// length must be its real one (a client that trusts the length, as
/// hyper's does, would otherwise wait for bytes that never come).
fn busy_reply(addr: std::net::SocketAddr) -> Reply {
    let bytes = zkppd_testkit::http::exchange_bytes(addr, &verify_request());
    Reply::parse_to_end(&bytes, false).expect("a well-formed 503 answer")
}

#[test]
fn past_the_connection_cap_new_connections_are_refused_at_once() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::with(|st| st.max_connections = 4);
    let idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let r = busy_reply(s.addr);
    assert!(started.elapsed() < Duration::from_secs(2));
    r.assert_error(503, "Service unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    drop(idle);
    std::thread::sleep(Duration::from_millis(300));
    s.raw(&verify_request()).assert_error(400, "Invalid token");
    Ok(())
}

#[test]
fn the_rate_limit_is_off_by_default() -> TestResult {
    let s = TestServer::start();
    for _ in 0..50 {
        s.post("/v1/signup", &signup_body("x", "nope"))
            .assert_error(400, "Invalid token");
    }
    Ok(())
}

#[test]
fn the_rate_limit_applies_per_client_and_trusts_only_configured_proxies() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::with(|st| {
        st.rate_limit = Some(3);
        st.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    });
    let post_as = |client: &str| {
        s.request(
            "POST",
            "/v1/signup",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", client),
            ],
            signup_body("x", "nope").to_string().as_bytes(),
        )
    };
    for _ in 0..3 {
        post_as("203.0.113.7").assert_error(400, "Invalid token");
    }
    let r = post_as("203.0.113.7");
    r.assert_error(429, "Too many requests");
    assert_eq!(r.header("retry-after"), Some("1"));
    // Another client behind the same proxy is not affected.
    post_as("203.0.113.8").assert_error(400, "Invalid token");
    // A forged hop left of the real client changes nothing.
    post_as("198.51.100.1, 203.0.113.7").assert_error(429, "Too many requests");
    // /v1/verify is never limited.
    for _ in 0..10 {
        s.request(
            "POST",
            "/v1/verify",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", "203.0.113.7"),
            ],
            VERIFY,
        )
        .assert_error(400, "Invalid token");
    }
    // After a second the bucket has refilled.
    std::thread::sleep(Duration::from_millis(1100));
    post_as("203.0.113.7").assert_error(400, "Invalid token");

    // Without a trusted proxy, X-Forwarded-For is ignored: all of these
    // come from 127.0.0.1.
    let s = TestServer::with(|st| st.rate_limit = Some(2));
    let mut statuses = Vec::new();
    for i in 0..4 {
        let r = s.request(
            "POST",
            "/v1/signin",
            &[
                ("Content-Type", "application/json"),
                ("X-Forwarded-For", &format!("10.0.0.{i}")),
            ],
            json!({"profile_id": "p", "key": "zz"})
                .to_string()
                .as_bytes(),
        );
        statuses.push(r.status);
    }
    assert_eq!(statuses, [400, 400, 429, 429]);
    Ok(())
}
