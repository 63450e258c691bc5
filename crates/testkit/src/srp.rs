//! The client side of sign-up and sign-in as the tests drive it, written
//! once over `zkppd_srp::client` (the math of the npm client the original
//! system shipped): a profile with a real password ([`Account`]), both
//! sign-in steps over any way of posting JSON ([`sign_in`]), and the
//! valid-but-meaningless sign-up values of tests that never sign in.

use serde_json::{Value, json};

use crate::Reply;

/// A valid verifier (2^256 mod N is just 2^256) and a client-like salt.
pub fn some_verifier() -> String {
    format!("01{}", "00".repeat(32))
}

pub fn some_salt() -> String {
    "ab".repeat(32)
}

/// A sign-up body with [`some_verifier`] and [`some_salt`]: accepted, but
/// no password signs in with it.
pub fn signup_body(id: &str, token: &str) -> Value {
    json!({"profile_id": id, "profile_token": token, "zkpp": some_verifier(), "salt": some_salt()})
}

/// A profile the tests sign up with a real password.
pub struct Account {
    pub id: String,
    pub password: String,
    pub salt: String,
    pub x: [u8; 32],
}

impl Account {
    /// A fresh salt and the private key of `password`.
    pub fn new(id: &str, password: &str) -> Account {
        let salt = zkppd_srp::client::generate_salt();
        let x = zkppd_srp::client::derive_private_key(&salt, id, password);
        Account {
            id: id.to_owned(),
            password: password.to_owned(),
            salt,
            x,
        }
    }

    /// The sign-up body with the verifier of the password.
    pub fn signup_body(&self, token: &str) -> Value {
        json!({
            "profile_id": self.id,
            "profile_token": token,
            "zkpp": zkppd_srp::client::derive_verifier(&self.x),
            "salt": self.salt,
        })
    }
}

/// Both steps of one sign-in and the values that went over the wire.
pub struct SignIn {
    pub step1: Reply,
    /// The step-2 answer; step 1's again when step 1 was refused.
    pub step2: Reply,
    /// A, B and M1 as sent and received (empty when step 1 was refused).
    pub a: String,
    pub b: String,
    pub m1: String,
    /// The server's proof, when step 2 succeeded (and it verified).
    pub m2: Option<String>,
}

/// Step 1 with a fresh ephemeral, then (if it is answered 200) step 2 with
/// the proof of `password` under the salt step 1 returned. When step 2 is
/// answered 200 the server's M2 must verify. `post` sends one JSON body to
/// a path; its error (no answer) ends the sign-in.
pub fn sign_in<E>(
    mut post: impl FnMut(&str, &Value) -> Result<Reply, E>,
    id: &str,
    password: &str,
) -> Result<SignIn, E> {
    let eph = zkppd_srp::client::generate_ephemeral();
    let step1 = post("/v1/signin", &json!({"profile_id": id, "key": eph.public}))?;
    if step1.status != 200 {
        return Ok(SignIn {
            step2: step1.clone(),
            step1,
            a: eph.public.clone(),
            b: String::new(),
            m1: String::new(),
            m2: None,
        });
    }
    let challenge = step1.json();
    let b = challenge["key"].as_str().expect("B").to_owned();
    let salt = challenge["salt"].as_str().expect("salt").to_owned();
    let x = zkppd_srp::client::derive_private_key(&salt, id, password);
    let session =
        zkppd_srp::client::derive_session(&eph, &b, &salt, id, &x).expect("server B is valid");
    let step2 = post(
        "/v1/signin/verify",
        &json!({"profile_id": id, "key": session.proof}),
    )?;
    let m2 = (step2.status == 200).then(|| {
        let m2 = step2.json()["proof"].as_str().expect("M2").to_owned();
        assert!(session.verify_server(&m2), "M2 of {id} does not verify");
        m2
    });
    Ok(SignIn {
        step1,
        step2,
        a: eph.public.clone(),
        b,
        m1: session.proof.clone(),
        m2,
    })
}
