//! The admin subcommands: they open the database file directly (WAL and a
//! busy timeout make that safe while a server runs on it) and apply the
//! same rules as the HTTP routes by calling the same functions. Output is
//! `key: value` lines on stdout, for people and for `awk`; errors are one
//! line each, and the exit status is non-zero.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::TransactionBehavior;
use serde::Deserialize;
use zkppd::config::{BucketCommand, Command, DbArgs, ProfileCommand, SessionCommand};
use zkppd::db::{self, Db, maintenance, profiles};
use zkppd::error::Error;
use zkppd::handlers::bucket::{self, Bucket};
use zkppd::handlers::{check_profile_id, signup};
use zkppd::keys::Keys;
use zkppd::srp;

/// How long `backup` waits for a busy database before giving up.
const BACKUP_PATIENCE: Duration = Duration::from_secs(60);

/// Runs an admin subcommand, writing its report to `out`.
pub fn run(command: Command, out: &mut dyn Write) -> Result<(), String> {
    match command {
        Command::Serve(_) | Command::GenerateAssets { .. } => Err("not an admin command".into()),
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
        Command::Session(SessionCommand::Revoke { profile, db }) => {
            session_revoke(&db, &profile, out)
        }
    }
}

/// Opens the database like the server does (same version and identity
/// checks). Commands that only read or remove refuse to create a missing
/// file: a mistyped `--db` should not leave an empty database behind.
fn open(args: &DbArgs, create: bool) -> Result<Db, String> {
    if !create && !args.db.exists() {
        return Err(format!(
            "no database at {} (pass --db PATH or set ZKPPD_DB)",
            args.db.display()
        ));
    }
    Db::open(Some(&args.db))
}

/// The text of a database error (for the terminal, unlike HTTP, the cause
/// is the useful part).
fn db_err(e: Error) -> String {
    match e.cause() {
        Some(cause) => cause.to_owned(),
        None => e.parts().1.to_owned(),
    }
}

fn conn(db: &Db) -> Result<r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>, String> {
    db.conn().map_err(db_err)
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
    let bucket = Bucket::parse(name)
        .ok_or_else(|| format!("unknown bucket `{name}`: expected `profile` or `signup`"))?;
    let mut tokens = Vec::new();
    for (i, line) in read_lines(file)?.into_iter().enumerate() {
        // Blank lines (a trailing newline, spacing between batches) carry
        // no token; anything else must be a token as the HTTP route says.
        if line.trim().is_empty() {
            continue;
        }
        if !bucket::valid_token(&line) {
            return Err(format!(
                "line {}: not a token (1–{} bytes of visible ASCII, no spaces); nothing was inserted",
                i + 1,
                bucket::MAX_TOKEN_LEN
            ));
        }
        tokens.push(line);
    }
    let db = open(args, true)?;
    let keys = Keys::new(db.secret());
    let count = bucket::fill_tokens(&mut *conn(&db)?, &keys, bucket, &tokens).map_err(db_err)?;
    write(
        out,
        format_args!(
            "inserted: {}\nduplicates: {}\n",
            count.inserted, count.duplicates
        ),
    )
}

fn bucket_count(args: &DbArgs, out: &mut dyn Write) -> Result<(), String> {
    let db = open(args, false)?;
    let sizes = db::buckets::sizes(&mut *conn(&db)?).map_err(db_err)?;
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
    let db = open(args, false)?;
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
    maintenance::backup(&*conn(&db)?, partial.path(), BACKUP_PATIENCE).map_err(db_err)?;

    let copy = rusqlite::Connection::open(partial.path())
        .map_err(|e| format!("cannot open the copy: {e}"))?;
    let integrity = maintenance::integrity_check(&copy).map_err(db_err)?;
    if integrity != ["ok"] {
        return Err(format!(
            "the copy failed integrity_check: {}",
            integrity.join("; ")
        ));
    }
    let (version, app_id) = maintenance::version(&copy).map_err(db_err)?;
    if app_id != db::APPLICATION_ID {
        return Err("the copy is not a zkppd database".into());
    }
    let profiles = maintenance::profile_count(&copy).map_err(db_err)?;
    copy.close()
        .map_err(|(_, e)| format!("cannot close the copy: {e}"))?;
    partial
        .persist_noclobber(dest)
        .map_err(|e| format!("cannot move the copy to {}: {}", dest.display(), e.error))?;
    write(
        out,
        format_args!(
            "backup: {}\nintegrity: ok\nschema_version: {version}\nprofiles: {profiles}\n",
            dest.display()
        ),
    )
}

fn check(args: &DbArgs, out: &mut dyn Write) -> Result<(), String> {
    let db = open(args, false)?;
    let conn = conn(&db)?;
    let integrity = maintenance::integrity_check(&conn).map_err(db_err)?;
    let foreign = maintenance::foreign_key_check(&conn).map_err(db_err)?;
    let (version, _) = maintenance::version(&conn).map_err(db_err)?;
    let profiles = maintenance::profile_count(&conn).map_err(db_err)?;
    let sessions = db::sessions::count_live(&conn, db::now_ms()).map_err(db_err)?;
    let ok = integrity == ["ok"] && foreign.is_empty();
    write(
        out,
        format_args!(
            "database: {}\nintegrity: {}\nschema_version: {version} (this binary: {})\nprofiles: {profiles}\nlive_sessions: {sessions}\n",
            args.db.display(),
            if ok { "ok" } else { "FAILED" },
            db::SCHEMA_VERSION
        ),
    )?;
    if ok {
        Ok(())
    } else {
        let problems: Vec<String> = integrity
            .into_iter()
            .filter(|l| l != "ok")
            .chain(foreign)
            .collect();
        Err(format!("database is damaged: {}", problems.join("; ")))
    }
}

fn profile_delete(args: &DbArgs, id: &str, out: &mut dyn Write) -> Result<(), String> {
    check_profile_id(id).map_err(|_| format!("`{id}` is not a valid profile id"))?;
    let db = open(args, false)?;
    let mut conn = conn(&db)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db_err(e.into()))?;
    let sessions = db::sessions::delete_for_profile(&tx, id).map_err(db_err)?;
    if !profiles::delete(&tx, id).map_err(db_err)? {
        return Err(format!("no profile `{id}`"));
    }
    tx.commit().map_err(|e| db_err(e.into()))?;
    write(
        out,
        format_args!("deleted: {id}\nsessions_ended: {sessions}\n"),
    )
}

fn session_revoke(args: &DbArgs, id: &str, out: &mut dyn Write) -> Result<(), String> {
    check_profile_id(id).map_err(|_| format!("`{id}` is not a valid profile id"))?;
    let db = open(args, false)?;
    let n = db::sessions::delete_for_profile(&*conn(&db)?, id).map_err(db_err)?;
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
    let mut records = Vec::new();
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
        // The same checks as POST /v1/signup.
        if check_profile_id(&p.profile_id).is_err() {
            return Err(format!(
                "line {n}: invalid profile_id; nothing was imported"
            ));
        }
        if srp::Verifier::from_hex(&p.zkpp).is_none() {
            return Err(format!(
                "line {n}: zkpp is not a valid SRP verifier (hex, 1 < v < N); nothing was imported"
            ));
        }
        if !signup::valid_salt(&p.salt) {
            return Err(format!(
                "line {n}: salt is not 2–512 hex characters; nothing was imported"
            ));
        }
        records.push((n, p));
    }
    let db = open(args, true)?;
    let mut conn = conn(&db)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db_err(e.into()))?;
    let (mut imported, mut unchanged) = (0u64, 0u64);
    for (n, p) in records {
        let record = profiles::Record {
            verifier: p.zkpp,
            salt: p.salt,
        };
        // Re-running an import is harmless; a clash with a different
        // record is a mistake worth stopping for.
        match profiles::get(&tx, &p.profile_id).map_err(db_err)? {
            Some(old) if old.verifier == record.verifier && old.salt == record.salt => {
                unchanged += 1
            }
            Some(_) => {
                return Err(format!(
                    "line {n}: profile `{}` already exists with a different verifier or salt; nothing was imported",
                    p.profile_id
                ));
            }
            None => {
                profiles::insert(&tx, &p.profile_id, &record).map_err(db_err)?;
                imported += 1;
            }
        }
    }
    tx.commit().map_err(|e| db_err(e.into()))?;
    write(
        out,
        format_args!("imported: {imported}\nunchanged: {unchanged}\n"),
    )
}
