//! The `zkppd` binary: parse flags, then either serve (set up logging,
//! open the database, bind, serve until SIGTERM/SIGINT) or run one admin
//! subcommand; exit non-zero with one line on any failure.

mod admin;
mod assets;
mod healthcheck;
mod logbuf;
mod logging;
mod systemd;

use std::process::ExitCode;

use clap::Parser;
use zkppd::config::{Cli, Command, ServeArgs};

fn main() -> ExitCode {
    // `--db` before an admin subcommand is read as if written after it.
    let args = zkppd::config::db_after_subcommand(std::env::args_os().collect());
    match Cli::parse_from(args).into_command() {
        Command::Serve(args) => serve(args),
        Command::GenerateAssets { dir } => match assets::generate(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("zkppd: {msg}");
                ExitCode::FAILURE
            }
        },
        Command::Healthcheck(args) => match healthcheck::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("zkppd: {msg}");
                ExitCode::FAILURE
            }
        },
        command => {
            logging::init_admin();
            match admin::run(command, &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(msg) => {
                    eprintln!("zkppd: {msg}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let format = args.log_format;
    // `_flush` writes out the log lines still queued when serving ends.
    let (set_level, _flush, level_ok) = logging::init_server(format, &args.log_level);
    if let Err(msg) = level_ok {
        logging::fail(format, &msg);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return logging::fail(format, &format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(args, set_level)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => logging::fail(format, &msg),
    }
}

async fn run(args: ServeArgs, set_level: logging::SetLevel) -> Result<(), String> {
    let settings = args.into_settings()?;
    catch_file_size_signal();
    // Installed before `listening on`: a SIGHUP from then on reloads and
    // never takes the default action (terminate).
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| format!("cannot catch SIGHUP: {e}"))?;
    if settings.admin_token.is_none() {
        tracing::warn!("no --admin-token-file: /v1/bucket/fill will answer 401");
    }
    let listen = settings.listen;
    let token_file = settings.admin_token_file.clone();
    let state = tokio::task::spawn_blocking(move || zkppd::AppState::open(settings))
        .await
        .map_err(|e| e.to_string())??;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics = match state.settings.metrics_listen {
        None => None,
        Some(at) => {
            let listener = tokio::net::TcpListener::bind(at)
                .await
                .map_err(|e| format!("cannot listen on {at} for metrics: {e}"))?;
            let bound = listener.local_addr().map_err(|e| e.to_string())?;
            tracing::info!("metrics on http://{bound}/metrics");
            Some(tokio::spawn(zkppd::serve_metrics(listener, state.clone())))
        }
    };
    warn_if_readable("the admin token file", token_file.as_deref());
    if let zkppd::config::DbLocation::File(db) = &state.settings.db {
        warn_if_readable("the database", Some(db));
    }
    let reloads = tokio::spawn(reload_on_hangup(hangups, state.clone(), set_level));
    let stop = shutdown_signal();
    tracing::info!(db = %state.core.describe_store(), "listening on {addr}");
    systemd::notify("READY=1");
    zkppd::serve(listener, state, async {
        stop.await;
        systemd::notify("STOPPING=1");
    })
    .await
    .map_err(|e| e.to_string())?;
    if let Some(task) = metrics {
        task.abort();
    }
    // Awaited, so that its copy of the state (and the database pool with
    // it) is gone before the process exits: SQLite removes the -wal and
    // -shm files when the last connection closes.
    reloads.abort();
    let _ = reloads.await;
    tracing::info!("stopped");
    Ok(())
}

/// Warns when the group or others may read `path` (the admin token, or the
/// database with the install secret and every verifier): zkppd creates its
/// files 0600, so a wider mode was set by someone, or by an older version.
fn warn_if_readable(what: &str, path: Option<&std::path::Path>) {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = path else { return };
    let Ok(meta) = std::fs::metadata(path) else {
        return;
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{mode:04o}"),
            "{what} is readable by other users; chmod 600 it"
        );
    }
}

/// SIGHUP: reads the admin token file again and takes the log level from
/// `--env-file`, each logged; open connections and requests carry on.
/// A bad new value leaves the old one in force (an error line says why).
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    state: zkppd::AppState,
    set_level: logging::SetLevel,
) {
    while hangups.recv().await.is_some() {
        match state.reload_admin_token() {
            Ok(true) => tracing::info!(
                path = %state.settings.admin_token_file.as_deref().unwrap_or(std::path::Path::new("")).display(),
                "SIGHUP: admin token reloaded"
            ),
            Ok(false) => {}
            Err(e) => tracing::error!("SIGHUP: admin token kept: {e}"),
        }
        let Some(env_file) = &state.settings.env_file else {
            continue;
        };
        match std::fs::read_to_string(env_file) {
            Err(e) => tracing::error!(
                "SIGHUP: log level kept: cannot read {}: {e}",
                env_file.display()
            ),
            Ok(text) => match zkppd::config::env_file_value(&text, "ZKPPD_LOG_LEVEL") {
                None => tracing::info!(
                    "SIGHUP: log level kept: no ZKPPD_LOG_LEVEL in {}",
                    env_file.display()
                ),
                Some(level) => match set_level(&level) {
                    // Logged at warn so that it shows at any level but error.
                    Ok(()) => tracing::warn!(level = %level, "SIGHUP: log level set"),
                    Err(e) => tracing::error!("SIGHUP: log level kept: {e}"),
                },
            },
        }
    }
}

/// A write past the file-size limit (`ulimit -f`, `prlimit --fsize`,
/// systemd `LimitFSIZE=`) raises SIGXFSZ, whose default action kills the
/// process. With a handler installed (tokio's stays for the life of the
/// process, even once the stream is dropped) the write fails with EFBIG
/// instead: SQLite rolls the transaction back and the request gets a 503.
fn catch_file_size_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let xfsz = rustix::process::Signal::XFSZ.as_raw();
    if let Err(e) = signal(SignalKind::from_raw(xfsz)) {
        tracing::warn!(error = %e, "cannot catch SIGXFSZ: a file-size limit will kill the server");
    }
}

/// Installs the SIGTERM/SIGINT handlers now (so that a signal sent right
/// after `listening on` is not fatal) and resolves when one arrives.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        match handlers {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
