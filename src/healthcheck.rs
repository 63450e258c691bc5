//! `zkppd healthcheck`: one `GET /healthz` to a running server, exit 0 on
//! 200 and 1 on anything else, for container `HEALTHCHECK`s and other
//! probes on hosts without curl or a shell. Owns only this tiny blocking
//! HTTP/1.1 client (a hand-written request over `std::net::TcpStream`, the
//! reply's status line parsed with `httparse`); it never touches the
//! database or the server's state, and it must not grow into a general
//! client (crates/client is that, and the server may not depend on it).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use zkppd::config::HealthcheckArgs;

/// A reply head larger than this is not one zkppd sends.
const MAX_HEAD: usize = 16 * 1024;

/// Where to send the probe: an `http://` URL taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `host[:port]` as the URL gives it, for the Host header and messages.
    authority: String,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }
}

/// Runs the probe; the error is the one line to print.
pub fn run(args: &HealthcheckArgs) -> Result<(), String> {
    let target = match &args.url {
        Some(url) => parse_url(url)?,
        None => from_listen(args.listen),
    };
    let deadline = Instant::now() + args.timeout;
    probe(&target, deadline)
        .map_err(|why| format!("health check of {} failed: {why}", target.url()))
}

/// The server's own `--listen` address, as a client reaches it: a wildcard
/// bind (`0.0.0.0`, `::`, as in the container image) is probed on loopback.
fn from_listen(listen: SocketAddr) -> Target {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, listen.port());
    Target {
        authority: addr.to_string(),
        host: ip.to_string(),
        port: addr.port(),
        path: zkppd_proto::paths::HEALTHZ.to_owned(),
    }
}

/// `http://HOST[:PORT][/PATH]`; no path means `/healthz`, no port 80.
/// HTTPS is refused rather than silently probed in clear text.
fn parse_url(url: &str) -> Result<Target, String> {
    let bad = |why: &str| format!("invalid --url `{url}`: {why}");
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("expected http://HOST[:PORT][/PATH] (https is not supported)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, zkppd_proto::paths::HEALTHZ),
    };
    if path.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err(bad("the path must be visible ASCII"));
    }
    if authority.contains('@') {
        return Err(bad("user information is not supported"));
    }
    // `[v6]:port`, `[v6]`, `host:port` or `host`.
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| bad("unclosed `[`"))?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("expected `:PORT` after `]`"))?,
                ),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("the port is not a number from 0 to 65535"))?,
    };
    Ok(Target {
        authority: authority.to_owned(),
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}

/// Connects (each resolved address in turn), sends the GET and reads the
/// reply's head, all before `deadline`.
fn probe(target: &Target, deadline: Instant) -> Result<(), String> {
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect();
    let mut last = format!("{} resolves to no address", target.host);
    let mut stream = None;
    for addr in addrs {
        let left = time_left(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: zkppd-healthcheck\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
        target.path, target.authority
    );
    stream
        .set_write_timeout(Some(time_left(deadline)?))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| format!("cannot send the request: {}", io_why(&e)))?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut reply = httparse::Response::new(&mut headers);
        match reply.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                let code = reply.code.unwrap_or(0);
                return if code == 200 {
                    Ok(())
                } else {
                    Err(format!(
                        "answered {code} {}",
                        printable(reply.reason.unwrap_or(""))
                    ))
                };
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => return Err(format!("not an HTTP reply ({e})")),
        }
        if buf.len() >= MAX_HEAD {
            return Err(format!("reply head longer than {MAX_HEAD} bytes"));
        }
        stream
            .set_read_timeout(Some(time_left(deadline)?))
            .map_err(|e| format!("cannot read the reply: {e}"))?;
        match stream.read(&mut chunk) {
            Ok(0) => {
                return Err(if buf.is_empty() {
                    "connection closed without a reply".to_owned()
                } else {
                    "connection closed in the middle of the reply".to_owned()
                });
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("cannot read the reply: {}", io_why(&e))),
        }
    }
}

/// What is left of the time budget; an error once it is spent (a zero
/// timeout would mean "no timeout" to the socket calls).
fn time_left(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("no reply within the timeout".to_owned())
    } else {
        Ok(left)
    }
}

/// A timed-out socket call reports EAGAIN/EWOULDBLOCK on Unix; say what
/// it means.
fn io_why(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            "no reply within the timeout".to_owned()
        }
        _ => e.to_string(),
    }
}

/// The reason phrase is the server's text: keep the one output line one
/// line of visible characters.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(100)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(authority: &str, host: &str, port: u16, path: &str) -> Target {
        Target {
            authority: authority.into(),
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("http://127.0.0.1:3005"),
            Ok(target("127.0.0.1:3005", "127.0.0.1", 3005, "/healthz"))
        );
        assert_eq!(
            parse_url("http://[::1]:8080/healthz"),
            Ok(target("[::1]:8080", "::1", 8080, "/healthz"))
        );
        assert_eq!(
            parse_url("http://zkppd/health?x=1"),
            Ok(target("zkppd", "zkppd", 80, "/health?x=1"))
        );
        assert_eq!(
            parse_url("http://[::1]"),
            Ok(target("[::1]", "::1", 80, "/healthz"))
        );
        for bad in [
            "",
            "127.0.0.1:3005",
            "https://a.example",
            "http://",
            "http://:80",
            "http://a:99999",
            "http://a:x",
            "http://[::1",
            "http://[::1]x",
            "http://u@a/",
            "http://a/b c",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_wildcard_listen_address_is_probed_on_loopback() {
        let t = from_listen("0.0.0.0:3005".parse().unwrap());
        assert_eq!(t.url(), "http://127.0.0.1:3005/healthz");
        let t = from_listen("[::]:3005".parse().unwrap());
        assert_eq!(t.url(), "http://[::1]:3005/healthz");
        let t = from_listen("10.1.2.3:80".parse().unwrap());
        assert_eq!(t.url(), "http://10.1.2.3:80/healthz");
    }
}
