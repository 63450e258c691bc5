//! A throw-away PostgreSQL from the distribution's packages, for zkppd's
//! tests and its bench (`zkppd-bench --store postgres`): a cluster made
//! with `initdb` in a temp dir, run as an unprivileged user (tests run as
//! root; PostgreSQL refuses root, so `setpriv` drops to the `postgres`
//! user, or `nobody`), listening on 127.0.0.1 at a free port with password
//! (SCRAM) authentication, stopped and deleted at the end.
//!
//! [`Postgres::shared`] hands every test of a run one server, kept a
//! little while after the last holder (each test takes a database of its
//! own with [`Postgres::database`]). The server is started from one
//! long-lived thread with a parent-death signal, so that a test run that
//! dies does not leave it running.
//!
//! A crate of its own that depends on no zkppd crate, so that zkppd-core's
//! tests use it as well as the root package's (through zkppd-testkit,
//! which re-exports it as `zkppd_testkit::postgres`) and the bench.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// The role the tests connect as, and its password.
pub const USER: &str = "zkppd";
pub const PASSWORD: &str = "test-password-for-zkppd";

/// How long PostgreSQL may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(60);

/// How long the shared server outlives its last holder.
pub const LINGER: Duration = Duration::from_secs(30);

/// The temp dirs of the clusters, and the file in each that names the
/// test process that made it (for [`Postgres::sweep`]).
const DIR_PREFIX: &str = "zkppd-pg-";
const OWNER_FILE: &str = "owner.pid";

/// Keeps `pg` alive until [`LINGER`] after the last call, from a thread
/// that holds the one extra reference.
fn linger(pg: &Arc<Postgres>) {
    static LAST: Mutex<Option<(Arc<Postgres>, Instant)>> = Mutex::new(None);
    static WATCHER: OnceLock<()> = OnceLock::new();
    *LAST.lock().unwrap_or_else(|p| p.into_inner()) = Some((pg.clone(), Instant::now()));
    WATCHER.get_or_init(|| {
        let _ = std::thread::Builder::new()
            .name("postgres-linger".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
                    let idle = match &mut *last {
                        // Still held by a test: the linger counts from now.
                        Some((pg, since)) if Arc::strong_count(pg) > 1 => {
                            *since = Instant::now();
                            false
                        }
                        Some((_, since)) => since.elapsed() > LINGER,
                        None => false,
                    };
                    if idle {
                        // Dropped outside the lock: stopping takes a while.
                        let pg = last.take();
                        drop(last);
                        drop(pg);
                    }
                }
            });
    });
}

/// A running PostgreSQL cluster in a temp dir.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Mutex<Option<Child>>,
    /// Databases handed out, for unique names.
    next: Mutex<u32>,
    /// Serving TLS with a certificate for `localhost` from `ca.pem`.
    tls: bool,
}

/// The directory of the newest PostgreSQL server binaries installed.
fn bindir() -> io::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or_else(|| {
        io::Error::other(
            "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)",
        )
    })
}

/// uid and gid of `name` from /etc/passwd.
fn user_ids(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
    })
}

/// As root, the unprivileged user PostgreSQL runs as.
fn run_as() -> Option<(String, u32, u32)> {
    if !rustix::process::geteuid().is_root() {
        return None;
    }
    ["postgres", "nobody"]
        .into_iter()
        .find_map(|n| user_ids(n).map(|(u, g)| (n.to_owned(), u, g)))
}

/// `program` as the unprivileged user (when root), dying with its parent.
fn command(program: &Path) -> Command {
    match run_as() {
        Some((user, _, _)) => {
            let mut cmd = Command::new("setpriv");
            cmd.arg(format!("--reuid={user}"))
                .arg(format!("--regid={user}"))
                .arg("--init-groups")
                .arg("--pdeathsig=INT")
                .arg("--")
                .arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Spawns from one thread that lives as long as the process: the
/// parent-death signal follows the thread that forked, and a test's
/// thread ends with the test.
fn spawn_from_keeper(cmd: Command) -> io::Result<Child> {
    type Job = (Command, mpsc::Sender<io::Result<Child>>);
    static KEEPER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("postgres-keeper".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("spawn the keeper thread");
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("keeper thread gone"))?;
    rx.recv()
        .map_err(|_| io::Error::other("keeper thread gone"))?
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Postgres {
    /// The server every test of this process shares: started by the first
    /// test that asks, and kept [`LINGER`] after the last holder dropped it
    /// (tests that follow one another would otherwise pay an `initdb` and
    /// a start-up each), then stopped and deleted. One still running when
    /// the test process exits is stopped by its parent-death signal, and
    /// its directory is removed by the next run ([`Postgres::sweep`]).
    pub fn shared() -> Arc<Postgres> {
        static SHARED: Mutex<Weak<Postgres>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
        let pg = match slot.upgrade() {
            Some(pg) => pg,
            None => {
                Postgres::sweep();
                let pg = Arc::new(Postgres::start().expect("start PostgreSQL"));
                *slot = Arc::downgrade(&pg);
                pg
            }
        };
        linger(&pg);
        pg
    }

    /// Removes the directories of clusters whose test process is gone
    /// (and whose postmaster has exited), left by runs that ended while a
    /// shared server lingered.
    fn sweep() {
        let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
            return;
        };
        // A zombie is gone too (a container's init may never reap it).
        let alive = |pid: &str| {
            let pid = pid.trim();
            let stat = std::fs::read_to_string(Path::new("/proc").join(pid).join("stat"));
            !pid.is_empty()
                && stat.is_ok_and(|s| {
                    let state = s.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
                    !matches!(state, Some(Some('Z' | 'X')))
                })
        };
        for e in entries.flatten() {
            let dir = e.path();
            let name = e.file_name();
            if !name.to_string_lossy().starts_with(DIR_PREFIX) {
                continue;
            }
            let owner = std::fs::read_to_string(dir.join(OWNER_FILE)).unwrap_or_default();
            let postmaster = std::fs::read_to_string(dir.join("data/postmaster.pid"))
                .unwrap_or_default()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            if !owner.trim().is_empty() && !alive(&owner) && !alive(&postmaster) {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
    }

    /// A new cluster of its own (for tests that stop or restart it).
    pub fn start() -> io::Result<Postgres> {
        Postgres::start_with(false)
    }

    /// A new cluster that also serves TLS, with a certificate for
    /// `localhost` signed by a CA of its own ([`Postgres::ca_file`]).
    pub fn start_tls() -> io::Result<Postgres> {
        Postgres::start_with(true)
    }

    /// The CA that signed a TLS cluster's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A CA, and a server certificate for `localhost` it signs (webpki
    /// refuses a self-signed CA certificate as the server's own).
    fn make_certificates(dir: &Path) -> io::Result<()> {
        let run = |args: &[&str]| -> io::Result<()> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir)
                .output()?;
            if out.status.success() {
                Ok(())
            } else {
                Err(io::Error::other(format!(
                    "openssl {args:?}: {}",
                    String::from_utf8_lossy(&out.stderr)
                )))
            }
        };
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=zkppd test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ])?;
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        std::fs::write(
            dir.join("ext.cnf"),
            "subjectAltName=DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )?;
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ])?;
        // PostgreSQL refuses a key others may read.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
    }

    fn start_with(tls: bool) -> io::Result<Postgres> {
        let bin = bindir()?;
        let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir()?;
        std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())?;
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, PASSWORD)?;
        if tls {
            Postgres::make_certificates(dir.path())?;
        }
        if let Some((_, uid, gid)) = run_as() {
            for p in [
                dir.path(),
                &pwfile,
                &dir.path().join("server.key"),
                &dir.path().join("server.crt"),
            ] {
                if p.exists() {
                    std::os::unix::fs::chown(p, Some(uid), Some(gid))?;
                }
            }
        }
        let out = command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["--no-sync", "--no-instructions"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(io::Error::other(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let pg = Postgres {
            bin,
            dir,
            port: free_port()?,
            child: Mutex::new(None),
            next: Mutex::new(0),
            tls,
        };
        pg.resume()?;
        Ok(pg)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Starts the server (again) on its data and port; returns once it
    /// accepts connections.
    pub fn resume(&self) -> io::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = command(&self.bin.join("postgres"));
        cmd.arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "max_connections=200", "-c", "shared_buffers=32MB"]);
        if self.tls {
            let d = self.dir.path();
            cmd.args(["-c", "ssl=on"])
                .arg("-c")
                .arg(format!("ssl_cert_file={}", d.join("server.crt").display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", d.join("server.key").display()));
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let mut child = spawn_from_keeper(cmd)?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(io::Error::other(format!(
                    "postgres exited ({status}) at start:\n{}",
                    self.log()
                )));
            }
            if postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok() {
                break;
            }
            if started.elapsed() > START_LIMIT {
                let _ = child.kill();
                return Err(io::Error::other(format!(
                    "postgres did not accept connections within {START_LIMIT:?}:\n{}",
                    self.log()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    /// A fast shutdown (SIGINT: sessions are cut, the data is kept); waits
    /// until the server has exited.
    pub fn stop(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            // The postmaster is the child itself: setpriv execs it.
            let pid = rustix::process::Pid::from_raw(child.id() as i32);
            if let Some(pid) = pid {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
            }
            let _ = child.wait();
        }
    }

    /// The server's major version (the name of its directory under
    /// /usr/lib/postgresql).
    pub fn version(&self) -> String {
        self.bin
            .parent()
            .and_then(|d| d.file_name())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://zkppd:PASSWORD@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// The URL without its password (for `--db-password-file`).
    pub fn url_without_password(&self, db: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{db}", self.port)
    }

    /// An admin connection to `db`.
    pub fn connect(&self, db: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.url(db), postgres::NoTls)
    }

    /// A new, empty database of its own; its name.
    pub fn database(&self) -> io::Result<String> {
        let name = {
            let mut n = self.next.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            format!("t{}_{}", std::process::id(), *n)
        };
        let mut admin = self.connect("postgres").map_err(io::Error::other)?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(io::Error::other)?;
        Ok(name)
    }

    /// One number from a query on `db` (a bigint, an integer or a
    /// boolean as 0/1).
    #[track_caller]
    pub fn count(&self, db: &str, sql: &str) -> i64 {
        let mut c = self.connect(db).expect("connect to PostgreSQL");
        let row = c
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.try_get::<_, i64>(0)
            .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
            .or_else(|_| row.try_get::<_, bool>(0).map(i64::from))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// All values of the first (text) column of `sql` on `db`.
    #[track_caller]
    pub fn strings(&self, db: &str, sql: &str) -> Vec<String> {
        let mut c = self.connect(db).expect("connect to PostgreSQL");
        c.query(sql, &[])
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// The data directory (root can read the table files).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
