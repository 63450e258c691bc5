//! A small blocking client of zkppd's API for other Rust services, the
//! tests and the load generator (`zkppd-bench`): one keep-alive connection
//! per [`Client`], and the API's operations on top — bucket fill, sign-up,
//! the two sign-in steps with the SRP client math of `zkppd-srp` and the
//! check of the server's M2, verify, sign-out. Every body is a
//! `zkppd-proto` type. Plain `http://` only; the HTTP/1.1 framing lives in
//! `wire`.
//!
//! Blocking and hand-written rather than on hyper's client: a load generator
//! on the same machine as the server must take as little CPU from it as it
//! can, so the hot path ([`Client::send`]) reuses caller-owned buffers and a
//! pre-built request, with no runtime underneath.

mod wire;

use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use zkppd_proto::{
    Challenge, Empty, ErrorBody, FillRequest, FillResponse, Jwt, SessionRequest, SigninRequest,
    SignupRequest, SignupResponse, Verified, Welcome, paths,
};
use zkppd_srp::client::{self as srp_client, Ephemeral};

pub use wire::Head;

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting, writing or reading failed, or the answer was not HTTP.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The server answered with a status other than the one expected.
    #[error("HTTP {status}: {message}")]
    Status {
        status: u16,
        /// The `message` of the error body (empty if there was none).
        message: String,
        retry_after: Option<String>,
    },
    /// A body that does not fit the API, or an M2 that does not check out
    /// (the server does not know the verifier).
    #[error("protocol: {0}")]
    Protocol(String),
    /// A URL this client cannot use.
    #[error("bad URL: {0}")]
    Url(String),
}

impl Error {
    /// The HTTP status, for an [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
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

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
}

impl Response {
    /// The `message` of an error body, if it is one.
    pub fn message(&self) -> Option<String> {
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

/// One keep-alive connection to a zkppd server; reconnects when the server
/// has closed it. Not `Sync`: give each thread its own.
pub struct Client {
    addr: SocketAddr,
    host: String,
    timeout: Duration,
    conn: Option<wire::Conn<TcpStream>>,
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
    pub fn from_url(url: &str) -> Result<Client, Error> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| Error::Url("only http:// URLs are supported".into()))?;
        let authority = rest.split('/').next().unwrap_or(rest);
        let addr = authority
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| Error::Url(format!("{authority} resolves to no address")))?;
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
            self.conn = Some(wire::Conn::new(stream));
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
        wire::write_request(&mut out, &self.host, path, body, bearer);
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
        use std::io::Write;
        self.connect()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::other("not connected"));
        };
        let result = conn
            .stream
            .write_all(request)
            .and_then(|()| wire::read_response(conn, body));
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
        wire::write_request(&mut request, &self.host, path, body, bearer);
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

    /// `/v1/bucket/fill`: how many tokens were new and how many known.
    pub fn fill(
        &mut self,
        admin_token: &str,
        bucket: &str,
        tokens: &[impl AsRef<str>],
    ) -> Result<FillResponse, Error> {
        let body = FillRequest {
            bucket: bucket.to_owned(),
            tokens: tokens.iter().map(|t| t.as_ref().to_owned()).collect(),
        };
        self.post_json(paths::BUCKET_FILL, &body, Some(admin_token))?
            .expect(200)
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
        let body = SignupRequest {
            profile_id: id.to_owned(),
            profile_token: profile_token.to_owned(),
            zkpp: reg.verifier.clone(),
            salt: reg.salt.clone(),
        };
        let answer: SignupResponse = self.post_json(paths::SIGNUP, &body, None)?.expect(200)?;
        Ok(answer.token)
    }

    /// Sign-in step 1 with A = `a_public`.
    pub fn sign_in_start(&mut self, id: &str, a_public: &str) -> Result<Challenge, Error> {
        let body = SigninRequest {
            profile_id: id.to_owned(),
            key: a_public.to_owned(),
        };
        self.post_json(paths::SIGNIN, &body, None)?.expect(200)
    }

    /// Sign-in step 2 with M1 = `m1` (sent as given, even if malformed).
    pub fn sign_in_finish(&mut self, id: &str, m1: &str) -> Result<Welcome, Error> {
        let body = SigninRequest {
            profile_id: id.to_owned(),
            key: m1.to_owned(),
        };
        self.post_json(paths::SIGNIN_VERIFY, &body, None)?
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
        // derive_private_key panics on a salt that is not hex.
        if zkppd_srp::hex::decode(&challenge.salt).is_none() {
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
        let body = SessionRequest { jwt: jwt.clone() };
        let v: Verified = self.post_json(paths::VERIFY, &body, None)?.expect(200)?;
        Ok(v.profile_id)
    }

    /// `/v1/signout`: ends the session.
    pub fn sign_out(&mut self, jwt: &Jwt) -> Result<(), Error> {
        let body = SessionRequest { jwt: jwt.clone() };
        let Empty {} = self.post_json(paths::SIGNOUT, &body, None)?.expect(200)?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::thread;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// A one-connection server that answers each request with the next
    /// canned response, then closes; returns the requests it saw.
    fn canned(responses: Vec<&'static [u8]>) -> io::Result<(SocketAddr, thread::JoinHandle<()>)> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let handle = thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 4096];
            for r in responses {
                // Requests here are small: one read holds a whole one.
                if s.read(&mut buf).unwrap_or(0) == 0 || s.write_all(r).is_err() {
                    return;
                }
            }
        });
        Ok((addr, handle))
    }

    #[test]
    fn keep_alive_then_close() -> TestResult {
        let (addr, server) = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 22\r\n\r\n{\"profile_id\":\"p-123\"}",
            b"HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{\"sta\r\n3c\r\ntusCode\":400,\"error\":\"Bad Request\",\"message\":\"Invalid body\"}\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
        ])?;
        let mut c = Client::new(addr);
        let jwt = Jwt {
            profile_id: "p-123".into(),
            auth_token: "t".into(),
            auth_expiry: "e".into(),
        };
        assert_eq!(c.verify(&jwt)?, "p-123");
        let r = c.post("/v1/verify", b"{\"a\":1}", Some("tok"))?;
        assert_eq!(r.status, 400);
        assert_eq!(r.message().as_deref(), Some("Invalid body"));
        let err = c.sign_out(&jwt).expect_err("429");
        assert!(matches!(
            &err,
            Error::Status { status: 429, retry_after: Some(r), .. } if r == "7"
        ));
        assert!(c.conn.is_none(), "connection: close honoured");
        server.join().map_err(|_| "server thread panicked")?;
        Ok(())
    }

    #[test]
    fn bodies_that_do_not_fit_are_protocol_errors() {
        let r = Response {
            status: 200,
            retry_after: None,
            body: br#"{"profile_id":"a","extra":1}"#.to_vec(),
        };
        assert!(matches!(r.expect::<Verified>(200), Err(Error::Protocol(_))));
        let r = Response {
            status: 200,
            retry_after: None,
            body: b"not json".to_vec(),
        };
        assert!(matches!(r.json(), Err(Error::Protocol(_))));
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
        let r = Response {
            status: 502,
            retry_after: None,
            body: b"<html>".to_vec(),
        };
        assert_eq!(
            r.expect::<Empty>(200).expect_err("502").to_string(),
            "HTTP 502: "
        );
    }

    #[test]
    fn urls() -> TestResult {
        let c = Client::from_url("http://127.0.0.1:3005/anything")?;
        assert_eq!(c.addr().port(), 3005);
        assert!(matches!(
            Client::from_url("https://127.0.0.1:3005"),
            Err(Error::Url(_))
        ));
        Ok(())
    }
}
