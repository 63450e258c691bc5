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
