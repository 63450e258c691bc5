//! `srp-floor`: the SRP math the server must do per sign-in, timed in this
//! process on one thread and nothing else: a fresh b from the OS CSPRNG and
//! B = k·v + g^b (step 1), then u, S, K, the M1 check and M2 (step 2) for a
//! proof that is right. No HTTP, no SQLite, no thread hand-off: the
//! server's CPU per full sign-in divided by this row's CPU per operation is
//! what the rest of zkppd costs on top of the math it cannot avoid.
//!
//! Its CPU per operation is this process's CPU time over the window, read
//! from `/proc` as the server's is, not wall time: on a shared machine a
//! neighbour's build stretches wall time, not the CPU either side spends.

use std::time::{Duration, Instant};

use zkppd_srp::client as srp_client;
use zkppd_srp::{self as srp, ClientPublic, ServerSecret, Verifier, hex};

use crate::cli::Args;
use crate::load::{Recorder, run_workers};
use crate::report::{Row, row};

/// Kinds of operation: the whole sign-in's math, B alone, the check alone.
const KINDS: usize = 3;

/// Handshakes prepared before the window, used in turn.
const POOL: usize = 8;

/// A step 1 the client has answered: b, the B sent and the right M1.
struct Handshake {
    b: ServerSecret,
    big_b: [u8; srp::N_BYTES],
    m1: [u8; 32],
}

struct Floor {
    id: &'static str,
    salt: Vec<u8>,
    v: Verifier,
    a: ClientPublic,
    pool: Vec<Handshake>,
    next: usize,
}

pub(crate) fn srp_floor(args: &Args, warmup: Duration) -> Result<Vec<Row>, String> {
    let id = "bench-srp-floor";
    let salt_hex = srp_client::generate_salt();
    let x = srp_client::derive_private_key(&salt_hex, id, "pw");
    let v = Verifier::from_hex(&srp_client::derive_verifier(&x)).ok_or("bad verifier")?;
    let eph = srp_client::generate_ephemeral();
    let a = ClientPublic::from_hex(&eph.public).map_err(|_| "bad A")?;
    let salt = hex::decode(&salt_hex).ok_or("bad salt")?;
    srp::precompute();
    // The client's side (its S and M1) is worked out here, outside the
    // window: it is not the server's work.
    let pool = (0..POOL)
        .map(|_| {
            let b = ServerSecret::random().map_err(|e| format!("OS random: {e}"))?;
            let big_b = srp::server_public(&v, &b);
            let session = srp_client::derive_session(&eph, &hex::encode(&big_b), &salt_hex, id, &x)
                .ok_or("the client refused B")?;
            let m1 = hex::decode_array::<32>(&session.proof).ok_or("bad M1")?;
            Ok(Handshake { b, big_b, m1 })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let floor = Floor {
        id,
        salt,
        v,
        a,
        pool,
        next: 0,
    };
    let me = Some(std::process::id());
    let m = run_workers(me, warmup, args.duration, KINDS, vec![floor], op);
    let mut r = row("srp-floor", 1, &m, 0, me, None);
    // This process's, not a server's: only its CPU per op means anything.
    (r.server_rss_mb, r.server_peak_rss_mb) = (None, None);
    let p50 = |kind: usize| m.lat[kind].value_at_quantile(0.5) as f64 / 1e6;
    r.note = Some(format!(
        "SRP math of one sign-in, one thread in the bench process (p50: B {:.3} ms, proof check + M2 {:.3} ms); cpu/op is the floor",
        p50(1),
        p50(2)
    ));
    Ok(vec![r])
}

/// One sign-in's math. B is computed from a fresh b, as step 1 does; the
/// check then uses a prepared handshake whose M1 is right, which costs the
/// same (constant time) and proves the math agrees with the client's.
fn op(f: &mut Floor, rec: &mut Recorder) {
    let hs = &f.pool[f.next % f.pool.len()];
    f.next += 1;
    let t0 = Instant::now();
    let fresh = match ServerSecret::random() {
        Ok(b) => b,
        Err(e) => return rec.error(|| format!("OS random: {e}")),
    };
    std::hint::black_box(srp::server_public(&f.v, &fresh));
    let t1 = Instant::now();
    let m2 = srp::verify_proof(f.id, &f.salt, &f.v, &f.a, &hs.b, &hs.big_b, &hs.m1);
    let t2 = Instant::now();
    if std::hint::black_box(m2).is_none() {
        return rec.error(|| "a right proof was refused".into());
    }
    rec.record_span(0, t0, t2);
    rec.record_span(1, t0, t1);
    rec.record_span(2, t1, t2);
}
