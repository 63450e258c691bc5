//! The SRP math alone, timed in this process: the server's B and its proof
//! check with M2, the two calls one sign-in cannot avoid, so that the
//! server's CPU per sign-in can be set against them.

use std::time::{Duration, Instant};

use zkppd_srp::client as srp_client;
use zkppd_srp::{self as srp, hex};

use crate::report::MathCost;

/// `server_public` and `verify_proof`, best of three batches each.
pub(crate) fn alone() -> Result<MathCost, String> {
    let id = "bench-math";
    let salt = srp_client::generate_salt();
    let x = srp_client::derive_private_key(&salt, id, "pw");
    let v = srp::Verifier::from_hex(&srp_client::derive_verifier(&x)).ok_or("bad verifier")?;
    let eph = srp_client::generate_ephemeral();
    let a = srp::ClientPublic::from_hex(&eph.public).map_err(|_| "bad A")?;
    let salt_raw = hex::decode(&salt).ok_or("bad salt")?;
    let rng = |e: getrandom::Error| format!("OS random number generator: {e}");
    srp::precompute();
    let b = srp::ServerSecret::random().map_err(rng)?;
    let big_b = srp::server_public(&v, &b);
    let m1 = [7u8; 32];
    let time = |f: &dyn Fn()| {
        // Best of three batches of at least 0.2 s: the least disturbed.
        f();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = Instant::now();
            let mut n = 0u32;
            while n < 5 || t.elapsed() < Duration::from_millis(200) {
                f();
                n += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e3 / f64::from(n));
        }
        best
    };
    // A fresh b per call, as each sign-in draws one (the RNG already
    // answered above).
    let b_ms = time(&|| {
        if let Ok(fresh) = srp::ServerSecret::random() {
            std::hint::black_box(srp::server_public(&v, &fresh));
        }
    });
    let p_ms = time(&|| {
        std::hint::black_box(srp::verify_proof(id, &salt_raw, &v, &a, &b, &big_b, &m1));
    });
    Ok(MathCost {
        server_public_ms: b_ms,
        verify_proof_ms: p_ms,
        per_signin_ms: b_ms + p_ms,
        before_ms: b_ms + p_ms,
        after_ms: b_ms + p_ms,
    })
}
