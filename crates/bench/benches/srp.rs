//! Micro-benchmark of the SRP math alone, without HTTP, JSON or SQLite: the
//! server's B (`srp::server_public`) and its proof check with M2
//! (`srp::verify_proof`), the two calls one sign-in cannot avoid, plus the
//! client side the load generator pays for. `cargo bench --bench srp`
//! prints the median and best time per call over a few batches; pass
//! `--quick` for a short run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use zkppd::{hex, srp, srp_client};

/// Runs `f` in batches of about `batch` each and returns (median, best)
/// per-call times in microseconds.
fn measure(batch: Duration, batches: usize, mut f: impl FnMut()) -> (f64, f64) {
    // Calibrate: calls per batch.
    let t = Instant::now();
    let mut n = 0u32;
    while n < 3 || t.elapsed() < batch / 4 {
        f();
        n += 1;
    }
    let per = t.elapsed().as_secs_f64() / f64::from(n);
    let calls = ((batch.as_secs_f64() / per) as u32).max(3);
    let mut times: Vec<f64> = (0..batches)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / f64::from(calls)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (batch, batches) = if quick {
        (Duration::from_millis(100), 3)
    } else {
        (Duration::from_millis(500), 7)
    };

    let id = "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d";
    let salt = srp_client::generate_salt();
    let salt_raw = hex::decode(&salt).expect("salt");
    let x = srp_client::derive_private_key(&salt, id, "correct horse battery staple");
    let v = srp::Verifier::from_hex(&srp_client::derive_verifier(&x)).expect("verifier");
    let eph = srp_client::generate_ephemeral();
    let a = srp::ClientPublic::from_hex(&eph.public).expect("A");
    srp::precompute();
    let b = srp::ServerSecret::random();
    let big_b = srp::server_public(&v, &b);
    let session =
        srp_client::derive_session(&eph, &hex::encode(&big_b), &salt, id, &x).expect("session");
    let m1: [u8; 32] = hex::decode_array(&session.proof).expect("M1");
    assert!(srp::verify_proof(id, &salt_raw, &v, &a, &b, &big_b, &m1).is_some());

    let mut results: Vec<(&str, (f64, f64))> = Vec::new();
    results.push((
        "server: B = kv + g^b (server_public, fresh b)",
        measure(batch, batches, || {
            black_box(srp::server_public(
                black_box(&v),
                &srp::ServerSecret::random(),
            ));
        }),
    ));
    results.push((
        "server: proof check + M2 (verify_proof)",
        measure(batch, batches, || {
            black_box(srp::verify_proof(
                id,
                &salt_raw,
                black_box(&v),
                &a,
                &b,
                &big_b,
                black_box(&m1),
            ));
        }),
    ));
    results.push((
        "server: parse A (ClientPublic::from_hex)",
        measure(batch, batches, || {
            black_box(srp::ClientPublic::from_hex(black_box(&eph.public)).is_ok());
        }),
    ));
    results.push((
        "client: A = g^a (generate_ephemeral)",
        measure(batch, batches, || {
            black_box(srp_client::generate_ephemeral());
        }),
    ));
    let b_hex = hex::encode(&big_b);
    results.push((
        "client: K, M1 (derive_session)",
        measure(batch, batches, || {
            black_box(srp_client::derive_session(
                &eph,
                &b_hex,
                &salt,
                id,
                black_box(&x),
            ));
        }),
    ));

    println!("{:<48} {:>12} {:>12}", "operation", "median µs", "best µs");
    for (name, (median, best)) in &results {
        println!("{name:<48} {median:>12.1} {best:>12.1}");
    }
    let per_signin = results[0].1.0 + results[1].1.0;
    println!(
        "{:<48} {:>12.1}   (B + proof check: the floor of server CPU per sign-in)",
        "server math per sign-in", per_signin
    );
}
