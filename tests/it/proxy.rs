//! Forward-auth with real components (issue 15): the distribution's nginx,
//! started here on loopback with a config of its own in a temp dir, puts
//! an app behind zkppd's `GET /v1/auth` through `auth_request`; the app is
//! a second nginx server (on a unix socket) that answers with the
//! `X-Profile-Id` it received, so the test sees what the upstream saw.
//! Then headless Chromium (the distribution's) loads a page served
//! through that nginx, which signs up and in with the npm client
//! `secure-remote-password` 0.3.1 (bundled here by esbuild), keeps the
//! session cookie, reaches the protected app, signs out, and is refused.
//!
//! Never skipped: without nginx, Chromium or the npm packages the tests
//! fail and say to run `./test.sh`, which installs them.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zkppd::config::SessionCookie;
use zkppd_testkit::process::{Process, Signal, Spawn};
use zkppd_testkit::{Account, Reply, TestResult, TestServer, http};

/// The cookie the server sets in these tests.
const COOKIE: &str = "zkppd_session";

/// The first of `candidates` that runs `version_flag`; fails (never
/// skips) when none does. nginx lives in /usr/sbin, which a non-root PATH
/// may lack.
fn require(candidates: &[&str], version_flag: &str, package: &str) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|program| {
            Command::new(program)
                .arg(version_flag)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .unwrap_or_else(|| {
            panic!(
                "{candidates:?} not found: the forward-auth tests need the distribution's \
                 `{package}` package; run ./test.sh, which installs it"
            )
        })
}

/// A free loopback port (the listener is closed again for nginx to bind;
/// nothing else on this machine picks ports from the same range in that
/// instant).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// nginx in front of `zkppd`: `/v1/` is zkppd's API, `/app/` the protected
/// app behind `auth_request`, `/` static files from `www`. The config is
/// the README's nginx snippet plus what a throw-away instance needs.
fn nginx_conf(dir: &Path, port: u16, zkppd: SocketAddr, www: &Path) -> String {
    let d = dir.display();
    let www = www.display();
    format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{ text/html html; text/javascript js; }}

    server {{
        listen 127.0.0.1:{port};
        server_name localhost;

        # zkppd's API on the same origin as the apps (sign-in sets the cookie).
        location /v1/ {{
            proxy_pass http://{zkppd};
        }}

        # The forward-auth subrequest: zkppd sees the client's
        # Authorization and Cookie headers, never its body.
        location = /_zkppd_auth {{
            internal;
            proxy_pass http://{zkppd}/v1/auth;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
        }}

        # The protected app: only signed-in requests reach it, with the
        # profile id zkppd named (a client's own X-Profile-Id is replaced).
        location /app/ {{
            auth_request /_zkppd_auth;
            auth_request_set $zkppd_profile $upstream_http_x_profile_id;
            proxy_set_header X-Profile-Id $zkppd_profile;
            proxy_pass http://unix:{d}/app.sock;
        }}

        location / {{
            root {www};
        }}
    }}

    # The app: says which profile the proxy named.
    server {{
        listen unix:{d}/app.sock;
        location / {{
            default_type text/plain;
            return 200 "profile=$http_x_profile_id\n";
        }}
    }}
}}
"#
    )
}

/// A running nginx, stopped (SIGTERM, then SIGKILL) when dropped.
struct Nginx {
    process: Option<Process>,
    addr: SocketAddr,
}

impl Nginx {
    fn start(dir: &Path, zkppd: SocketAddr, www: &Path) -> Nginx {
        let nginx = require(&["nginx", "/usr/sbin/nginx"], "-v", "nginx");
        std::fs::create_dir_all(dir.join("tmp")).expect("nginx temp dir");
        let port = free_port();
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(dir, port, zkppd, www)).expect("write nginx.conf");
        let mut process = Spawn::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg("stderr")
            .arg("-c")
            .arg(&conf)
            .spawn()
            .expect("spawn nginx");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = process.exited() {
                panic!("nginx exited ({status}): {}", process.log());
            }
            assert!(
                Instant::now() < deadline,
                "nginx does not listen on {addr}: {}",
                process.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            process: Some(process),
            addr,
        }
    }

    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        http::get(self.addr, path, headers)
    }

    fn post(&self, path: &str, body: &Value) -> Reply {
        http::post(self.addr, path, body, None)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take()
            && p.signal(Signal::TERM).is_ok()
        {
            let deadline = Instant::now() + Duration::from_secs(10);
            while p.exited().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            // Dropping the Process kills it if it is still running.
        }
    }
}

/// zkppd with the session cookie on (plain HTTP on loopback, so without
/// `Secure`), as the README's browser flow runs it.
fn zkppd() -> TestServer {
    TestServer::with(|s| {
        s.session_cookie = Some(SessionCookie {
            name: COOKIE.into(),
            domain: None,
            secure: false,
        })
    })
}

/// Signs `account` up (numbered bucket tokens) and in through nginx;
/// returns the step-2 answer.
fn sign_up_and_in(server: &TestServer, nginx: &Nginx, account: &Account) -> Reply {
    let n = zkppd_testkit::random_u64();
    let token = format!("tok-{n:x}");
    assert_eq!(
        server.fill("profile", std::slice::from_ref(&token)).status,
        200
    );
    assert_eq!(server.fill("signup", &[format!("su-{n:x}")]).status, 200);
    let r = nginx.post("/v1/signup", &account.signup_body(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    let done = zkppd_testkit::sign_in(
        |path, body| Ok::<_, std::convert::Infallible>(nginx.post(path, body)),
        &account.id,
        &account.password,
    )
    .unwrap_or_else(|never| match never {});
    assert_eq!(done.step2.status, 200, "{}", done.step2.text());
    done.step2
}

/// The `name=value` of the answer's `Set-Cookie`.
fn cookie_pair(r: &Reply) -> String {
    let line = r.header("set-cookie").expect("a Set-Cookie through nginx");
    line.split(';').next().unwrap_or("").to_owned()
}

#[track_caller]
fn assert_upstream_saw(r: &Reply, id: &str) {
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), format!("profile={id}\n"));
}

#[track_caller]
fn assert_refused(r: &Reply) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(!r.text().contains("profile="), "{}", r.text());
}

#[test]
fn nginx_auth_request_lets_live_sessions_through_only() -> TestResult {
    let server = zkppd();
    let dir = tempfile::tempdir()?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    let nginx = Nginx::start(dir.path(), server.addr, &www);

    assert_refused(&nginx.get("/app/whoami", &[]));
    // A client cannot name itself.
    assert_refused(&nginx.get("/app/whoami", &[("X-Profile-Id", "admin")]));

    let alice = Account::new("alice", "correct horse battery staple");
    let step2 = sign_up_and_in(&server, &nginx, &alice);
    let jwt = step2.json()["jwt"].clone();
    let bearer = format!("Bearer {}", jwt["auth_token"].as_str().unwrap());
    let cookie = cookie_pair(&step2);
    assert_eq!(
        cookie,
        format!("{COOKIE}={}", jwt["auth_token"].as_str().unwrap())
    );

    assert_upstream_saw(
        &nginx.get("/app/whoami", &[("Authorization", &bearer)]),
        "alice",
    );
    assert_upstream_saw(&nginx.get("/app/whoami", &[("Cookie", &cookie)]), "alice");
    // The id the app sees is zkppd's, whatever the client sent.
    assert_upstream_saw(
        &nginx.get(
            "/app/whoami",
            &[("Cookie", &cookie), ("X-Profile-Id", "admin")],
        ),
        "alice",
    );
    // Another profile's session names that profile (percent-encoded where
    // the id is not plain ASCII).
    let jurgen = Account::new("jürgen", "pw");
    let step2 = sign_up_and_in(&server, &nginx, &jurgen);
    let jurgen_cookie = cookie_pair(&step2);
    assert_upstream_saw(
        &nginx.get("/app/whoami", &[("Cookie", &jurgen_cookie)]),
        "j%C3%BCrgen",
    );

    // Sign-out through nginx clears the cookie and ends the session.
    let r = nginx.post("/v1/signout", &json!({ "jwt": jwt }));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(cookie_pair(&r), format!("{COOKIE}="));
    assert_refused(&nginx.get("/app/whoami", &[("Authorization", &bearer)]));
    assert_refused(&nginx.get("/app/whoami", &[("Cookie", &cookie)]));

    // An expired session (its expiry moved into the past in the database).
    assert_upstream_saw(
        &nginx.get("/app/whoami", &[("Cookie", &jurgen_cookie)]),
        "j%C3%BCrgen",
    );
    let changed = server.sqlite().execute(
        "UPDATE sessions SET expires_ms = expires_ms - 7200000 WHERE profile_id = ?1",
        [&jurgen.id],
    )?;
    assert_eq!(changed, 1);
    assert_refused(&nginx.get("/app/whoami", &[("Cookie", &jurgen_cookie)]));
    Ok(())
}

/// The page Chromium loads; the app's script reports into `#results`.
const INDEX_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>zkppd sign-in</title></head>
<body><ul id="results"></ul><script src="app.js"></script></body></html>
"#;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// Bundles tests/interop/browser.mjs with the npm client into `out`.
fn bundle(out: &Path) {
    let dir = interop_dir();
    let esbuild = dir.join("node_modules/.bin/esbuild");
    assert!(
        esbuild.is_file() && dir.join("node_modules/secure-remote-password").is_dir(),
        "{} or the npm client is missing: run ./test.sh (or `npm ci --prefix tests/interop`)",
        esbuild.display()
    );
    let status = Command::new(&esbuild)
        .arg(dir.join("browser.mjs"))
        .args([
            "--bundle",
            "--platform=browser",
            "--format=iife",
            "--log-level=warning",
        ])
        .arg(format!("--outfile={}", out.display()))
        .status()
        .expect("run esbuild");
    assert!(status.success(), "esbuild failed: {status}");
}

/// Runs headless Chromium on `url` with a profile in `profile` and returns
/// the page's DOM once its virtual time budget is spent.
fn chromium_dump_dom(profile: &Path, url: &str) -> String {
    let chromium = require(&["chromium"], "--version", "chromium");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-proxy-server",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=60000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run chromium");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium did not finish in 120 s: {}",
                err.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = out.join().unwrap_or_default();
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        err.join().unwrap_or_default()
    );
    dom
}

/// The value the page reported for `step` (`<li id="step">step=VALUE</li>`).
fn reported<'a>(dom: &'a str, step: &str) -> Option<&'a str> {
    let open = format!("<li id=\"{step}\">{step}=");
    let start = dom.find(&open)? + open.len();
    let len = dom[start..].find("</li>")?;
    Some(&dom[start..start + len])
}

#[test]
fn chromium_signs_in_reaches_the_app_and_is_refused_after_sign_out() -> TestResult {
    let _serial = zkppd_testkit::serial::alone();
    let server = zkppd();
    let dir = tempfile::tempdir()?;
    let www = dir.path().join("www");
    std::fs::create_dir_all(&www)?;
    std::fs::write(www.join("index.html"), INDEX_HTML)?;
    bundle(&www.join("app.js"));
    let nginx = Nginx::start(dir.path(), server.addr, &www);

    let n = zkppd_testkit::random_u64();
    let (id, token) = (format!("browser-{n:x}"), format!("tok-{n:x}"));
    assert_eq!(
        server.fill("profile", std::slice::from_ref(&token)).status,
        200
    );
    assert_eq!(server.fill("signup", &[format!("su-{n:x}")]).status, 200);
    let url = format!(
        "http://{}/index.html?id={id}&password=hunter2-{n:x}&token={token}",
        nginx.addr
    );
    let dom = chromium_dump_dom(&dir.path().join("chromium"), &url);
    let step = |name: &str| reported(&dom, name).unwrap_or("<missing>").to_owned();
    assert_eq!(step("error"), "<missing>", "the page failed:\n{dom}");
    assert_eq!(step("done"), "yes", "{dom}");
    assert!(step("before").starts_with("401:"), "{dom}");
    assert_eq!(step("signup"), "200");
    assert_eq!(step("signin_start"), "200");
    assert_eq!(step("signin"), "200");
    assert_eq!(step("server_proof"), "verified");
    assert_eq!(step("cookie_readable"), "false", "the cookie is HttpOnly");
    assert_eq!(step("app_fetch"), format!("200:profile={id}"));
    assert_eq!(step("app_page"), format!("profile={id}"));
    assert_eq!(step("signout"), "200");
    assert!(step("app_fetch_after").starts_with("401:"), "{dom}");
    assert_eq!(step("app_page_after"), "401 Authorization Required");
    // The browser's session is gone from the database too.
    assert_eq!(
        server.count(&format!(
            "SELECT count(*) FROM sessions WHERE profile_id = '{id}'"
        )),
        0
    );
    drop(nginx);
    Ok(())
}
