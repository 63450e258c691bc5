//! `zkppd-client` against the real binary: the whole API, the errors a
//! caller sees, and reconnection.

use zkppd_client::{Client, Registration};
use zkppd_proto::FillResponse;

use crate::TestResult;
use crate::bins::Zkppd;

fn filled(inserted: u64, duplicates: u64) -> FillResponse {
    FillResponse {
        inserted,
        duplicates,
    }
}

#[test]
fn client_speaks_the_whole_api() -> TestResult {
    let server = Zkppd::start()?;
    let mut c = Client::new(server.addr);
    assert_eq!(
        c.fill(&server.admin, "profile", &["pt-1", "pt-2"])?,
        filled(2, 0)
    );
    assert_eq!(
        c.fill(&server.admin, "signup", &["st-1", "st-2"])?,
        filled(2, 0)
    );
    assert_eq!(c.fill(&server.admin, "profile", &["pt-1"])?, filled(0, 1));
    let err = c
        .fill("wrong-admin-token-xxxx", "profile", &["x"])
        .expect_err("wrong admin token");
    assert_eq!(err.status(), Some(401));

    let id = "0b0e8a77-6e4a-4c59-9f43-5c4f5b8e6c1d";
    let (token, reg) = c.sign_up(id, "correct horse", "pt-1")?;
    assert!(token.starts_with("st-"));
    assert_eq!(reg.salt.len(), 64);
    let dup = c.sign_up_with(id, "pt-2", &Registration::new(id, "x"));
    assert_eq!(dup.expect_err("taken id").status(), Some(400));

    let jwt = c.sign_in(id, "correct horse")?;
    assert_eq!(jwt.profile_id, id);
    assert_eq!(c.verify(&jwt)?, id);
    let wrong = c.sign_in(id, "wrong horse").expect_err("wrong password");
    assert_eq!(wrong.status(), Some(401));
    let unknown = c.sign_in("nobody", "x").expect_err("unknown profile");
    assert_eq!(unknown.status(), Some(401));

    // The salt of step 1 is the one signed up with.
    let eph = zkppd_srp::client::generate_ephemeral();
    let challenge = c.sign_in_start(id, &eph.public)?;
    assert_eq!(challenge.salt, reg.salt);
    assert_eq!(challenge.key.len(), 512);
    let bad_m1 = c.sign_in_finish(id, "00").expect_err("malformed M1");
    assert_eq!(bad_m1.status(), Some(401));

    c.sign_out(&jwt)?;
    assert_eq!(c.verify(&jwt).expect_err("ended").status(), Some(400));
    assert_eq!(c.sign_out(&jwt).expect_err("ended").status(), Some(401));

    // A second client with its own connection, and one reopened after a
    // disconnect.
    let mut c2 = Client::from_url(&format!("http://{}", server.addr))?;
    let jwt2 = c2.sign_in(id, "correct horse")?;
    c2.disconnect();
    assert_eq!(c2.verify(&jwt2)?, id);
    Ok(())
}
