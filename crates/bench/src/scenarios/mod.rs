//! The scenarios, one module each, and what they share: the target server,
//! the prepared profiles and their sessions, workers that send one pre-built
//! request, and the sign-in worker. A scenario returns report rows; it
//! starts no server except `footprint` (a `zkppd` of its own) and
//! `ceiling` (an echo server that is not zkppd), and `srp-floor` needs
//! none (the math alone, in this process).

mod ceiling;
mod footprint;
pub(crate) mod math;
mod mixed;
mod signin;
mod signup;
mod srp_floor;
mod timing;
mod verify;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zkppd_client::{Client, Secret};
use zkppd_proto::{Jwt, SessionRequest, paths};
use zkppd_srp::client as srp_client;

use crate::cli::Args;
use crate::load::Recorder;
use crate::supervisor::lock;

pub(crate) use ceiling::ceiling;
pub(crate) use footprint::footprint;
pub(crate) use signup::baseline_signup;
pub(crate) use srp_floor::srp_floor;

/// Where the scenarios send their load.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) host_url: String,
    pub(crate) admin_token: Option<String>,
    pub(crate) pid: Option<u32>,
    /// Its Prometheus listener, for the store's commit count.
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// It runs on PostgreSQL: no store commits to count as fsyncs, and
    /// the disk of the bench's temp dir is not its database's.
    pub(crate) on_postgres: bool,
}

impl Target {
    /// A server this bench started (its metrics listener, if it has one).
    pub(crate) fn of(server: &crate::supervisor::Server, on_postgres: bool) -> Target {
        Target {
            addr: server.addr,
            host_url: format!("http://{}", server.addr),
            admin_token: Some(server.admin_token.clone()),
            pid: Some(server.pid),
            metrics: server.metrics,
            on_postgres,
        }
    }
}

/// A signed-up profile whose x the bench knows.
#[derive(Clone)]
struct Profile {
    id: String,
    x: [u8; 32],
}

/// The state the scenarios against one target share.
pub(crate) struct Bench {
    pub(crate) args: Args,
    pub(crate) target: Target,
    pub(crate) warmup: Duration,
    /// Names this run's profiles and tokens apart from earlier runs'.
    pub(crate) prefix: String,
    profiles: Vec<Profile>,
    sessions: Vec<Jwt>,
}

impl Bench {
    pub(crate) fn new(args: Args, target: Target) -> Bench {
        Bench {
            warmup: args.warmup(),
            args,
            target,
            prefix: format!("b{}", crate::random_hex(4)),
            profiles: Vec::new(),
            sessions: Vec::new(),
        }
    }

    fn conc(&self) -> usize {
        self.args.concurrency.max(1)
    }

    /// Fresh sessions of the prepared profiles: sign-ins in other
    /// scenarios evict the oldest beyond the per-profile cap.
    fn fresh_sessions(&mut self) -> Result<(), String> {
        self.ensure_profiles()?;
        self.sessions = sign_in_all(&self.target, &self.profiles)?;
        Ok(())
    }

    /// Profiles and one live session each, made once and shared.
    fn ensure_profiles(&mut self) -> Result<(), String> {
        let want = self
            .args
            .profiles
            .max(self.conc())
            .max(self.args.storm)
            .max(2);
        if self.profiles.len() < want {
            self.profiles = prepare_profiles(&self.target, &self.prefix, want)?;
            self.sessions = sign_in_all(&self.target, &self.profiles)?;
        }
        Ok(())
    }

    /// `n` workers, each verifying one of the live sessions.
    fn verify_workers(&self, n: usize) -> Vec<Fixed> {
        let sessions = &self.sessions;
        (0..n)
            .map(|w| Fixed::verify(self.target.addr, &sessions[w % sessions.len()]))
            .collect()
    }
}

/// One pre-built request per worker and a reusable body buffer.
struct Fixed {
    client: Client,
    request: Vec<u8>,
    body: Vec<u8>,
}

impl Fixed {
    fn new(client: Client, request: Vec<u8>) -> Fixed {
        Fixed {
            client,
            request,
            body: Vec::with_capacity(256),
        }
    }

    /// A verify of `jwt`.
    fn verify(addr: std::net::SocketAddr, jwt: &Jwt) -> Fixed {
        let client = Client::new(addr);
        let request = client.build_request(paths::VERIFY, &verify_body(jwt), None);
        Fixed::new(client, request)
    }
}

/// The body of a verify of `jwt`.
fn verify_body(jwt: &Jwt) -> Vec<u8> {
    // A struct of strings always serializes.
    serde_json::to_vec(&SessionRequest { jwt: jwt.clone() }).unwrap_or_default()
}

/// A verify body of a real one's shape and size whose empty profile id
/// fails validation after the JSON is parsed: 400, no DB, no crypto.
fn invalid_verify_body() -> Vec<u8> {
    verify_body(&Jwt {
        profile_id: String::new(),
        auth_token: "A".repeat(43),
        auth_expiry: "2026-11-25T18:00:00.000Z".into(),
    })
}

/// Sends the worker's request; `want` is the expected status.
fn fixed_op(want: u16, kind: usize) -> impl Fn(&mut Fixed, &mut Recorder) + Sync {
    move |f, rec| {
        let t0 = Instant::now();
        match f.client.send(&f.request, &mut f.body) {
            Ok(head) if head.status == want => rec.record(kind, t0),
            Ok(head) => {
                rec.error(|| format!("HTTP {}: {}", head.status, String::from_utf8_lossy(&f.body)))
            }
            Err(e) => rec.error(|| e.to_string()),
        }
    }
}

/// Signs in its profiles in turn with one ephemeral: the server's work does
/// not depend on it, and g^a is CPU the bench would take from the server on
/// the same machine.
struct SigninWorker {
    client: Client,
    eph: srp_client::Ephemeral,
    profiles: Vec<Profile>,
    next: usize,
}

impl SigninWorker {
    fn new(addr: std::net::SocketAddr, profiles: Vec<Profile>) -> SigninWorker {
        SigninWorker {
            client: Client::new(addr),
            eph: srp_client::generate_ephemeral(),
            profiles,
            next: 0,
        }
    }

    /// One full sign-in, recorded as `kind`.
    fn op(&mut self, rec: &mut Recorder, kind: usize) {
        if self.profiles.is_empty() {
            rec.error(|| "no profile for this worker".into());
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        let p = &self.profiles[self.next % self.profiles.len()];
        self.next += 1;
        let t0 = Instant::now();
        match self
            .client
            .sign_in_with(&p.id, &self.eph, Secret::PrivateKey(&p.x))
        {
            Ok(_) => rec.record(kind, t0),
            Err(e) => rec.error(|| format!("sign-in: {e}")),
        }
    }
}

/// Fills both buckets with `n` fresh tokens each, named after `prefix`.
fn fill_tokens(target: &Target, prefix: &str, from: u64, n: u64) -> Result<(), String> {
    let admin = target
        .admin_token
        .as_deref()
        .ok_or("this scenario needs --admin-token with --url")?;
    let mut c = Client::new(target.addr);
    let mut i = from;
    while i < from + n {
        let end = (i + 10_000).min(from + n);
        let profile: Vec<String> = (i..end).map(|k| format!("{prefix}-pt-{k}")).collect();
        let signup: Vec<String> = (i..end).map(|k| format!("{prefix}-st-{k}")).collect();
        c.fill(admin, "profile", &profile)
            .map_err(|e| format!("filling the profile bucket: {e}"))?;
        c.fill(admin, "signup", &signup)
            .map_err(|e| format!("filling the signup bucket: {e}"))?;
        i = end;
    }
    Ok(())
}

/// Signs up `n` profiles `{prefix}-p-{i}` with their own salts and
/// passwords, four at a time.
fn prepare_profiles(target: &Target, prefix: &str, n: usize) -> Result<Vec<Profile>, String> {
    fill_tokens(target, prefix, 0, n as u64)?;
    let next = AtomicU64::new(0);
    let out = Mutex::new(Vec::with_capacity(n));
    let first_err = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..4.min(n) {
            s.spawn(|| {
                let mut c = Client::new(target.addr);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n as u64 {
                        break;
                    }
                    let id = format!("{prefix}-p-{i}");
                    let salt = srp_client::generate_salt();
                    let x = srp_client::derive_private_key(&salt, &id, &format!("pw-{i}"));
                    let reg = zkppd_client::Registration {
                        verifier: srp_client::derive_verifier(&x),
                        salt,
                    };
                    match c.sign_up_with(&id, &format!("{prefix}-pt-{i}"), &reg) {
                        Ok(_) => lock(&out).push(Profile { id, x }),
                        Err(e) => {
                            lock(&first_err).get_or_insert(format!("sign-up of {id}: {e}"));
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = lock(&first_err).take() {
        return Err(e);
    }
    let mut out = out.into_inner().unwrap_or_else(|p| p.into_inner());
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn sign_in_all(target: &Target, profiles: &[Profile]) -> Result<Vec<Jwt>, String> {
    let mut c = Client::new(target.addr);
    let eph = srp_client::generate_ephemeral();
    profiles
        .iter()
        .map(|p| {
            c.sign_in_with(&p.id, &eph, Secret::PrivateKey(&p.x))
                .map_err(|e| format!("sign-in of {}: {e}", p.id))
        })
        .collect()
}
