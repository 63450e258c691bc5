//! The operators' side: `/healthz`, `/v1/buckets`, the Prometheus scrape on
//! its own listener, JSON log lines, CORS, and systemd readiness.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zkppd_testkit::http::{exchange as raw, get, post};
use zkppd_testkit::process::{Process, Spawn, command};
use zkppd_testkit::{ADMIN, Account, Reply, TestResult, TestServer, signup_body};

use crate::BIN;

#[test]
fn healthz_is_200_while_the_database_answers_and_503_when_it_stalls() -> TestResult {
    let _serial = zkppd_testkit::serial::timed();
    let s = TestServer::start();
    let r = get(s.addr, "/healthz", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    assert_eq!(r.header("content-type"), Some("application/json"));
    // GET only (SPEC §1: known path, other method → 405 with Allow).
    for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
        let r = s.request(method, "/healthz", &[], b"");
        r.assert_error(405, "Method not allowed");
        assert_eq!(r.header("allow"), Some("GET"));
    }

    // Every pooled connection taken: the database no longer answers.
    let held: Vec<_> = (0..8)
        .map(|_| s.sqlite_store().connection())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let started = Instant::now();
    let r = get(s.addr, "/healthz", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(r.json(), json!({"status": "unavailable"}));
    assert!(r.header("retry-after").is_some());
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "deadline not kept"
    );
    drop(held);
    // It recovers by itself.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if get(s.addr, "/healthz", &[]).status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "healthz did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn buckets_counts_need_the_admin_token() -> TestResult {
    let s = TestServer::start();
    s.fill_both("bc", 3);
    assert_eq!(
        s.fill("signup", &["extra-1".into(), "extra-2".into()])
            .status,
        200
    );
    let tokens = s.fill_both("bd", 1);
    assert_eq!(
        s.post("/v1/signup", &signup_body("p1", &tokens[0])).status,
        200
    );

    let auth = format!("Bearer {ADMIN}");
    let r = get(s.addr, "/v1/buckets", &[("Authorization", &auth)]);
    assert_eq!(r.status, 200);
    // 4 profile tokens, one used; 6 signup tokens, one handed out.
    assert_eq!(r.json(), json!({"profile": 3, "signup": 5}));

    for headers in [
        vec![],
        vec![("Authorization", "Bearer wrong-token-0123456789")],
        vec![("Authorization", "Basic dGVzdA==")],
    ] {
        let r = get(s.addr, "/v1/buckets", &headers);
        r.assert_error(401, "Unauthorized");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    // 405 comes before 401 (SPEC §1 order).
    let r = s.request("POST", "/v1/buckets", &[], b"");
    r.assert_error(405, "Method not allowed");
    assert_eq!(r.header("allow"), Some("GET"));

    // A server without an admin token answers 401 to everyone.
    let open = TestServer::with(|s| s.admin_token = None);
    get(open.addr, "/v1/buckets", &[("Authorization", &auth)]).assert_error(401, "Unauthorized");
    Ok(())
}

/// One parsed sample of the text exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict parser of the Prometheus text format 0.0.4 (what Prometheus
/// scrapes): `# HELP`/`# TYPE` lines, then samples `name{l="v",…} value`
/// whose family was declared with a known type. Panics on anything else.
fn parse_exposition(text: &str) -> Vec<Sample> {
    fn is_name(s: &str) -> bool {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("bad comment line {line:?}"));
            assert!(is_name(name), "bad metric name in {line:?}");
            match kind {
                Some("HELP") => {}
                Some("TYPE") => {
                    let t = tail.unwrap_or("");
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "bad type in {line:?}"
                    );
                    types.insert(name.to_owned(), t.to_owned());
                }
                _ => panic!("unknown comment {line:?}"),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value in {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut labels = BTreeMap::new();
                for pair in body.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair
                        .split_once('=')
                        .unwrap_or_else(|| panic!("bad label in {line:?}"));
                    assert!(is_name(k), "bad label name in {line:?}");
                    let v = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or_else(|| panic!("unquoted label value in {line:?}"));
                    labels.insert(k.to_owned(), v.to_owned());
                }
                (name, labels)
            }
        };
        assert!(is_name(name), "bad sample name in {line:?}");
        let family = [name, name.trim_end_matches("_bucket")]
            .into_iter()
            .chain(name.strip_suffix("_sum"))
            .chain(name.strip_suffix("_count"))
            .find(|f| types.contains_key(*f))
            .unwrap_or_else(|| panic!("sample {name} has no # TYPE"));
        if types[family] == "counter" {
            assert!(value >= 0.0, "negative counter in {line:?}");
        }
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Runs zkppd's metrics listener for `s` on 127.0.0.1:0, as
/// `--metrics-listen` does, on a runtime of its own.
fn metrics_listener(s: &TestServer) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    rt.spawn(zkppd::serve_metrics(listener, s.state.clone()));
    (addr, rt)
}

fn scrape(addr: SocketAddr) -> Vec<Sample> {
    let r = get(addr, "/metrics", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse_exposition(std::str::from_utf8(&r.body).expect("UTF-8"))
}

#[test]
fn metrics_parse_as_prometheus_text_and_move_after_requests() -> TestResult {
    let s = TestServer::start();
    let (addr, _rt) = metrics_listener(&s);
    let before = scrape(addr);
    let requests = "zkppd_http_requests_total";
    assert_eq!(value(&before, requests, &[("route", "/v1/signup")]), 0.0);

    let tokens = s.fill_both("mx", 3);
    assert_eq!(
        s.post("/v1/signup", &signup_body("m1", &tokens[0])).status,
        200
    );
    s.post("/v1/signup", &signup_body("m1", &tokens[1]))
        .assert_error(400, "Duplicate ID");
    get(s.addr, "/no/such/path/with-a-secret-looking-part", &[]);
    // Five wrong proofs, each after a step 1: 401 five times, then locked out.
    let proof = json!({"profile_id": "m1", "key": "00".repeat(32)});
    let a = format!("{:0>512}", "2");
    for _ in 0..5 {
        assert_eq!(
            s.post("/v1/signin", &json!({"profile_id": "m1", "key": a}))
                .status,
            200
        );
        s.post("/v1/signin/verify", &proof)
            .assert_error(401, "Invalid credentials");
    }
    assert_eq!(s.post("/v1/signin/verify", &proof).status, 429);
    assert_eq!(
        s.post("/v1/signin", &json!({"profile_id": "other", "key": a}))
            .status,
        200
    );

    let after = scrape(addr);
    let signup_ok = [("route", "/v1/signup"), ("status", "200")];
    assert_eq!(value(&after, requests, &signup_ok), 1.0);
    let signup_dup = [("route", "/v1/signup"), ("status", "400")];
    assert_eq!(value(&after, requests, &signup_dup), 1.0);
    assert_eq!(
        value(&after, requests, &[("route", "/v1/bucket/fill")]),
        2.0
    );
    // A client's arbitrary path never becomes a label.
    assert_eq!(value(&after, requests, &[("route", "unmatched")]), 1.0);
    assert!(
        after
            .iter()
            .all(|s| s.labels.values().all(|v| !v.contains("secret-looking")))
    );
    let verify = "zkppd_signin_verify_total";
    assert_eq!(
        value(&after, verify, &[("outcome", "invalid_credentials")]),
        5.0
    );
    assert_eq!(value(&after, verify, &[("outcome", "locked")]), 1.0);
    assert_eq!(value(&after, "zkppd_lockouts_total", &[]), 1.0);
    assert_eq!(value(&after, "zkppd_pending_handshakes", &[]), 1.0);
    let hist = "zkppd_http_request_duration_seconds_count";
    assert_eq!(value(&after, hist, &[("route", "/v1/signin/verify")]), 6.0);
    let inf = [("route", "/v1/signin/verify"), ("le", "+Inf")];
    assert_eq!(
        value(&after, "zkppd_http_request_duration_seconds_bucket", &inf),
        6.0
    );
    // Gauges sampled from the database at scrape time.
    let buckets = "zkppd_bucket_tokens";
    assert_eq!(value(&after, buckets, &[("bucket", "profile")]), 2.0);
    assert_eq!(value(&after, buckets, &[("bucket", "signup")]), 2.0);
    assert_eq!(value(&after, "zkppd_live_sessions", &[]), 0.0);

    // The scrape is only on its own listener, and GET only.
    get(s.addr, "/metrics", &[]).assert_error(404, "Not found");
    let r = raw(
        addr,
        b"POST /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 405);
    assert_eq!(get(addr, "/", &[]).status, 404);
    Ok(())
}

const ORIGIN: &str = "https://app.example.com";

/// `zkppd_lockouts_total` counts failed proofs that locked a profile out:
/// the right password after four wrong ones (its guess was counted, and
/// started a lock, before its proof was checked) locks nobody out and
/// counts nothing; five wrong ones after it count one.
#[test]
fn a_right_proof_after_four_wrong_ones_counts_no_lockout() -> TestResult {
    let s = TestServer::start();
    let (addr, _rt) = metrics_listener(&s);
    let alice = Account::new("lm1", "correct horse");
    s.sign_up(&alice);
    for _ in 0..4 {
        s.sign_in_as(&alice.id, "wrong")
            .step2
            .assert_error(401, "Invalid credentials");
    }
    assert_eq!(s.sign_in_as(&alice.id, &alice.password).step2.status, 200);
    let after = scrape(addr);
    let verify = "zkppd_signin_verify_total";
    assert_eq!(value(&after, verify, &[("outcome", "ok")]), 1.0);
    assert_eq!(
        value(&after, verify, &[("outcome", "invalid_credentials")]),
        4.0
    );
    assert_eq!(value(&after, "zkppd_lockouts_total", &[]), 0.0);

    for _ in 0..5 {
        s.sign_in_as(&alice.id, "wrong")
            .step2
            .assert_error(401, "Invalid credentials");
    }
    s.sign_in_as(&alice.id, &alice.password)
        .step2
        .assert_error(429, "Too many requests");
    assert_eq!(value(&scrape(addr), "zkppd_lockouts_total", &[]), 1.0);
    Ok(())
}

fn preflight(s: &TestServer, path: &str, origin: &str, method: &str) -> Reply {
    s.request(
        "OPTIONS",
        path,
        &[
            ("Origin", origin),
            ("Access-Control-Request-Method", method),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    )
}

#[test]
fn cors_preflight_and_headers_only_with_the_flag() -> TestResult {
    let s = TestServer::with(|s| s.cors_origins = vec![ORIGIN.into()]);
    for path in [
        "/v1/signup",
        "/v1/signin",
        "/v1/signin/verify",
        "/v1/verify",
        "/v1/signout",
        "/v1/bucket/fill",
    ] {
        let r = preflight(&s, path, ORIGIN, "POST");
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
        assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
        let allowed = r.header("access-control-allow-headers").unwrap_or("");
        assert!(allowed.contains("content-type") && allowed.contains("authorization"));
        assert!(r.header("access-control-max-age").is_some());
        assert!(r.header("vary").is_some_and(|v| v.contains("origin")));
        assert!(r.body.is_empty());
    }
    let r = preflight(&s, "/v1/buckets", ORIGIN, "GET");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));

    // Not a preflight, another origin, or another method: a plain 405.
    for r in [
        preflight(&s, "/v1/signup", "https://evil.example.com", "POST"),
        preflight(&s, "/v1/signup", ORIGIN, "PUT"),
        s.request("OPTIONS", "/v1/signup", &[("Origin", ORIGIN)], b""),
        s.request("OPTIONS", "/v1/signup", &[], b""),
    ] {
        r.assert_error(405, "Method not allowed");
        assert_eq!(r.header("allow"), Some("POST"));
    }
    preflight(&s, "/v1/nope", ORIGIN, "POST").assert_error(404, "Not found");

    // Real answers carry the origin (errors too, so a page can read them).
    let r = s.request(
        "POST",
        "/v1/verify",
        &[("Origin", ORIGIN), ("Content-Type", "application/json")],
        b"{}",
    );
    r.assert_error(400, "Invalid body");
    assert_eq!(r.header("access-control-allow-origin"), Some(ORIGIN));
    let r = s.request(
        "POST",
        "/v1/verify",
        &[
            ("Origin", "https://evil.example.com"),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(r.header("access-control-allow-origin"), None);

    // `*` allows any origin.
    let any = TestServer::with(|s| s.cors_origins = vec!["*".into()]);
    let r = preflight(&any, "/v1/signin", "http://localhost:8080", "POST");
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );

    // Without the flag: no CORS header anywhere, OPTIONS is a 405.
    let plain = TestServer::start();
    let r = preflight(&plain, "/v1/signup", ORIGIN, "POST");
    r.assert_error(405, "Method not allowed");
    assert_eq!(r.header("allow"), Some("POST"));
    for r in [
        r,
        plain.request(
            "POST",
            "/v1/verify",
            &[("Origin", ORIGIN), ("Content-Type", "application/json")],
            b"{}",
        ),
        get(plain.addr, "/healthz", &[("Origin", ORIGIN)]),
    ] {
        assert!(
            r.headers
                .iter()
                .all(|(k, _)| !k.starts_with("access-control-") && k != "vary"),
            "CORS headers without --cors-origin: {:?}",
            r.headers
        );
    }
    Ok(())
}

/// SIGTERM, a clean exit, and every log line.
fn stop(mut run: Process) -> Vec<String> {
    let status = run.terminate(Duration::from_secs(30));
    assert!(status.success(), "exit {status:?}; log:\n{}", run.log());
    run.lines()
}

#[test]
fn json_logs_have_one_object_per_line_with_access_lines_and_no_secrets() -> TestResult {
    let dir = tempfile::tempdir()?;
    let token_file = zkppd_testkit::admin_token_file(dir.path());
    let db = dir.path().join("zkppd.db");
    let mut run = Spawn::server(BIN, &db, &token_file)
        .args(["--metrics-listen", "127.0.0.1:0", "--log-format", "json"])
        .spawn()?;
    // The metrics listener is announced first, then the API's.
    let metrics = run.wait_addr("metrics on http://");
    let api = run.wait_addr("listening on ");

    let profile_token = "secret-profile-token-1";
    let signup_token = "secret-signup-token-1";
    let fill = |bucket: &str, token: &str| {
        let body = json!({"bucket": bucket, "tokens": [token]});
        post(api, "/v1/bucket/fill", &body, Some(ADMIN))
    };
    assert_eq!(fill("profile", profile_token).status, 200);
    assert_eq!(fill("signup", signup_token).status, 200);
    let body = signup_body("log-profile", profile_token);
    let r = post(api, "/v1/signup", &body, None);
    assert_eq!(r.status, 200);
    let request_id = r.header("x-request-id").expect("x-request-id").to_owned();
    assert_eq!(get(api, "/healthz", &[]).status, 200);
    let scraped = parse_exposition(std::str::from_utf8(&get(metrics, "/metrics", &[]).body)?);
    assert!(
        value(
            &scraped,
            "zkppd_http_requests_total",
            &[("route", "/v1/signup")]
        ) >= 1.0
    );
    run.wait_for("/healthz");
    let lines = stop(run);

    let mut access = Vec::new();
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line:?}"));
        for key in ["timestamp", "level", "target"] {
            assert!(v[key].is_string(), "no {key} in {line}");
        }
        if v["target"] == "zkppd::access" {
            access.push(v);
        }
    }
    let routes: BTreeSet<&str> = access.iter().filter_map(|v| v["route"].as_str()).collect();
    assert!(routes.is_superset(&["/v1/bucket/fill", "/v1/signup", "/healthz"].into()));
    let signup = access
        .iter()
        .find(|v| v["route"] == "/v1/signup")
        .expect("access line of the sign-up");
    assert_eq!(signup["status"], 200);
    assert_eq!(signup["request_id"], request_id.as_str());
    assert!(signup["latency_us"].is_u64());

    // Never a secret: tokens, the admin token, SRP values, the signup
    // token handed back; profile ids only at debug level.
    let text = lines.join("\n");
    for secret in [
        ADMIN,
        profile_token,
        signup_token,
        &zkppd_testkit::some_salt(),
        &zkppd_testkit::some_verifier(),
        "log-profile",
    ] {
        assert!(!text.contains(secret), "log shows {secret:?}:\n{text}");
    }
    Ok(())
}

#[test]
fn text_logs_stay_readable_with_an_access_line() -> TestResult {
    let mut run = Spawn::new(BIN)
        .args(["--temp-db", "--listen", "127.0.0.1:0"])
        .start();
    assert_eq!(get(run.addr(), "/healthz", &[]).status, 200);
    let line = run.wait_for("zkppd::access");
    assert!(
        !line.starts_with('{') && line.contains("INFO") && line.contains("/healthz"),
        "{line}"
    );
    assert!(line.contains("status=200"), "{line}");
    stop(run);
    Ok(())
}

#[test]
fn the_server_tells_systemd_it_is_ready_and_stopping() -> TestResult {
    let dir = tempfile::tempdir()?;
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path)?;
    socket.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut run = Spawn::new(BIN)
        .args(["--temp-db", "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &socket_path)
        .spawn()?;

    let mut buf = [0u8; 256];
    let n = socket.recv(&mut buf)?;
    assert_eq!(&buf[..n], b"READY=1");
    // Ready means serving: the port is bound before READY=1 is sent.
    let addr = run.wait_listening(Duration::from_secs(30));
    assert_eq!(get(addr, "/healthz", &[]).status, 200);

    stop(run);
    let n = socket.recv(&mut buf)?;
    assert_eq!(&buf[..n], b"STOPPING=1");
    Ok(())
}

#[test]
fn metrics_listen_in_use_fails_start_up() -> TestResult {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = taken.local_addr()?.to_string();
    let out = command(BIN)
        .args([
            "--temp-db",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            &addr,
        ])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("for metrics"), "{err}");
    let out = command(BIN)
        .args(["--temp-db", "--cors-origin", "https://a.example/path"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    Ok(())
}
