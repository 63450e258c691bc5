//! The admin subcommands: they open the database directly (a SQLite file:
//! WAL and a busy timeout make that safe while a server runs on it; a
//! PostgreSQL database: like one more instance) and call the same core
//! services as the HTTP routes; `migrate` copies one store into another. Output is `key: value` lines on
//! stdout, for people and for `awk`; errors are one line each, and the exit
//! status is non-zero.
//!
//! Every command that changes the database (or copies it: `backup`) writes
//! one audit line to stderr once it has run, with the fields of the
//! server's audit lines (target `audit`, `op`, `outcome`, the keyed
//! `profile` reference, never the id) plus `via="cli"` and the `uid` that
//! ran it, so that the journal or collector reading the server's audit
//! sees the operators' changes too.

use std::io::{BufRead, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use zkppd::config::{
    BucketCommand, Command, DbArgs, DbLocation, ProfileCommand, SessionCommand, db_location,
};
use zkppd_core::rules::{self, MAX_TOKEN_LEN};
use zkppd_core::store::sqlite::SCHEMA_VERSION;
use zkppd_core::store::{FillCount, PostgresStore, SqliteStore, Store};
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
        Command::Bucket(BucketCommand::Generate { bucket, count, db }) => {
            bucket_generate(&db, &bucket, count, out)
        }
        Command::Profile(ProfileCommand::List { json, db }) => profile_list(&db, json, out),
        Command::Backup {
            dest,
            keep: None,
            db,
        } => backup(&db, &dest, out),
        Command::Backup {
            dest,
            keep: Some(keep),
            db,
        } => backup_rotated(&db, &dest, keep, out),
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
    let location = args.location()?;
    if let DbLocation::File(db) = &location
        && !create
        && !db.exists()
    {
        return Err(format!(
            "no database at {} (pass --db PATH, set ZKPPD_DB, or set ZKPPD_DB in {})",
            db.display(),
            std::env::var("ZKPPD_ENV_FILE")
                .unwrap_or_else(|_| zkppd::config::DEFAULT_ENV_FILE.into())
        ));
    }
    open_location(&location, create)
}

/// The audit label of a core call's outcome (the server's labels).
fn outcome<T>(result: &Result<T, Error>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.label(),
    }
}

/// Who ran the command: the real uid, and the `sudo` caller when there is
/// one (root alone says little about who).
fn uid() -> u32 {
    rustix::process::getuid().as_raw()
}

fn sudo_user() -> Option<String> {
    std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty())
}

/// Runs one core service call to completion on a small runtime of its own.
fn call<T>(store: &Opened, f: impl AsyncFnOnce(&Service) -> Result<T, Error>) -> Result<T, String> {
    run_service(store, f)?.map_err(|e| e.to_string())
}

/// [`call`] keeping the service's own error type (an import's carries the
/// line it failed on).
fn run_service<R>(store: &Opened, f: impl AsyncFnOnce(&Service) -> R) -> Result<R, String> {
    let service = Service::new(store.store(), Limits::default());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    Ok(runtime.block_on(f(&service)))
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
    let (_, total) = call(&store, async |s| {
        let result = s.fill_any_number(name, tokens).await;
        audit_fill("bucket_fill", name, &result);
        result
    })?;
    write(
        out,
        format_args!(
            "inserted: {}\nduplicates: {}\n",
            total.inserted, total.duplicates
        ),
    )
}

/// The audit line of a fill from the command line.
fn audit_fill(op: &'static str, bucket: &str, result: &Result<(rules::Bucket, FillCount), Error>) {
    match result {
        Ok((_, c)) => {
            tracing::info!(target: "audit", op, outcome = "ok", via = "cli", uid = uid(), sudo_user = sudo_user().as_deref(), bucket, inserted = c.inserted, duplicates = c.duplicates)
        }
        Err(_) => {
            tracing::info!(target: "audit", op, outcome = outcome(result), via = "cli", uid = uid(), sudo_user = sudo_user().as_deref(), bucket)
        }
    }
}

/// The audit line of a command about one profile.
fn audit_profile<T>(op: &'static str, service: &Service, id: &str, result: &Result<T, Error>) {
    let profile = service.profile_ref(id);
    tracing::info!(target: "audit", op, outcome = outcome(result), via = "cli", uid = uid(), sudo_user = sudo_user().as_deref(), profile = %profile);
}

/// `count` tokens of 128 bits from the OS random source, hex.
fn fresh_tokens(count: u32) -> Result<Vec<String>, String> {
    (0..count)
        .map(|_| {
            let mut bytes = zeroize::Zeroizing::new([0u8; 16]);
            getrandom::fill(&mut bytes[..]).map_err(|e| format!("OS random source: {e}"))?;
            Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
        })
        .collect()
}

fn bucket_generate(
    args: &DbArgs,
    name: &str,
    count: u32,
    out: &mut dyn Write,
) -> Result<(), String> {
    rules::Bucket::parse(name)
        .map_err(|_| format!("unknown bucket `{name}`: expected `profile` or `signup`"))?;
    let tokens = fresh_tokens(count)?;
    let store = open(args, true)?;
    let given = tokens.clone();
    let (_, total) = call(&store, async |s| {
        let result = s.fill_any_number(name, given).await;
        audit_fill("bucket_generate", name, &result);
        result
    })?;
    if total.duplicates > 0 {
        // 128 random bits do not collide: a duplicate means a broken
        // random source, and a token printed twice is worth stopping for.
        return Err(format!(
            "{} of the new tokens were already in the bucket: the OS random source is suspect",
            total.duplicates
        ));
    }
    let mut text = String::with_capacity(tokens.len() * 33);
    for t in &tokens {
        text.push_str(t);
        text.push('\n');
    }
    write(out, format_args!("{text}"))
}

fn profile_list(args: &DbArgs, json: bool, out: &mut dyn Write) -> Result<(), String> {
    let store = open(args, false)?;
    let profiles = call(&store, async |s| s.list_profiles().await)?;
    let created = |ms: i64| (ms > 0).then(|| zkppd_core::format_expiry(ms));
    if json {
        let list: Vec<serde_json::Value> = profiles
            .iter()
            .map(|p| serde_json::json!({"profile_id": p.id, "created": created(p.created_ms)}))
            .collect();
        let text = serde_json::to_string(&list).map_err(|e| e.to_string())?;
        return write(out, format_args!("{text}\n"));
    }
    let mut text = String::new();
    for p in &profiles {
        let when = created(p.created_ms).unwrap_or_else(|| "-".into());
        text.push_str(&format!("{} {when}\n", p.id));
    }
    write(out, format_args!("{text}"))
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
    let result = store
        .backup_to(partial.path(), BACKUP_PATIENCE)
        .map_err(|e| e.to_string())
        .and_then(|report| {
            partial
                .persist_noclobber(dest)
                .map(|_| report)
                .map_err(|e| format!("cannot move the copy to {}: {}", dest.display(), e.error))
        });
    // A copy of every verifier and the install secret: worth an audit line.
    let label = if result.is_ok() { "ok" } else { "error" };
    tracing::info!(target: "audit", op = "backup", outcome = label, via = "cli", uid = uid(), sudo_user = sudo_user().as_deref(), dest = %dest.display());
    let report = result?;
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

/// A dated copy's name: `zkppd-YYYYMMDDTHHMMSSZ.db`, which sorts by time.
fn is_dated_copy(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("zkppd-")
        .and_then(|n| n.strip_suffix("Z.db"))
    else {
        return false;
    };
    stamp.len() == 15
        && stamp.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'T'
            } else {
                b.is_ascii_digit()
            }
        })
}

/// `backup --keep N`: a dated copy in `dir`, then the oldest dated copies
/// beyond the newest `keep` are deleted (only once the new one is good, so
/// a failing backup never costs an old one).
fn backup_rotated(args: &DbArgs, dir: &Path, keep: u32, out: &mut dyn Write) -> Result<(), String> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let stamp: String = humantime_stamp(now_ms());
    let dest = dir.join(format!("zkppd-{stamp}.db"));
    backup(args, &dest, out)?;
    let mut copies: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| is_dated_copy(n))
        .collect();
    copies.sort();
    let excess = copies.len().saturating_sub(keep as usize);
    for old in &copies[..excess] {
        let path = dir.join(old);
        std::fs::remove_file(&path)
            .map_err(|e| format!("cannot delete the old copy {}: {e}", path.display()))?;
        write(out, format_args!("deleted: {}\n", path.display()))?;
    }
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` of a time in ms since the epoch (UTC).
fn humantime_stamp(ms: i64) -> String {
    // format_expiry gives YYYY-MM-DDTHH:MM:SS.mmmZ.
    let full = zkppd_core::format_expiry(ms);
    let digits: String = full[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{digits}Z")
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
    let ended = call(&store, async |s| {
        let result = s.delete_profile(id).await;
        audit_profile("profile_delete", s, id, &result);
        result
    })?;
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
    let token = call(&store, async |s| {
        let result = s.issue_reset_token(id, ttl).await;
        audit_profile("reset_token", s, id, &result);
        result
    })?;
    write(out, format_args!("{}\n", token.as_str()))
}

fn session_revoke(args: &DbArgs, id: &str, out: &mut dyn Write) -> Result<(), String> {
    valid_id(id)?;
    let store = open(args, false)?;
    let n = call(&store, async |s| {
        let result = s.revoke_sessions(id).await;
        audit_profile("session_revoke", s, id, &result);
        result
    })?;
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
    let result = run_service(&store, async |s| s.import_profiles(lines).await)?;
    match &result {
        Ok(c) => {
            tracing::info!(target: "audit", op = "profile_import", outcome = "ok", via = "cli", uid = uid(), sudo_user = sudo_user().as_deref(), imported = c.imported, unchanged = c.unchanged)
        }
        Err((_, e)) => {
            tracing::info!(target: "audit", op = "profile_import", outcome = e.label(), via = "cli", uid = uid(), sudo_user = sudo_user().as_deref())
        }
    }
    let count = result.map_err(|(line, e)| {
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
