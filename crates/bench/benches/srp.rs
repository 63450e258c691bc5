//! Micro-benchmark of the SRP math alone, without HTTP, JSON or SQLite: the
//! server's B (`server_public`) and its proof check with M2
//! (`verify_proof`), the two calls one sign-in cannot avoid, parsing A, and
//! the client side the load generator pays for (A, then K and M1). Their
//! sum B + proof check is the floor of the server's CPU per sign-in.
//! `cargo bench -p zkppd-bench --bench srp` (divan; `-- --sample-count 10`
//! for a short run).

use std::hint::black_box;
use std::sync::LazyLock;

use divan::Bencher;
use zkppd_srp::client::{self as srp_client, ClientSession, Ephemeral};
use zkppd_srp::{self as srp, hex};

fn main() {
    srp::precompute();
    divan::main();
}

/// One profile, one handshake: everything the benched calls take.
struct Fixture {
    id: &'static str,
    salt: String,
    salt_raw: Vec<u8>,
    x: [u8; 32],
    v: srp::Verifier,
    eph: Ephemeral,
    a: srp::ClientPublic,
    b: srp::ServerSecret,
    big_b: [u8; srp::N_BYTES],
    big_b_hex: String,
    m1: [u8; 32],
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let id = "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d";
    let salt = srp_client::generate_salt();
    let salt_raw = hex::decode(&salt).expect("salt");
    let x = srp_client::derive_private_key(&salt, id, "correct horse battery staple");
    let v = srp::Verifier::from_hex(&srp_client::derive_verifier(&x)).expect("verifier");
    let eph = srp_client::generate_ephemeral();
    let a = srp::ClientPublic::from_hex(&eph.public).expect("A");
    let b = srp::ServerSecret::random().expect("OS RNG");
    let big_b = srp::server_public(&v, &b);
    let big_b_hex = hex::encode(&big_b);
    let session: ClientSession =
        srp_client::derive_session(&eph, &big_b_hex, &salt, id, &x).expect("session");
    let m1: [u8; 32] = hex::decode_array(&session.proof).expect("M1");
    // The fixture is a real handshake: the proof checks out.
    assert!(srp::verify_proof(id, &salt_raw, &v, &a, &b, &big_b, &m1).is_some());
    Fixture {
        id,
        salt,
        salt_raw,
        x,
        v,
        eph,
        a,
        b,
        big_b,
        big_b_hex,
        m1,
    }
});

/// B = kv + g^b with a fresh b, as each sign-in draws one (drawn outside
/// the timed part).
#[divan::bench]
fn server_public(bencher: Bencher) {
    let f = &*FIXTURE;
    bencher
        .with_inputs(|| srp::ServerSecret::random().expect("OS RNG"))
        .bench_local_refs(|b| srp::server_public(black_box(&f.v), b));
}

/// u, S, K, the M1 check and M2.
#[divan::bench]
fn verify_proof(bencher: Bencher) {
    let f = &*FIXTURE;
    bencher.bench_local(|| {
        srp::verify_proof(
            f.id,
            &f.salt_raw,
            black_box(&f.v),
            &f.a,
            &f.b,
            &f.big_b,
            black_box(&f.m1),
        )
    });
}

#[divan::bench]
fn parse_client_public(bencher: Bencher) {
    let f = &*FIXTURE;
    bencher.bench_local(|| srp::ClientPublic::from_hex(black_box(&f.eph.public)).is_ok());
}

/// A = g^a.
#[divan::bench]
fn client_ephemeral() -> Ephemeral {
    srp_client::generate_ephemeral()
}

/// K and M1 from B.
#[divan::bench]
fn client_session(bencher: Bencher) {
    let f = &*FIXTURE;
    bencher.bench_local(|| {
        srp_client::derive_session(&f.eph, &f.big_b_hex, &f.salt, f.id, black_box(&f.x))
    });
}
