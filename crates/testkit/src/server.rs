//! The in-process test server: a real zkppd (`zkppd::AppState` and
//! `zkppd::serve`, as the binary runs them) on `127.0.0.1:0` over a real
//! SQLite file in a temp dir, on a tokio runtime of its own thread, stopped
//! and joined on drop. Settings start from the defaults with [`ADMIN`] as
//! the admin token, and a test may tweak any public field before the
//! server opens. Requests go through [`crate::http`]; nothing here reaches
//! into the server beyond the `state` a test may read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};
use zkppd::config::{AdminToken, DbLocation, Settings};

use crate::http::{self, Reply};
use crate::srp::{Account, SignIn};
use crate::{ADMIN, db};

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: zkppd::AppState,
    /// The server's store, for tests that reach past the API (holding
    /// every pooled connection, say).
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
            SocketAddr::from(([127, 0, 0, 1], 0)),
            DbLocation::File(dir.path().join("zkppd.db")),
        );
        settings.admin_token = Some(AdminToken::new(ADMIN.to_owned()));
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
                addr_tx
                    .send(listener.local_addr().expect("bound address"))
                    .expect("the test waits for the address");
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
        let dir = tempfile::tempdir().expect("temp dir");
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
    #[track_caller]
    pub fn raw(&self, request: &[u8]) -> Reply {
        http::exchange(self.addr, request)
    }

    #[track_caller]
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        http::request(self.addr, method, path, headers, body)
    }

    /// POST with a JSON content type and a raw body.
    #[track_caller]
    pub fn post_raw(&self, path: &str, body: &[u8]) -> Reply {
        self.request("POST", path, &[("Content-Type", "application/json")], body)
    }

    #[track_caller]
    pub fn post(&self, path: &str, body: &Value) -> Reply {
        http::post(self.addr, path, body, None)
    }

    #[track_caller]
    pub fn admin_post(&self, path: &str, body: &Value) -> Reply {
        http::post(self.addr, path, body, Some(ADMIN))
    }

    #[track_caller]
    pub fn fill(&self, bucket: &str, tokens: &[String]) -> Reply {
        self.admin_post(
            "/v1/bucket/fill",
            &json!({"bucket": bucket, "tokens": tokens}),
        )
    }

    /// Fills both buckets with `n` tokens each, named by `prefix`; returns
    /// the profile tokens.
    #[track_caller]
    pub fn fill_both(&self, prefix: &str, n: usize) -> Vec<String> {
        let profile: Vec<String> = (0..n).map(|i| format!("{prefix}-p{i}")).collect();
        let signup: Vec<String> = (0..n).map(|i| format!("{prefix}-s{i}")).collect();
        assert_eq!(self.fill("profile", &profile).status, 200);
        assert_eq!(self.fill("signup", &signup).status, 200);
        profile
    }

    /// A direct connection to the database file, as another process would.
    pub fn sqlite(&self) -> rusqlite::Connection {
        db::open(&self.db_path())
    }

    pub fn count(&self, sql: &str) -> i64 {
        db::count(&self.sqlite(), sql)
    }

    /// Fills one token of each bucket and signs `account` up.
    #[track_caller]
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
        assert_eq!(r.status, 200, "{:?}", r.text());
    }

    /// Both SRP steps with `password` ([`crate::sign_in`]).
    pub fn sign_in_as(&self, id: &str, password: &str) -> SignIn {
        let done = crate::srp::sign_in(
            |path, body| Ok::<_, Infallible>(self.post(path, body)),
            id,
            password,
        );
        match done {
            Ok(done) => done,
            Err(never) => match never {},
        }
    }

    /// A successful sign-in's `jwt` object.
    #[track_caller]
    pub fn session_for(&self, account: &Account) -> Value {
        let r = self.sign_in_as(&account.id, &account.password);
        assert_eq!(r.step2.status, 200, "{:?}", r.step2.text());
        r.step2.json()["jwt"].clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
