//! Command-line flags (each also an environment variable) and their
//! validation into plain [`Settings`]. Owns nothing else: no I/O beyond
//! reading the admin token file, no server state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    Backup {
        /// Where to write the copy; must not exist yet.
        #[arg(value_name = "DEST")]
        dest: PathBuf,
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
    /// Print the number of unused tokens in each bucket.
    Count {
        #[command(flatten)]
        db: DbArgs,
    },
}

/// `zkppd profile …`
#[derive(Subcommand, Debug)]
pub enum ProfileCommand {
    /// Delete a profile and end all its sessions.
    Delete {
        /// The profile id.
        #[arg(value_name = "ID")]
        id: String,
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
    #[arg(long, env = "ZKPPD_LISTEN", default_value = "127.0.0.1:3005")]
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

/// How an admin subcommand finds the database: like the server.
#[derive(Args, Debug, Clone)]
pub struct DbArgs {
    /// The SQLite database file the server uses.
    #[arg(long, env = "ZKPPD_DB", default_value = "zkppd.db")]
    pub db: PathBuf,
}

/// Flags of the server.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to bind (the original service's port is 3005); port 0 picks a
    /// free port, which start-up logs as `listening on ADDR`.
    #[arg(long, env = "ZKPPD_LISTEN", default_value = "127.0.0.1:3005")]
    pub listen: SocketAddr,

    /// The SQLite database file; created with its schema if missing.
    #[arg(
        long,
        env = "ZKPPD_DB",
        default_value = "zkppd.db",
        conflicts_with = "temp_db"
    )]
    pub db: PathBuf,

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

    /// Pending sign-in handshakes kept in memory (about 1 KiB each); past
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

    /// Log level (error, warn, info, debug, trace) or a RUST_LOG-style
    /// filter such as `info,zkppd=debug`.
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
    #[arg(long, env = "ZKPPD_METRICS_LISTEN", value_name = "ADDR")]
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
}

/// Validated server settings; what the rest of the crate sees.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub db: DbLocation,
    pub admin_token: Option<AdminToken>,
    pub session_ttl: Duration,
    pub handshake_ttl: Duration,
    pub max_sessions: u32,
    pub max_handshakes: usize,
    pub max_lockouts: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Requests per second per client on the unauthenticated routes.
    pub rate_limit: Option<u32>,
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where `/metrics` is served, if anywhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Origins allowed by CORS (lowercase, or `*`); empty turns CORS off.
    pub cors_origins: Vec<String>,
}

/// The admin bearer token; its Debug never prints it.
#[derive(Clone)]
pub struct AdminToken(pub String);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

impl Settings {
    /// The domain's knobs.
    pub fn limits(&self) -> zkppd_core::Limits {
        zkppd_core::Limits {
            session_ttl: self.session_ttl,
            handshake_ttl: self.handshake_ttl,
            max_sessions: self.max_sessions,
            max_handshakes: self.max_handshakes,
            max_lockouts: self.max_lockouts,
        }
    }

    /// Settings for a server on a given database with every default; tests
    /// and tools adjust fields from here.
    pub fn new(listen: SocketAddr, db: DbLocation) -> Settings {
        Settings {
            listen,
            db,
            admin_token: None,
            session_ttl: Duration::from_secs(3600),
            handshake_ttl: Duration::from_secs(60),
            max_sessions: 16,
            max_handshakes: 16_384,
            max_lockouts: 65_536,
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(10),
            rate_limit: None,
            trusted_proxies: Vec::new(),
            metrics_listen: None,
            cors_origins: Vec::new(),
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
        Ok(Settings {
            listen: self.listen,
            db: if self.temp_db {
                DbLocation::Temp
            } else {
                DbLocation::File(self.db)
            },
            admin_token,
            session_ttl: self.session_ttl,
            handshake_ttl: self.handshake_ttl,
            max_sessions: self.max_sessions,
            max_handshakes: self.max_handshakes as usize,
            max_lockouts: self.max_lockouts as usize,
            max_connections: self.max_connections as usize,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
            rate_limit: self.rate_limit,
            trusted_proxies: self.trusted_proxies,
            metrics_listen: self.metrics_listen,
            cors_origins: self.cors_origins,
        })
    }
}

/// Reads the first line of the token file, surrounding whitespace stripped.
pub fn read_admin_token(path: &std::path::Path) -> Result<AdminToken, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read admin token file {}: {e}", path.display()))?;
    let token = text.lines().next().unwrap_or("").trim();
    if token.chars().count() < 16 {
        return Err(format!(
            "admin token in {} is shorter than 16 characters",
            path.display()
        ));
    }
    Ok(AdminToken(token.to_owned()))
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
