//! SRP-6a server math, bit for bit as npm `secure-remote-password` 0.3.1
//! computes it (formulas and byte rules: `fixtures/SRP.md`). Pure functions
//! over bytes: no I/O, HTTP, storage, clocks or handshake state here.

use std::fmt;
use std::sync::OnceLock;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Choice, CtAssign, CtLt as _, Odd, U2048};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

#[cfg(feature = "client")]
pub mod client;
pub mod hex;

/// Width of N, and of B and S whenever they are sent or hashed.
pub const N_BYTES: usize = 256;

const N_BITS: u32 = 2048;
/// The ephemeral secret b and the scrambler u are both SHA-256-sized.
const EXP_BITS: u32 = 256;

/// RFC 5054 2048-bit group, g = 2.
const N_HEX: &str = "ac6bdb41324a9a9bf166de5e1389582faf72b6651987ee07fc3192943db56050a37329cbb4a099ed8193e0757767a13dd52312ab4b03310dcd7f48a9da04fd50e8083969edb767b0cf6095179a163ab3661a05fbd5faaae82918a9962f0b93b855f97993ec975eeaa80d740adbf4ff747359d041d5c33ea71d281e446b14773bca97b43a23fb801676bd207a436c6481f1d2b9078717461a5b9d32e688f87748544523b524b0d57d5ea77a2775d2ecfa032cfbdbf52fb3786160279004e57ae6af874e7303ce53299ccc041c7bc308d82a5698f3a8d0c38271ae35f8e9dbfbb694b5c803d89f7ae435de236d525f54759b65e372fcd68ef20fa7111f9e4aff73";
const N: Odd<U2048> = Odd::<U2048>::from_be_hex(N_HEX);
const G: u8 = 2;

/// g^b uses a fixed-base comb: row i holds g^(j·16^i) for j in 0..16, so g^b
/// is 64 table picks and multiplications instead of ~320 for a generic power
/// (about 4× faster; 256 KiB, built once).
const COMB_ROWS: usize = (EXP_BITS / 4) as usize;
const COMB_COLS: usize = 16;

struct Group {
    params: BoxedMontyParams,
    /// k = H(N ‖ g) with g as one byte, in Montgomery form.
    k: BoxedMontyForm,
    /// `COMB_ROWS × COMB_COLS` Montgomery-form values, row-major.
    g_comb: Box<[BoxedUint]>,
    /// H(N) xor H(g), the first input of M1.
    h_n_xor_h_g: [u8; 32],
}

fn group() -> &'static Group {
    static GROUP: OnceLock<Group> = OnceLock::new();
    GROUP.get_or_init(Group::new)
}

impl Group {
    fn new() -> Group {
        let params = BoxedMontyParams::new_vartime(Odd::<BoxedUint>::from(&N));
        let n_bytes = N.to_be_bytes();
        let n_bytes = n_bytes.as_slice();
        let k = h(&[n_bytes, &[G]]);
        let k = BoxedMontyForm::new(BoxedUint::from_be_slice_truncated(&k, N_BITS), &params);

        let one = BoxedMontyForm::one(&params);
        let mut base =
            BoxedMontyForm::new(BoxedUint::from_be_slice_truncated(&[G], N_BITS), &params);
        let mut g_comb = Vec::with_capacity(COMB_ROWS * COMB_COLS);
        for _ in 0..COMB_ROWS {
            let mut acc = one.clone();
            for _ in 0..COMB_COLS {
                g_comb.push(acc.as_montgomery().clone());
                acc = acc.mul(&base);
            }
            base = acc; // base^16: the next nibble's weight
        }

        let h_n = h(&[n_bytes]);
        let h_g = h(&[&[G]]);
        let mut h_n_xor_h_g = [0u8; 32];
        for (o, (a, b)) in h_n_xor_h_g.iter_mut().zip(h_n.iter().zip(h_g.iter())) {
            *o = a ^ b;
        }
        Group {
            params,
            k,
            g_comb: g_comb.into_boxed_slice(),
            h_n_xor_h_g,
        }
    }

    fn to_monty(&self, x: &U2048) -> BoxedMontyForm {
        BoxedMontyForm::new(BoxedUint::from(x), &self.params)
    }
}

/// Builds the group constants (k, the g^b table) now rather than in the
/// first sign-in, so that one is not a few ms slower than the rest.
pub fn precompute() {
    group();
}

/// The password verifier v, guaranteed 1 < v < N. Wiped on drop: it is a
/// password-equivalent for an offline guessing attack.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Verifier {
    v: U2048,
}

impl Verifier {
    /// Strict hex of at most 256 bytes (shorter is left-padded) with 1 < v < N.
    pub fn from_hex(s: &str) -> Option<Verifier> {
        if s.len() > 2 * N_BYTES {
            return None;
        }
        let raw = Zeroizing::new(hex::decode(s)?);
        let mut buf = Zeroizing::new([0u8; N_BYTES]);
        buf[N_BYTES - raw.len()..].copy_from_slice(&raw);
        Verifier::from_uniform_bytes(&buf)
    }

    /// Big-endian; `None` unless 1 < v < N. For unknown profiles the caller
    /// rejection-samples a fake verifier from an XOF, so the check is
    /// constant-time and only its outcome is visible.
    pub fn from_uniform_bytes(b: &[u8; N_BYTES]) -> Option<Verifier> {
        let v = U2048::from_be_slice(b);
        let ok = U2048::ONE.ct_lt(&v) & v.ct_lt(N.as_ref());
        let verifier = Verifier { v };
        ok.to_bool().then_some(verifier)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Verifier(..)")
    }
}

/// The client's public ephemeral A. The bytes are kept exactly as sent
/// because u, M1 and M2 hash them that way (a client that strips or adds a
/// leading zero byte gets a different u and fails, as with the reference
/// server); the value is reduced mod N for the arithmetic.
#[derive(Clone)]
pub struct ClientPublic {
    raw: Vec<u8>,
    value: U2048,
}

#[derive(Debug, PartialEq, Eq)]
pub enum PublicKeyError {
    /// Not strict hex, or longer than 256 bytes.
    Malformed,
    /// A ≡ 0 (mod N), which would force S = 0 whatever the password.
    ZeroModN,
}

impl ClientPublic {
    pub fn from_hex(s: &str) -> Result<ClientPublic, PublicKeyError> {
        // Length first, so an oversized A is refused before any allocation.
        if s.len() > 2 * N_BYTES {
            return Err(PublicKeyError::Malformed);
        }
        let raw = hex::decode(s).ok_or(PublicKeyError::Malformed)?;
        let mut buf = [0u8; N_BYTES];
        buf[N_BYTES - raw.len()..].copy_from_slice(&raw);
        let a = U2048::from_be_slice(&buf);
        // N > 2^2047 > A / 2, so one conditional subtraction reduces A.
        // A is public: branching on it is fine.
        let value = if a.ct_lt(N.as_ref()).to_bool() {
            a
        } else {
            a.wrapping_sub(N.as_ref())
        };
        if value.is_zero().to_bool() {
            return Err(PublicKeyError::ZeroModN);
        }
        Ok(ClientPublic { raw, value })
    }
}

impl fmt::Debug for ClientPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientPublic({})", hex::encode(&self.raw))
    }
}

/// The server's ephemeral secret b (32 bytes). Wiped on drop; not `Clone`,
/// and its `Debug` does not show it.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ServerSecret {
    b: [u8; 32],
}

impl ServerSecret {
    /// 32 bytes from the OS CSPRNG. Its failure is the caller's to report
    /// (a request path must answer 500, not panic).
    pub fn random() -> Result<ServerSecret, getrandom::Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)?;
        Ok(ServerSecret { b })
    }

    pub fn from_bytes(b: [u8; 32]) -> ServerSecret {
        ServerSecret { b }
    }
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

/// B = (k·v + g^b) mod N, 256 big-endian bytes.
pub fn server_public(v: &Verifier, b: &ServerSecret) -> [u8; N_BYTES] {
    let grp = group();
    let g_b = pow_g(grp, &b.b);
    let v_m = Zeroizing::new(grp.to_monty(&v.v));
    // k·v alone would reveal v to anyone who learns g^b.
    let k_v = Zeroizing::new(grp.k.mul(&v_m));
    to_bytes(&k_v.add(&g_b))
}

/// Checks the client's proof M1 in constant time and returns M2 if it
/// matches. u, S, K, the expected M1 and M2 are computed whatever M1 is, so
/// the time does not depend on whether the proof is right.
///
/// `big_b` is the B this server sent for this handshake; `salt` the bytes
/// the profile stores (hashed as they are). M1 is exactly 32 bytes: the
/// reference server compares M1 as a number, so it also takes M1 hex with
/// leading zeros stripped or added, which zkppd's wire rule (exactly 64 hex
/// characters) refuses.
pub fn verify_proof(
    id: &str,
    salt: &[u8],
    v: &Verifier,
    a: &ClientPublic,
    b: &ServerSecret,
    big_b: &[u8; N_BYTES],
    m1: &[u8; 32],
) -> Option<[u8; 32]> {
    let u = scrambler(&a.raw, big_b);
    let s = premaster_secret(v, a, b, &u);
    let k = session_key(&s);
    let expected = client_proof(id, salt, &a.raw, big_b, &k);
    let m2 = server_proof(&a.raw, &expected, &k);
    let ok = ConstantTimeEq::ct_eq(&expected[..], &m1[..]);
    bool::from(ok).then_some(m2)
}

/// u = H(A ‖ B), A as sent.
pub(crate) fn scrambler(a_raw: &[u8], big_b: &[u8; N_BYTES]) -> [u8; 32] {
    h(&[a_raw, big_b])
}

/// S = (A · v^u)^b mod N, 256 bytes.
pub(crate) fn premaster_secret(
    v: &Verifier,
    a: &ClientPublic,
    b: &ServerSecret,
    u: &[u8; 32],
) -> Zeroizing<[u8; N_BYTES]> {
    let grp = group();
    let u = BoxedUint::from_be_slice_truncated(u, EXP_BITS);
    let b = Zeroizing::new(BoxedUint::from_be_slice_truncated(&b.b, EXP_BITS));
    let v_m = Zeroizing::new(grp.to_monty(&v.v));
    let v_u = Zeroizing::new(v_m.pow_bounded_exp(&u, EXP_BITS));
    let base = Zeroizing::new(grp.to_monty(&a.value).mul(&v_u));
    let s = Zeroizing::new(base.pow_bounded_exp(&b, EXP_BITS));
    Zeroizing::new(to_bytes(&s))
}

/// K = H(S), S as 256 bytes.
pub(crate) fn session_key(s: &[u8; N_BYTES]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(h(&[s]))
}

/// M1 = H(H(N) xor H(g) ‖ H(I) ‖ s ‖ A ‖ B ‖ K), I as raw UTF-8.
pub(crate) fn client_proof(
    id: &str,
    salt: &[u8],
    a_raw: &[u8],
    big_b: &[u8; N_BYTES],
    k: &[u8; 32],
) -> [u8; 32] {
    let h_i = h(&[id.as_bytes()]);
    h(&[&group().h_n_xor_h_g, &h_i, salt, a_raw, big_b, k])
}

/// M2 = H(A ‖ M1 ‖ K).
pub(crate) fn server_proof(a_raw: &[u8], m1: &[u8; 32], k: &[u8; 32]) -> [u8; 32] {
    h(&[a_raw, m1, k])
}

/// g^e mod N for a 32-byte exponent, from the comb: the client's A = g^a
/// and v = g^x (`srp_client`, for tests and the load generator).
#[cfg(feature = "client")]
pub(crate) fn client_pow_g(e: &[u8; 32]) -> Zeroizing<[u8; N_BYTES]> {
    Zeroizing::new(to_bytes(&pow_g(group(), e)))
}

/// The client's S = (B − k·g^x)^(a + u·x) mod N, as the npm client's
/// `deriveSession` computes it (`srp_client`). `big_b` is the server's B,
/// already reduced and checked ≠ 0 by [`ClientPublic::from_hex`].
#[cfg(feature = "client")]
pub(crate) fn client_premaster_secret(
    big_b: &ClientPublic,
    x: &[u8; 32],
    a: &[u8; 32],
    u: &[u8; 32],
) -> Zeroizing<[u8; N_BYTES]> {
    let grp = group();
    let k_gx = Zeroizing::new(grp.k.mul(&pow_g(grp, x)));
    let base = Zeroizing::new(grp.to_monty(&big_b.value).sub(&k_gx));
    // a + u·x < 2^513: not reduced, exactly as the reference computes it.
    let wide = 2 * EXP_BITS + 64;
    let u = BoxedUint::from_be_slice_truncated(u, wide);
    let x = Zeroizing::new(BoxedUint::from_be_slice_truncated(x, EXP_BITS));
    let a = Zeroizing::new(BoxedUint::from_be_slice_truncated(a, EXP_BITS));
    let e = Zeroizing::new(u.wrapping_mul(&*x).wrapping_add(&*a));
    let s = Zeroizing::new(base.pow_bounded_exp(&e, 2 * EXP_BITS + 1));
    Zeroizing::new(to_bytes(&s))
}

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

/// g^b from the comb: one constant-time pick per nibble of b (every entry of
/// the row is read), then one multiplication.
fn pow_g(grp: &Group, b: &[u8; 32]) -> Zeroizing<BoxedMontyForm> {
    let mut acc = Zeroizing::new(BoxedMontyForm::one(&grp.params));
    let mut pick = Zeroizing::new(BoxedMontyForm::one(&grp.params));
    for (row_index, row) in grp.g_comb.chunks_exact(COMB_COLS).enumerate() {
        let byte = b[31 - row_index / 2];
        // Nibble order is public; only the nibble value is secret.
        let nibble = if row_index.is_multiple_of(2) {
            byte & 0x0f
        } else {
            byte >> 4
        };
        for (j, entry) in (0u8..).zip(row.iter()) {
            pick.as_montgomery_mut()
                .ct_assign(entry, Choice::from_u8_eq(j, nibble));
        }
        // Reassigning the wrapper wipes the previous partial product.
        acc = Zeroizing::new(acc.mul(&pick));
    }
    acc
}

fn to_bytes(x: &BoxedMontyForm) -> [u8; N_BYTES] {
    let int = Zeroizing::new(x.retrieve());
    let bytes = Zeroizing::new(int.to_be_bytes());
    let mut out = [0u8; N_BYTES];
    // Precision is N_BITS, so the encoding is exactly N_BYTES long.
    out.copy_from_slice(&bytes);
    out
}

/// The npm library's vectors (`tests/fixtures/srp-vectors.json`) and
/// accessors, shared by the server and client unit tests.
#[cfg(test)]
pub(crate) mod test_vectors {
    use crate::hex;
    use serde_json::Value;

    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/srp-vectors.json"
    ));

    pub(crate) fn vectors() -> Value {
        serde_json::from_str(VECTORS).expect("vectors parse")
    }

    pub(crate) fn s<'a>(v: &'a Value, key: &str) -> &'a str {
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("missing string {key}"))
    }

    pub(crate) fn bytes(v: &Value, key: &str) -> Vec<u8> {
        hex::decode(s(v, key)).unwrap_or_else(|| panic!("bad hex in {key}"))
    }

    pub(crate) fn arr<const L: usize>(v: &Value, key: &str) -> [u8; L] {
        hex::decode_array(s(v, key)).unwrap_or_else(|| panic!("bad hex[{L}] in {key}"))
    }
}

#[cfg(test)]
mod tests {
    use super::test_vectors::{arr, bytes, s, vectors};
    use super::*;
    use serde_json::Value;

    fn secret(v: &Value) -> ServerSecret {
        ServerSecret::from_bytes(arr(v, "b"))
    }

    fn verifier(v: &Value) -> Verifier {
        Verifier::from_hex(s(v, "verifier")).expect("valid verifier")
    }

    fn client_public(v: &Value) -> ClientPublic {
        ClientPublic::from_hex(s(v, "A")).expect("valid A")
    }

    fn n_hex_times(k: u32) -> String {
        let mut out = BoxedUint::from_be_slice_truncated(N.to_be_bytes().as_slice(), N_BITS + 64);
        let base = out.clone();
        for _ in 1..k {
            out = out.wrapping_add(&base);
        }
        hex::encode(&out.to_be_bytes())
    }

    #[test]
    fn group_constants() {
        let vs = vectors();
        let g = &vs["group"];
        assert_eq!(s(g, "N"), N_HEX);
        assert_eq!(g["N_bytes"].as_u64(), Some(N_BYTES as u64));
        assert_eq!(s(g, "g"), "02");
        let grp = group();
        assert_eq!(hex::encode(&grp.h_n_xor_h_g), s(g, "H_N_xor_H_g"));
        let k = to_bytes(&grp.k);
        assert_eq!(hex::encode(&k[N_BYTES - 32..]), s(g, "k"));
        assert!(k[..N_BYTES - 32].iter().all(|&x| x == 0));
    }

    #[test]
    fn comb_matches_generic_pow() {
        let grp = group();
        let g = grp.to_monty(&U2048::from_u8(G));
        for b in [
            [0u8; 32],
            [0xff; 32],
            core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(1)),
        ] {
            let e = BoxedUint::from_be_slice_truncated(&b, EXP_BITS);
            assert_eq!(
                to_bytes(&pow_g(grp, &b)),
                to_bytes(&g.pow_bounded_exp(&e, EXP_BITS))
            );
        }
    }

    #[test]
    fn all_cases() {
        let vs = vectors();
        let cases = vs["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 41);
        for c in cases {
            let id = s(c, "id");
            let (v, a, b) = (verifier(c), client_public(c), secret(c));
            let big_b = server_public(&v, &b);
            assert_eq!(hex::encode(&big_b), s(c, "B"), "{id}: B");
            let a_raw = bytes(c, "A");
            let u = scrambler(&a_raw, &big_b);
            assert_eq!(hex::encode(&u), s(c, "u"), "{id}: u");
            let s_ = premaster_secret(&v, &a, &b, &u);
            assert_eq!(hex::encode(&s_[..]), s(c, "S"), "{id}: S");
            let k = session_key(&s_);
            assert_eq!(hex::encode(&k[..]), s(c, "K"), "{id}: K");
            let salt = bytes(c, "salt");
            let user = s(c, "username");
            let m1 = client_proof(user, &salt, &a_raw, &big_b, &k);
            assert_eq!(hex::encode(&m1), s(c, "M1"), "{id}: M1");
            let m2 = server_proof(&a_raw, &m1, &k);
            assert_eq!(hex::encode(&m2), s(c, "M2"), "{id}: M2");

            let got = verify_proof(user, &salt, &v, &a, &b, &big_b, &arr(c, "M1"));
            assert_eq!(
                got.map(|m| hex::encode(&m)).as_deref(),
                Some(s(c, "M2")),
                "{id}"
            );
            let wrong = arr(c, "M1_wrong_password");
            assert_eq!(
                verify_proof(user, &salt, &v, &a, &b, &big_b, &wrong),
                None,
                "{id}"
            );
        }
    }

    #[test]
    fn server_negatives_rejected() {
        let vs = vectors();
        let mut seen = 0;
        for n in vs["negative"].as_array().expect("negative") {
            if s(n, "side") != "server" {
                continue;
            }
            seen += 1;
            let id = s(n, "id");
            let a = match ClientPublic::from_hex(s(n, "A")) {
                Ok(a) => a,
                Err(e) => {
                    // n-A-zero / n-A-N: ZeroModN; 2N, A+N, 00‖A: 257 bytes or odd.
                    assert!(id.starts_with("n-A-"), "{id}: A refused ({e:?})");
                    continue;
                }
            };
            let Some(m1) = hex::decode_array::<32>(s(n, "M1")) else {
                // The HTTP layer answers 401 for an M1 that is not 64 hex.
                assert_eq!(id, "n-m1-empty");
                continue;
            };
            let (v, b) = (verifier(n), secret(n));
            let big_b = server_public(&v, &b);
            let salt = bytes(n, "salt");
            let got = verify_proof(s(n, "username"), &salt, &v, &a, &b, &big_b, &m1);
            assert_eq!(got, None, "{id}");
        }
        assert_eq!(seen, 11);
    }

    #[test]
    fn quirks() {
        let vs = vectors();
        for q in vs["quirks"].as_array().expect("quirks") {
            let id = s(q, "id");
            let (v, a, b) = (verifier(q), client_public(q), secret(q));
            let big_b = server_public(&v, &b);
            let salt = bytes(q, "salt");
            // Node reads M1 as a number; here it must be exactly 32 bytes,
            // so bring it to 64 hex characters as a conforming client would.
            let m1_hex = s(q, "M1");
            let m1_hex = format!("{:0>64}", m1_hex.trim_start_matches('0'));
            let m1 = hex::decode_array::<32>(&m1_hex).expect("M1 hex");
            let got = verify_proof(s(q, "username"), &salt, &v, &a, &b, &big_b, &m1);
            let res = &q["node_result"];
            if res["accepted"].as_bool() == Some(true) {
                assert_eq!(
                    got.map(|m| hex::encode(&m)).as_deref(),
                    Some(s(res, "M2")),
                    "{id}"
                );
                let u = scrambler(&bytes(q, "A"), &big_b);
                let k = session_key(&premaster_secret(&v, &a, &b, &u));
                assert_eq!(hex::encode(&k[..]), s(res, "K"), "{id}: K");
            } else {
                assert_eq!(got, None, "{id}");
            }
        }
    }

    #[test]
    fn a_is_hashed_as_sent() {
        // q-A-stripped-zeros: the client's A without its leading zero byte
        // is still accepted as a value but hashes to a different u.
        let vs = vectors();
        let q = vs["quirks"]
            .as_array()
            .and_then(|qs| qs.iter().find(|q| s(q, "id") == "q-A-stripped-zeros"))
            .expect("quirk present");
        let short = client_public(q);
        let padded = ClientPublic::from_hex(&format!("00{}", s(q, "A"))).expect("A");
        assert_eq!(short.raw.len(), 255);
        assert_eq!(padded.raw.len(), 256);
        assert_eq!(short.value, padded.value);
        let (v, b) = (verifier(q), secret(q));
        let big_b = server_public(&v, &b);
        assert_ne!(
            scrambler(&short.raw, &big_b),
            scrambler(&padded.raw, &big_b)
        );
    }

    #[test]
    fn client_public_rejections() {
        use PublicKeyError::*;
        let n = n_hex_times(1);
        let n = n.trim_start_matches("00"); // 512 hex chars
        assert_eq!(n.len(), 512);
        let cases: Vec<(String, PublicKeyError)> = vec![
            ("00".into(), ZeroModN),
            ("0".repeat(512), ZeroModN),
            (n.to_string(), ZeroModN),
            (n.to_uppercase(), ZeroModN),
            (format!("00{n}"), Malformed), // 257 bytes, even if = N
            (n_hex_times(2).trim_start_matches('0').into(), Malformed), // 2N: 513 chars
            (
                format!("0{}", n_hex_times(2).trim_start_matches('0')),
                Malformed,
            ), // 2N: 257 bytes
            ("ff".repeat(257), Malformed),
            ("0".repeat(514), Malformed),
            ("abc".into(), Malformed),
            ("".into(), Malformed),
            ("0g".into(), Malformed),
            (" 02".into(), Malformed),
            ("0x02".into(), Malformed),
        ];
        for (a, want) in cases {
            assert_eq!(ClientPublic::from_hex(&a).err(), Some(want), "{a}");
        }
        // Largest allowed A: 2^2048 - 1, above N; reduced, not rejected.
        let max = ClientPublic::from_hex(&"ff".repeat(256)).expect("A > N is allowed");
        assert!(max.value.ct_lt(N.as_ref()).to_bool());
        assert!(ClientPublic::from_hex("01").is_ok());
        assert!(ClientPublic::from_hex("0000000001").is_ok());
    }

    #[test]
    fn verifier_range() {
        let n = BoxedUint::from(N.as_ref());
        let hex_of = |x: BoxedUint| hex::encode(&x.to_be_bytes());
        let one = BoxedUint::one_with_precision(N_BITS);
        assert!(Verifier::from_hex("00").is_none());
        assert!(Verifier::from_hex("01").is_none());
        assert!(Verifier::from_hex(&"0".repeat(512)).is_none());
        assert!(Verifier::from_hex(N_HEX).is_none());
        assert!(Verifier::from_hex(&hex_of(n.wrapping_add(&one))).is_none());
        assert!(Verifier::from_hex(&"ff".repeat(256)).is_none());
        assert!(Verifier::from_hex(&"ff".repeat(257)).is_none());
        assert!(Verifier::from_hex(&format!("00{N_HEX}")).is_none());
        assert!(Verifier::from_hex("abc").is_none());
        assert!(Verifier::from_hex("").is_none());
        assert!(Verifier::from_hex(&hex_of(n.wrapping_sub(&one))).is_some());
        assert!(Verifier::from_hex("02").is_some());
        assert!(Verifier::from_hex(&N_HEX.to_uppercase()).is_none());

        let mut buf = [0u8; N_BYTES];
        assert!(Verifier::from_uniform_bytes(&buf).is_none());
        buf[N_BYTES - 1] = 1;
        assert!(Verifier::from_uniform_bytes(&buf).is_none());
        buf[N_BYTES - 1] = 2;
        assert!(Verifier::from_uniform_bytes(&buf).is_some());
        let n_bytes = N.to_be_bytes();
        buf.copy_from_slice(n_bytes.as_slice());
        assert!(Verifier::from_uniform_bytes(&buf).is_none());
        buf[N_BYTES - 1] -= 1;
        assert!(Verifier::from_uniform_bytes(&buf).is_some());
    }

    #[test]
    fn random_secret_works_end_to_end() {
        // A client as in the vectors, with a fresh server b each time.
        let vs = vectors();
        let c = &vs["cases"][0];
        let (v, a) = (verifier(c), client_public(c));
        let b1 = ServerSecret::random().unwrap();
        let b2 = ServerSecret::random().unwrap();
        assert_ne!(b1.b, b2.b);
        assert_ne!(server_public(&v, &b1), server_public(&v, &b2));
        // The vector's M1 belongs to its own b, so it must fail here.
        let big_b = server_public(&v, &b1);
        let m1 = arr(c, "M1");
        assert_eq!(
            verify_proof(
                s(c, "username"),
                &bytes(c, "salt"),
                &v,
                &a,
                &b1,
                &big_b,
                &m1
            ),
            None
        );
        assert_eq!(format!("{b1:?}"), "ServerSecret(..)");
    }

    /// Debug output is what logs would show: the secrets are redacted, A
    /// (public) is shown as sent.
    #[test]
    fn debug_redacts_secrets() {
        let v = Verifier::from_hex("02").unwrap();
        assert_eq!(format!("{v:?}"), "Verifier(..)");
        let b = ServerSecret::from_bytes([7; 32]);
        assert_eq!(format!("{b:?}"), "ServerSecret(..)");
        let a = ClientPublic::from_hex("0a").unwrap();
        assert_eq!(format!("{a:?}"), "ClientPublic(0a)");
    }
}
