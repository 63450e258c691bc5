//! The in-process test server: a real zkppd (`zkppd::AppState` and
//! `zkppd::serve`, as the binary runs them) on `127.0.0.1:0` over a real
//! store — a SQLite file in a temp dir, or (with [`Backend::Postgres`]) a
//! database of its own on the run's shared PostgreSQL
//! ([`Postgres::shared`]) with a handshake key, as `--db postgres://…`
//! runs — on a tokio runtime of its own thread, stopped and joined on
//! drop. Settings start from the defaults with [`ADMIN`] as the admin
//! token, and a test may tweak any public field before the server opens.
//! Requests go through [`crate::http`]; nothing here reaches into the
//! server beyond the `state` a test may read, and the database is read the
//! way another process would ([`TestServer::count`], [`TestServer::execute`]
//! take SQL both databases understand).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use zkppd::config::{AdminToken, DbLocation, PostgresUrl, Settings};
use zkppd_core::store::{PostgresStore, SqliteStore, Store};

use crate::http::{self, Reply};
use crate::postgres::Postgres;
use crate::srp::{Account, SignIn};
use crate::{ADMIN, db};

/// The store a [`TestServer`] (or a test written once for both) runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a server's data lives, kept across a restart.
enum Data {
    Sqlite(SqliteStore),
    Postgres { pg: Arc<Postgres>, name: String },
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub state: zkppd::AppState,
    data: Data,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A handshake key for the PostgreSQL store (random per server: a restart
/// forgets the pending handshakes, as a new key would).
fn handshake_key() -> zkppd_core::HandshakeKey {
    let text = format!(
        "{:016x}{:016x}{:016x}{:016x}",
        crate::random_u64(),
        crate::random_u64(),
        crate::random_u64(),
        crate::random_u64()
    );
    zkppd_core::HandshakeKey::from_file_text(&text).expect("a valid handshake key")
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

    /// A server on `backend`, with settings `tweak` adjusts.
    pub fn on_backend(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        match backend {
            Backend::Sqlite => Self::with(tweak),
            Backend::Postgres => {
                let pg = Postgres::shared();
                let name = pg.database().expect("create a database");
                let dir = tempfile::tempdir().expect("temp dir");
                Self::open(dir, Some((pg, name)), tweak)
            }
        }
    }

    /// A server on `dir/zkppd.db` (which may already exist).
    pub fn on(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        Self::open(dir, None, tweak)
    }

    fn open(
        dir: tempfile::TempDir,
        pg: Option<(Arc<Postgres>, String)>,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let location = match &pg {
            None => DbLocation::File(dir.path().join("zkppd.db")),
            Some((pg, name)) => DbLocation::Postgres(PostgresUrl {
                url: pg.url(name),
                password: None,
            }),
        };
        let mut settings = Settings::new(SocketAddr::from(([127, 0, 0, 1], 0)), location);
        settings.admin_token = Some(AdminToken::new(ADMIN.to_owned()));
        if pg.is_some() {
            settings.handshake_key = Some(handshake_key());
        }
        tweak(&mut settings);
        let (data, store): (Data, Arc<dyn Store>) = match pg {
            None => {
                let store =
                    SqliteStore::open(Some(&dir.path().join("zkppd.db"))).expect("open store");
                (Data::Sqlite(store.clone()), Arc::new(store))
            }
            Some((pg, name)) => {
                let store = PostgresStore::open(&pg.url(&name), None).expect("open PostgreSQL");
                (Data::Postgres { pg, name }, Arc::new(store))
            }
        };
        let state = zkppd::AppState::with_store(settings, store);
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
            data,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The store this server runs on.
    pub fn backend(&self) -> Backend {
        match self.data {
            Data::Sqlite(_) => Backend::Sqlite,
            Data::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The SQLite file (SQLite servers only).
    #[track_caller]
    pub fn db_path(&self) -> PathBuf {
        assert_eq!(self.backend(), Backend::Sqlite, "a SQLite-only check");
        self.dir.path().join("zkppd.db")
    }

    /// The server's SQLite store, for tests that reach past the API
    /// (holding every pooled connection, say). SQLite servers only.
    #[track_caller]
    pub fn sqlite_store(&self) -> &SqliteStore {
        match &self.data {
            Data::Sqlite(store) => store,
            Data::Postgres { .. } => panic!("a SQLite-only check on a PostgreSQL server"),
        }
    }

    /// Stops the server and hands back its directory (to restart on it).
    /// SQLite servers only; [`TestServer::restart`] serves both.
    pub fn stop(mut self) -> tempfile::TempDir {
        assert_eq!(self.backend(), Backend::Sqlite, "stop() is for SQLite");
        self.shutdown();
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    /// Stops the server and starts a new one on the same data (file or
    /// PostgreSQL database), with settings `tweak` adjusts.
    pub fn restart(mut self, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        self.shutdown();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        let pg = match &self.data {
            Data::Sqlite(_) => None,
            Data::Postgres { pg, name } => Some((pg.clone(), name.clone())),
        };
        Self::open(dir, pg, tweak)
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

    /// A direct connection to the database file, as another process would
    /// (SQLite servers only).
    #[track_caller]
    pub fn sqlite(&self) -> rusqlite::Connection {
        db::open(&self.db_path())
    }

    /// The single integer `sql` selects, read from the database as another
    /// process would: on either store, so the SQL must be what both
    /// understand (`WHERE used`, `WHERE NOT used` for the profile tokens).
    #[track_caller]
    pub fn count(&self, sql: &str) -> i64 {
        match &self.data {
            Data::Sqlite(_) => db::count(&self.sqlite(), sql),
            Data::Postgres { pg, name } => pg.count(name, sql),
        }
    }

    /// All values of the first (text) column of `sql`, on either store.
    #[track_caller]
    pub fn strings(&self, sql: &str) -> Vec<String> {
        match &self.data {
            Data::Sqlite(_) => db::strings(&self.sqlite(), sql),
            Data::Postgres { pg, name } => pg.strings(name, sql),
        }
    }

    /// Runs `sql` as another process would (a revocation by an operator's
    /// script, say), on either store; the rows it changed.
    #[track_caller]
    pub fn execute(&self, sql: &str) -> u64 {
        match &self.data {
            Data::Sqlite(_) => self
                .sqlite()
                .execute(sql, [])
                .map(|n| n as u64)
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
            Data::Postgres { pg, name } => pg
                .connect(name)
                .and_then(|mut c| c.execute(sql, &[]))
                .unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
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
