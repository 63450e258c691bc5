//! Test fixture: a real zkppd server on 127.0.0.1:0 over a real SQLite file
//! in a temp dir, run in-process on its own runtime and stopped on drop,
//! plus a raw HTTP/1.1 client so that tests control every byte sent.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use zkppd::config::{AdminToken, DbLocation, Settings};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub const ADMIN: &str = "test-admin-token-0123456789";

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: zkppd::AppState,
    /// The server's store, for tests that reach past the API.
    pub store: zkppd_core::store::SqliteStore,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// A server with every default and the admin token [`ADMIN`].
    pub fn start() -> TestServer {
        Self::with(|_| {})
    }

    /// A server whose settings `tweak` adjusts.
    pub fn with(tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::on(dir, tweak)
    }

    /// A server on `dir/zkppd.db` (which may already exist).
    pub fn on(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let mut settings = Settings::new(
            "127.0.0.1:0".parse().unwrap(),
            DbLocation::File(dir.path().join("zkppd.db")),
        );
        settings.admin_token = Some(AdminToken(ADMIN.to_owned()));
        tweak(&mut settings);
        let store = zkppd_core::store::SqliteStore::open(Some(&dir.path().join("zkppd.db")))
            .expect("open store");
        let state = zkppd::AppState::with_store(settings, std::sync::Arc::new(store.clone()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                zkppd::serve(listener, server_state, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("server address");
        TestServer {
            addr,
            state,
            store,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("zkppd.db")
    }

    /// Stops the server and hands back its directory (to restart on it).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shutdown();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Sends raw bytes and reads the whole answer (the request should
    /// carry `Connection: close`).
    pub fn raw(&self, request: &[u8]) -> Reply {
        raw(self.addr, request)
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    /// POST with a JSON content type and a raw body.
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Reply {
        self.request("POST", path, &[("Content-Type", "application/json")], body)
    }

    pub fn post(&self, path: &str, body: &Value) -> Reply {
        self.post_raw(path, body.to_string().as_bytes())
    }

    pub fn admin_post(&self, path: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {ADMIN}");
        self.request(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            body.to_string().as_bytes(),
        )
    }

    pub fn fill(&self, bucket: &str, tokens: &[String]) -> Reply {
        self.admin_post(
            "/v1/bucket/fill",
            &json!({"bucket": bucket, "tokens": tokens}),
        )
    }

    /// Fills both buckets with `n` tokens each, named by `prefix`; returns
    /// the profile tokens.
    pub fn fill_both(&self, prefix: &str, n: usize) -> Vec<String> {
        let profile: Vec<String> = (0..n).map(|i| format!("{prefix}-p{i}")).collect();
        let signup: Vec<String> = (0..n).map(|i| format!("{prefix}-s{i}")).collect();
        assert_eq!(self.fill("profile", &profile).status, 200);
        assert_eq!(self.fill("signup", &signup).status, 200);
        profile
    }

    /// A direct connection to the database file, as another process would.
    pub fn sqlite(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(self.db_path()).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.sqlite().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn raw(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    // The server may answer (413, 415) before reading a large body and
    // close; a failed write is fine as long as the answer arrives.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    Reply::parse(&out)
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn parse(bytes: &[u8]) -> Reply {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        Reply {
            status,
            headers,
            body: bytes[split + 4..].to_vec(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts the SPEC's error body and status.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let reason = hyper::StatusCode::from_u16(status)
            .unwrap()
            .canonical_reason()
            .unwrap();
        assert_eq!(
            self.json(),
            json!({"statusCode": status, "error": reason, "message": message})
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

/// A valid verifier (2^256 mod N is just 2^256) and a client-like salt.
pub fn some_verifier() -> String {
    format!("01{}", "00".repeat(32))
}

pub fn some_salt() -> String {
    "ab".repeat(32)
}

pub fn signup_body(id: &str, token: &str) -> Value {
    json!({"profile_id": id, "profile_token": token, "zkpp": some_verifier(), "salt": some_salt()})
}

/// A profile the tests sign up with a real password.
pub struct Account {
    pub id: String,
    pub password: String,
    pub salt: String,
    pub x: [u8; 32],
}

impl Account {
    pub fn new(id: &str, password: &str) -> Account {
        let salt = zkppd_srp::client::generate_salt();
        let x = zkppd_srp::client::derive_private_key(&salt, id, password);
        Account {
            id: id.to_owned(),
            password: password.to_owned(),
            salt,
            x,
        }
    }

    pub fn signup_body(&self, token: &str) -> Value {
        json!({
            "profile_id": self.id,
            "profile_token": token,
            "zkpp": zkppd_srp::client::derive_verifier(&self.x),
            "salt": self.salt,
        })
    }
}

/// Outcome of a full sign-in.
pub struct SignIn {
    pub step1: Reply,
    pub step2: Reply,
    pub m1: String,
}

impl TestServer {
    /// Fills one token of each bucket and signs `account` up.
    pub fn sign_up(&self, account: &Account) {
        let token = format!("tok-{}", account.id);
        assert_eq!(
            self.fill("profile", std::slice::from_ref(&token)).status,
            200
        );
        assert_eq!(
            self.fill("signup", &[format!("su-{}", account.id)]).status,
            200
        );
        let r = self.post("/v1/signup", &account.signup_body(&token));
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    }

    /// Both SRP steps with `password`; asserts M2 when step 2 succeeds.
    pub fn sign_in_as(&self, id: &str, password: &str) -> SignIn {
        let eph = zkppd_srp::client::generate_ephemeral();
        let step1 = self.post("/v1/signin", &json!({"profile_id": id, "key": eph.public}));
        if step1.status != 200 {
            return SignIn {
                step2: step1.clone(),
                step1,
                m1: String::new(),
            };
        }
        let b = step1.json()["key"].as_str().unwrap().to_owned();
        let salt = step1.json()["salt"].as_str().unwrap().to_owned();
        let x = zkppd_srp::client::derive_private_key(&salt, id, password);
        let session = zkppd_srp::client::derive_session(&eph, &b, &salt, id, &x).expect("valid B");
        let step2 = self.post(
            "/v1/signin/verify",
            &json!({"profile_id": id, "key": session.proof}),
        );
        if step2.status == 200 {
            let m2 = step2.json()["proof"].as_str().unwrap().to_owned();
            assert!(
                session.verify_server(&m2),
                "server proof M2 does not verify"
            );
        }
        SignIn {
            step1,
            step2,
            m1: session.proof.clone(),
        }
    }

    /// A successful sign-in's `jwt` object.
    pub fn session_for(&self, account: &Account) -> Value {
        let r = self.sign_in_as(&account.id, &account.password);
        assert_eq!(
            r.step2.status,
            200,
            "{:?}",
            String::from_utf8_lossy(&r.step2.body)
        );
        r.step2.json()["jwt"].clone()
    }
}
