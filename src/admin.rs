//! The admin subcommands: they open the database directly (a SQLite file:
//! WAL and a busy timeout make that safe while a server runs on it; a
//! PostgreSQL database: like one more instance) and call the same core
//! services as the HTTP routes; `migrate` copies one store into another. Output is `key: value` lines on
//! stdout, for people and for `awk`; errors are one line each, and the exit
//! status is non-zero.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use zkppd::config::{
    BucketCommand, Command, DbArgs, DbLocation, ProfileCommand, SessionCommand, db_location,
};
use zkppd_core::rules::{self, MAX_TOKEN_LEN};
use zkppd_core::store::sqlite::SCHEMA_VERSION;
use zkppd_core::store::{PostgresStore, SqliteStore, Store};
use zkppd_core::{Error, Limits, Service, now_ms};

/// How long `backup` waits for a busy database before giving up.
const BACKUP_PATIENCE: Duration = Duration::from_secs(60);

/// Runs an admin subcommand, writing its report to `out`.
pub(crate) fn run(command: Command, out: &mut dyn Write) -> Result<(), String> {
    match command {
        Command::Serve(_) | Command::Healthcheck(_) | Command::GenerateAssets { .. } => {
            Err("not an admin command".into())
        }
        Command::Bucket(BucketCommand::Fill { bucket, file, db }) => {
            bucket_fill(&db, &bucket, file.as_deref(), out)
        }
        Command::Bucket(BucketCommand::Count { db }) => bucket_count(&db, out),
        Command::Backup { dest, db } => backup(&db, &dest, out),
        Command::Check { db } => check(&db, out),
        Command::Profile(ProfileCommand::Delete { id, db }) => profile_delete(&db, &id, out),
        Command::Profile(ProfileCommand::Import { file, db }) => {
            profile_import(&db, file.as_deref(), out)
        }
        Command::Profile(ProfileCommand::ResetToken { id, ttl, db }) => {
            profile_reset_token(&db, &id, ttl, out)
        }
        Command::Session(SessionCommand::Revoke { profile, db }) => {
            session_revoke(&db, &profile, out)
        }
        Command::Migrate {
            from,
            from_password_file,
            to,
            to_password_file,
        } => {
            let from = db_location(&from, from_password_file.as_deref())?;
            let to = db_location(&to, to_password_file.as_deref())?;
            migrate(&from, &to, out)
        }
    }
}

/// A database opened by an admin command.
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Opened {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Opened::Sqlite(s) => Arc::new(s.clone()),
            Opened::Postgres(s) => Arc::new(s.clone()),
        }
    }
}

fn open_location(location: &DbLocation, create: bool) -> Result<Opened, String> {
    match location {
        DbLocation::File(path) => {
            if !create && !path.exists() {
                return Err(format!(
                    "no database at {} (pass --db PATH or set ZKPPD_DB)",
                    path.display()
                ));
            }
            Ok(Opened::Sqlite(SqliteStore::open(Some(path))?))
        }
        DbLocation::Temp => Ok(Opened::Sqlite(SqliteStore::open(None)?)),
        DbLocation::Postgres(pg) => Ok(Opened::Postgres(PostgresStore::open(
            &pg.url,
            pg.password.as_deref(),
        )?)),
    }
}

/// Copies everything from one store into an empty other.
fn migrate(from: &DbLocation, to: &DbLocation, out: &mut dyn Write) -> Result<(), String> {
    if let (DbLocation::File(a), DbLocation::File(b)) = (from, to)
        && a == b
    {
        return Err("--from and --to name the same file".into());
    }
    let source = open_location(from, false)?.store();
    let dump = source
        .export()
        .map_err(|e| format!("cannot read {}: {e}", source.describe()))?;
    let target = open_location(to, true)?.store();
    target.import_dump(&dump).map_err(|e| match e {
        Error::Internal(text) => format!("{}: {text}; nothing was copied", target.describe()),
        other => format!("{}: {other}; nothing was copied", target.describe()),
    })?;
    target
        .close()
        .map_err(|e| format!("{}: {e}", target.describe()))?;
    write(
        out,
        format_args!(
            "from: {}\nto: {}\nprofiles: {}\nsessions: {}\nprofile_tokens: {}\nsignup_tokens: {}\nlockouts: {}\nreset_tokens: {}\n",
            source.describe(),
            target.describe(),
            dump.profiles.len(),
            dump.sessions.len(),
            dump.profile_tokens.len(),
            dump.signup_tokens.len(),
            dump.lockouts.len(),
            dump.reset_tokens.len(),
        ),
    )
}

/// Opens the database like the server does (same version and identity
/// checks). Commands that only read or remove refuse to create a missing
/// file: a mistyped `--db` should not leave an empty database behind.
fn open(args: &DbArgs, create: bool) -> Result<Opened, String> {
    open_location(&args.location()?, create)
}

/// Runs one core service call to completion on a small runtime of its own.
fn call<T>(store: &Opened, f: impl AsyncFnOnce(&Service) -> Result<T, Error>) -> Result<T, String> {
    let service = Service::new(store.store(), Limits::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(f(&service)).map_err(|e| e.to_string())
}

fn write(out: &mut dyn Write, text: std::fmt::Arguments<'_>) -> Result<(), String> {
    out.write_fmt(text)
        .map_err(|e| format!("cannot write the report: {e}"))
}

/// Lines of FILE, or of standard input for `-` or no file.
fn read_lines(file: Option<&Path>) -> Result<Vec<String>, String> {
    let (name, reader): (String, Box<dyn BufRead>) = match file {
        None => ("standard input".into(), Box::new(std::io::stdin().lock())),
        Some(p) if p == Path::new("-") => {
            ("standard input".into(), Box::new(std::io::stdin().lock()))
        }
        Some(p) => {
            let f =
                std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            (
                p.display().to_string(),
                Box::new(std::io::BufReader::new(f)),
            )
        }
    };
    reader
        .lines()
        .enumerate()
        .map(|(i, line)| line.map_err(|e| format!("{name} line {}: {e}", i + 1)))
        .collect()
}

fn bucket_fill(
    args: &DbArgs,
    name: &str,
    file: Option<&Path>,
    out: &mut dyn Write,
) -> Result<(), String> {
    rules::Bucket::parse(name)
        .map_err(|_| format!("unknown bucket `{name}`: expected `profile` or `signup`"))?;
    let mut tokens = Vec::new();
    for (i, line) in read_lines(file)?.into_iter().enumerate() {
        // Blank lines (a trailing newline, spacing between batches) carry
        // no token; anything else must be a token as the HTTP route says.
        if line.trim().is_empty() {
            continue;
        }
        if !rules::valid_token(&line) {
            return Err(format!(
                "line {}: not a token (1–{MAX_TOKEN_LEN} bytes of visible ASCII, no spaces); nothing was inserted",
                i + 1,
            ));
        }
        tokens.push(line);
    }
    let store = open(args, true)?;
    let (_, total) = call(&store, async |s| s.fill_any_number(name, tokens).await)?;
    write(
        out,
        format_args!(
            "inserted: {}\nduplicates: {}\n",
            total.inserted, total.duplicates
        ),
    )
}

fn bucket_count(args: &DbArgs, out: &mut dyn Write) -> Result<(), String> {
    let store = open(args, false)?;
    let sizes = call(&store, async |s| s.bucket_sizes().await)?;
    write(
        out,
        format_args!("profile: {}\nsignup: {}\n", sizes.profile, sizes.signup),
    )
}

fn backup(args: &DbArgs, dest: &Path, out: &mut dyn Write) -> Result<(), String> {
    if dest.exists() {
        return Err(format!(
            "{} already exists; a backup never overwrites",
            dest.display()
        ));
    }
    let Opened::Sqlite(store) = open(args, false)? else {
        return Err(
            "backup copies a SQLite file; back PostgreSQL up with its own tools (pg_dump, pg_basebackup)"
                .into(),
        );
    };
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Written under a temporary name (mode 0600: the copy holds the install
    // secret and every verifier) and moved into place only once verified,
    // so DEST is either absent or a good copy.
    let partial = tempfile::Builder::new()
        .prefix(".zkppd-backup-")
        .tempfile_in(&dir)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    let report = store
        .backup_to(partial.path(), BACKUP_PATIENCE)
        .map_err(|e| e.to_string())?;
    partial
        .persist_noclobber(dest)
        .map_err(|e| format!("cannot move the copy to {}: {}", dest.display(), e.error))?;
    write(
        out,
        format_args!(
            "backup: {}\nintegrity: ok\nschema_version: {}\nprofiles: {}\n",
            dest.display(),
            report.schema_version,
            report.profiles
        ),
    )
}

fn check(args: &DbArgs, out: &mut dyn Write) -> Result<(), String> {
    let store = match open(args, false)? {
        Opened::Sqlite(store) => store,
        Opened::Postgres(store) => {
            let (version, profiles, live) = store.check(now_ms()).map_err(|e| e.to_string())?;
            return write(
                out,
                format_args!(
                    "database: {}\nschema_version: {version} (this binary: {})\nprofiles: {profiles}\nlive_sessions: {live}\n",
                    store.describe(),
                    zkppd_core::store::postgres::SCHEMA_VERSION,
                ),
            );
        }
    };
    let report = store.check(now_ms()).map_err(|e| e.to_string())?;
    let ok = report.ok();
    write(
        out,
        format_args!(
            "database: {}\nintegrity: {}\nschema_version: {} (this binary: {SCHEMA_VERSION})\nprofiles: {}\nlive_sessions: {}\n",
            store.describe(),
            if ok { "ok" } else { "FAILED" },
            report.schema_version,
            report.profiles,
            report.live_sessions,
        ),
    )?;
    if ok {
        Ok(())
    } else {
        let problems: Vec<String> = report
            .integrity
            .into_iter()
            .filter(|l| l != "ok")
            .chain(report.foreign_keys)
            .collect();
        Err(format!("database is damaged: {}", problems.join("; ")))
    }
}

fn valid_id(id: &str) -> Result<(), String> {
    rules::check_profile_id(id).map_err(|_| format!("`{id}` is not a valid profile id"))
}

fn profile_delete(args: &DbArgs, id: &str, out: &mut dyn Write) -> Result<(), String> {
    valid_id(id)?;
    let store = open(args, false)?;
    let ended = call(&store, async |s| s.delete_profile(id).await)?;
    write(
        out,
        format_args!("deleted: {id}\nsessions_ended: {ended}\n"),
    )
}

fn profile_reset_token(
    args: &DbArgs,
    id: &str,
    ttl: Duration,
    out: &mut dyn Write,
) -> Result<(), String> {
    valid_id(id)?;
    let store = open(args, false)?;
    let token = call(&store, async |s| s.issue_reset_token(id, ttl).await)?;
    write(out, format_args!("{}\n", token.as_str()))
}

fn session_revoke(args: &DbArgs, id: &str, out: &mut dyn Write) -> Result<(), String> {
    valid_id(id)?;
    let store = open(args, false)?;
    let n = call(&store, async |s| s.revoke_sessions(id).await)?;
    write(out, format_args!("sessions_ended: {n}\n"))
}

/// One line of an import: a profile as the original service stored it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    profile_id: String,
    zkpp: String,
    salt: String,
}

fn profile_import(args: &DbArgs, file: Option<&Path>, out: &mut dyn Write) -> Result<(), String> {
    let mut lines = Vec::new();
    for (i, line) in read_lines(file)?.into_iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let n = i + 1;
        let p: ImportLine = serde_json::from_str(&line).map_err(|e| {
            format!(
                "line {n}: expected {{\"profile_id\", \"zkpp\", \"salt\"}} ({e}); nothing was imported"
            )
        })?;
        lines.push((n, p.profile_id, p.zkpp, p.salt));
    }
    let store = open(args, true)?;
    let service = Service::new(store.store(), Limits::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let count = runtime
        .block_on(service.import_profiles(lines))
        .map_err(|(line, e)| {
            let what = match e {
                Error::InvalidProfileId => "invalid profile_id".to_owned(),
                Error::Malformed("zkpp") => {
                    "zkpp is not a valid SRP verifier (hex, 1 < v < N)".to_owned()
                }
                Error::Malformed(_) => "salt is not 2–512 hex characters".to_owned(),
                other => other.to_string(),
            };
            match line {
                Some(n) => format!("line {n}: {what}; nothing was imported"),
                None => format!("{what}; nothing was imported"),
            }
        })?;
    write(
        out,
        format_args!(
            "imported: {}\nunchanged: {}\n",
            count.imported, count.unchanged
        ),
    )
}
