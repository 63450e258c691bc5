//! Command-line flags (each also an environment variable) and their
//! validation into plain [`Settings`]. Owns nothing else: no I/O beyond
//! reading the admin token file, no server state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hyper::header::HeaderName;

/// A self-hosted sign-in server with zero-knowledge password proofs
/// (SRP-6a), single-use sign-up tokens and session credentials, over one
/// SQLite file.
///
/// With no subcommand, zkppd serves (the same as `zkppd serve`). The admin
/// subcommands work on the database file directly and are safe to run while
/// a server is serving it.
#[derive(Parser, Debug)]
#[command(
    name = "zkppd",
    version,
    about,
    long_about = None,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Cli {
    /// The subcommand to run; no subcommand means `serve` with the
    /// top-level flags.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// What the binary does.
// Parsed once at start-up: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the HTTP API (the default when no subcommand is given).
    Serve(ServeArgs),
    /// Fill or count the sign-up token buckets.
    #[command(subcommand)]
    Bucket(BucketCommand),
    /// Copy the database to DEST while it is in use, then verify the copy.
    ///
    /// Uses SQLite's online backup (a consistent snapshot even while a
    /// server writes), then runs integrity_check on the copy. DEST must not
    /// exist; it appears only once the copy is verified.
    ///
    /// With --keep N, DEST is a directory (created 0700 if missing): the
    /// copy goes to DEST/zkppd-YYYYMMDDTHHMMSSZ.db (UTC), then the oldest
    /// such copies beyond the newest N are deleted (what the package's
    /// zkppd-backup.timer runs daily).
    Backup {
        /// Where to write the copy; must not exist yet (a directory with
        /// --keep).
        #[arg(value_name = "DEST")]
        dest: PathBuf,
        /// Rotate: DEST is a directory of dated copies, of which the newest
        /// N are kept.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
        keep: Option<u32>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Check the database: integrity_check and schema version.
    Check {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete or import profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// End sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Copy every profile, token, session and lockout streak (and the
    /// install secret) from one database to another: SQLite to PostgreSQL
    /// or back.
    ///
    /// The target must be new or empty; it is filled in one transaction.
    /// Stop the servers on the source first: what they write during the
    /// copy is not carried over. Prints the counts copied.
    Migrate {
        /// The database to copy from: a SQLite file or a postgres:// URL.
        #[arg(long, value_name = "PATH|URL")]
        from: PathBuf,
        /// File whose first line is the password of --from.
        #[arg(long, value_name = "PATH")]
        from_password_file: Option<PathBuf>,
        /// The database to copy into: a SQLite file (created) or a
        /// postgres:// URL (an empty database).
        #[arg(long, value_name = "PATH|URL")]
        to: PathBuf,
        /// File whose first line is the password of --to.
        #[arg(long, value_name = "PATH")]
        to_password_file: Option<PathBuf>,
    },
    /// Probe a running server: GET /healthz, exit 0 on 200, 1 otherwise.
    ///
    /// For container HEALTHCHECKs and other probes where no curl or shell
    /// exists. On failure prints one line saying why (refused, timed out,
    /// the status it got).
    Healthcheck(HealthcheckArgs),
    /// Write the man pages and shell completions into DIR (for packagers).
    #[command(hide = true)]
    GenerateAssets {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `zkppd bucket …`
#[derive(Subcommand, Debug)]
pub enum BucketCommand {
    /// Add tokens, one per line, to a bucket.
    ///
    /// Same rules as POST /v1/bucket/fill: 1–256 bytes of visible ASCII per
    /// token, tokens already there skipped, all or nothing. Blank lines are
    /// ignored. Prints `inserted: N` and `duplicates: M`.
    Fill {
        /// The bucket: `profile` or `signup`.
        #[arg(value_name = "BUCKET")]
        bucket: String,
        /// File with one token per line; `-` or nothing reads standard input.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Make N fresh tokens, add them to a bucket and print them.
    ///
    /// Each token is 128 bits from the OS random source, as 32 hex
    /// characters; all N go in at once (all or nothing), then they are
    /// printed one per line on standard output and nothing else, for
    /// handing out invites: `zkppd bucket generate profile 10 > invites`.
    Generate {
        /// The bucket: `profile` or `signup`.
        #[arg(value_name = "BUCKET")]
        bucket: String,
        /// How many tokens (1–100000).
        #[arg(value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print the number of unused tokens in each bucket.
    Count {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `zkppd profile …`
#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// List every profile: its id and when it was created, oldest first.
    ///
    /// One `ID CREATED` line per profile (CREATED in RFC 3339 UTC, or `-`
    /// for a profile from before zkppd recorded it); with --json, one JSON
    /// array of `{"profile_id", "created"}` objects (`created` is null
    /// when unknown).
    List {
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Delete a profile and end all its sessions.
    Delete {
        /// The profile id.
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Print a one-time password reset token for a profile.
    ///
    /// The user sets a new password with it through POST
    /// /v1/password/reset (with a new salt and verifier from the npm
    /// client); that ends every session of the profile. The token is 32
    /// random bytes (base64url), stored only as a keyed hash, and replaces
    /// an older one of the same profile. Hand it over on a channel you
    /// trust: it is as good as the password until used or expired.
    ResetToken {
        /// The profile id.
        #[arg(value_name = "ID")]
        id: String,
        /// How long the token stays valid.
        #[arg(long, default_value = "24h", value_parser = parse_duration, value_name = "DURATION")]
        ttl: Duration,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Import profiles from JSON lines `{"profile_id", "zkpp", "salt"}`.
    ///
    /// Each line is validated like a sign-up; all lines go in one
    /// transaction, so a bad line imports nothing. A profile already present
    /// with the same record is left as it is (re-running is harmless); one
    /// with a different record stops the import. Prints `imported: N` and
    /// `unchanged: M`.
    Import {
        /// File of JSON lines; `-` or nothing reads standard input.
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `zkppd session …`
#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// End every session of a profile (verify answers 400 for them at once).
    Revoke {
        /// The profile whose sessions end.
        #[arg(long, value_name = "ID")]
        profile: String,
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `zkppd healthcheck`
#[derive(Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// The server's listen address, read like the server reads it; a
    /// wildcard address (0.0.0.0, ::) is probed on loopback.
    #[arg(long, env = "ZKPPD_LISTEN", default_value = "127.0.0.1:3005", value_parser = parse_listen, value_name = "IP:PORT")]
    pub listen: SocketAddr,

    /// Probe this URL instead, `http://HOST[:PORT][/PATH]` (the path
    /// defaults to /healthz); it wins over --listen and ZKPPD_LISTEN.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Give up (exit 1) when connecting and reading the reply's head take
    /// longer than this.
    #[arg(long, default_value = "5s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

/// How an admin subcommand finds the database: like the server, and on a
/// packaged install from the service's environment file.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// The SQLite database file the server uses. Without this flag and
    /// ZKPPD_DB: the ZKPPD_DB line of the environment file $ZKPPD_ENV_FILE
    /// (default /etc/zkppd/zkppd.env, the package's, which names
    /// /var/lib/zkppd/zkppd.db; ZKPPD_ENV_FILE set empty skips it), else
    /// zkppd.db in the current directory.
    /// Accepted before the subcommand too (`zkppd --db F bucket count`).
    /// Or the database's `postgres://` URL.
    #[arg(long, env = "ZKPPD_DB", value_name = "PATH", hide_env_values = true)]
    pub db: Option<PathBuf>,

    /// File whose first line is the PostgreSQL password (wins over one in
    /// the URL).
    #[arg(long, env = "ZKPPD_DB_PASSWORD_FILE", value_name = "PATH")]
    pub db_password_file: Option<PathBuf>,
}

/// Where the admin subcommands look for the service's environment file
/// when ZKPPD_ENV_FILE is not set: the package's.
pub const DEFAULT_ENV_FILE: &str = "/etc/zkppd/zkppd.env";

impl DbArgs {
    /// Where the database is ([`DbArgs::resolve`]), validated.
    pub fn location(&self) -> Result<DbLocation, String> {
        db_location(&self.resolve()?, self.db_password_file.as_deref())
    }

    /// The database file: the flag or ZKPPD_DB, else the environment
    /// file's ZKPPD_DB, else `zkppd.db`. The error names an environment
    /// file that exists but cannot be read (a non-root user on a packaged
    /// install gets no silent fallback to ./zkppd.db).
    pub fn resolve(&self) -> Result<PathBuf, String> {
        if let Some(db) = &self.db {
            return Ok(db.clone());
        }
        // Set but empty: no environment file at all.
        let file = match std::env::var_os("ZKPPD_ENV_FILE") {
            Some(v) if v.is_empty() => return Ok(PathBuf::from("zkppd.db")),
            Some(v) => PathBuf::from(v),
            None => PathBuf::from(DEFAULT_ENV_FILE),
        };
        match std::fs::read_to_string(&file) {
            Ok(text) => Ok(env_file_value(&text, "ZKPPD_DB")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("zkppd.db"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PathBuf::from("zkppd.db")),
            Err(e) => Err(format!(
                "cannot read {} for ZKPPD_DB ({e}); pass --db PATH",
                file.display()
            )),
        }
    }
}

/// Moves a `--db PATH` (or `--db=PATH`) written before an admin
/// subcommand to right after it, where clap reads it: `zkppd --db F bucket
/// count` is `zkppd bucket count --db F`. Anything else is left as it is
/// (a `--db` with no subcommand after it is the server's).
pub fn db_after_subcommand(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let original = args.clone();
    let cli = <Cli as clap::CommandFactory>::command();
    let mut taken = Vec::new();
    let mut at = 1;
    let mut found = None;
    while at < args.len() {
        let Some(word) = args[at].to_str() else {
            at += 1;
            continue;
        };
        if word == "--" {
            break;
        } else if word == "--db" && at + 1 < args.len() {
            taken.extend(args.drain(at..at + 2));
        } else if word.starts_with("--db=") {
            taken.push(args.remove(at));
        } else if let Some(sub) = cli.find_subcommand(word) {
            found = Some((at, sub));
            break;
        } else {
            at += 1;
        }
    }
    let Some((at, sub)) = found.filter(|_| !taken.is_empty()) else {
        return original;
    };
    let nested = args
        .get(at + 1)
        .and_then(|w| w.to_str())
        .is_some_and(|w| sub.find_subcommand(w).is_some());
    let insert = if nested { at + 2 } else { at + 1 };
    for (i, t) in taken.into_iter().enumerate() {
        args.insert(insert + i, t);
    }
    args
}

/// A PostgreSQL database: its URL and the password from a file. Its Debug
/// shows neither (the URL may hold a password).
#[derive(Clone)]
pub struct PostgresUrl {
    pub url: String,
    pub password: Option<String>,
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostgresUrl(..)")
    }
}

/// `--db` as a SQLite path or a `postgres://` URL, with the password file
/// of the latter read.
pub fn db_location(
    db: &std::path::Path,
    password_file: Option<&std::path::Path>,
) -> Result<DbLocation, String> {
    let text = db.to_str().unwrap_or_default();
    if !zkppd_core::store::postgres::is_url(text) {
        if password_file.is_some() {
            return Err("--db-password-file is for a postgres:// --db".into());
        }
        return Ok(DbLocation::File(db.to_path_buf()));
    }
    let password = match password_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                format!(
                    "cannot read the database password file {}: {e}",
                    path.display()
                )
            })?;
            let line = text.lines().next().unwrap_or("").trim().to_owned();
            if line.is_empty() {
                return Err(format!(
                    "the database password file {} is empty",
                    path.display()
                ));
            }
            Some(line)
        }
    };
    Ok(DbLocation::Postgres(PostgresUrl {
        url: text.to_owned(),
        password,
    }))
}

/// Flags of the server.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to bind, IP:PORT (the original service's port is 3005;
    /// `localhost:PORT` means 127.0.0.1:PORT); port 0 picks a free port,
    /// which start-up logs as `listening on ADDR`.
    #[arg(long, env = "ZKPPD_LISTEN", default_value = "127.0.0.1:3005", value_parser = parse_listen, value_name = "IP:PORT")]
    pub listen: SocketAddr,

    /// The SQLite database file, created with its schema if missing; or a
    /// `postgres://user@host/db?sslmode=require` URL, for several instances
    /// over one PostgreSQL database (the schema is created in an empty one).
    #[arg(
        long,
        env = "ZKPPD_DB",
        default_value = "zkppd.db",
        conflicts_with = "temp_db",
        hide_env_values = true
    )]
    pub db: PathBuf,

    /// File whose first line is the PostgreSQL password (wins over one in
    /// the URL, which then needs none).
    #[arg(long, env = "ZKPPD_DB_PASSWORD_FILE", value_name = "PATH")]
    pub db_password_file: Option<PathBuf>,

    /// On PostgreSQL (required there): file whose first line (at least 32
    /// characters, e.g. `openssl rand -hex 32`) is a secret given to every
    /// instance and kept out of the database. The SRP secret of a pending
    /// sign-in is derived from it, so the handshakes in the database are
    /// useless without it.
    #[arg(long, env = "ZKPPD_HANDSHAKE_KEY_FILE", value_name = "PATH")]
    pub handshake_key_file: Option<PathBuf>,

    /// Use a throw-away database in a temporary directory, deleted on exit
    /// (for tests and trying zkppd out).
    #[arg(long, env = "ZKPPD_TEMP_DB")]
    pub temp_db: bool,

    /// File whose first line is the admin bearer token (at least 16
    /// characters) for /v1/bucket/fill. Without it, admin routes answer 401.
    #[arg(long, env = "ZKPPD_ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,

    /// Session lifetime: a number and a unit, e.g. 90s, 15m, 1h, 7d.
    #[arg(long, env = "ZKPPD_SESSION_TTL", default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub session_ttl: Duration,

    /// How long a pending sign-in handshake (step 1 → step 2) lives.
    #[arg(long, env = "ZKPPD_HANDSHAKE_TTL", default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub handshake_ttl: Duration,

    /// Live sessions per profile; signing in beyond it evicts the oldest.
    #[arg(long, env = "ZKPPD_MAX_SESSIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_sessions: u32,

    /// How recent the sign-in behind a session must be for a password
    /// change (/v1/password) or a profile deletion (/v1/profile/delete);
    /// an older live session gets 401 Reauthentication required.
    #[arg(long, env = "ZKPPD_REAUTH_WINDOW", default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub reauth_window: Duration,

    /// A network (CIDR, repeatable; comma-separated in the environment
    /// variable) whose clients may fill buckets without the admin bearer
    /// token: for the original platform's token service, whose client
    /// cannot send headers, on a private network. The client address is
    /// the TCP peer (X-Forwarded-For only from a --trusted-proxy). Default:
    /// none, every fill needs the token.
    #[arg(
        long = "admin-trusted-network",
        env = "ZKPPD_ADMIN_TRUSTED_NETWORK",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = crate::net::parse_cidr
    )]
    pub admin_trusted_networks: Vec<ipnet::IpNet>,

    /// Pending sign-in handshakes kept in memory (about 1.5 KiB each); past
    /// it, the oldest is dropped.
    #[arg(long, env = "ZKPPD_MAX_HANDSHAKES", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_handshakes: u32,

    /// Failed-proof counters kept in memory for the lockout (about 100
    /// bytes each); unlocked ones are evicted first, locked ones never.
    #[arg(long, env = "ZKPPD_MAX_LOCKOUTS", default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_lockouts: u32,

    /// Most connections served at once (idle keep-alive ones included);
    /// past it a new connection gets 503 and is closed.
    #[arg(long, env = "ZKPPD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Most connections one client address may hold at once; past it, its
    /// new connections get 503 and are closed. Default: a quarter of
    /// --max-connections (at least 1). A --trusted-proxy is exempt (its
    /// connections carry many clients).
    #[arg(long, env = "ZKPPD_MAX_CONNECTIONS_PER_CLIENT", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_client: Option<u32>,

    /// How long a response may wait for the client to take any of its
    /// bytes; past it the connection is closed (a client that pipelines
    /// requests and never reads the answers cannot hold a connection).
    #[arg(long, env = "ZKPPD_WRITE_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub write_timeout: Duration,

    /// How long a client may take to send a request's headers, also the
    /// idle time after which a keep-alive connection is closed.
    #[arg(long, env = "ZKPPD_HEADER_TIMEOUT", default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_timeout: Duration,

    /// How long a client may take to send a request's body once its
    /// headers are in; a slower body gets 400 and the connection closes.
    #[arg(long, env = "ZKPPD_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub body_timeout: Duration,

    /// Opt-in rate limit: requests per second per client address on the
    /// unauthenticated sign-up, sign-in and sign-out routes (bursts up to
    /// one second's worth; /v1/verify is not limited). Past it: 429 with
    /// Retry-After. At most 65,536 client addresses are tracked. Off unless
    /// set.
    #[arg(long, env = "ZKPPD_RATE_LIMIT", value_name = "PER_SECOND", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rate_limit: Option<u32>,

    /// A reverse proxy (address or CIDR, repeatable; comma-separated in the
    /// environment variable) whose X-Forwarded-For names the client, for
    /// the rate limit and the audit log. Without it the peer address counts.
    #[arg(
        long = "trusted-proxy",
        env = "ZKPPD_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ',',
        value_parser = crate::net::parse_cidr
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Log line format: `text` for people, `json` for a collector.
    #[arg(long, env = "ZKPPD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log level (error, warn, info, debug, trace, off) or a RUST_LOG-style
    /// filter such as `info,zkppd=debug`. A word without `=` must be a
    /// level: a typo is a start-up error, not silence. SIGHUP re-reads it
    /// from --env-file.
    #[arg(
        long,
        env = "ZKPPD_LOG_LEVEL",
        default_value = "info",
        value_name = "LEVEL"
    )]
    pub log_level: String,

    /// Serve Prometheus metrics at http://ADDR/metrics, on this separate
    /// address only (keep it private: it is not authenticated). Off unless
    /// set.
    #[arg(long, env = "ZKPPD_METRICS_LISTEN", value_name = "ADDR", value_parser = parse_listen)]
    pub metrics_listen: Option<SocketAddr>,

    /// Let web pages from ORIGIN (e.g. `https://app.example.com`) call the
    /// API from a browser (CORS). Repeatable; comma-separated in the
    /// environment variable; `*` allows any origin. Without it, no CORS
    /// headers are sent and OPTIONS answers 405.
    #[arg(
        long = "cors-origin",
        env = "ZKPPD_CORS_ORIGIN",
        value_name = "ORIGIN",
        value_delimiter = ',',
        value_parser = parse_origin
    )]
    pub cors_origins: Vec<String>,

    /// Forward-auth: the header of a GET /v1/auth answer that names the
    /// signed-in profile, for the reverse proxy to pass on to the app
    /// (the id percent-encoded where it is not plain ASCII; see README).
    #[arg(
        long,
        env = "ZKPPD_AUTH_HEADER_NAME",
        value_name = "NAME",
        default_value = "X-Profile-Id",
        value_parser = parse_auth_header_name
    )]
    pub auth_header_name: HeaderName,

    /// Also hand a signed-in browser its session as a cookie named NAME
    /// (HttpOnly, Secure, SameSite=Lax, Path=/, lasting as long as the
    /// session), for forward-auth behind a reverse proxy; sign-out clears
    /// it. The JSON answers stay the same. Off unless set.
    #[arg(
        long,
        env = "ZKPPD_SESSION_COOKIE",
        value_name = "NAME",
        value_parser = parse_cookie_name
    )]
    pub session_cookie: Option<String>,

    /// The session cookie's Domain (e.g. `example.com` to share it with
    /// every subdomain); without it the cookie goes back to zkppd's own
    /// host only.
    #[arg(
        long,
        env = "ZKPPD_COOKIE_DOMAIN",
        value_name = "DOMAIN",
        requires = "session_cookie",
        value_parser = parse_cookie_domain
    )]
    pub cookie_domain: Option<String>,

    /// Leave `Secure` off the session cookie so that browsers send it over
    /// plain HTTP. For local development only: anyone on the path can
    /// then read the session.
    #[arg(long, env = "ZKPPD_COOKIE_INSECURE", requires = "session_cookie")]
    pub cookie_insecure: bool,

    /// The environment file the service manager loads (systemd's
    /// EnvironmentFile=, the package's /etc/zkppd/zkppd.env). On SIGHUP
    /// zkppd re-reads the admin token file and takes ZKPPD_LOG_LEVEL from
    /// this file; without it, SIGHUP re-reads the admin token file only.
    #[arg(long, env = "ZKPPD_ENV_FILE", value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// An address to bind or probe: IP:PORT, or `localhost:PORT` for
/// 127.0.0.1:PORT (no name resolution: what `localhost` names is the one
/// host name whose answer is known without asking a resolver).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Some(port) = s
        .rsplit_once(':')
        .filter(|(host, _)| host.eq_ignore_ascii_case("localhost"))
        .and_then(|(_, port)| port.parse::<u16>().ok())
    {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    Err(format!(
        "invalid address `{s}`: expected IP:PORT, such as 127.0.0.1:3005, 0.0.0.0:3005, [::1]:3005 or localhost:3005"
    ))
}

/// The levels a bare word of `--log-level` may name.
const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a `--log-level` value beyond what `EnvFilter` checks: there a
/// bare word is a target name, so `verbose` would silently log nothing
/// (not even `listening on`). Each comma-separated directive without `=`
/// or a span filter must be a level. Never a target-only directive
/// (`zkppd`): write `zkppd=trace`.
pub fn check_log_level(s: &str) -> Result<(), String> {
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[']);
        if bare && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(directive)) {
            return Err(format!(
                "invalid --log-level `{s}`: `{directive}` is not a level; expected one of error, warn, info, debug, trace, off, or a filter such as info,zkppd=debug"
            ));
        }
    }
    Ok(())
}

/// The value of `key` in a systemd environment file (`KEY=VALUE` lines,
/// `#` and `;` comments, optional matching quotes around the value); the
/// last assignment wins, as in systemd. `None` when the file has none.
pub fn env_file_value(text: &str, key: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| {
            let v = v.trim();
            let quoted = v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')));
            if quoted { &v[1..v.len() - 1] } else { v }.to_owned()
        })
        .next_back()
}

/// A header name for the forward-auth answer: a valid field name that is
/// not one the answer sets itself or that frames the message.
pub fn parse_auth_header_name(s: &str) -> Result<HeaderName, String> {
    let name =
        HeaderName::from_bytes(s.as_bytes()).map_err(|_| format!("invalid header name `{s}`"))?;
    const RESERVED: [&str; 12] = [
        "cache-control",
        "connection",
        "content-length",
        "content-type",
        "date",
        "keep-alive",
        "set-cookie",
        "transfer-encoding",
        "upgrade",
        "vary",
        "www-authenticate",
        "x-request-id",
    ];
    if RESERVED.contains(&name.as_str()) || name.as_str().starts_with("access-control-") {
        return Err(format!(
            "header name `{s}` is one zkppd's answer sets itself; pick another, e.g. X-Profile-Id"
        ));
    }
    Ok(name)
}

/// A cookie name: an RFC 6265 token (visible ASCII without separators).
pub fn parse_cookie_name(s: &str) -> Result<String, String> {
    let separator = |b: u8| b"()<>@,;:\\\"/[]?={} \t".contains(&b);
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && !separator(b)) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "invalid cookie name `{s}`: expected letters, digits and !#$%&'*+-.^_`|~ (an RFC 6265 token)"
        ))
    }
}

/// A cookie Domain: a host name (letters, digits, `-`, dots between
/// labels), an optional leading dot dropped as browsers do.
pub fn parse_cookie_domain(s: &str) -> Result<String, String> {
    let host = s.strip_prefix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid cookie domain `{s}`: expected a host name such as example.com"
        ))
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, no path, or `*`.
/// Kept lowercase, as browsers serialize it.
pub fn parse_origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_owned());
    }
    let err = || {
        format!(
            "invalid origin `{s}`: expected scheme://host[:port] such as https://app.example.com, or *"
        )
    };
    let (scheme, rest) = s.split_once("://").ok_or_else(err)?;
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    let host_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
    if scheme_ok && host_ok {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(err())
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Parses `^[1-9][0-9]*(s|m|h|d)$` into a duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let err = || {
        format!(
            "invalid duration `{s}`: expected a number and a unit s, m, h or d (e.g. 90s, 15m, 1h, 7d)"
        )
    };
    let (digits, unit) = s.split_at(s.len().saturating_sub(1));
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err());
    }
    let n: u64 = digits.parse().map_err(|_| err())?;
    // Ten years is far past any sensible TTL and keeps expiry arithmetic safe.
    n.checked_mul(scale)
        .filter(|secs| *secs <= 10 * 366 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(err)
}

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum DbLocation {
    File(PathBuf),
    Temp,
    Postgres(PostgresUrl),
}

/// Requests served on one connection before the answer to the last says
/// `connection: close`, as nginx's `keepalive_requests`: bounds what one
/// connection's pipeline makes the server do before the client must
/// reconnect (and meet the per-client cap again).
pub const MAX_REQUESTS_PER_CONNECTION: u64 = 1000;

/// Validated server settings; what the rest of the crate sees. Not
/// `Clone`: it holds the admin token, of which there is one copy.
#[derive(Debug)]
pub struct Settings {
    pub listen: SocketAddr,
    pub db: DbLocation,
    /// The secret the shared handshakes' b derive from (PostgreSQL).
    pub handshake_key: Option<zkppd_core::HandshakeKey>,
    pub admin_token: Option<AdminToken>,
    /// Where the admin token was read from: SIGHUP reads it again.
    pub admin_token_file: Option<PathBuf>,
    /// The service manager's environment file: SIGHUP takes the log level
    /// from it.
    pub env_file: Option<PathBuf>,
    pub session_ttl: Duration,
    pub handshake_ttl: Duration,
    pub max_sessions: u32,
    pub max_handshakes: usize,
    pub max_lockouts: usize,
    pub reauth_window: Duration,
    /// Networks whose clients may fill buckets without the admin token.
    pub admin_trusted_networks: Vec<ipnet::IpNet>,
    pub max_connections: usize,
    /// Connections per client address; `None`: a quarter of the above.
    pub max_connections_per_client: Option<usize>,
    pub write_timeout: Duration,
    /// Requests served on one connection before it closes (no flag: the
    /// default suits every client; tests lift it).
    pub max_requests_per_connection: u64,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Requests per second per client on the unauthenticated routes.
    pub rate_limit: Option<u32>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Origins allowed by CORS (lowercase, or `*`); empty turns CORS off.
    pub cors_origins: Vec<String>,
    /// The header of a `/v1/auth` answer that names the profile.
    pub auth_header: HeaderName,
    /// The opt-in session cookie; `None` sets and reads no cookie.
    pub session_cookie: Option<SessionCookie>,
}

/// How the session cookie is written (validated at start-up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookie {
    /// An RFC 6265 token.
    pub name: String,
    pub domain: Option<String>,
    /// Whether the cookie carries `Secure` (off only with
    /// `--cookie-insecure`).
    pub secure: bool,
}

impl SessionCookie {
    /// A secure cookie named `name` for zkppd's own host.
    pub fn new(name: &str) -> SessionCookie {
        SessionCookie {
            name: name.to_owned(),
            domain: None,
            secure: true,
        }
    }

    /// The browsers' cookie-prefix rules, checked at start-up so that a
    /// browser never silently drops the cookie: `__Secure-` needs Secure,
    /// `__Host-` also needs no Domain.
    fn check_prefix(&self) -> Result<(), String> {
        let host = self.name.starts_with("__Host-");
        if (host || self.name.starts_with("__Secure-")) && !self.secure {
            return Err(format!(
                "cookie `{}`: browsers only accept a __Secure-/__Host- cookie with Secure; drop --cookie-insecure",
                self.name
            ));
        }
        if host && self.domain.is_some() {
            return Err(format!(
                "cookie `{}`: browsers only accept a __Host- cookie without Domain; drop --cookie-domain",
                self.name
            ));
        }
        Ok(())
    }
}

/// The admin bearer token: one copy (not `Clone`), wiped from memory on
/// drop, and its Debug never prints it.
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct AdminToken(String);

impl AdminToken {
    pub fn new(token: String) -> AdminToken {
        AdminToken(token)
    }

    /// The token, for the constant-time comparison.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl Settings {
    /// Connections one client address may hold.
    pub fn per_client_connections(&self) -> usize {
        self.max_connections_per_client
            .unwrap_or(self.max_connections / 4)
            .max(1)
    }

    /// The domain's knobs.
    pub fn limits(&self) -> zkppd_core::Limits {
        zkppd_core::Limits {
            session_ttl: self.session_ttl,
            handshake_ttl: self.handshake_ttl,
            max_sessions: self.max_sessions,
            max_handshakes: self.max_handshakes,
            max_lockouts: self.max_lockouts,
            reauth_window: self.reauth_window,
        }
    }

    /// Settings for a server on a given database with every default; tests
    /// and tools adjust fields from here.
    pub fn new(listen: SocketAddr, db: DbLocation) -> Settings {
        Settings {
            listen,
            db,
            handshake_key: None,
            admin_token: None,
            admin_token_file: None,
            env_file: None,
            session_ttl: Duration::from_secs(3600),
            handshake_ttl: Duration::from_secs(60),
            max_sessions: 16,
            max_handshakes: 16_384,
            max_lockouts: 65_536,
            reauth_window: Duration::from_secs(300),
            admin_trusted_networks: Vec::new(),
            max_connections: 4096,
            max_connections_per_client: None,
            write_timeout: Duration::from_secs(10),
            max_requests_per_connection: MAX_REQUESTS_PER_CONNECTION,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            rate_limit: None,
            trusted_proxies: Vec::new(),
            metrics_listen: None,
            cors_origins: Vec::new(),
            auth_header: HeaderName::from_static("x-profile-id"),
            session_cookie: None,
        }
    }
}

impl ServeArgs {
    /// Validates the flags; the error names the cause for the start-up line.
    pub fn into_settings(self) -> Result<Settings, String> {
        let admin_token = match &self.admin_token_file {
            None => None,
            Some(path) => Some(read_admin_token(path)?),
        };
        let db = if self.temp_db {
            DbLocation::Temp
        } else {
            db_location(&self.db, self.db_password_file.as_deref())?
        };
        let handshake_key = match &self.handshake_key_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    format!("cannot read the handshake key file {}: {e}", path.display())
                })?;
                Some(
                    zkppd_core::HandshakeKey::from_file_text(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
        };
        if matches!(db, DbLocation::Postgres(_)) && handshake_key.is_none() {
            return Err(
                "a postgres:// --db needs --handshake-key-file (the same file on every instance)"
                    .into(),
            );
        }
        let session_cookie = match &self.session_cookie {
            None => None,
            Some(name) => {
                let cookie = SessionCookie {
                    name: name.clone(),
                    domain: self.cookie_domain.clone(),
                    secure: !self.cookie_insecure,
                };
                cookie.check_prefix()?;
                Some(cookie)
            }
        };
        Ok(Settings {
            listen: self.listen,
            db,
            handshake_key,
            admin_token,
            admin_token_file: self.admin_token_file,
            env_file: self.env_file.filter(|p| !p.as_os_str().is_empty()),
            session_ttl: self.session_ttl,
            handshake_ttl: self.handshake_ttl,
            max_sessions: self.max_sessions,
            max_handshakes: self.max_handshakes as usize,
            max_lockouts: self.max_lockouts as usize,
            reauth_window: self.reauth_window,
            admin_trusted_networks: self.admin_trusted_networks,
            max_connections: self.max_connections as usize,
            max_connections_per_client: self.max_connections_per_client.map(|n| n as usize),
            write_timeout: self.write_timeout,
            max_requests_per_connection: MAX_REQUESTS_PER_CONNECTION,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            rate_limit: self.rate_limit,
            trusted_proxies: self.trusted_proxies,
            metrics_listen: self.metrics_listen,
            cors_origins: self.cors_origins,
            auth_header: self.auth_header_name,
            session_cookie,
        })
    }
}

/// Reads the first line of the token file, surrounding whitespace stripped.
/// The token must be visible ASCII, as a `Bearer` header can carry it: a
/// byte-order mark, other non-ASCII or a control character would make the
/// token impossible to send, so it is a start-up error naming the cause.
pub fn read_admin_token(path: &std::path::Path) -> Result<AdminToken, String> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read admin token file {}: {e}", path.display()))?,
    );
    let token = text.lines().next().unwrap_or("").trim();
    check_admin_token(token)
        .map_err(|cause| format!("admin token in {}: {cause}", path.display()))?;
    Ok(AdminToken(token.to_owned()))
}

/// Why `token` cannot be the admin token, if it cannot. Never quotes it.
fn check_admin_token(token: &str) -> Result<(), String> {
    if token.starts_with('\u{feff}') {
        return Err(
            "starts with a byte-order mark (U+FEFF); save the file as UTF-8 without BOM".into(),
        );
    }
    if let Some((at, c)) = token.char_indices().find(|(_, c)| c.is_control()) {
        return Err(format!(
            "has a control character (U+{:04X}) at byte {at}; use visible ASCII only",
            c as u32
        ));
    }
    if let Some((at, c)) = token.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        return Err(format!(
            "has a character a Bearer header cannot carry (U+{:04X}) at byte {at}; use visible ASCII only",
            c as u32
        ));
    }
    if token.len() < 16 {
        return Err("is shorter than 16 characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        for bad in [
            "",
            "s",
            "0s",
            "01s",
            "1",
            "1x",
            "-1s",
            "1.5h",
            " 1s",
            "1S",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cookie_names_are_rfc6265_tokens() {
        for ok in ["zkppd_session", "s", "a-b.c~!#$%&'*+^`|"] {
            assert_eq!(parse_cookie_name(ok), Ok(ok.to_owned()));
        }
        for bad in [
            "", "a b", "a;b", "a=b", "a,b", "a\"b", "a/b", "é", "a\tb", "a\u{7f}",
        ] {
            assert!(parse_cookie_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cookie_domains() {
        assert_eq!(
            parse_cookie_domain(".Example.com"),
            Ok("example.com".into())
        );
        assert_eq!(parse_cookie_domain("a-b.example"), Ok("a-b.example".into()));
        for bad in [
            "", ".", "a..b", "-a.com", "a_b.com", "a.com/", "a com", "a.com:80",
        ] {
            assert!(parse_cookie_domain(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn auth_header_names() {
        assert_eq!(
            parse_auth_header_name("Remote-User").map(|h| h.to_string()),
            Ok("remote-user".to_owned())
        );
        for bad in [
            "",
            "a b",
            "x:y",
            "Content-Length",
            "Set-Cookie",
            "access-control-allow-origin",
        ] {
            assert!(parse_auth_header_name(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cookie_prefixes_follow_the_browsers_rules() {
        let mut c = SessionCookie::new("__Host-s");
        assert!(c.check_prefix().is_ok());
        c.domain = Some("example.com".into());
        assert!(c.check_prefix().is_err());
        let mut c = SessionCookie::new("__Secure-s");
        c.domain = Some("example.com".into());
        assert!(c.check_prefix().is_ok());
        c.secure = false;
        assert!(c.check_prefix().is_err());
        let mut c = SessionCookie::new("plain");
        c.secure = false;
        assert!(c.check_prefix().is_ok());
    }

    #[test]
    fn admin_tokens_must_be_visible_ascii() {
        assert_eq!(check_admin_token("0123456789abcdef~!"), Ok(()));
        for (bad, cause) in [
            ("\u{feff}0123456789abcdef", "byte-order mark"),
            ("0123456789\u{7}abcdef", "control character (U+0007)"),
            ("0123456789\tabcdef", "control character (U+0009)"),
            ("0123456789abcdéf", "cannot carry (U+00E9)"),
            ("0123456789 abcdef", "cannot carry (U+0020)"),
            ("0123456789\u{a0}abcdef", "cannot carry (U+00A0)"),
            ("short", "shorter than 16"),
        ] {
            let err = check_admin_token(bad).expect_err(bad);
            assert!(err.contains(cause), "{bad:?}: {err}");
        }
    }

    /// The admin token is wiped when dropped and has one copy only (no
    /// `Clone`: a second copy would be a second place to wipe).
    #[test]
    fn the_admin_token_is_wiped_on_drop() {
        fn wiped_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        wiped_on_drop::<AdminToken>();
        let mut token = AdminToken::new("0123456789abcdef".into());
        zeroize::Zeroize::zeroize(&mut token);
        assert_eq!(token.expose(), "");
        assert_eq!(format!("{token:?}"), "AdminToken(..)");
    }

    #[test]
    fn db_before_the_subcommand_moves_after_it() {
        let v = |s: &str| -> Vec<std::ffi::OsString> { s.split(' ').map(Into::into).collect() };
        for (given, want) in [
            (
                "zkppd --db x.db bucket count",
                "zkppd bucket count --db x.db",
            ),
            ("zkppd --db=x.db check", "zkppd check --db=x.db"),
            (
                "zkppd --db x.db profile list --json",
                "zkppd profile list --db x.db --json",
            ),
            (
                "zkppd bucket count --db x.db",
                "zkppd bucket count --db x.db",
            ),
            (
                "zkppd --db x.db --listen 127.0.0.1:0",
                "zkppd --db x.db --listen 127.0.0.1:0",
            ),
            (
                "zkppd --listen 127.0.0.1:0 --db x.db",
                "zkppd --listen 127.0.0.1:0 --db x.db",
            ),
            ("zkppd --db x.db serve", "zkppd serve --db x.db"),
        ] {
            assert_eq!(db_after_subcommand(v(given)), v(want), "{given}");
        }
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("127.0.0.1:3106"),
            Ok("127.0.0.1:3106".parse().unwrap())
        );
        assert_eq!(parse_listen("[::1]:80"), Ok("[::1]:80".parse().unwrap()));
        assert_eq!(
            parse_listen("localhost:3106"),
            Ok("127.0.0.1:3106".parse().unwrap())
        );
        assert_eq!(
            parse_listen("LocalHost:0"),
            Ok("127.0.0.1:0".parse().unwrap())
        );
        for bad in [
            "3106",
            ":3106",
            "localhost",
            "localhost:",
            "localhost:99999",
            "example.com:80",
            "",
        ] {
            let err = parse_listen(bad).expect_err(bad);
            assert!(err.contains("expected IP:PORT"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn log_levels() {
        for ok in [
            "info",
            "DEBUG",
            "off",
            "info,zkppd=debug",
            "warn,audit=info",
            "zkppd[span]=trace",
            "",
        ] {
            assert_eq!(check_log_level(ok), Ok(()), "{ok:?}");
        }
        for bad in ["verbose", "info,verbose", "inf", "zkppd"] {
            assert!(check_log_level(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn environment_files() {
        let text = "# comment\n; other\nZKPPD_DB=/a\n  ZKPPD_LOG_LEVEL = \"debug\" \nZKPPD_DB='/b c'\nBAD\n";
        assert_eq!(env_file_value(text, "ZKPPD_DB").as_deref(), Some("/b c"));
        assert_eq!(
            env_file_value(text, "ZKPPD_LOG_LEVEL").as_deref(),
            Some("debug")
        );
        assert_eq!(env_file_value("#ZKPPD_DB=/x\n", "ZKPPD_DB"), None);
    }

    #[test]
    fn origins() {
        assert_eq!(parse_origin("*"), Ok("*".into()));
        assert_eq!(
            parse_origin("https://App.Example.com:8443"),
            Ok("https://app.example.com:8443".into())
        );
        assert_eq!(
            parse_origin("http://[::1]:3000"),
            Ok("http://[::1]:3000".into())
        );
        for bad in [
            "",
            "example.com",
            "https://",
            "https://a.com/",
            "https://a.com/path",
            "://a.com",
            "https://a b",
            "https://a.com\n",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad:?} accepted");
        }
    }
}
