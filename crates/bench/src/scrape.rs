//! Reading one counter from a server's Prometheus metrics: a single
//! `GET /metrics` over a fresh connection (`Connection: close`, read to the
//! end) and a look-up in the text exposition. Only the bench's own
//! bookkeeping uses it (the commits around `signup`), so it is best-effort:
//! `None` when the listener, the answer or the counter is missing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The store's write transactions (one fsync each).
pub(crate) const STORE_COMMITS: &str = "zkppd_store_commits_total";

/// The value of the unlabelled sample `name` at `addr`'s `/metrics`.
pub(crate) fn counter(addr: SocketAddr, name: &str) -> Option<f64> {
    let timeout = Duration::from_secs(5);
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    sample(body, name)
}

/// `name`'s value in a text exposition (no labels, no timestamp needed).
/// A chunked body still works: chunk sizes sit on lines of their own.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next()? == name)
            .then(|| parts.next()?.parse::<f64>().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_unlabelled_sample() {
        let text = "# HELP zkppd_store_commits_total Write transactions\n\
                    # TYPE zkppd_store_commits_total counter\n\
                    zkppd_store_commits_total_created 1.7e9\n\
                    zkppd_store_commits_total 4127\n\
                    zkppd_lockouts_total 0\n";
        assert_eq!(sample(text, STORE_COMMITS), Some(4127.0));
        assert_eq!(sample(text, "zkppd_lockouts_total"), Some(0.0));
        assert_eq!(sample(text, "zkppd_store_commits"), None);
        assert_eq!(sample("", STORE_COMMITS), None);
    }

    #[test]
    fn a_closed_port_reads_nothing() {
        // Bound and dropped: nothing listens there any more.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        assert_eq!(counter(addr, STORE_COMMITS), None);
    }
}
