//! Test fixture of the services: a [`Service`] over a real SQLite file in a
//! temp dir, profiles imported with a known password, and the client's
//! side of SRP (zkppd-srp's `client` feature) to sign in with.

use std::sync::Arc;

use zkppd_srp::client;

use super::{Limits, Service};
use crate::store::{Record, SqliteStore, Store};

pub(crate) const PASSWORD: &str = "correct horse";

pub(crate) struct Fixture {
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) service: Service,
}

impl Fixture {
    pub(crate) fn new(limits: Limits) -> Fixture {
        let store = Arc::new(SqliteStore::open(None).unwrap());
        let service = Service::new(store.clone(), limits);
        Fixture { store, service }
    }

    /// A second service over the same file (a restart).
    pub(crate) fn restart(&self) -> Service {
        Service::new(self.store.clone(), self.service.limits.clone())
    }

    /// Imports `id` with [`PASSWORD`].
    pub(crate) fn add_profile(&self, id: &str) {
        let salt = client::generate_salt();
        let x = client::derive_private_key(&salt, id, PASSWORD);
        let record = Record {
            verifier: client::derive_verifier(&x),
            salt,
        };
        let count = self
            .store
            .import_profiles(&[(1, id.to_owned(), record)])
            .unwrap();
        assert_eq!(count.imported, 1);
    }

    /// Step 1 of `id`; the client's M1 for `password` and its session.
    pub(crate) async fn start(
        &self,
        service: &Service,
        id: &str,
        password: &str,
    ) -> crate::Result<client::ClientSession> {
        let eph = client::generate_ephemeral();
        let challenge = service.sign_in_start(id.to_owned(), &eph.public).await?;
        let x = client::derive_private_key(&challenge.salt, id, password);
        Ok(client::derive_session(&eph, &challenge.key, &challenge.salt, id, &x).unwrap())
    }

    /// Both steps of `id` with `password`.
    pub(crate) async fn sign_in(&self, id: &str, password: &str) -> crate::Result<super::SignedIn> {
        let session = self.start(&self.service, id, password).await?;
        let signed = self
            .service
            .sign_in_finish(id.to_owned(), &session.proof)
            .await?;
        assert!(session.verify_server(&signed.proof), "M2 must verify");
        Ok(signed)
    }
}
