//! The one raw HTTP/1.1 client of the tests: it sends exactly the bytes a
//! test gives it and parses the answer with `httparse` (status line and
//! headers, then a body framed by `Content-Length`, chunked coding or the
//! end of the connection), so that a test controls every byte sent and
//! sees every byte received. Nothing here retries or follows anything: a
//! test knows which request was answered and which was lost.
//!
//! [`exchange`] is one request on a connection of its own, read to the
//! end; [`Http`] keeps a connection alive between requests (or opens a new
//! one per request) for load and crash tests. It owns no server.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::{Value, json};

use crate::ADMIN;

/// A whole HTTP answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-cased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A parsed answer, the bytes it took and whether the server will close.
struct Parsed {
    reply: Reply,
    used: usize,
    close: bool,
}

impl Reply {
    /// Parses one complete answer that is all of `bytes` (as read to the
    /// end of a connection); panics when it is not exactly one answer.
    #[track_caller]
    pub fn parse(bytes: &[u8]) -> Reply {
        Self::parse_to_end(bytes, false)
            .unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(bytes)))
    }

    /// As [`Reply::parse`]; `head` says the request was a HEAD, whose
    /// answer has headers but no body.
    pub fn parse_to_end(bytes: &[u8], head: bool) -> Result<Reply, String> {
        let parsed = parse(bytes, head, true)?.ok_or("no whole answer")?;
        if parsed.used != bytes.len() {
            return Err(format!(
                "{} bytes after the answer",
                bytes.len() - parsed.used
            ));
        }
        Ok(parsed.reply)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Whether this is exactly the SPEC's error answer for
    /// `status`/`message`: the status, a JSON content type and the body
    /// `{"statusCode", "error", "message"}`.
    pub fn is_error(&self, status: u16, message: &str) -> bool {
        self.status == status
            && self.header("content-type") == Some("application/json")
            && serde_json::from_slice::<Value>(&self.body).ok() == Some(error_body(status, message))
    }

    /// Asserts the SPEC's error status, body and content type.
    #[track_caller]
    pub fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        assert_eq!(self.json(), error_body(status, message));
        assert_eq!(self.header("content-type"), Some("application/json"));
    }
}

/// The reason phrase of `status`, as the SPEC's `error` field has it.
pub fn reason(status: u16) -> &'static str {
    hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or_else(|| panic!("no reason phrase for {status}"))
}

/// The SPEC's error body.
pub fn error_body(status: u16, message: &str) -> Value {
    json!({"statusCode": status, "error": reason(status), "message": message})
}

/// The status code of whatever answer starts `bytes`, if a status line
/// can be read from them (the rest may be missing or malformed).
pub fn status_of(bytes: &[u8]) -> Option<u16> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    // The code is set as soon as the status line is read, even when the
    // headers after it are incomplete or malformed.
    let _ = response.parse(bytes);
    response.code
}

/// One answer from the start of `buf`: `Ok(None)` when more bytes are
/// needed (and `eof` is false).
fn parse(buf: &[u8], head: bool, eof: bool) -> Result<Option<Parsed>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if eof => {
            return Err(format!("the answer ends in its head ({} bytes)", buf.len()));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed answer head: {e}")),
    };
    let status = response.code.ok_or("no status code")?;
    let headers: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut close = response.version == Some(0)
        || find("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = find("content-length")
        .map(|v| {
            v.parse::<usize>()
                .map_err(|_| format!("bad content-length {v:?}"))
        })
        .transpose()?;
    let rest = &buf[head_len..];
    let framed = if head || status == 204 || status == 304 || (100..200).contains(&status) {
        Some((Vec::new(), 0))
    } else if chunked {
        dechunk(rest)?
    } else if let Some(length) = length {
        (rest.len() >= length).then(|| (rest[..length].to_vec(), length))
    } else if eof {
        // Delimited by the end of the connection.
        close = true;
        Some((rest.to_vec(), rest.len()))
    } else {
        None
    };
    match framed {
        Some((body, used)) => Ok(Some(Parsed {
            reply: Reply {
                status,
                headers,
                body,
            },
            used: head_len + used,
            close,
        })),
        None if eof => Err(format!(
            "the answer ends in its body ({} bytes after the head)",
            rest.len()
        )),
        None => Ok(None),
    }
}

/// The body of a chunked answer and the bytes it took, `None` if
/// incomplete. Trailers are skipped.
fn dechunk(buf: &[u8]) -> Result<Option<(Vec<u8>, usize)>, String> {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (size_len, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err("bad chunk size".into()),
        };
        at += size_len;
        if size == 0 {
            // Trailer lines up to an empty one.
            loop {
                let Some(end) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                at += end + 2;
                if end == 0 {
                    return Ok(Some((body, at)));
                }
            }
        }
        let size = usize::try_from(size).map_err(|_| "chunk too large")?;
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&buf[at..at + size]);
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err("no CRLF after a chunk".into());
        }
        at += size + 2;
    }
}

/// Reads one answer from `stream`; returns it and whether the server will
/// close the connection. Bytes after it (none, without pipelining) are
/// dropped.
fn read_reply(stream: &mut impl Read, head: bool) -> io::Result<(Reply, bool)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(p) = parse(&buf, head, false).map_err(io::Error::other)? {
            return Ok((p.reply, p.close));
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            if buf.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let p = parse(&buf, head, true)
                .map_err(|e| io::Error::new(io::ErrorKind::UnexpectedEof, e))?
                .ok_or(io::ErrorKind::UnexpectedEof)?;
            return Ok((p.reply, p.close));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `request` on a connection of its own and reads the whole answer
/// (the request should carry `Connection: close`); panics unless exactly
/// one answer comes back within 30 s.
#[track_caller]
pub fn exchange(addr: SocketAddr, request: &[u8]) -> Reply {
    let out = exchange_bytes(addr, request);
    Reply::parse_to_end(&out, request.starts_with(b"HEAD "))
        .unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(&out)))
}

/// Sends `request` on a connection of its own and returns every byte that
/// comes back until the server closes (or 30 s pass), unparsed.
#[track_caller]
pub fn exchange_bytes(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set a read timeout");
    // The server may answer (413, 415) before reading a large body and
    // close; a failed write is fine as long as the answer arrives.
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    out
}

/// `METHOD path` with `headers` and `body` (and a `Content-Length`) on a
/// connection of its own.
#[track_caller]
pub fn request(
    addr: SocketAddr,
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
    exchange(addr, &bytes)
}

/// `GET path` with `headers`.
#[track_caller]
pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, headers, b"")
}

/// POSTs JSON, with the admin token as a bearer when `bearer` says so.
#[track_caller]
pub fn post(addr: SocketAddr, path: &str, body: &Value, bearer: Option<&str>) -> Reply {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    request(addr, "POST", path, &headers, body.to_string().as_bytes())
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

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(e) => write!(f, "connection refused: {e}"),
            Failure::Lost(e) => write!(f, "no whole answer: {e}"),
        }
    }
}

impl std::error::Error for Failure {}

impl From<Failure> for io::Error {
    fn from(f: Failure) -> io::Error {
        match f {
            Failure::Refused(e) | Failure::Lost(e) => e,
        }
    }
}

/// A blocking HTTP/1.1 client over one connection, kept alive between
/// requests or opened afresh for each; it never sends a request twice.
pub struct Http {
    addr: SocketAddr,
    keep_alive: bool,
    timeout: Duration,
    stream: Option<TcpStream>,
    opened: usize,
}

impl Http {
    /// A keep-alive client.
    pub fn new(addr: SocketAddr) -> Http {
        Http {
            addr,
            keep_alive: true,
            timeout: Duration::from_secs(20),
            stream: None,
            opened: 0,
        }
    }

    /// A client that opens a new connection for every request.
    pub fn fresh(addr: SocketAddr) -> Http {
        Http {
            keep_alive: false,
            ..Http::new(addr)
        }
    }

    /// The connect, read and write timeout (20 s unless set).
    pub fn timeout(mut self, timeout: Duration) -> Http {
        self.timeout = timeout;
        self
    }

    /// How many connections this client has opened.
    pub fn connections(&self) -> usize {
        self.opened
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
            self.opened += 1;
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
        let Some(stream) = self.stream.as_mut() else {
            unreachable!("connected above");
        };
        let head = method == "HEAD";
        let result = stream
            .write_all(&bytes)
            .and_then(|()| read_reply(stream, head));
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

    /// Fills `bucket` with `tokens` (in requests of at most 10,000), each
    /// of which must be new.
    #[track_caller]
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
    #[track_caller]
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
    /// (the server's M2 is checked, and the session's profile id),
    /// `Ok(Err(reply))` for the first non-200 answer.
    pub fn sign_in(&mut self, id: &str, password: &str) -> Result<Result<Value, Reply>, Failure> {
        let done = crate::srp::sign_in(|path, body| self.post(path, body), id, password)?;
        if done.step2.status != 200 {
            return Ok(Err(done.step2));
        }
        let welcome = done.step2.json();
        assert_eq!(welcome["jwt"]["profile_id"], json!(id));
        Ok(Ok(welcome["jwt"].clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_chunked_and_close_delimited_bodies() {
        let r = Reply::parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A:  b \r\n\r\n{}");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.header("x-a"), Some("b"));
        let r = Reply::parse(
            b"HTTP/1.1 413 Payload Too Large\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n",
        );
        assert_eq!((r.status, r.text().as_str()), (413, "abcde"));
        let r = Reply::parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end");
        assert_eq!(r.text(), "to the end");
        let head = Reply::parse_to_end(b"HTTP/1.1 405 X\r\nContent-Length: 9\r\n\r\n", true);
        assert_eq!(head.map(|r| r.status), Ok(405));
    }

    #[test]
    fn truncated_and_extra_bytes_are_refused() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc";
        assert!(Reply::parse_to_end(short, false).is_err());
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n";
        assert!(Reply::parse_to_end(two, false).is_err());
        assert!(Reply::parse_to_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", false).is_err());
        let chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert!(Reply::parse_to_end(chunks, false).is_err());
        assert_eq!(status_of(b"HTTP/1.1 400 Bad"), Some(400));
        assert_eq!(status_of(b"garbage"), None);
    }

    #[test]
    fn a_kept_alive_answer_ends_at_its_length() -> io::Result<()> {
        let mut two: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1";
        let (r, close) = read_reply(&mut two, false)?;
        assert_eq!((r.text().as_str(), close), ("x", false));
        let mut closing: &[u8] =
            b"HTTP/1.1 503 S\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(read_reply(&mut closing, false)?.1);
        let mut empty: &[u8] = b"";
        assert!(read_reply(&mut empty, false).is_err());
        Ok(())
    }

    #[test]
    fn error_bodies_match_exactly() {
        let r = Reply::parse(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 62\r\n\r\n{\"statusCode\":400,\"error\":\"Bad Request\",\"message\":\"Invalid b\"}",
        );
        assert!(r.is_error(400, "Invalid b"));
        assert!(!r.is_error(400, "Invalid body"));
        assert!(!r.is_error(401, "Invalid b"));
        r.assert_error(400, "Invalid b");
    }
}
