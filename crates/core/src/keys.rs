//! Everything derived from the per-install secret, each under its own
//! blake3 context so that one use can never stand in for another: the
//! profile-token hashes, and the fake salt and verifier that make an
//! unknown profile look like a real one (RFC 5054 §2.5.1.3).

use zkppd_srp::{self as srp, hex};

use crate::store::InstallSecret;

/// Subkeys of the install secret; zeroized on drop.
#[derive(zeroize::ZeroizeOnDrop)]
pub(crate) struct Keys {
    profile_token: [u8; 32],
    fake_salt: [u8; 32],
    fake_verifier: [u8; 32],
    profile_ref: [u8; 32],
    lockout: [u8; 32],
    reset_token: [u8; 32],
    handshake: [u8; 32],
}

impl Keys {
    pub(crate) fn new(secret: &InstallSecret) -> Keys {
        Keys {
            profile_token: blake3::derive_key("zkppd 2026-11 profile token hash", &secret.0),
            fake_salt: blake3::derive_key("zkppd 2026-11 unknown profile salt", &secret.0),
            fake_verifier: blake3::derive_key("zkppd 2026-11 unknown profile verifier", &secret.0),
            profile_ref: blake3::derive_key("zkppd 2026-11 profile log reference", &secret.0),
            lockout: blake3::derive_key("zkppd 2026-11 lockout key", &secret.0),
            reset_token: blake3::derive_key("zkppd 2026-11 reset token hash", &secret.0),
            handshake: blake3::derive_key("zkppd 2026-11 shared handshake row", &secret.0),
        }
    }

    /// What the profile bucket stores for a token.
    pub(crate) fn profile_token_hash(&self, token: &str) -> [u8; 32] {
        *blake3::keyed_hash(&self.profile_token, token.as_bytes()).as_bytes()
    }

    /// A short reference to a profile for audit lines: stable, but not
    /// reversible without the install secret (ids are often guessable).
    pub(crate) fn profile_ref(&self, id: &str) -> String {
        hex::encode(&blake3::keyed_hash(&self.profile_ref, id.as_bytes()).as_bytes()[..6])
    }

    /// Where a profile's failure streak is kept: ids guessed at (often
    /// unknown ones) are not stored in clear.
    pub(crate) fn lockout_key(&self, id: &str) -> [u8; 32] {
        *blake3::keyed_hash(&self.lockout, id.as_bytes()).as_bytes()
    }

    /// Where a shared store keeps a profile's pending handshake (ids are
    /// not stored in clear there either).
    pub(crate) fn handshake_key(&self, id: &str) -> [u8; 32] {
        *blake3::keyed_hash(&self.handshake, id.as_bytes()).as_bytes()
    }

    /// What the store keeps of an operator's reset token.
    pub(crate) fn reset_token_hash(&self, token: &str) -> [u8; 32] {
        *blake3::keyed_hash(&self.reset_token, token.as_bytes()).as_bytes()
    }

    /// A stable salt for an unknown id: 64 lowercase hex, like a client's.
    pub(crate) fn fake_salt(&self, id: &str) -> String {
        hex::encode(blake3::keyed_hash(&self.fake_salt, id.as_bytes()).as_bytes())
    }

    /// A stable verifier for an unknown id, uniform in 1 < v < N: 256-byte
    /// blocks of a keyed XOF are tried in turn until one is below N (about
    /// two in three are), so the result is deterministic and unbiased.
    pub(crate) fn fake_verifier(&self, id: &str) -> srp::Verifier {
        let mut reader = blake3::Hasher::new_keyed(&self.fake_verifier)
            .update(id.as_bytes())
            .finalize_xof();
        let mut block = zeroize::Zeroizing::new([0u8; srp::N_BYTES]);
        loop {
            reader.fill(&mut block[..]);
            if let Some(v) = srp::Verifier::from_uniform_bytes(&block) {
                return v;
            }
        }
    }
}

/// What the sessions table stores for an auth token.
pub fn session_token_hash(token: &str) -> [u8; 32] {
    *blake3::hash(token.as_bytes()).as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: u8) -> Keys {
        Keys::new(&InstallSecret([n; 32]))
    }

    /// Each derivation: deterministic, bound to the install secret and the
    /// input, and distinct from the others on the same input.
    #[test]
    fn derivations_are_keyed_distinct_and_stable() {
        let (k, other) = (keys(1), keys(2));
        let fns: [fn(&Keys, &str) -> [u8; 32]; 4] = [
            Keys::profile_token_hash,
            Keys::lockout_key,
            Keys::handshake_key,
            Keys::reset_token_hash,
        ];
        let mut all = Vec::new();
        for f in fns {
            let v = f(&k, "alice");
            assert_eq!(v, f(&keys(1), "alice"), "stable");
            assert_ne!(v, f(&other, "alice"), "keyed by the install secret");
            assert_ne!(v, f(&k, "bob"), "bound to the input");
            assert_ne!(v, [0; 32]);
            assert_ne!(v, [1; 32]);
            all.push(v);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), fns.len(), "one context per use");
        // The unkeyed blake3 of the input is none of them.
        let plain = *blake3::hash(b"alice").as_bytes();
        assert!(!all.contains(&plain));
    }

    #[test]
    fn profile_ref_is_short_hex_and_keyed() {
        let k = keys(1);
        let r = k.profile_ref("alice");
        assert_eq!(r.len(), 12);
        assert!(r.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(r, keys(1).profile_ref("alice"));
        assert_ne!(r, k.profile_ref("bob"));
        assert_ne!(r, keys(2).profile_ref("alice"));
    }
}
