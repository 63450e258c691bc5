//! HTTP/1.1 on the wire: writing a `POST` with a JSON body and reading one
//! response (head, then a `content-length`, chunked or read-to-close body)
//! from a buffered connection. Heads and chunk sizes are parsed by
//! `httparse`; this module owns only the buffering and the size limits. It
//! knows nothing of zkppd's routes or bodies.

use std::io::{self, Read, Write};

/// Largest response head (and chunk-size line or trailer block) accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Headers of one response beyond this many are a malformed answer.
const MAX_HEADERS: usize = 32;

/// The status line and the headers the client cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The server asked to close the connection (or spoke HTTP/1.0).
    pub close: bool,
}

/// A byte stream and its read buffer; `buf[..filled]` holds bytes not yet
/// consumed (keep-alive answers may arrive back to back).
pub(crate) struct Conn<S> {
    pub(crate) stream: S,
    buf: Vec<u8>,
    filled: usize,
}

impl<S: Read> Conn<S> {
    pub(crate) fn new(stream: S) -> Conn<S> {
        Conn {
            stream,
            buf: vec![0; 8192],
            filled: 0,
        }
    }

    fn pending(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.filled, 0);
        self.filled -= n;
    }

    /// Reads more bytes into the buffer, growing it up to [`MAX_HEAD`].
    fn fill_more(&mut self, what: &str) -> io::Result<()> {
        if self.filled == self.buf.len() {
            if self.buf.len() >= MAX_HEAD {
                return Err(invalid(&format!("{what} too large")));
            }
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.filled..])?;
        if n == 0 {
            // `is_stale` in the crate root keys on "before the answer".
            let msg = if self.filled == 0 && what == "response head" {
                "connection closed before the answer"
            } else {
                "connection closed inside the answer"
            };
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
        }
        self.filled += n;
        Ok(())
    }

    /// Moves `len` body bytes (buffered first, then from the stream) to `body`.
    fn read_exact_into(&mut self, len: usize, body: &mut Vec<u8>) -> io::Result<()> {
        let buffered = self.filled.min(len);
        body.extend_from_slice(&self.buf[..buffered]);
        self.consume(buffered);
        let start = body.len();
        let rest = len - buffered;
        if rest > 0 {
            body.resize(start + rest, 0);
            self.stream.read_exact(&mut body[start..])?;
        }
        Ok(())
    }
}

/// Writes `POST path` with a JSON `body` and an optional bearer token.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    host: &str,
    path: &str,
    body: &[u8],
    bearer: Option<&str>,
) {
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

/// How the body of a response is delimited.
enum Framing {
    Length(usize),
    Chunked,
    /// No body (1xx, 204, 304).
    None,
    /// Runs to the end of the connection.
    Close,
}

/// Reads one response; its body goes to `body` (cleared first).
pub(crate) fn read_response<S: Read>(conn: &mut Conn<S>, body: &mut Vec<u8>) -> io::Result<Head> {
    body.clear();
    let (mut head, framing, head_len) = loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        match parsed.parse(conn.pending()) {
            Ok(httparse::Status::Complete(len)) => {
                let head = interpret(&parsed)?;
                break (head.0, head.1, len);
            }
            Ok(httparse::Status::Partial) => conn.fill_more("response head")?,
            Err(e) => return Err(invalid(&format!("bad response head: {e}"))),
        }
    };
    conn.consume(head_len);
    match framing {
        Framing::Length(len) => conn.read_exact_into(len, body)?,
        Framing::Chunked => read_chunked(conn, body)?,
        Framing::None => {}
        Framing::Close => {
            head.close = true;
            body.extend_from_slice(conn.pending());
            conn.filled = 0;
            let room = (MAX_BODY + 1).saturating_sub(body.len()) as u64;
            (&mut conn.stream).take(room).read_to_end(body)?;
            if body.len() > MAX_BODY {
                return Err(invalid("response body too large"));
            }
        }
    }
    if head.close {
        // Anything after the body (e.g. a stray CRLF) is of no use.
        conn.filled = 0;
    }
    Ok(head)
}

/// The [`Head`] and the body framing of a parsed response head.
fn interpret(parsed: &httparse::Response<'_, '_>) -> io::Result<(Head, Framing)> {
    let status = parsed.code.ok_or_else(|| invalid("no status code"))?;
    let mut head = Head {
        status,
        retry_after: None,
        close: parsed.version == Some(0),
    };
    let mut length = None;
    let mut chunked = false;
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| invalid("header value is not UTF-8"))?
            .trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            let n: usize = value.parse().map_err(|_| invalid("bad content-length"))?;
            if n > MAX_BODY {
                return Err(invalid("response body too large"));
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        } else if h.name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_owned());
        }
    }
    let framing = if chunked {
        Framing::Chunked
    } else if let Some(len) = length {
        Framing::Length(len)
    } else if (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else {
        Framing::Close
    };
    Ok((head, framing))
}

fn read_chunked<S: Read>(conn: &mut Conn<S>, body: &mut Vec<u8>) -> io::Result<()> {
    loop {
        let (line_len, size) = loop {
            match httparse::parse_chunk_size(conn.pending()) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) => conn.fill_more("chunk size line")?,
                Err(_) => return Err(invalid("bad chunk size")),
            }
        };
        conn.consume(line_len);
        if size == 0 {
            return skip_trailers(conn);
        }
        let size = usize::try_from(size).map_err(|_| invalid("response body too large"))?;
        if body.len().saturating_add(size) > MAX_BODY {
            return Err(invalid("response body too large"));
        }
        conn.read_exact_into(size, body)?;
        while conn.filled < 2 {
            conn.fill_more("chunk end")?;
        }
        if &conn.pending()[..2] != b"\r\n" {
            return Err(invalid("bad chunk end"));
        }
        conn.consume(2);
    }
}

/// The trailer block after the last chunk, up to its empty line.
fn skip_trailers<S: Read>(conn: &mut Conn<S>) -> io::Result<()> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(conn.pending(), &mut headers) {
            Ok(httparse::Status::Complete((len, _))) => {
                conn.consume(len);
                return Ok(());
            }
            Ok(httparse::Status::Partial) => conn.fill_more("trailers")?,
            Err(e) => return Err(invalid(&format!("bad trailers: {e}"))),
        }
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out one byte per call, so that every partial
    /// state of the parser is exercised.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            match (self.0.split_first(), out.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn read_all(input: &[u8]) -> io::Result<Vec<(Head, Vec<u8>)>> {
        let mut conn = Conn::new(Trickle(input));
        let mut out = Vec::new();
        loop {
            let mut body = Vec::new();
            match read_response(&mut conn, &mut body) {
                Ok(head) => {
                    let close = head.close;
                    out.push((head, body));
                    if close {
                        return Ok(out);
                    }
                }
                Err(e) if e.to_string().contains("before the answer") => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }

    #[test]
    fn back_to_back_length_and_chunked_answers() -> io::Result<()> {
        let input = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}\
HTTP/1.1 400 Bad Request\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\n{\"mes\r\n3\r\nsag\r\n0\r\nx-trailer: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n";
        let got = read_all(input)?;
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0.status, &got[0].1[..]), (200, &b"{}"[..]));
        assert_eq!((got[1].0.status, &got[1].1[..]), (400, &b"{\"messag"[..]));
        assert_eq!((got[2].0.status, got[2].1.len()), (204, 0));
        assert!(got.iter().all(|(h, _)| !h.close));
        Ok(())
    }

    #[test]
    fn retry_after_close_and_http_1_0() -> io::Result<()> {
        let got = read_all(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After:  7 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?;
        assert_eq!(
            got[0].0,
            Head {
                status: 429,
                retry_after: Some("7".into()),
                close: true
            }
        );
        let got = read_all(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\nx")?;
        assert!(got[0].0.close);
        Ok(())
    }

    #[test]
    fn body_without_length_runs_to_close() -> io::Result<()> {
        let got = read_all(b"HTTP/1.1 500 Internal Server Error\r\n\r\nrest of it")?;
        assert_eq!(got.len(), 1);
        assert!(got[0].0.close);
        assert_eq!(got[0].1, b"rest of it");
        Ok(())
    }

    #[test]
    fn malformed_answers_are_errors_not_panics() {
        let cases: [&[u8]; 8] = [
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"garbage\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabXY",
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab",
        ];
        for case in cases {
            let mut conn = Conn::new(Trickle(case));
            let r = read_response(&mut conn, &mut Vec::new());
            assert!(
                r.is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn eof_before_and_inside_an_answer() {
        let mut conn = Conn::new(Trickle(b""));
        let e = read_response(&mut conn, &mut Vec::new()).expect_err("empty");
        assert!(e.to_string().contains("before the answer"));
        let mut conn = Conn::new(Trickle(b"HTTP/1.1 200"));
        let e = read_response(&mut conn, &mut Vec::new()).expect_err("cut");
        assert!(e.to_string().contains("inside the answer"));
    }

    #[test]
    fn huge_heads_are_refused() {
        let mut input = b"HTTP/1.1 200 OK\r\nx: ".to_vec();
        input.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        let mut conn = Conn::new(&input[..]);
        let e = read_response(&mut conn, &mut Vec::new()).expect_err("too large");
        assert!(e.to_string().contains("too large"));
    }

    #[test]
    fn requests_are_written_as_http_1_1() {
        let mut out = Vec::new();
        write_request(&mut out, "h:1", "/v1/verify", b"{\"a\":1}", Some("tok"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("POST /v1/verify HTTP/1.1\r\nhost: h:1\r\n"));
        assert!(text.contains("authorization: Bearer tok\r\n"));
        assert!(text.contains("content-length: 7\r\n"));
        assert!(text.ends_with("\r\n\r\n{\"a\":1}"));
    }
}
