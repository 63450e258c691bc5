//! `zkppd healthcheck`, the container image's probe, run as the real binary
//! against a real server (200 → exit 0, silent), a server whose database
//! stalls (503 → exit 1), and the ways a probe fails without a server: a
//! dead port, a peer that never answers, a peer that answers garbage. Every
//! failure is exit 1 with exactly one line on stderr.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Output;
use std::time::{Duration, Instant};

use zkppd_testkit::process::command;
use zkppd_testkit::{TestResult, TestServer};

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Output> {
    let mut cmd = command(crate::BIN);
    cmd.arg("healthcheck").args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
}

/// Exit 0 with nothing printed.
#[track_caller]
fn assert_healthy(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.stdout.is_empty() && o.stderr.is_empty(), "{o:?}");
}

/// Exit 1 with one line on stderr that contains `why`; returns the line.
#[track_caller]
fn assert_unhealthy(o: &Output, why: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(o.stdout.is_empty(), "{o:?}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.ends_with('\n'), "{err:?}");
    assert!(err.starts_with("zkppd: health check of http://"), "{err:?}");
    assert!(err.contains(why), "no `{why}` in {err:?}");
    err
}

/// A loopback port nothing listens on (bound, then released).
fn dead_port() -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    l.local_addr()
}

#[test]
fn a_healthy_server_is_exit_0_by_url_listen_flag_and_environment() -> TestResult {
    let s = TestServer::start();
    let addr = s.addr.to_string();
    assert_healthy(&healthcheck(&["--url", &format!("http://{addr}")], &[])?);
    assert_healthy(&healthcheck(
        &["--url", &format!("http://{addr}/healthz")],
        &[],
    )?);
    assert_healthy(&healthcheck(&["--listen", &addr], &[])?);
    // As in the image: the server's own ZKPPD_LISTEN is the default.
    assert_healthy(&healthcheck(&[], &[("ZKPPD_LISTEN", &addr)])?);
    // --url wins over the environment.
    let dead = dead_port()?.to_string();
    assert_healthy(&healthcheck(
        &["--url", &format!("http://{addr}")],
        &[("ZKPPD_LISTEN", &dead)],
    )?);
    // A path that is not 200 is a failure, even on a healthy server.
    let line = assert_unhealthy(
        &healthcheck(&["--url", &format!("http://{addr}/nope")], &[])?,
        "answered 404 Not Found",
    );
    assert!(line.contains(&format!("http://{addr}/nope")), "{line}");
    Ok(())
}

#[test]
fn a_server_whose_database_stalls_is_exit_1() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::start();
    let addr = s.addr.to_string();
    // Every pooled connection taken: /healthz answers 503 after its 2 s
    // deadline, inside the probe's default 5 s.
    let held: Vec<_> = (0..8)
        .map(|_| s.sqlite_store().connection())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let line = assert_unhealthy(
        &healthcheck(&["--listen", &addr], &[])?,
        "answered 503 Service Unavailable",
    );
    assert!(line.contains(&format!("http://{addr}/healthz")), "{line}");
    drop(held);
    // And healthy again once the database answers.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let o = healthcheck(&["--listen", &addr], &[])?;
        if o.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "never healthy again: {o:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn a_dead_port_is_exit_1_at_once() -> TestResult {
    let dead = dead_port()?.to_string();
    let started = Instant::now();
    assert_unhealthy(
        &healthcheck(&[], &[("ZKPPD_LISTEN", &dead)])?,
        &format!("cannot connect to {dead}"),
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[test]
fn a_peer_that_never_answers_is_exit_1_at_the_timeout() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    // Accepted (the kernel's backlog does it) and never answered.
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let addr = silent.local_addr()?.to_string();
    let started = Instant::now();
    assert_unhealthy(
        &healthcheck(&["--listen", &addr, "--timeout", "1s"], &[])?,
        "no reply within the timeout",
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    Ok(())
}

#[test]
fn a_peer_that_answers_garbage_or_hangs_up_is_exit_1() -> TestResult {
    for (answer, why) in [
        (&b"SSH-2.0-OpenSSH_9.2\r\n\r\n"[..], "not an HTTP reply"),
        (&b""[..], "connection closed without a reply"),
        (
            &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
            "connection closed in the middle of the reply",
        ),
        // A redirect is not followed: only 200 is healthy.
        (
            &b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"[..],
            "answered 302 Found",
        ),
    ] {
        let peer = TcpListener::bind("127.0.0.1:0")?;
        let addr = peer.local_addr()?;
        let server = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
            let (mut conn, _) = peer.accept()?;
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            let mut request = vec![0u8; 4096];
            let n = conn.read(&mut request)?;
            request.truncate(n);
            conn.write_all(answer)?;
            Ok(request)
        });
        assert_unhealthy(
            &healthcheck(&["--url", &format!("http://{addr}")], &[])?,
            why,
        );
        let request = server.join().map_err(|_| "peer thread panicked")??;
        let request = String::from_utf8(request)?;
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n")
                && request.contains(&format!("\r\nHost: {addr}\r\n"))
                && request.ends_with("\r\n\r\n"),
            "{request:?}"
        );
    }
    Ok(())
}
