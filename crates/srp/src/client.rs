//! The client side of SRP-6a, bit for bit as npm `secure-remote-password`
//! 0.3.1's `client.js` (formulas: `fixtures/SRP.md`): salt, private key x,
//! verifier, ephemeral A, session key and proof M1, and the check of the
//! server's M2. It exists for the tests and the load generator (`client`,
//! `zkppd-bench`); the server never calls it. The big-number work reuses the
//! server's Montgomery arithmetic and fixed-base table in the crate root, so
//! a load generator on the same machine spends as little CPU as it can.
//! Pure functions: no I/O, no HTTP.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::hex;
use crate::{self as srp, ClientPublic, N_BYTES};

/// A fresh salt: 32 bytes from the OS CSPRNG as 64 lowercase hex characters
/// (`client.generateSalt()`).
pub fn generate_salt() -> String {
    hex::encode(&random_32())
}

/// x = H(s ‖ H(I ‖ ":" ‖ p)) (`client.derivePrivateKey`). The salt is hashed
/// as its hex-decoded bytes exactly as given; I and p as raw UTF-8.
///
/// # Panics
/// If `salt_hex` is not hex: a salt is something the caller made with
/// [`generate_salt`] or got from a server (check it first, as
/// the `zkppd-client` crate does).
pub fn derive_private_key(salt_hex: &str, id: &str, password: &str) -> [u8; 32] {
    let salt = hex::decode(salt_hex).expect("derive_private_key: salt must be hex");
    let inner = Zeroizing::new(h(&[id.as_bytes(), b":", password.as_bytes()]));
    h(&[&salt, &inner[..]])
}

/// v = g^x mod N as 512 lowercase hex characters (`client.deriveVerifier`):
/// the `zkpp` field of a sign-up.
pub fn derive_verifier(x: &[u8; 32]) -> String {
    hex::encode(&srp::client_pow_g(x)[..])
}

/// The client's ephemeral pair: the secret a (32 bytes) and A = g^a mod N as
/// 512 lowercase hex characters, the `key` of sign-in step 1.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Ephemeral {
    pub secret: [u8; 32],
    #[zeroize(skip)]
    pub public: String,
}

impl fmt::Debug for Ephemeral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ephemeral")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A fresh ephemeral with a from the OS CSPRNG (`client.generateEphemeral`).
pub fn generate_ephemeral() -> Ephemeral {
    ephemeral_from_secret(random_32())
}

/// The ephemeral for a chosen a (test vectors).
pub fn ephemeral_from_secret(a: [u8; 32]) -> Ephemeral {
    let public = hex::encode(&srp::client_pow_g(&a)[..]);
    Ephemeral { secret: a, public }
}

/// What the client knows after step 1: the session key K, the proof M1 to
/// send in step 2, and the M2 it expects back.
#[derive(Clone, ZeroizeOnDrop)]
pub struct ClientSession {
    pub key: [u8; 32],
    /// M1 as 64 lowercase hex characters.
    #[zeroize(skip)]
    pub proof: String,
    #[zeroize(skip)]
    expected_m2: [u8; 32],
}

impl fmt::Debug for ClientSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSession(..)")
    }
}

impl ClientSession {
    /// `client.verifySession`: true if `m2_hex` is the server's proof
    /// H(A ‖ M1 ‖ K), as 64 hex characters of either case. Constant time in
    /// the value.
    pub fn verify_server(&self, m2_hex: &str) -> bool {
        match hex::decode_array::<32>(m2_hex) {
            Some(m2) => bool::from(m2.ct_eq(&self.expected_m2)),
            None => false,
        }
    }
}

/// `client.deriveSession`: K and M1 from the ephemeral, the server's B and
/// the profile's salt, id and x.
///
/// `None` when B is malformed — not exactly 512 hex characters (what every
/// conforming server, the npm one included, sends; B is hashed as sent, so
/// anything else would be a different M1) — when B ≡ 0 (mod N) (the npm
/// client throws "The server sent an invalid public ephemeral"), or when the
/// salt is not hex. A is hashed as `eph.public`, B and the salt as given.
pub fn derive_session(
    eph: &Ephemeral,
    server_b_hex: &str,
    salt_hex: &str,
    id: &str,
    x: &[u8; 32],
) -> Option<ClientSession> {
    let big_b: [u8; N_BYTES] = hex::decode_array(server_b_hex)?;
    let b_value = ClientPublic::from_hex(server_b_hex).ok()?;
    let salt = hex::decode(salt_hex)?;
    let a_raw = hex::decode(&eph.public)?;

    let u = srp::scrambler(&a_raw, &big_b);
    let s = srp::client_premaster_secret(&b_value, x, &eph.secret, &u);
    let k = srp::session_key(&s);
    let m1 = srp::client_proof(id, &salt, &a_raw, &big_b, &k);
    let expected_m2 = srp::server_proof(&a_raw, &m1, &k);
    Some(ClientSession {
        key: *k,
        proof: hex::encode(&m1),
        expected_m2,
    })
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

fn random_32() -> [u8; 32] {
    let mut b = [0u8; 32];
    // Without an OS RNG there is no safe way to go on.
    getrandom::fill(&mut b).expect("OS random number generator failed");
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    use crate::test_vectors::{arr, s, vectors};

    fn arr32(v: &Value, key: &str) -> [u8; 32] {
        arr(v, key)
    }

    #[test]
    fn all_cases() {
        let vs = vectors();
        let cases = vs["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 41);
        for c in cases {
            let id = s(c, "id");
            let (user, salt) = (s(c, "username"), s(c, "salt"));
            let x = derive_private_key(salt, user, s(c, "password"));
            assert_eq!(hex::encode(&x), s(c, "x"), "{id}: x");
            assert_eq!(derive_verifier(&x), s(c, "verifier"), "{id}: verifier");
            let eph = ephemeral_from_secret(arr32(c, "a"));
            assert_eq!(eph.public, s(c, "A"), "{id}: A");

            let sess = derive_session(&eph, s(c, "B"), salt, user, &x).expect("session");
            assert_eq!(hex::encode(&sess.key), s(c, "K"), "{id}: K");
            assert_eq!(sess.proof, s(c, "M1"), "{id}: M1");
            assert!(sess.verify_server(s(c, "M2")), "{id}: M2");
            assert!(
                sess.verify_server(&s(c, "M2").to_uppercase()),
                "{id}: M2 upper"
            );

            let x_wrong = derive_private_key(salt, user, s(c, "wrong_password"));
            let wrong = derive_session(&eph, s(c, "B"), salt, user, &x_wrong).expect("session");
            assert_eq!(wrong.proof, s(c, "M1_wrong_password"), "{id}: wrong M1");
            assert!(!wrong.verify_server(s(c, "M2")), "{id}: wrong M2");
        }
    }

    #[test]
    fn client_negatives() {
        let vs = vectors();
        let mut seen = 0;
        for n in vs["negative"].as_array().expect("negative") {
            if s(n, "side") != "client" {
                continue;
            }
            seen += 1;
            let id = s(n, "id");
            if n.get("B").is_some() {
                let eph = ephemeral_from_secret(arr32(n, "a"));
                let x = arr32(n, "x");
                let got = derive_session(&eph, s(n, "B"), s(n, "salt"), s(n, "username"), &x);
                assert!(got.is_none(), "{id}");
            } else {
                // n-M2-bitflip: a session whose expected M2 is the good one.
                let c = &vs["cases"][0];
                let eph = ephemeral_from_secret(arr32(c, "a"));
                let x = arr32(c, "x");
                let sess = derive_session(&eph, s(c, "B"), s(c, "salt"), s(c, "username"), &x)
                    .expect("session");
                assert_eq!(sess.proof, s(n, "M1"));
                assert!(!sess.verify_server(s(n, "M2")), "{id}");
            }
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn malformed_inputs() {
        let vs = vectors();
        let c = &vs["cases"][0];
        let eph = ephemeral_from_secret(arr32(c, "a"));
        let x = arr32(c, "x");
        let (b, salt, user) = (s(c, "B"), s(c, "salt"), s(c, "username"));
        for bad_b in [
            "",
            "02",
            &b[2..],
            &format!("00{b}"),
            &format!("{}g", &b[1..]),
        ] {
            assert!(derive_session(&eph, bad_b, salt, user, &x).is_none());
        }
        assert!(derive_session(&eph, b, "xyz", user, &x).is_none());
        // B ≥ N is reduced like the reference does, not refused.
        assert!(derive_session(&eph, &"ff".repeat(256), salt, user, &x).is_some());

        let sess = derive_session(&eph, b, salt, user, &x).expect("session");
        for bad in ["", "00", &s(c, "M2")[1..], "zz"] {
            assert!(!sess.verify_server(bad));
        }
    }

    #[test]
    fn round_trip_with_server_math() {
        let salt = generate_salt();
        assert_eq!(salt.len(), 64);
        assert_eq!(salt, salt.to_lowercase());
        assert_ne!(salt, generate_salt());
        let x = derive_private_key(&salt, "user-1", "pw");
        let v = srp::Verifier::from_hex(&derive_verifier(&x)).expect("verifier");
        let eph = generate_ephemeral();
        assert_eq!(eph.public.len(), 512);
        let b = srp::ServerSecret::random().unwrap();
        let big_b = srp::server_public(&v, &b);
        let sess =
            derive_session(&eph, &hex::encode(&big_b), &salt, "user-1", &x).expect("session");
        let a = ClientPublic::from_hex(&eph.public).expect("A");
        let m1 = hex::decode_array(&sess.proof).expect("M1");
        let salt_raw = hex::decode(&salt).expect("salt");
        let m2 = srp::verify_proof("user-1", &salt_raw, &v, &a, &b, &big_b, &m1).expect("M2");
        assert!(sess.verify_server(&hex::encode(&m2)));
        assert!(!format!("{eph:?}").contains(&hex::encode(&eph.secret)));
    }
}
