//! Who the client is: the peer address, or behind a trusted reverse proxy
//! the address it reports in `X-Forwarded-For`. Pure; no I/O.

use std::net::IpAddr;

use hyper::header::HeaderMap;
use ipnet::IpNet;

/// Parses an address range such as `10.0.0.0/8` or `::1/128`; a bare
/// address is a /32 or /128 (ipnet alone refuses those).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let err = || format!("invalid CIDR `{s}`: expected e.g. 10.0.0.0/8, 127.0.0.1 or ::1/128");
    let s = s.trim();
    if s.contains('/') {
        s.parse::<IpNet>().map(|n| n.trunc()).map_err(|_| err())
    } else {
        s.parse::<IpAddr>().map(IpNet::from).map_err(|_| err())
    }
}

/// Whether `net` holds `ip`, an IPv4-mapped IPv6 address counting as the
/// IPv4 address it is.
pub(crate) fn holds(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&canonical(ip))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) as the IPv4 they are.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `peer` is one of the trusted proxies.
pub(crate) fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    let peer = canonical(peer);
    trusted.iter().any(|c| holds(c, peer))
}

/// The client's address. Only when the peer is a trusted proxy is
/// `X-Forwarded-For` read, right to left, skipping trusted hops: the first
/// untrusted address is the client (anything left of it could be forged).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| holds(c, ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = canonical(ip);
                if !is_trusted(client) {
                    break;
                }
            }
            // A malformed hop: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn cidrs(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|c| parse_cidr(c).unwrap()).collect()
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let c = parse_cidr("10.0.0.0/8").unwrap();
        assert!(holds(&c, "10.1.2.3".parse().unwrap()));
        assert!(holds(&c, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(!holds(&c, "11.0.0.1".parse().unwrap()));
        let all = parse_cidr("0.0.0.0/0").unwrap();
        assert!(holds(&all, "1.2.3.4".parse().unwrap()));
        let one = parse_cidr("::1").unwrap();
        assert!(holds(&one, "::1".parse().unwrap()));
        let host_bits = parse_cidr("10.1.2.3/8").unwrap();
        assert!(holds(&host_bits, "10.9.9.9".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "x/8", "10.0.0.0/"] {
            assert!(parse_cidr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("6.6.6.6, 1.2.3.4"),
        );
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        let trusted = cidrs(&["10.0.0.0/8"]);
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "8.8.8.8".parse().unwrap();
        assert_eq!(
            client_ip(proxy, &h, &trusted),
            "1.2.3.4".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(stranger, &h, &trusted), stranger);
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &trusted), proxy);
        assert_eq!(client_ip(proxy, &h, &[]), proxy);
    }
}
