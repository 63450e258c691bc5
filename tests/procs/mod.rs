//! Helpers for tests that run the real `zkppd` binary as a child process
//! (crash and fault tests): start it on a database file and read the bound
//! address from its `listening on ADDR` line, SIGKILL or SIGTERM it, and a
//! tiny HTTP/1.1 client that never retries, so that a test knows exactly
//! which requests were answered and which were lost.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The admin token written to the token file of every server started here.
pub const ADMIN: &str = "procs-admin-token-0123456789abcdef";

/// Writes the admin token file in `dir`; returns its path.
pub fn admin_token_file(dir: &Path) -> PathBuf {
    let path = dir.join("admin-token");
    std::fs::write(&path, format!("{ADMIN}\n")).expect("write admin token file");
    path
}

/// A `zkppd` child process serving one database file.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

/// The real binary with no `ZKPPD_*` or `RUST_LOG` leaking in from the
/// environment of the test run.
pub fn zkppd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkppd"));
    // Keep the environment from leaking settings into the test.
    for (k, _) in std::env::vars() {
        if k.starts_with("ZKPPD_") {
            c.env_remove(k);
        }
    }
    c.env_remove("RUST_LOG");
    c
}

impl Server {
    /// Starts `zkppd --listen 127.0.0.1:0 --db DB --admin-token-file FILE`
    /// plus `extra` flags, and waits (at most 30 s) for `listening on`.
    /// Its stderr is drained for as long as it runs (a full pipe would block
    /// the server) and kept for [`Server::log`].
    pub fn start(db: &Path, admin_file: &Path, extra: &[&str]) -> Server {
        let mut child = zkppd()
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--db")
            .arg(db)
            .arg("--admin-token-file")
            .arg(admin_file)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zkppd");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let kept = log.clone();
        let drain = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let addr = rest.split_whitespace().next().unwrap_or("").to_owned();
                    let _ = tx.send(addr);
                }
                kept.lock().unwrap().push(line);
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "zkppd did not log `listening on` ({e}); its log:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
        };
        Server {
            child,
            addr: addr
                .parse()
                .unwrap_or_else(|e| panic!("bad address {addr:?} in the log: {e}")),
            log,
            drain: Some(drain),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log lines so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    /// SIGKILL, then reaps the process.
    pub fn kill9(&mut self) {
        // `Child::kill` is SIGKILL on Unix.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.join_drain();
    }

    /// SIGTERM; waits (at most `limit`) for the exit status.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                self.join_drain();
                return status;
            }
            if start.elapsed() > limit {
                self.kill9();
                panic!("zkppd did not exit within {limit:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn join_drain(&mut self) {
        if let Some(t) = self.drain.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether this is exactly the SPEC's error body for `status`/`message`.
    pub fn is_error(&self, status: u16, message: &str) -> bool {
        let reason = match status {
            400 => "Bad Request",
            401 => "Unauthorized",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => return false,
        };
        self.status == status
            && self.content_type.as_deref() == Some("application/json")
            && serde_json::from_slice::<Value>(&self.body).ok()
                == Some(json!({"statusCode": status, "error": reason, "message": message}))
    }
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be opened: the server never saw it.
    Refused(io::Error),
    /// The request was (at least partly) sent and no whole answer came back:
    /// the server may or may not have acted on it.
    Lost(io::Error),
}

/// A blocking HTTP/1.1 client over one connection, kept alive between
/// requests or opened afresh for each; it never sends a request twice.
pub struct Http {
    addr: SocketAddr,
    keep_alive: bool,
    timeout: Duration,
    stream: Option<TcpStream>,
}

impl Http {
    /// A keep-alive client.
    pub fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            keep_alive: true,
            timeout: Duration::from_secs(20),
            stream: None,
        }
    }

    /// A client that opens a new connection for every request.
    pub fn fresh(addr: SocketAddr) -> Http {
        Http {
            keep_alive: false,
            ..Http::new(addr)
        }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        bearer: Option<&str>,
    ) -> Result<Reply, Failure> {
        if self.stream.is_none() {
            let s =
                TcpStream::connect_timeout(&self.addr, self.timeout).map_err(Failure::Refused)?;
            s.set_nodelay(true).map_err(Failure::Refused)?;
            s.set_read_timeout(Some(self.timeout))
                .map_err(Failure::Refused)?;
            s.set_write_timeout(Some(self.timeout))
                .map_err(Failure::Refused)?;
            self.stream = Some(s);
        }
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: zkppd\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(token) = bearer {
            req.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        if !self.keep_alive {
            req.push_str("Connection: close\r\n");
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        let stream = self.stream.as_mut().expect("connected");
        let result = stream.write_all(&bytes).and_then(|()| read_reply(stream));
        match result {
            Ok((reply, close)) => {
                if close || !self.keep_alive {
                    self.stream = None;
                }
                Ok(reply)
            }
            Err(e) => {
                self.stream = None;
                Err(Failure::Lost(e))
            }
        }
    }

    pub fn post(&mut self, path: &str, body: &Value) -> Result<Reply, Failure> {
        self.request("POST", path, body.to_string().as_bytes(), None)
    }

    /// A request that must be answered (set-up and checking steps).
    #[track_caller]
    pub fn must(&mut self, path: &str, body: &Value) -> Reply {
        self.post(path, body)
            .unwrap_or_else(|f| panic!("POST {path}: no answer: {f:?}"))
    }

    /// Fills both buckets with `n` tokens each, named by the two functions.
    pub fn fill_both(
        &mut self,
        n: usize,
        profile: fn(usize) -> String,
        signup: fn(usize) -> String,
    ) {
        self.fill("profile", &(0..n).map(profile).collect::<Vec<_>>());
        self.fill("signup", &(0..n).map(signup).collect::<Vec<_>>());
    }

    /// Fills `bucket` with `tokens` (in requests of at most 10,000).
    pub fn fill(&mut self, bucket: &str, tokens: &[String]) {
        for chunk in tokens.chunks(10_000) {
            let body = json!({"bucket": bucket, "tokens": chunk}).to_string();
            let r = self
                .request("POST", "/v1/bucket/fill", body.as_bytes(), Some(ADMIN))
                .unwrap_or_else(|f| panic!("fill: no answer: {f:?}"));
            assert_eq!(r.status, 200, "fill {bucket}: {}", r.text());
            assert_eq!(
                r.json(),
                json!({"inserted": chunk.len(), "duplicates": 0}),
                "fill {bucket}"
            );
        }
    }

    /// `GET /v1/buckets`: (profile, signup) counts of unused tokens.
    pub fn bucket_counts(&mut self) -> (i64, i64) {
        let r = self
            .request("GET", "/v1/buckets", b"", Some(ADMIN))
            .unwrap_or_else(|f| panic!("GET /v1/buckets: no answer: {f:?}"));
        assert_eq!(r.status, 200, "GET /v1/buckets: {}", r.text());
        let v = r.json();
        (
            v["profile"].as_i64().expect("profile count"),
            v["signup"].as_i64().expect("signup count"),
        )
    }

    /// Both sign-in steps with a fresh ephemeral. `Ok(Ok(jwt))` on success
    /// (the server's M2 is checked), `Ok(Err(reply))` for the first
    /// non-200 answer.
    pub fn sign_in(&mut self, id: &str, password: &str) -> Result<Result<Value, Reply>, Failure> {
        let eph = zkppd_srp::client::generate_ephemeral();
        let step1 = self.post("/v1/signin", &json!({"profile_id": id, "key": eph.public}))?;
        if step1.status != 200 {
            return Ok(Err(step1));
        }
        let challenge = step1.json();
        let (b, salt) = (
            challenge["key"].as_str().expect("B").to_owned(),
            challenge["salt"].as_str().expect("salt").to_owned(),
        );
        let x = zkppd_srp::client::derive_private_key(&salt, id, password);
        let session =
            zkppd_srp::client::derive_session(&eph, &b, &salt, id, &x).expect("server B is valid");
        let step2 = self.post(
            "/v1/signin/verify",
            &json!({"profile_id": id, "key": session.proof}),
        )?;
        if step2.status != 200 {
            return Ok(Err(step2));
        }
        let welcome = step2.json();
        let m2 = welcome["proof"].as_str().expect("M2");
        assert!(session.verify_server(m2), "M2 of {id} does not verify");
        assert_eq!(welcome["jwt"]["profile_id"], json!(id));
        Ok(Ok(welcome["jwt"].clone()))
    }
}

/// Reads one answer; returns it and whether the server will close.
fn read_reply(stream: &mut TcpStream) -> io::Result<(Reply, bool)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > 64 * 1024 {
            return Err(io::Error::other("response head too large"));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad status line in {head:?}")))?;
    let (mut length, mut retry_after, mut content_type, mut close) = (0usize, None, None, false);
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                length = v
                    .parse()
                    .map_err(|_| io::Error::other("bad content-length"))?
            }
            "retry-after" => retry_after = Some(v.to_owned()),
            "content-type" => content_type = Some(v.to_owned()),
            "connection" => close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok((
        Reply {
            status,
            retry_after,
            content_type,
            body,
        },
        close,
    ))
}

/// A sign-up body with a fresh salt and the verifier of `password`.
pub fn signup_body(id: &str, password: &str, profile_token: &str) -> Value {
    let salt = zkppd_srp::client::generate_salt();
    let x = zkppd_srp::client::derive_private_key(&salt, id, password);
    json!({
        "profile_id": id,
        "profile_token": profile_token,
        "zkpp": zkppd_srp::client::derive_verifier(&x),
        "salt": salt,
    })
}

/// A connection to the database file, as another process would open it.
pub fn sqlite(db: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(db).expect("open the database file");
    c.busy_timeout(Duration::from_secs(10)).unwrap();
    c
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// All values of the first (text) column of `sql`.
pub fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<Vec<_>, _>>();
    rows.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `PRAGMA integrity_check` of the file; panics unless it says `ok`.
pub fn assert_integrity(db: &Path) {
    let conn = sqlite(db);
    let rows = strings(&conn, "PRAGMA integrity_check");
    assert_eq!(rows, ["ok"], "integrity_check of {}", db.display());
}

/// A number that differs from run to run (no RNG crate needed).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
