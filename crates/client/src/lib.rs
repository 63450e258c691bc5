//! A small blocking HTTP/1.1 client for zkppd's API, for the tests and the
//! load generator (`zkppd-bench`): one keep-alive connection per [`Client`],
//! requests written by hand over a `TcpStream`, and the API's operations on
//! top (bucket fill, sign-up, the two sign-in steps with the SRP client math
//! of [`crate::srp_client`] and the check of the server's M2, verify,
//! sign-out). The server never uses it. Plain `http://` only.
//!
//! The hot path ([`Client::send`]) reuses caller-owned buffers and a
//! pre-built request, so that a load generator on the same machine takes as
//! little CPU from the server as it can.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::srp_client::{self, Ephemeral};

/// Largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why an API call failed.
#[derive(Debug)]
pub enum Error {
    /// Connecting, writing or reading failed, or the answer was not HTTP.
    Io(io::Error),
    /// The server answered with a status other than the one expected.
    Status {
        status: u16,
        /// The `message` of the error body (empty if there was none).
        message: String,
        retry_after: Option<String>,
    },
    /// A 200 whose body does not fit the API, or an M2 that does not check
    /// out (the server does not know the password).
    Protocol(String),
}

impl Error {
    /// The HTTP status, for a [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "i/o: {e}"),
            Error::Status {
                status, message, ..
            } => write!(f, "HTTP {status}: {message}"),
            Error::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

/// The session credential sign-in hands out and verify/sign-out take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jwt {
    pub profile_id: String,
    pub auth_token: String,
    pub auth_expiry: String,
}

/// Sign-in step 1's answer: B and the profile's salt, as sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub key: String,
    pub salt: String,
}

/// Sign-in step 2's answer: M2 and the new session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    pub proof: String,
    pub jwt: Jwt,
}

/// What a sign-up stores for a profile: the SRP salt and verifier (`zkpp`),
/// as the npm client makes them.
#[derive(Debug, Clone)]
pub struct Registration {
    pub salt: String,
    pub verifier: String,
}

impl Registration {
    /// A fresh salt and the verifier of `password` for `id`.
    pub fn new(id: &str, password: &str) -> Registration {
        let salt = srp_client::generate_salt();
        let x = srp_client::derive_private_key(&salt, id, password);
        Registration {
            verifier: srp_client::derive_verifier(&x),
            salt,
        }
    }
}

/// How a sign-in proves the password: the password itself (x is derived
/// from the salt the server sends), or an x derived earlier for the salt the
/// caller knows the profile has (saves the hashing; the load generator).
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    Password(&'a str),
    PrivateKey(&'a [u8; 32]),
}

/// The status line and the headers the client cares about.
#[derive(Debug, Clone, Default)]
pub struct Head {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The server asked to close the connection.
    pub close: bool,
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// The `message` of an error body, if it has one.
    pub fn message(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct ErrorBody {
            message: String,
        }
        serde_json::from_slice::<ErrorBody>(&self.body)
            .ok()
            .map(|b| b.message)
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Protocol(format!("response is not JSON: {e}")))
    }

    /// The body decoded as `T` if the status is `want`, else
    /// [`Error::Status`].
    pub fn expect<T: DeserializeOwned>(&self, want: u16) -> Result<T, Error> {
        if self.status != want {
            return Err(Error::Status {
                status: self.status,
                message: self.message().unwrap_or_default(),
                retry_after: self.retry_after.clone(),
            });
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::Protocol(format!("unexpected {} body: {e}", self.status)))
    }
}

struct Conn {
    stream: TcpStream,
    /// Read buffer; `buf[..filled]` holds bytes not yet consumed.
    buf: Vec<u8>,
    filled: usize,
}

/// One keep-alive connection to a zkppd server; reconnects when the server
/// has closed it. Not `Sync`: give each thread its own.
pub struct Client {
    addr: SocketAddr,
    host: String,
    timeout: Duration,
    conn: Option<Conn>,
    /// Scratch for requests built by the convenience methods.
    scratch: Vec<u8>,
}

impl Client {
    /// A client of the server at `addr`; connects on first use.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            addr,
            host: addr.to_string(),
            timeout: Duration::from_secs(30),
            conn: None,
            scratch: Vec::with_capacity(1024),
        }
    }

    /// A client of `http://host:port` (a path, if any, is ignored).
    pub fn from_url(url: &str) -> io::Result<Client> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "only http:// URLs are supported",
            )
        })?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "URL resolves to no address")
        })?;
        let mut client = Client::new(addr);
        client.host = authority.to_owned();
        Ok(client)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Read and write timeout of each request (default 30 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
        self.conn = None;
    }

    /// Opens the connection now (it is otherwise opened by the first request).
    pub fn connect(&mut self) -> io::Result<()> {
        if self.conn.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, self.timeout)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            self.conn = Some(Conn {
                stream,
                buf: vec![0; 8192],
                filled: 0,
            });
        }
        Ok(())
    }

    /// Closes the connection (the next request opens a new one).
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    /// The bytes of a `POST path` with a JSON body, for [`Client::send`].
    pub fn build_request(&self, path: &str, body: &[u8], bearer: Option<&str>) -> Vec<u8> {
        let mut out = Vec::with_capacity(body.len() + 160);
        write_request(&mut out, &self.host, path, body, bearer);
        out
    }

    /// Sends a request made by [`Client::build_request`] and reads the
    /// answer, its body into `body` (cleared first). A connection the server
    /// closed while idle is reopened and the request sent again.
    pub fn send(&mut self, request: &[u8], body: &mut Vec<u8>) -> io::Result<Head> {
        let reused = self.conn.is_some();
        match self.send_once(request, body) {
            Err(e) if reused && is_stale(&e) => {
                self.conn = None;
                self.send_once(request, body)
            }
            other => other,
        }
    }

    fn send_once(&mut self, request: &[u8], body: &mut Vec<u8>) -> io::Result<Head> {
        self.connect()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::other("not connected"));
        };
        let result = conn
            .stream
            .write_all(request)
            .and_then(|()| read_response(conn, body));
        match result {
            Ok(head) => {
                if head.close {
                    self.conn = None;
                }
                Ok(head)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    /// `POST path` with `body` (already JSON) and an optional bearer token.
    pub fn post(&mut self, path: &str, body: &[u8], bearer: Option<&str>) -> io::Result<Response> {
        let mut request = std::mem::take(&mut self.scratch);
        request.clear();
        write_request(&mut request, &self.host, path, body, bearer);
        let mut out = Vec::new();
        let head = self.send(&request, &mut out);
        self.scratch = request;
        let head = head?;
        Ok(Response {
            status: head.status,
            retry_after: head.retry_after,
            body: out,
        })
    }

    /// `POST path` with `value` serialized as JSON.
    pub fn post_json(
        &mut self,
        path: &str,
        value: &impl Serialize,
        bearer: Option<&str>,
    ) -> Result<Response, Error> {
        let body = serde_json::to_vec(value)
            .map_err(|e| Error::Protocol(format!("cannot encode request: {e}")))?;
        Ok(self.post(path, &body, bearer)?)
    }

    /// `/v1/bucket/fill`: returns (inserted, duplicates).
    pub fn fill(
        &mut self,
        admin_token: &str,
        bucket: &str,
        tokens: &[impl AsRef<str>],
    ) -> Result<(u64, u64), Error> {
        #[derive(Serialize)]
        struct Fill<'a> {
            bucket: &'a str,
            tokens: Vec<&'a str>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Filled {
            inserted: u64,
            duplicates: u64,
        }
        let body = Fill {
            bucket,
            tokens: tokens.iter().map(AsRef::as_ref).collect(),
        };
        let filled: Filled = self
            .post_json("/v1/bucket/fill", &body, Some(admin_token))?
            .expect(200)?;
        Ok((filled.inserted, filled.duplicates))
    }

    /// `/v1/signup` with a fresh salt and the verifier of `password`;
    /// returns the signup token and what was registered.
    pub fn sign_up(
        &mut self,
        id: &str,
        password: &str,
        profile_token: &str,
    ) -> Result<(String, Registration), Error> {
        let reg = Registration::new(id, password);
        let token = self.sign_up_with(id, profile_token, &reg)?;
        Ok((token, reg))
    }

    /// `/v1/signup` with a given salt and verifier; returns the signup token.
    pub fn sign_up_with(
        &mut self,
        id: &str,
        profile_token: &str,
        reg: &Registration,
    ) -> Result<String, Error> {
        #[derive(Serialize)]
        struct Signup<'a> {
            profile_id: &'a str,
            profile_token: &'a str,
            zkpp: &'a str,
            salt: &'a str,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Token {
            token: String,
        }
        let body = Signup {
            profile_id: id,
            profile_token,
            zkpp: &reg.verifier,
            salt: &reg.salt,
        };
        let t: Token = self.post_json("/v1/signup", &body, None)?.expect(200)?;
        Ok(t.token)
    }

    /// Sign-in step 1 with A = `a_public`.
    pub fn sign_in_start(&mut self, id: &str, a_public: &str) -> Result<Challenge, Error> {
        self.post_json(
            "/v1/signin",
            &Step {
                profile_id: id,
                key: a_public,
            },
            None,
        )?
        .expect(200)
    }

    /// Sign-in step 2 with M1 = `m1` (sent as given, even if malformed).
    pub fn sign_in_finish(&mut self, id: &str, m1: &str) -> Result<Welcome, Error> {
        self.post_json(
            "/v1/signin/verify",
            &Step {
                profile_id: id,
                key: m1,
            },
            None,
        )?
        .expect(200)
    }

    /// A full sign-in with a fresh ephemeral: both steps, and the server's
    /// M2 checked (an M2 that does not match is [`Error::Protocol`]).
    pub fn sign_in(&mut self, id: &str, password: &str) -> Result<Jwt, Error> {
        let eph = srp_client::generate_ephemeral();
        self.sign_in_with(id, &eph, Secret::Password(password))
    }

    /// A full sign-in with a given ephemeral and secret. Reusing one
    /// ephemeral for many sign-ins is unsafe for a real client; the load
    /// generator does it to spend its CPU where the server does not.
    pub fn sign_in_with(
        &mut self,
        id: &str,
        eph: &Ephemeral,
        secret: Secret<'_>,
    ) -> Result<Jwt, Error> {
        let challenge = self.sign_in_start(id, &eph.public)?;
        if crate::hex::decode(&challenge.salt).is_none() {
            return Err(Error::Protocol("salt is not hex".into()));
        }
        let derived;
        let x = match secret {
            Secret::Password(p) => {
                derived = srp_client::derive_private_key(&challenge.salt, id, p);
                &derived
            }
            Secret::PrivateKey(x) => x,
        };
        let session = srp_client::derive_session(eph, &challenge.key, &challenge.salt, id, x)
            .ok_or_else(|| Error::Protocol("server sent an invalid B".into()))?;
        let welcome = self.sign_in_finish(id, &session.proof)?;
        if !session.verify_server(&welcome.proof) {
            return Err(Error::Protocol("server proof M2 does not match".into()));
        }
        if welcome.jwt.profile_id != id {
            return Err(Error::Protocol("session is for another profile".into()));
        }
        Ok(welcome.jwt)
    }

    /// `/v1/verify`: the profile id of a live session.
    pub fn verify(&mut self, jwt: &Jwt) -> Result<String, Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Verified {
            profile_id: String,
        }
        let v: Verified = self
            .post_json("/v1/verify", &JwtBody { jwt }, None)?
            .expect(200)?;
        Ok(v.profile_id)
    }

    /// `/v1/signout`: ends the session.
    pub fn sign_out(&mut self, jwt: &Jwt) -> Result<(), Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Empty {}
        let _: Empty = self
            .post_json("/v1/signout", &JwtBody { jwt }, None)?
            .expect(200)?;
        Ok(())
    }
}

/// The body of both sign-in steps.
#[derive(Serialize)]
struct Step<'a> {
    profile_id: &'a str,
    key: &'a str,
}

/// The body of verify and sign-out.
#[derive(Serialize)]
pub struct JwtBody<'a> {
    pub jwt: &'a Jwt,
}

fn write_request(out: &mut Vec<u8>, host: &str, path: &str, body: &[u8], bearer: Option<&str>) {
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(token) = bearer {
        let _ = write!(out, "authorization: Bearer {token}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// A reused connection the server closed while it was idle: nothing of an
/// answer arrived, so sending the request again is safe.
fn is_stale(e: &io::Error) -> bool {
    match e.kind() {
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => true,
        io::ErrorKind::UnexpectedEof => e.to_string().contains("before the answer"),
        _ => false,
    }
}

/// Reads one response; its body goes to `body`.
fn read_response(conn: &mut Conn, body: &mut Vec<u8>) -> io::Result<Head> {
    body.clear();
    // The head: read until "\r\n\r\n".
    let head_end = loop {
        if let Some(p) = find(&conn.buf[..conn.filled], b"\r\n\r\n") {
            break p + 4;
        }
        if conn.filled == conn.buf.len() {
            if conn.buf.len() >= MAX_HEAD {
                return Err(invalid("response head too large"));
            }
            conn.buf.resize(conn.buf.len() * 2, 0);
        }
        let n = conn.stream.read(&mut conn.buf[conn.filled..])?;
        if n == 0 {
            let what = if conn.filled == 0 {
                "connection closed before the answer"
            } else {
                "connection closed inside the answer"
            };
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, what));
        }
        conn.filled += n;
    };
    let head_text =
        std::str::from_utf8(&conn.buf[..head_end]).map_err(|_| invalid("head is not UTF-8"))?;
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(invalid("bad status line"));
    }
    let status: u16 = code.parse().map_err(|_| invalid("bad status code"))?;
    let mut head = Head {
        status,
        retry_after: None,
        close: version == "HTTP/1.0",
    };
    let mut length: Option<usize> = None;
    let mut chunked = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let Some((name, value)) = line.split_once(':') else {
            return Err(invalid("bad header line"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse().map_err(|_| invalid("bad content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_owned());
        }
    }
    consume(conn, head_end);

    if chunked {
        read_chunked(conn, body)?;
    } else if let Some(len) = length {
        if len > MAX_BODY {
            return Err(invalid("response body too large"));
        }
        read_exact_into(conn, len, body)?;
    } else if !(100..200).contains(&status) && status != 204 && status != 304 {
        // No length: the body runs to the end of the connection.
        head.close = true;
        body.extend_from_slice(&conn.buf[..conn.filled]);
        conn.filled = 0;
        conn.stream.read_to_end(body)?;
    }
    if head.close {
        // Anything after the body (e.g. a stray CRLF) is of no use.
        conn.filled = 0;
    }
    Ok(head)
}

fn read_exact_into(conn: &mut Conn, len: usize, body: &mut Vec<u8>) -> io::Result<()> {
    let buffered = conn.filled.min(len);
    body.extend_from_slice(&conn.buf[..buffered]);
    consume(conn, buffered);
    let start = body.len();
    let rest = len - buffered;
    if rest > 0 {
        body.resize(start + rest, 0);
        conn.stream.read_exact(&mut body[start..])?;
    }
    Ok(())
}

fn read_line(conn: &mut Conn) -> io::Result<String> {
    loop {
        if let Some(p) = find(&conn.buf[..conn.filled], b"\r\n") {
            let line = String::from_utf8_lossy(&conn.buf[..p]).into_owned();
            consume(conn, p + 2);
            return Ok(line);
        }
        if conn.filled == conn.buf.len() {
            if conn.buf.len() >= MAX_HEAD {
                return Err(invalid("chunk line too long"));
            }
            conn.buf.resize(conn.buf.len() * 2, 0);
        }
        let n = conn.stream.read(&mut conn.buf[conn.filled..])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside the answer",
            ));
        }
        conn.filled += n;
    }
}

fn read_chunked(conn: &mut Conn, body: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let line = read_line(conn)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(conn)?.is_empty() {}
            return Ok(());
        }
        if body.len() + size > MAX_BODY {
            return Err(invalid("response body too large"));
        }
        read_exact_into(conn, size, body)?;
        if !read_line(conn)?.is_empty() {
            return Err(invalid("bad chunk end"));
        }
    }
}

fn consume(conn: &mut Conn, n: usize) {
    conn.buf.copy_within(n..conn.filled, 0);
    conn.filled -= n;
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A one-connection server that answers each request with the next
    /// canned response, then closes.
    fn canned(responses: Vec<&'static [u8]>) -> (SocketAddr, thread::JoinHandle<Vec<Vec<u8>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let handle = thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut seen = Vec::new();
            for r in responses {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // Requests here are small: head and body arrive together.
                while find(&req, b"\r\n\r\n").is_none() {
                    let n = s.read(&mut buf).expect("read");
                    req.extend_from_slice(&buf[..n]);
                }
                let head_end = find(&req, b"\r\n\r\n").unwrap_or(0) + 4;
                let text = String::from_utf8_lossy(&req[..head_end]).to_lowercase();
                let len: usize = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                while req.len() < head_end + len {
                    let n = s.read(&mut buf).expect("read");
                    req.extend_from_slice(&buf[..n]);
                }
                seen.push(req);
                s.write_all(r).expect("write");
            }
            seen
        });
        (addr, handle)
    }

    #[test]
    fn keep_alive_lengths_and_chunks() {
        let (addr, server) = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"profile_id\":1}",
            b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"mes\r\n15\r\nsage\":\"Invalid body\"}\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        ]);
        let mut c = Client::new(addr);
        let r = c.post("/v1/verify", b"{}", None).expect("first");
        assert_eq!((r.status, &r.body[..]), (200, &b"{\"profile_id\":1}"[..]));
        let r = c
            .post("/v1/verify", b"{\"a\":1}", Some("tok"))
            .expect("second");
        assert_eq!(r.status, 400);
        assert_eq!(r.message().as_deref(), Some("Invalid body"));
        let r = c.post("/x", b"", None).expect("third");
        assert_eq!((r.status, r.retry_after.as_deref()), (429, Some("7")));
        assert!(c.conn.is_none(), "connection: close honoured");
        let seen = server.join().expect("server");
        let second = String::from_utf8_lossy(&seen[1]);
        assert!(second.starts_with("POST /v1/verify HTTP/1.1\r\n"));
        assert!(second.contains("authorization: Bearer tok\r\n"));
        assert!(second.contains("content-length: 7\r\n"));
        assert!(second.ends_with("\r\n\r\n{\"a\":1}"));
    }

    #[test]
    fn expect_maps_status_to_error() {
        let r = Response {
            status: 401,
            retry_after: None,
            body: br#"{"statusCode":401,"error":"Unauthorized","message":"Invalid credentials"}"#
                .to_vec(),
        };
        let err = r.expect::<serde_json::Value>(200).expect_err("401");
        assert_eq!(err.status(), Some(401));
        assert_eq!(err.to_string(), "HTTP 401: Invalid credentials");
    }

    #[test]
    fn urls() {
        let c = Client::from_url("http://127.0.0.1:3005/anything").expect("url");
        assert_eq!(c.addr().port(), 3005);
        assert!(Client::from_url("https://127.0.0.1:3005").is_err());
    }
}
