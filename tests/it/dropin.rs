//! Issue 11, drop-in for the original platform: a bucket fill from an
//! `--admin-trusted-network` needs no bearer token (the original token
//! service's client cannot send one), and nothing else changes for fills
//! from elsewhere. (`Token is expired` is in `signin::sessions_expire`.)

use serde_json::json;
use zkppd_testkit::{TestResult, TestServer};

fn cidr(s: &str) -> ipnet::IpNet {
    s.parse().expect("a CIDR")
}

/// A fill with no `Authorization` header, as the original client sends it.
fn headerless_fill(s: &TestServer, extra: &[(&str, &str)]) -> zkppd_testkit::Reply {
    let body = json!({"bucket": "signup", "tokens": ["t1", "t2"]}).to_string();
    let mut headers = vec![("content-type", "application/json")];
    headers.extend_from_slice(extra);
    s.request("POST", "/v1/bucket/fill", &headers, body.as_bytes())
}

#[test]
fn a_fill_from_a_trusted_network_needs_no_token() -> TestResult {
    let s = TestServer::with(|st| st.admin_trusted_networks = vec![cidr("127.0.0.0/8")]);
    let r = headerless_fill(&s, &[]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({"inserted": 2, "duplicates": 0}));
    // A token that is given must still be right.
    headerless_fill(&s, &[("authorization", "Bearer wrong-token-0123456789")])
        .assert_error(401, "Unauthorized");
    // The counts stay admin-only.
    assert_eq!(s.request("GET", "/v1/buckets", &[], b"").status, 401);
    Ok(())
}

#[test]
fn a_fill_from_elsewhere_still_needs_the_token() -> TestResult {
    let s = TestServer::with(|st| st.admin_trusted_networks = vec![cidr("10.0.0.0/8")]);
    let r = headerless_fill(&s, &[]);
    r.assert_error(401, "Unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    // A client cannot claim a trusted address: X-Forwarded-For counts only
    // from a --trusted-proxy.
    headerless_fill(&s, &[("x-forwarded-for", "10.1.2.3")]).assert_error(401, "Unauthorized");
    assert_eq!(s.count("SELECT count(*) FROM signup_tokens"), 0);
    Ok(())
}

#[test]
fn behind_a_trusted_proxy_the_forwarded_client_decides() -> TestResult {
    let s = TestServer::with(|st| {
        st.admin_trusted_networks = vec![cidr("10.0.0.0/8")];
        st.trusted_proxies = vec![cidr("127.0.0.1/32")];
    });
    let r = headerless_fill(&s, &[("x-forwarded-for", "10.1.2.3")]);
    assert_eq!(r.status, 200, "{}", r.text());
    headerless_fill(&s, &[("x-forwarded-for", "8.8.8.8")]).assert_error(401, "Unauthorized");
    Ok(())
}

#[test]
fn without_trusted_networks_every_fill_needs_the_token() -> TestResult {
    let s = TestServer::start();
    headerless_fill(&s, &[]).assert_error(401, "Unauthorized");
    Ok(())
}
