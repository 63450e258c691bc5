//! The binary's log output: the tracing subscriber of the server (text or
//! JSON on stderr, its filter swappable at run time for SIGHUP), the one
//! line a start-up failure prints, and the audit-only subscriber of the
//! admin subcommands. Owns no server state.

use std::io::Write;
use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::reload;
use zkppd::config::{LogFormat, check_log_level};

/// Swaps the server's log filter (SIGHUP); the error names the cause.
pub(crate) type SetLevel = Box<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The filter of a `--log-level` value: a bare word must be a level (see
/// [`check_log_level`]), the rest is `EnvFilter`'s syntax.
pub(crate) fn filter(level: &str) -> Result<EnvFilter, String> {
    check_log_level(level)?;
    EnvFilter::try_new(level).map_err(|e| format!("invalid --log-level `{level}`: {e}"))
}

/// Installs the server's subscriber. An invalid level still installs one
/// (at `error`), so that the start-up failure it causes is reported in the
/// chosen format; the error is returned beside the setter.
pub(crate) fn init_server(
    format: LogFormat,
    level: &str,
) -> (SetLevel, crate::logbuf::Flush, Result<(), String>) {
    let (initial, checked) = match filter(level) {
        Ok(f) => (f, Ok(())),
        Err(e) => (EnvFilter::new("error"), Err(e)),
    };
    // Colours only on a terminal: journald and collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // Log lines (one access line per request) are written in batches by a
    // thread of their own (see `logbuf`): a request never waits on stderr;
    // the guard writes out the rest when it is dropped (serving ended).
    let (writer, guard) = crate::logbuf::start(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(initial)
        .with_ansi(ansi)
        // A closed stderr (a collector gone away) must not take the server
        // down: the default reports the failed write with eprintln!, which
        // panics on that same closed stream.
        .log_internal_errors(false)
        .with_writer(writer);
    let set: SetLevel = match format {
        LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            setter(handle)
        }
        // One object per line: timestamp, level, target, the event's
        // fields, and the request span (request id, route) when inside one.
        LogFormat::Json => {
            let builder = builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_filter_reloading();
            let handle = builder.reload_handle();
            builder.init();
            setter(handle)
        }
    };
    (set, guard, checked)
}

fn setter<S: 'static>(handle: reload::Handle<EnvFilter, S>) -> SetLevel {
    Box::new(move |level| {
        let f = filter(level)?;
        handle
            .reload(f)
            .map_err(|e| format!("cannot change the log level: {e}"))
    })
}

/// Reports a start-up failure in exactly one line: `zkppd: …` in text
/// mode, one JSON object (the subscriber's own format) in JSON mode.
pub(crate) fn fail(format: LogFormat, msg: &str) -> ExitCode {
    match format {
        LogFormat::Json => tracing::error!(target: "zkppd", "{msg}"),
        LogFormat::Text => {
            let _ = writeln!(std::io::stderr(), "zkppd: {msg}");
        }
    }
    ExitCode::FAILURE
}

/// The admin subcommands' subscriber: the audit lines only, on stderr, in
/// the server's format (`ZKPPD_LOG_FORMAT=json` for JSON), so that the
/// journal or collector that reads the server's audit reads these too.
pub(crate) fn init_admin() {
    let json = std::env::var("ZKPPD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("off,audit=info"))
        .with_ansi(false)
        .log_internal_errors(false)
        .with_writer(std::io::stderr);
    if json {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}
