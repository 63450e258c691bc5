//! Issue 4, hostile input: property tests that throw arbitrary bytes,
//! arbitrary JSON (nested values, right keys with wrong types, duplicate
//! keys, huge strings and numbers) and arbitrary hex (0–2048 characters,
//! odd lengths, non-hex characters, A = 0, N, kN, N ± 1, …) at every route
//! of a live server, and straight at the parsers and the SRP math.
//!
//! Whatever arrives: no panic, never a 500, every answer one of the
//! statuses SPEC names (200, 400, 401, 404, 405, 413, 415, 429, 503) with
//! the SPEC's error body and headers. Beyond that, each HTTP property
//! checks every answer against a small model of the server (which tokens
//! are in which bucket, which ids are signed up, how many proofs failed per
//! id), so that where SPEC fixes the answer — 404 → 405 → 401 → 415 → 413 →
//! 400 in that order, `Invalid body` for anything that is not the schema,
//! `401` for A ≡ 0 (mod N), a drawn signup token that really was in the
//! bucket — it is exactly that answer.
//!
//! Each HTTP property shares one server across its cases, with both buckets
//! filled, a profile signed up and a live session, so that deep paths
//! (sign-up transactions, known-profile step 1, session look-ups) are hit.
//!
//! Case counts are sized for CI (about 6,000 cases, ~20 s in a debug build).
//! For a long run, set `ZKPPD_FUZZ_CASES` to the number of cases per
//! property (`PROPTEST_CASES` works too; `ZKPPD_FUZZ_CASES` wins), best in
//! release:
//!
//! ```text
//! ZKPPD_FUZZ_CASES=200000 cargo test --release --test it fuzz::
//! ```

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Value, json};
use zkppd_srp as srp;
use zkppd_testkit::{ADMIN, Account, Reply, TestServer};

/// The RFC 5054 2048-bit group prime, as SPEC §3 fixes it.
const N_HEX: &str = "ac6bdb41324a9a9bf166de5e1389582faf72b6651987ee07fc3192943db56050a37329cbb4a099ed8193e0757767a13dd52312ab4b03310dcd7f48a9da04fd50e8083969edb767b0cf6095179a163ab3661a05fbd5faaae82918a9962f0b93b855f97993ec975eeaa80d740adbf4ff747359d041d5c33ea71d281e446b14773bca97b43a23fb801676bd207a436c6481f1d2b9078717461a5b9d32e688f87748544523b524b0d57d5ea77a2775d2ecfa032cfbdbf52fb3786160279004e57ae6af874e7303ce53299ccc041c7bc308d82a5698f3a8d0c38271ae35f8e9dbfbb694b5c803d89f7ae435de236d525f54759b65e372fcd68ef20fa7111f9e4aff73";

/// Every status SPEC names.
const ALLOWED: [u16; 9] = [200, 400, 401, 404, 405, 413, 415, 429, 503];

/// Every error message SPEC names.
const MESSAGES: [&str; 15] = [
    "Invalid body",
    "Invalid token",
    "Invalid profile ID",
    "Duplicate ID",
    "Invalid bucket",
    "Invalid credentials",
    "Unauthorized",
    "Signup bucket empty",
    "Too many requests",
    "Not found",
    "Method not allowed",
    "Unsupported media type",
    "Payload too large",
    "Service unavailable",
    "Internal error",
];

/// SPEC §1: the body limits, 4 MiB for bucket fills and 64 KiB elsewhere.
const BODY_LIMIT: usize = 64 * 1024;
const FILL_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Tokens of each bucket filled before the first case.
const FILLED: usize = 3_000;
const KNOWN_ID: &str = "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d";

/// Cases for one property: `ZKPPD_FUZZ_CASES`, else `PROPTEST_CASES`, else
/// the CI default.
fn cases(default: u32) -> u32 {
    ["ZKPPD_FUZZ_CASES", "PROPTEST_CASES"]
        .iter()
        .find_map(|k| std::env::var(k).ok()?.trim().parse().ok())
        .unwrap_or(default)
}

fn runner(default_cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(default_cases),
        // The runner is not the `proptest!` macro, so it knows no source
        // file to keep regressions next to; a failure prints its input.
        failure_persistence: None,
        max_shrink_iters: 2_000,
        ..Config::default()
    })
}

/// Runs a property, turning a failure into a test failure that shows the
/// minimal input.
fn check<S: Strategy>(
    default_cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: fmt::Debug,
{
    if let Err(e) = runner(default_cases).run(&strategy, test) {
        panic!("{e}");
    }
}

// ---------------------------------------------------------------------
// Hex, numbers, and what SPEC says about them.
// ---------------------------------------------------------------------

/// Big-endian bytes of a hex string of even length.
fn be(hex: &str) -> Vec<u8> {
    zkppd_srp::hex::decode(hex).expect("hex")
}

/// `x * k + add` on big-endian bytes, growing as needed.
fn mul_add(x: &[u8], k: u32, add: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len() + 5);
    let mut carry = u64::from(add);
    for &b in x.iter().rev() {
        let t = u64::from(b) * u64::from(k) + carry;
        out.push((t & 0xff) as u8);
        carry = t >> 8;
    }
    while carry > 0 {
        out.push((carry & 0xff) as u8);
        carry >>= 8;
    }
    out.reverse();
    out
}

/// `x - 1` on big-endian bytes (x > 0).
fn minus_one(x: &[u8]) -> Vec<u8> {
    let mut out = x.to_vec();
    for b in out.iter_mut().rev() {
        let (v, borrow) = b.overflowing_sub(1);
        *b = v;
        if !borrow {
            break;
        }
    }
    out
}

fn is_strict_hex(s: &str) -> bool {
    !s.is_empty() && s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Strict hex of at most 512 characters, lowercased and left-padded to 512:
/// comparing two of these as strings compares the numbers.
fn padded(s: &str) -> Option<String> {
    (is_strict_hex(s) && s.len() <= 512).then(|| format!("{:0>512}", s.to_ascii_lowercase()))
}

/// SPEC §2 step 1: what A gets (before the lockout): 400 if it is not hex
/// of at most 512 characters, 401 if A mod N = 0, else 200. Within 256
/// bytes, A mod N = 0 means A = 0 or A = N.
fn a_outcome(a: &str) -> (u16, &'static str) {
    match padded(a) {
        None => (400, "Invalid body"),
        Some(p) if p.bytes().all(|b| b == b'0') || p == N_HEX => (401, "Invalid credentials"),
        Some(_) => (200, ""),
    }
}

/// SPEC §2 sign-up: `zkpp` must be hex with 1 < v < N.
fn verifier_ok(v: &str) -> bool {
    let one = format!("{:0>512}", "1");
    padded(v).is_some_and(|p| p > one && p.as_str() < N_HEX)
}

/// SPEC §2 sign-up: `salt` must be 2–512 hex characters.
fn salt_ok(s: &str) -> bool {
    is_strict_hex(s) && s.len() <= 512
}

/// SPEC §1: 1–128 bytes of UTF-8 without control characters.
fn profile_id_ok(id: &str) -> bool {
    (1..=128).contains(&id.len()) && !id.chars().any(char::is_control)
}

/// SPEC §2 fill: 1–256 bytes of visible ASCII.
fn token_ok(t: &str) -> bool {
    (1..=256).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic())
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Hex-like text: every special value of SPEC and the issue (A = 0, N, 2N,
/// kN, N ± 1, 2^2048 − 1, leading zeros, upper case), random hex of 0–2048
/// characters of either parity, and hex spoiled by one foreign character.
fn hex_input() -> BoxedStrategy<String> {
    let n = be(N_HEX);
    let hex = |b: &[u8]| zkppd_srp::hex::encode(b);
    let specials = vec![
        String::new(),
        "0".into(),
        "00".into(),
        "01".into(),
        "02".into(),
        "0".repeat(512),
        "0".repeat(511),
        format!("{:0>512}", "1"),
        format!("{:0>512}", "2"),
        N_HEX.into(),
        N_HEX.to_uppercase(),
        format!("00{N_HEX}"),
        hex(&minus_one(&n)),
        hex(&mul_add(&n, 1, 1)),
        hex(&mul_add(&n, 2, 0)),
        hex(&mul_add(&n, 3, 0)),
        hex(&mul_add(&n, 2, 1)),
        hex(&minus_one(&mul_add(&n, 2, 0))),
        "ff".repeat(256),
        "FF".repeat(257),
        "00".repeat(1024),
        "f".repeat(2048),
        format!("0x{N_HEX}"),
        format!(" {N_HEX}"),
        format!("{N_HEX}\n"),
        "０１".into(),
        "+1".into(),
        "-1".into(),
    ];
    let n2 = n.clone();
    prop_oneof![
        3 => prop::sample::select(specials),
        // kN for arbitrary k, and its neighbours.
        1 => (2u32..=u32::MAX, 0u32..=2).prop_map(move |(k, d)| {
            let v = mul_add(&n2, k, 0);
            hex(&match d {
                0 => v,
                1 => mul_add(&v, 1, 1),
                _ => minus_one(&v),
            })
        }),
        // Random hex of every length up to 2048, odd ones included.
        3 => (0usize..=2048, any::<u64>()).prop_map(|(len, seed)| random_hex(len, seed)),
        2 => "[0-9a-fA-F]{0,80}",
        // Hex a byte or two off: a foreign character somewhere.
        2 => (0usize..=600, any::<u64>(), any::<prop::sample::Index>(), any::<char>()).prop_map(
            |(len, seed, at, c)| {
                let mut s: Vec<char> = random_hex(len, seed).chars().collect();
                let i = at.index(s.len() + 1);
                s.insert(i, c);
                s.into_iter().collect()
            }
        ),
        1 => any::<String>(),
    ]
    .boxed()
}

/// `len` hex digits of either case from a cheap generator (a
/// `[0-9a-f]{0,2048}` regex strategy is slow to generate and shrink).
fn random_hex(len: usize, mut seed: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefABCDEF";
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char::from(DIGITS[(seed % DIGITS.len() as u64) as usize])
        })
        .collect()
}

// ---------------------------------------------------------------------
// The parsers and the SRP module, without a server.
// ---------------------------------------------------------------------

#[test]
fn hex_decode_accepts_exactly_strict_hex() {
    let input = prop_oneof![hex_input(), any::<String>()];
    check(1_500, input, |s| {
        let decoded = zkppd_srp::hex::decode(&s);
        prop_assert_eq!(decoded.is_some(), is_strict_hex(&s), "{:?}", s);
        if let Some(bytes) = decoded {
            prop_assert_eq!(zkppd_srp::hex::encode(&bytes), s.to_ascii_lowercase());
        }
        let arr = zkppd_srp::hex::decode_array::<32>(&s);
        prop_assert_eq!(arr.is_some(), is_strict_hex(&s) && s.len() == 64);
        Ok(())
    });
}

#[test]
fn public_key_and_verifier_parsers_follow_the_spec() {
    check(1_500, hex_input(), |s| {
        let a = srp::ClientPublic::from_hex(&s);
        match a_outcome(&s) {
            (400, _) => prop_assert_eq!(a.err(), Some(srp::PublicKeyError::Malformed)),
            (401, _) => prop_assert_eq!(a.err(), Some(srp::PublicKeyError::ZeroModN)),
            _ => prop_assert!(a.is_ok(), "A {:?} refused: {:?}", s, a.err()),
        }
        let v = srp::Verifier::from_hex(&s);
        prop_assert_eq!(v.is_some(), verifier_ok(&s), "verifier {:?}", s);
        Ok(())
    });
}

#[test]
fn srp_math_takes_arbitrary_inputs_without_panicking() {
    let n = be(N_HEX);
    // A: anything the parser lets through, N − 1 and 2^2048 − 1 included.
    let a = hex_input().prop_filter_map("A refused by the parser", |s| {
        srp::ClientPublic::from_hex(&s).ok()
    });
    let v = prop_oneof![
        hex_input().prop_filter_map("not a verifier", |s| srp::Verifier::from_hex(&s)),
        Just(srp::Verifier::from_hex(&zkppd_srp::hex::encode(&minus_one(&n))).unwrap()),
        Just(srp::Verifier::from_hex("02").unwrap()),
    ];
    let input = (
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..600),
        v,
        a,
        any::<[u8; 32]>(),
        prop::collection::vec(any::<u8>(), 256),
        any::<[u8; 32]>(),
    );
    let n_bytes: [u8; 256] = n.try_into().unwrap();
    check(48, input, move |(id, salt, v, a, b, big_b, m1)| {
        let b = srp::ServerSecret::from_bytes(b);
        // B = k·v + g^b mod N is always reduced and never 0.
        let real_b = srp::server_public(&v, &b);
        prop_assert!(real_b < n_bytes, "B >= N");
        prop_assert!(real_b != [0u8; 256], "B = 0");
        let big_b: [u8; 256] = big_b.try_into().unwrap();
        for big_b in [&real_b, &big_b] {
            // A random proof matches with probability 2^-256.
            let m2 = srp::verify_proof(&id, &salt, &v, &a, &b, big_b, &m1);
            prop_assert!(m2.is_none(), "a random M1 was accepted");
        }
        Ok(())
    });
}

#[test]
fn srp_round_trip_holds_for_arbitrary_ids_passwords_and_salts() {
    let input = (
        any::<String>(),
        any::<String>(),
        prop_oneof![
            Just(zkppd_srp::client::generate_salt()),
            (1usize..=256, any::<u64>()).prop_map(|(n, seed)| random_hex(2 * n, seed)),
        ],
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    );
    check(12, input, |(id, password, salt, a, b)| {
        let x = zkppd_srp::client::derive_private_key(&salt, &id, &password);
        let v = srp::Verifier::from_hex(&zkppd_srp::client::derive_verifier(&x)).unwrap();
        let b = srp::ServerSecret::from_bytes(b);
        let big_b = srp::server_public(&v, &b);
        let eph = zkppd_srp::client::ephemeral_from_secret(a);
        let Ok(big_a) = srp::ClientPublic::from_hex(&eph.public) else {
            // g^a = 0 or N is impossible; a client could not send it anyway.
            return Err(TestCaseError::fail("g^a refused"));
        };
        let session = zkppd_srp::client::derive_session(
            &eph,
            &zkppd_srp::hex::encode(&big_b),
            &salt,
            &id,
            &x,
        )
        .ok_or_else(|| TestCaseError::fail("client refused B"))?;
        let m1 = zkppd_srp::hex::decode_array::<32>(&session.proof).unwrap();
        let salt_bytes = zkppd_srp::hex::decode(&salt).unwrap();
        let m2 = srp::verify_proof(&id, &salt_bytes, &v, &big_a, &b, &big_b, &m1);
        let m2 = m2.ok_or_else(|| TestCaseError::fail("the right proof was refused"))?;
        prop_assert!(session.verify_server(&zkppd_srp::hex::encode(&m2)));
        // One bit off anywhere in M1 and it is refused.
        let mut wrong = m1;
        wrong[usize::from(a[0] % 32)] ^= 1 << (a[1] % 8);
        let m2 = srp::verify_proof(&id, &salt_bytes, &v, &big_a, &b, &big_b, &wrong);
        prop_assert!(m2.is_none());
        Ok(())
    });
}

// ---------------------------------------------------------------------
// Requests, the server model and the oracle.
// ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Fill,
    Signup,
    Signin,
    SigninVerify,
    Verify,
    Signout,
}

const ROUTES: [Route; 6] = [
    Route::Fill,
    Route::Signup,
    Route::Signin,
    Route::SigninVerify,
    Route::Verify,
    Route::Signout,
];

impl Route {
    fn path(self) -> &'static str {
        match self {
            Route::Fill => "/v1/bucket/fill",
            Route::Signup => "/v1/signup",
            Route::Signin => "/v1/signin",
            Route::SigninVerify => "/v1/signin/verify",
            Route::Verify => "/v1/verify",
            Route::Signout => "/v1/signout",
        }
    }

    fn of(path: &str) -> Option<Route> {
        ROUTES.into_iter().find(|r| r.path() == path)
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            Route::Fill => &["bucket", "tokens"],
            Route::Signup => &["profile_id", "profile_token", "zkpp", "salt"],
            Route::Signin | Route::SigninVerify => &["profile_id", "key"],
            Route::Verify | Route::Signout => &["jwt"],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Auth {
    None,
    Admin,
    Other(String),
}

#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    content_type: Option<String>,
    auth: Auth,
    body: Vec<u8>,
}

impl Req {
    fn post(route: Route, body: Vec<u8>) -> Req {
        Req {
            method: "POST".into(),
            path: route.path().into(),
            content_type: Some("application/json".into()),
            auth: if route == Route::Fill {
                Auth::Admin
            } else {
                Auth::None
            },
            body,
        }
    }

    fn send(&self, s: &TestServer) -> Reply {
        let mut headers = Vec::new();
        if let Some(ct) = &self.content_type {
            headers.push(("Content-Type", ct.clone()));
        }
        match &self.auth {
            Auth::None => {}
            Auth::Admin => headers.push(("Authorization", format!("Bearer {ADMIN}"))),
            Auth::Other(v) => headers.push(("Authorization", v.clone())),
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        s.request(&self.method, &self.path, &headers, &self.body)
    }
}

/// A JSON value that remembers duplicate keys: the parse fails on one, as
/// it must in the server (serde_json's `Value` keeps the last silently).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate key {k}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Strict(Value::Object(out)))
    }
}

/// The body's fields when it is exactly the route's schema: an object with
/// exactly these keys, once each, all strings (`jwt` an object of three
/// strings, `tokens` an array of strings).
fn schema(route: Route, body: &[u8]) -> Option<Value> {
    let Strict(v) = serde_json::from_slice::<Strict>(body).ok()?;
    fn object_of_strings<'a>(
        v: &'a Value,
        keys: &[&str],
    ) -> Option<&'a serde_json::Map<String, Value>> {
        let m = v.as_object()?;
        (m.len() == keys.len() && keys.iter().all(|k| m.get(*k).is_some_and(Value::is_string)))
            .then_some(m)
    }
    match route {
        Route::Fill => {
            let m = v.as_object()?;
            let ok = m.len() == 2
                && m.get("bucket").is_some_and(Value::is_string)
                && m.get("tokens")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().all(Value::is_string));
            ok.then_some(v)
        }
        Route::Verify | Route::Signout => {
            let m = v.as_object()?;
            let ok = m.len() == 1
                && object_of_strings(m.get("jwt")?, &["profile_id", "auth_token", "auth_expiry"])
                    .is_some();
            ok.then_some(v)
        }
        _ => {
            object_of_strings(&v, route.fields())?;
            Some(v)
        }
    }
}

/// What the server should hold, updated from its answers.
struct Model {
    /// Profile-bucket tokens: false while usable, true once consumed.
    profile_tokens: HashMap<String, bool>,
    signup_tokens: HashSet<String>,
    profiles: HashSet<String>,
    /// Failed step 2 answers per id: an id may answer 429 only after five.
    failures: HashMap<String, u32>,
}

struct Fixture {
    s: TestServer,
    account: Account,
    jwt: Value,
    model: RefCell<Model>,
}

/// The answer an oracle allows: a status and, for errors, the message.
type Outcome = (u16, &'static str);

impl Fixture {
    fn new() -> Fixture {
        let s = TestServer::start();
        let account = Account::new(KNOWN_ID, "fuzzing is fun");
        s.sign_up(&account);
        let jwt = s.session_for(&account);
        let profile: Vec<String> = (0..FILLED).map(|i| format!("fz-p{i}")).collect();
        let signup: Vec<String> = (0..FILLED).map(|i| format!("fz-s{i}")).collect();
        assert_eq!(s.fill("profile", &profile).status, 200);
        assert_eq!(s.fill("signup", &signup).status, 200);
        let model = Model {
            profile_tokens: profile
                .into_iter()
                .map(|t| (t, false))
                .chain([(format!("tok-{KNOWN_ID}"), true)])
                .collect(),
            signup_tokens: signup.into_iter().collect(),
            profiles: [KNOWN_ID.to_owned()].into(),
            failures: HashMap::new(),
        };
        Fixture {
            s,
            account,
            jwt,
            model: RefCell::new(model),
        }
    }

    /// Whether the model lets `id` be locked out.
    fn may_be_locked(&self, id: &str) -> bool {
        self.model.borrow().failures.get(id).copied().unwrap_or(0) >= 5
    }

    /// The answers SPEC allows for `req`, in SPEC's order of checks.
    fn expect(&self, req: &Req) -> Vec<Outcome> {
        let path = req.path.split('?').next().unwrap_or("");
        let get_path = matches!(path, "/healthz" | "/v1/buckets");
        let Some(route) = Route::of(path) else {
            if !get_path {
                return vec![(404, "Not found")];
            }
            if req.method != "GET" {
                return vec![(405, "Method not allowed")];
            }
            if path == "/v1/buckets" && req.auth != Auth::Admin {
                return vec![(401, "Unauthorized")];
            }
            return vec![(200, "")];
        };
        if req.method != "POST" {
            return vec![(405, "Method not allowed")];
        }
        if route == Route::Fill && req.auth != Auth::Admin {
            return vec![(401, "Unauthorized")];
        }
        let json_type = req.content_type.as_deref().is_some_and(|ct| {
            let ct = ct.to_ascii_lowercase().replace(' ', "");
            ct == "application/json" || ct == "application/json;charset=utf-8"
        });
        if !json_type {
            return vec![(415, "Unsupported media type")];
        }
        let limit = if route == Route::Fill {
            FILL_BODY_LIMIT
        } else {
            BODY_LIMIT
        };
        if req.body.len() > limit {
            return vec![(413, "Payload too large")];
        }
        let Some(body) = schema(route, &req.body) else {
            return vec![(400, "Invalid body")];
        };
        self.route_rules(route, &body)
    }

    /// SPEC §2: each route's own rules on a body that is its schema.
    fn route_rules(&self, route: Route, body: &Value) -> Vec<Outcome> {
        let model = self.model.borrow();
        let field = |k: &str| body[k].as_str().unwrap_or_default();
        match route {
            Route::Fill => {
                let tokens = body["tokens"].as_array().unwrap();
                let tokens_ok =
                    tokens.len() <= 10_000 && tokens.iter().all(|t| token_ok(t.as_str().unwrap()));
                let bucket_ok = matches!(field("bucket"), "profile" | "signup");
                match (tokens_ok, bucket_ok) {
                    (true, true) => vec![(200, "")],
                    (false, true) => vec![(400, "Invalid body")],
                    (true, false) => vec![(400, "Invalid bucket")],
                    // SPEC does not order these two checks.
                    (false, false) => vec![(400, "Invalid body"), (400, "Invalid bucket")],
                }
            }
            Route::Signup => {
                let id = field("profile_id");
                if !profile_id_ok(id) {
                    vec![(400, "Invalid profile ID")]
                } else if !verifier_ok(field("zkpp")) || !salt_ok(field("salt")) {
                    vec![(400, "Invalid body")]
                } else if model.profile_tokens.get(field("profile_token")) != Some(&false) {
                    vec![(400, "Invalid token")]
                } else if model.profiles.contains(id) {
                    vec![(400, "Duplicate ID")]
                } else if model.signup_tokens.is_empty() {
                    vec![(503, "Signup bucket empty")]
                } else {
                    vec![(200, "")]
                }
            }
            Route::Signin | Route::SigninVerify => {
                let id = field("profile_id");
                if !profile_id_ok(id) {
                    return vec![(400, "Invalid profile ID")];
                }
                let mut out = if route == Route::Signin {
                    vec![a_outcome(field("key"))]
                } else {
                    vec![(401, "Invalid credentials")]
                };
                // A malformed A is refused before the lockout is looked at.
                if self.may_be_locked(id) && out[0].0 != 400 {
                    out.push((429, "Too many requests"));
                }
                out
            }
            Route::Verify | Route::Signout => {
                let jwt = &body["jwt"];
                if !profile_id_ok(jwt["profile_id"].as_str().unwrap_or_default()) {
                    vec![(400, "Invalid profile ID")]
                } else if *jwt == self.jwt {
                    vec![(200, "")]
                } else if route == Route::Verify {
                    vec![(400, "Invalid token")]
                } else {
                    vec![(401, "Invalid token")]
                }
            }
        }
    }

    /// Sends `req`; checks the answer's shape, that the oracle allows it
    /// and a 200's body; updates the model.
    fn send(&self, req: &Req) -> Result<Reply, TestCaseError> {
        let expected = self.expect(req);
        let reply = req.send(&self.s);
        let got = check_shape(&reply, &req.method)?;
        // A HEAD answer has no body, so no message to compare.
        let head = req.method == "HEAD" && expected.iter().any(|e| e.0 == got.0);
        prop_assert!(
            head || expected.contains(&got),
            "{} {}: got {:?}, expected one of {:?}; body {}",
            req.method,
            req.path,
            got,
            expected,
            String::from_utf8_lossy(&reply.body)
        );
        let path = req.path.split('?').next().unwrap_or("");
        if let Some(route) = Route::of(path)
            && let Some(body) = schema(route, &req.body)
        {
            self.observe(route, &body, &reply)?;
        } else if got.0 == 200 && path == "/v1/buckets" {
            let m = self.model.borrow();
            let unused = m.profile_tokens.values().filter(|used| !**used).count();
            prop_assert_eq!(
                reply.json(),
                json!({"profile": unused, "signup": m.signup_tokens.len()})
            );
        } else if got.0 == 200 && path == "/healthz" {
            prop_assert_eq!(reply.json(), json!({"status": "ok"}));
        }
        Ok(reply)
    }

    /// Checks a route's answer against the model and updates it.
    fn observe(&self, route: Route, body: &Value, reply: &Reply) -> Result<(), TestCaseError> {
        let mut model = self.model.borrow_mut();
        let field = |k: &str| body[k].as_str().unwrap_or_default().to_owned();
        match (route, reply.status) {
            (Route::Fill, 200) => {
                let tokens: Vec<String> = body["tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap().to_owned())
                    .collect();
                let mut inserted = 0u64;
                for t in &tokens {
                    let new = if field("bucket") == "profile" {
                        !model.profile_tokens.contains_key(t)
                            && model.profile_tokens.insert(t.clone(), false).is_none()
                    } else {
                        model.signup_tokens.insert(t.clone())
                    };
                    inserted += u64::from(new);
                }
                let duplicates = tokens.len() as u64 - inserted;
                prop_assert_eq!(
                    reply.json(),
                    json!({"inserted": inserted, "duplicates": duplicates})
                );
            }
            (Route::Signup, 200) => {
                let answer = reply.json();
                let token = answer["token"].as_str().unwrap_or_default().to_owned();
                prop_assert_eq!(answer.as_object().map(|o| o.len()), Some(1));
                prop_assert!(
                    model.signup_tokens.remove(&token),
                    "handed out {:?}, which was not in the signup bucket",
                    token
                );
                model.profile_tokens.insert(field("profile_token"), true);
                model.profiles.insert(field("profile_id"));
            }
            (Route::Signin, 200) => {
                let answer = reply.json();
                prop_assert_eq!(answer.as_object().map(|o| o.len()), Some(2));
                let key = answer["key"].as_str().unwrap_or_default();
                prop_assert!(is_lower_hex(key, 512) && key < N_HEX, "B {:?}", key);
                let salt = answer["salt"].as_str().unwrap_or_default();
                if model.profiles.contains(&field("profile_id")) {
                    if field("profile_id") == self.account.id {
                        prop_assert_eq!(salt, self.account.salt.as_str());
                    }
                } else {
                    prop_assert!(is_lower_hex(salt, 64), "fake salt {:?}", salt);
                }
            }
            (Route::SigninVerify, 401) => {
                *model.failures.entry(field("profile_id")).or_default() += 1;
            }
            (Route::Verify, 200) => {
                prop_assert_eq!(reply.json(), json!({"profile_id": self.account.id}));
            }
            (Route::Signout, 200) => {
                prop_assert!(false, "signed out the fixture's session");
            }
            _ => {}
        }
        Ok(())
    }
}

/// The SPEC's answer shape: an allowed status, a JSON body, and on errors
/// exactly `{statusCode, error, message}` (plus an optional `code`) with the
/// status's reason phrase, one of SPEC's messages and the headers SPEC
/// requires. Returns (status, message).
fn check_shape(reply: &Reply, method: &str) -> Result<Outcome, TestCaseError> {
    let status = reply.status;
    let text = String::from_utf8_lossy(&reply.body).to_string();
    prop_assert!(status != 500, "500: {}", text);
    prop_assert!(ALLOWED.contains(&status), "status {}: {}", status, text);
    prop_assert_eq!(reply.header("content-type"), Some("application/json"));
    if method == "HEAD" {
        return Ok((status, ""));
    }
    let body: Value = serde_json::from_slice(&reply.body)
        .map_err(|e| TestCaseError::fail(format!("body is not JSON ({e}): {text}")))?;
    if status == 200 {
        return Ok((200, ""));
    }
    let obj = body
        .as_object()
        .ok_or_else(|| TestCaseError::fail(format!("error body not an object: {text}")))?;
    let reason = zkppd_testkit::http::reason(status);
    prop_assert_eq!(&body["statusCode"], &json!(status), "{}", text);
    prop_assert_eq!(&body["error"], &json!(reason), "{}", text);
    let message = MESSAGES
        .iter()
        .find(|m| body["message"] == json!(m))
        .copied()
        .ok_or_else(|| TestCaseError::fail(format!("unknown message: {text}")))?;
    let extra = obj.len() - 3;
    prop_assert!(
        extra == 0 || (extra == 1 && obj.get("code").is_some_and(Value::is_string)),
        "extra fields: {}",
        text
    );
    match message {
        "Method not allowed" => prop_assert!(reply.header("allow").is_some()),
        "Unauthorized" => prop_assert_eq!(reply.header("www-authenticate"), Some("Bearer")),
        "Too many requests" | "Service unavailable" => {
            let secs = reply
                .header("retry-after")
                .and_then(|v| v.parse::<u64>().ok());
            prop_assert!(secs.is_some_and(|s| s >= 1), "Retry-After {:?}", secs);
        }
        _ => {}
    }
    Ok((status, message))
}

// ---------------------------------------------------------------------
// Generators of JSON text, including what `Value` cannot hold.
// ---------------------------------------------------------------------

/// JSON as text: raw number literals (huge, tiny, out of range) and
/// objects with duplicate keys, which `serde_json::Value` cannot express.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn render(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            J::Num(n) => out.push_str(n),
            J::Str(s) => out.push_str(&Value::from(s.as_str()).to_string()),
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            J::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::from(k.as_str()).to_string());
                    out.push(':');
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        self.render(&mut s);
        s.into_bytes()
    }
}

fn number_literal() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "-?[1-9][0-9]{19,400}",
        "-?[1-9](\\.[0-9]{1,5})?[eE][+-]?[0-9]{3,7}",
        prop::sample::select(vec![
            "0", "-0", "0.0", "1e308", "4.9e-324", "1E+400", "-1e-400"
        ])
        .prop_map(str::to_owned),
    ]
}

/// Profile ids on both sides of SPEC §1's rule, and the fixture's own.
fn profile_id() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just(KNOWN_ID.to_owned()),
        4 => "[a-z0-9-]{1,36}",
        2 => any::<String>(),
        1 => prop::sample::select(vec![
            String::new(),
            "x".repeat(128),
            "x".repeat(129),
            "é".repeat(64),
            "é".repeat(65),
            "a\u{0}b".into(),
            "tab\t".into(),
            "c1\u{85}".into(),
            "del\u{7f}".into(),
            " spaced ".into(),
            "🦀".repeat(32),
        ]),
    ]
}

/// Strings of every kind.
fn string_value() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        3 => hex_input(),
        2 => profile_id(),
        2 => prop::sample::select(vec!["profile", "signup", "Profile", "", "signups"])
            .prop_map(str::to_owned),
        1 => (0usize..FILLED).prop_map(|i| format!("fz-p{i}")),
    ]
}

/// A string huge enough to take the body past its limit, or just short.
fn huge_string() -> impl Strategy<Value = String> {
    (60_000usize..70_000).prop_map(|n| "x".repeat(n))
}

fn any_json() -> impl Strategy<Value = J> {
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number_literal().prop_map(J::Num),
        string_value().prop_map(J::Str),
        // Escapes serde_json refuses (a lone surrogate) or accepts.
        prop::sample::select(vec![
            r#""\ud800""#,
            r#""\udfff\ud800""#,
            r#""\u0000""#,
            r#""\/""#
        ])
        .prop_map(|s| J::Num(s.to_owned())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        let key = prop_oneof![
            prop::sample::select(vec![
                "profile_id",
                "key",
                "jwt",
                "auth_token",
                "auth_expiry",
                "bucket",
                "tokens",
                "zkpp",
                "salt",
                "profile_token",
            ])
            .prop_map(str::to_owned),
            any::<String>(),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(J::Arr),
            prop::collection::vec((key, inner), 0..6).prop_map(J::Obj),
        ]
    })
}

/// Hex fields of a route: `zkpp` valid more often than chance would make
/// it, so that sign-ups get to their transaction.
fn field_value(route: Route, name: &'static str) -> BoxedStrategy<String> {
    match (route, name) {
        (_, "profile_id") => profile_id().boxed(),
        (_, "zkpp") => prop_oneof![
            1 => hex_input(),
            1 => (1usize..=255, any::<u64>()).prop_map(|(n, seed)| random_hex(2 * n, seed)),
        ]
        .boxed(),
        (_, "salt") => prop_oneof![
            1 => hex_input(),
            1 => Just(zkppd_testkit::some_salt()),
        ]
        .boxed(),
        (_, "profile_token") => prop_oneof![
            2 => (0usize..FILLED).prop_map(|i| format!("fz-p{i}")),
            1 => string_value(),
        ]
        .boxed(),
        (_, "bucket") => prop::sample::select(vec!["profile", "signup", "nope", ""])
            .prop_map(str::to_owned)
            .boxed(),
        _ => prop_oneof![20 => string_value(), 1 => huge_string()].boxed(),
    }
}

/// A value for one of the route's fields: usually its type, sometimes any
/// JSON at all (a right key with a wrong type).
fn field(route: Route, name: &'static str) -> BoxedStrategy<J> {
    let typed = match name {
        "tokens" => prop::collection::vec(field_value(route, name).prop_map(J::Str), 0..6)
            .prop_map(J::Arr)
            .boxed(),
        "jwt" => {
            let jwt_fields = ["profile_id", "auth_token", "auth_expiry"];
            let parts: Vec<BoxedStrategy<Option<J>>> = jwt_fields
                .iter()
                .map(|f| {
                    prop_oneof![
                        6 => field_value(route, f).prop_map(|s| Some(J::Str(s))),
                        1 => any_json().prop_map(Some),
                        1 => Just(None),
                    ]
                    .boxed()
                })
                .collect();
            (parts, prop::option::of(("[a-z_]{1,10}", any_json())))
                .prop_map(move |(values, extra)| {
                    let mut entries: Vec<(String, J)> = jwt_fields
                        .iter()
                        .zip(values)
                        .filter_map(|(k, v)| Some(((*k).to_owned(), v?)))
                        .collect();
                    entries.extend(extra);
                    J::Obj(entries)
                })
                .boxed()
        }
        _ => field_value(route, name).prop_map(J::Str).boxed(),
    };
    prop_oneof![6 => typed, 1 => any_json()].boxed()
}

/// A body built around the route's schema: each field present with its
/// type, present with a wrong type, or missing; sometimes an extra key, a
/// duplicated key, or the fields in another order.
fn shaped_body(route: Route) -> BoxedStrategy<J> {
    let fields: Vec<BoxedStrategy<Option<J>>> = route
        .fields()
        .iter()
        .map(|f| prop_oneof![12 => field(route, f).prop_map(Some), 1 => Just(None)].boxed())
        .collect();
    let extra = prop::option::weighted(0.1, ("[a-z_]{1,12}", any_json()));
    let dup = prop::option::weighted(0.1, (any::<prop::sample::Index>(), any_json()));
    (fields, extra, dup, any::<bool>())
        .prop_map(move |(values, extra, dup, reverse)| {
            let mut entries: Vec<(String, J)> = route
                .fields()
                .iter()
                .zip(values)
                .filter_map(|(k, v)| Some(((*k).to_owned(), v?)))
                .collect();
            entries.extend(extra);
            if let Some((at, v)) = dup
                && !entries.is_empty()
            {
                let k = entries[at.index(entries.len())].0.clone();
                entries.push((k, v));
            }
            if reverse {
                entries.reverse();
            }
            J::Obj(entries)
        })
        .boxed()
}

fn route() -> impl Strategy<Value = Route> {
    prop::sample::select(ROUTES.to_vec())
}

// ---------------------------------------------------------------------
// The HTTP properties.
// ---------------------------------------------------------------------

#[test]
fn arbitrary_bytes_at_every_route() {
    let _serial = zkppd_testkit::serial::alone();
    let fx = Fixture::new();
    let method = prop::sample::select(vec![
        "POST", "POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD",
        "TRACE", "BREW",
    ]);
    let path = prop_oneof![
        8 => route().prop_map(|r| r.path().to_owned()),
        1 => prop::sample::select(vec![
            "/", "/healthz", "/v1/buckets", "/v1", "/v1/signup/", "/V1/SIGNUP", "/v1//signup",
            "/v1/signin/verify/x", "/v1/signup?x=1", "/v1/%73ignup", "/metrics", "/v1/signin/",
        ])
        .prop_map(str::to_owned),
        1 => "/[a-zA-Z0-9/._~-]{0,24}",
    ];
    let content_type = prop_oneof![
        8 => Just(Some("application/json".to_owned())),
        2 => prop::sample::select(vec![
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
            "application/json; charset=latin1",
            "application/jsonx",
            "text/plain",
            "multipart/form-data; boundary=x",
            "",
        ])
        .prop_map(|s| Some(s.to_owned())),
        1 => Just(None),
    ];
    let auth = prop_oneof![
        8 => Just(Auth::Admin),
        1 => Just(Auth::None),
        1 => prop::sample::select(vec![
            format!("bearer {ADMIN}"),
            format!("Bearer {ADMIN}x"),
            format!("Basic {ADMIN}"),
            "Bearer".to_owned(),
            "Bearer ".to_owned(),
        ])
        .prop_map(|v| if v == format!("bearer {ADMIN}") { Auth::Admin } else { Auth::Other(v) }),
    ];
    // Raw bytes, or a body of the route's shape with bytes spoiled.
    let body = prop_oneof![
        3 => prop::collection::vec(any::<u8>(), 0..2048),
        3 => (route().prop_flat_map(shaped_body), prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4))
            .prop_map(|(j, edits)| {
                let mut b = j.bytes();
                for (at, byte) in edits {
                    let i = at.index(b.len() + 1);
                    if i < b.len() {
                        b[i] = byte;
                    } else {
                        b.push(byte);
                    }
                }
                b
            }),
        1 => (64 * 1024 - 2usize..64 * 1024 + 4).prop_map(|n| vec![b' '; n]),
    ];
    let req = (method, path, content_type, auth, body).prop_map(
        |(method, path, content_type, auth, body)| Req {
            method: method.to_owned(),
            path,
            content_type,
            auth,
            body,
        },
    );
    check(1_500, req, |req| fx.send(&req).map(drop));
}

#[test]
fn arbitrary_json_at_every_route() {
    let _serial = zkppd_testkit::serial::alone();
    let fx = Fixture::new();
    let body = route().prop_flat_map(|r| {
        prop_oneof![
            4 => shaped_body(r),
            1 => any_json(),
            // An array of the fields in order, which serde's derived
            // structs would take for the object.
            1 => prop::collection::vec(field_value(r, "profile_id").prop_map(J::Str), 1..5)
                .prop_map(J::Arr),
        ]
        .prop_map(move |j| (r, j))
    });
    check(2_000, body, |(route, j)| {
        fx.send(&Req::post(route, j.bytes())).map(drop)
    });
}

/// One hex-fuzzing request: which route, and what goes into its hex field.
#[derive(Debug, Clone)]
enum HexCase {
    /// Step 1 with A, under a fresh id or the signed-up one.
    Start { known: bool, a: String },
    /// A real step 1, then step 2 with M1.
    Proof { known: bool, m1: String },
    /// Step 2 with M1 and no handshake.
    ProofAlone { m1: String },
    /// A sign-up with this verifier and salt, with a real profile token or not.
    Signup {
        zkpp: String,
        salt: String,
        real_token: bool,
    },
    /// A bucket fill of hex tokens.
    Fill { signup: bool, tokens: Vec<String> },
    /// A session check with hex in place of the token or the expiry.
    Session {
        signout: bool,
        token: String,
        expiry: Option<String>,
    },
}

#[test]
fn arbitrary_hex_at_every_route() {
    let _serial = zkppd_testkit::serial::alone();
    let fx = Fixture::new();
    let next_id = std::cell::Cell::new(0u64);
    let fresh = || {
        next_id.set(next_id.get() + 1);
        format!("hex-fuzz-{}", next_id.get())
    };
    let case = prop_oneof![
        6 => (any::<bool>(), hex_input()).prop_map(|(known, a)| HexCase::Start { known, a }),
        1 => (prop::bool::weighted(0.2), hex_input()).prop_map(|(known, m1)| HexCase::Proof { known, m1 }),
        2 => hex_input().prop_map(|m1| HexCase::ProofAlone { m1 }),
        4 => (hex_input(), prop_oneof![hex_input(), Just(zkppd_testkit::some_salt())], any::<bool>())
            .prop_map(|(zkpp, salt, real_token)| HexCase::Signup { zkpp, salt, real_token }),
        4 => (any::<bool>(), hex_input(), prop::sample::select(vec![zkppd_testkit::some_verifier(), "02".into()]), any::<bool>())
            .prop_map(|(real_token, salt, zkpp, swap)| {
                // A valid verifier with a hex salt, or the other way round.
                if swap {
                    HexCase::Signup { zkpp: salt, salt: zkppd_testkit::some_salt(), real_token }
                } else {
                    HexCase::Signup { zkpp, salt, real_token }
                }
            }),
        2 => (any::<bool>(), prop::collection::vec(hex_input(), 0..4))
            .prop_map(|(signup, tokens)| HexCase::Fill { signup, tokens }),
        2 => (any::<bool>(), hex_input(), prop::option::of(hex_input()))
            .prop_map(|(signout, token, expiry)| HexCase::Session { signout, token, expiry }),
    ];
    let a = zkppd_srp::client::generate_ephemeral().public.clone();
    check(1_200, case, |case| {
        let post =
            |route: Route, body: Value| fx.send(&Req::post(route, body.to_string().into_bytes()));
        let id = |known: bool| if known { KNOWN_ID.to_owned() } else { fresh() };
        match case {
            HexCase::Start { known, a } => {
                post(Route::Signin, json!({"profile_id": id(known), "key": a}))?;
            }
            HexCase::Proof { known, m1 } => {
                let id = id(known);
                let step1 = post(Route::Signin, json!({"profile_id": id, "key": a}))?;
                if step1.status == 200 {
                    post(Route::SigninVerify, json!({"profile_id": id, "key": m1}))?;
                }
            }
            HexCase::ProofAlone { m1 } => {
                post(
                    Route::SigninVerify,
                    json!({"profile_id": fresh(), "key": m1}),
                )?;
            }
            HexCase::Signup {
                zkpp,
                salt,
                real_token,
            } => {
                let token = if real_token {
                    let model = fx.model.borrow();
                    model
                        .profile_tokens
                        .iter()
                        .find(|(_, used)| !**used)
                        .map(|(t, _)| t.clone())
                        .unwrap_or_default()
                } else {
                    fresh()
                };
                let body = json!({"profile_id": fresh(), "profile_token": token, "zkpp": zkpp, "salt": salt});
                post(Route::Signup, body)?;
            }
            HexCase::Fill { signup, tokens } => {
                let bucket = if signup { "signup" } else { "profile" };
                post(Route::Fill, json!({"bucket": bucket, "tokens": tokens}))?;
            }
            HexCase::Session {
                signout,
                token,
                expiry,
            } => {
                let mut jwt = fx.jwt.clone();
                jwt["auth_token"] = json!(token);
                if let Some(e) = expiry {
                    jwt["auth_expiry"] = json!(e);
                }
                let route = if signout {
                    Route::Signout
                } else {
                    Route::Verify
                };
                post(route, json!({"jwt": jwt}))?;
            }
        }
        Ok(())
    });
    // The server is still whole: the fixture's session verifies.
    let r = fx.s.post("/v1/verify", &json!({"jwt": fx.jwt}));
    assert_eq!(r.status, 200);
}

/// Not even HTTP: arbitrary bytes, or a request line and headers with a
/// few bytes spoiled. The server may refuse (hyper answers a malformed
/// request itself) but never with a 5xx, and it keeps serving.
#[test]
fn arbitrary_request_bytes_never_take_the_server_down() {
    let _serial = zkppd_testkit::serial::alone();
    let fx = Fixture::new();
    let good = Req::post(
        Route::Verify,
        json!({"jwt": fx.jwt.clone()}).to_string().into_bytes(),
    );
    let raw = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        (
            route(),
            prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)
        )
            .prop_map(|(r, edits)| {
                let body = br#"{"profile_id":"a","key":"00"}"#;
                let mut b = format!(
                    "POST {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    r.path(),
                    body.len()
                )
                .into_bytes();
                b.extend_from_slice(body);
                for (at, byte) in edits {
                    let i = at.index(b.len());
                    b[i] = byte;
                }
                b
            }),
    ];
    check(400, raw, |bytes| {
        let mut stream =
            TcpStream::connect(fx.s.addr).map_err(|e| TestCaseError::fail(e.to_string()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let _ = stream.write_all(&bytes);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = stream.read_to_end(&mut out);
        if let Some(status) = zkppd_testkit::http::status_of(&out) {
            prop_assert!(status < 500, "{}", String::from_utf8_lossy(&out));
        }
        // Whatever that was, a proper request is still served.
        let r = good.send(&fx.s);
        prop_assert_eq!(r.status, 200);
        Ok(())
    });
}

/// The regression the JSON property found: serde's derived structs take a
/// JSON array of their fields in order as if it were the object, so
/// `["id", A]` started a sign-in and a live session sent as
/// `{"jwt": [id, token, expiry]}` verified. SPEC §1: wrong types are
/// `400 Invalid body`.
#[test]
fn json_arrays_never_stand_in_for_objects() {
    let fx = Fixture::new();
    let a = zkppd_srp::client::generate_ephemeral().public.clone();
    let jwt = [
        fx.jwt["profile_id"].clone(),
        fx.jwt["auth_token"].clone(),
        fx.jwt["auth_expiry"].clone(),
    ];
    let cases = [
        (Route::Signin, json!([KNOWN_ID, a])),
        (Route::SigninVerify, json!([KNOWN_ID, "00".repeat(32)])),
        (
            Route::Signup,
            json!([
                "new-id",
                "fz-p1",
                zkppd_testkit::some_verifier(),
                zkppd_testkit::some_salt()
            ]),
        ),
        (Route::Fill, json!(["signup", ["array-token"]])),
        (Route::Verify, json!({"jwt": jwt})),
        (Route::Verify, json!([{"profile_id": KNOWN_ID}])),
        (Route::Verify, json!([fx.jwt.clone()])),
        (Route::Signout, json!({"jwt": jwt})),
    ];
    for (route, body) in cases {
        fx.s.admin_post(route.path(), &body)
            .assert_error(400, "Invalid body");
    }
    // The session is untouched and the objects themselves still work.
    assert_eq!(fx.s.post("/v1/verify", &json!({"jwt": fx.jwt})).status, 200);
    assert_eq!(
        fx.s.post("/v1/signin", &json!({"profile_id": KNOWN_ID, "key": a}))
            .status,
        200
    );
}
