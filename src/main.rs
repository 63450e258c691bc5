//! The `zkppd` binary: parse flags, then either serve (set up logging,
//! open the database, bind, serve until SIGTERM/SIGINT) or run one admin
//! subcommand; exit non-zero with one line on any failure.

mod admin;
mod assets;
mod healthcheck;
mod systemd;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use zkppd::config::{Cli, Command, LogFormat, ServeArgs};

fn main() -> ExitCode {
    match Cli::parse().into_command() {
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
        command => match admin::run(command, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("zkppd: {msg}");
                ExitCode::FAILURE
            }
        },
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let filter = match EnvFilter::try_new(&args.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("zkppd: invalid --log-level `{}`: {e}", args.log_level);
            return ExitCode::from(2);
        }
    };
    // Colours only on a terminal: journald and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Log lines (one access line per request) are written by a thread of
    // their own, buffered and flushed whenever it catches up: a request
    // never waits on a write to stderr. Not lossy: a full queue makes the
    // logger wait rather than drop a line; `_flush` writes out the rest
    // when serving ends.
    let (writer, _flush) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("zkppd-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        // A closed stderr (a collector gone away) must not take the server
        // down: the default reports the failed write with eprintln!, which
        // panics on that same closed stream.
        .log_internal_errors(false)
        .with_writer(writer);
    match args.log_format {
        LogFormat::Text => builder.init(),
        // One object per line: timestamp, level, target, the event's
        // fields, and the request span (request id, route) when inside one.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => fail(msg),
    }
}

fn fail(msg: String) -> ExitCode {
    tracing::error!("{msg}");
    let _ = writeln!(std::io::stderr(), "zkppd: {msg}");
    ExitCode::FAILURE
}

async fn run(args: ServeArgs) -> Result<(), String> {
    let settings = args.into_settings()?;
    catch_file_size_signal();
    if settings.admin_token.is_none() {
        tracing::warn!("no --admin-token-file: /v1/bucket/fill will answer 401");
    }
    let listen = settings.listen;
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
    tracing::info!("stopped");
    Ok(())
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
