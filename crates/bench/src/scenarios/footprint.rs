//! `footprint`: a zkppd of its own on a file database with many profiles
//! imported by `zkppd profile import`: start-up to first answer, then RSS
//! with many idle keep-alive connections open while verify and sign-in
//! traffic runs.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zkppd_client::{Client, Registration};
use zkppd_proto::paths;

use super::{Fixed, SigninWorker, Target, fixed_op, invalid_verify_body};
use super::{prepare_profiles, sign_in_all};
use crate::cli::Args;
use crate::load::run_workers;
use crate::report::{Row, Targets, row};
use crate::supervisor::{Server, zkppd_binary};

enum Worker {
    Signin(Box<SigninWorker>),
    Verify(Fixed),
}

pub(crate) fn footprint(args: &Args, warmup: Duration) -> Result<(Vec<Row>, Targets), String> {
    let bin = zkppd_binary(args)?;
    let dir = tempfile::Builder::new()
        .prefix("zkppd-bench-fp-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let db = dir.path().join("zkppd.db");

    // Import the profiles with the admin command (one verifier for all:
    // the footprint does not depend on it).
    let reg = Registration::new("footprint", "pw");
    let t = Instant::now();
    let mut import = Command::new(&bin)
        .args(["profile", "import", "--db"])
        .arg(&db)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("zkppd profile import: {e}"))?;
    {
        let stdin = import.stdin.take().ok_or("import: no stdin")?;
        let mut w = std::io::BufWriter::new(stdin);
        for i in 0..args.footprint_profiles {
            writeln!(
                w,
                r#"{{"profile_id":"fp-{i:08}","zkpp":"{}","salt":"{}"}}"#,
                reg.verifier, reg.salt
            )
            .map_err(|e| format!("import: {e}"))?;
        }
        w.flush().map_err(|e| format!("import: {e}"))?;
    }
    let out = import
        .wait_with_output()
        .map_err(|e| format!("import: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "zkppd profile import failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let import_s = t.elapsed().as_secs_f64();
    let db_mb = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0;

    // Start-up to first answer, on the existing database.
    let server = Server::start(&bin, Some(db.as_os_str()), false, &args.zkppd_args)?;
    let probe = invalid_verify_body();
    let mut first = Client::new(server.addr);
    let answered = first
        .post(paths::VERIFY, &probe, None)
        .map_err(|e| format!("first request: {e}\n{}", server.log_tail()))?;
    let startup = server.spawned_at.elapsed();
    if answered.status != 400 {
        return Err(format!("first answer was {}", answered.status));
    }

    let target = Target::of(&server, false);

    // Idle keep-alive connections, each used once so that the server holds
    // a live connection task for it.
    let mut idle = Vec::with_capacity(args.footprint_connections);
    let request = first.build_request(paths::VERIFY, &probe, None);
    let mut body = Vec::new();
    for _ in 0..args.footprint_connections {
        let mut c = Client::new(server.addr);
        match c.send(&request, &mut body) {
            Ok(h) if h.status == 400 => idle.push(c),
            Ok(h) => return Err(format!("idle connection got {}", h.status)),
            Err(e) => return Err(format!("idle connection: {e}")),
        }
    }

    // Traffic while they are open: sign-ins and verifies.
    let prefix = format!("fp{}", crate::random_hex(4));
    let n = args.concurrency.clamp(2, 8);
    let profiles = prepare_profiles(&target, &prefix, n)?;
    let sessions = sign_in_all(&target, &profiles)?;
    let workers: Vec<Worker> = (0..n)
        .map(|w| {
            if w % 2 == 0 {
                let mine = vec![profiles[w].clone()];
                Worker::Signin(Box::new(SigninWorker::new(target.addr, mine)))
            } else {
                Worker::Verify(Fixed::verify(target.addr, &sessions[w]))
            }
        })
        .collect();
    let verify_op = fixed_op(200, 1);
    let m = run_workers(
        target.pid,
        warmup,
        args.duration,
        2,
        workers,
        |w, rec| match w {
            Worker::Signin(s) => s.op(rec, 0),
            Worker::Verify(f) => verify_op(f, rec),
        },
    );
    // Read while the idle connections are still open.
    let mut rows = vec![
        row("footprint/signin", n.div_ceil(2), &m, 0, target.pid, None),
        row("footprint/verify", n / 2, &m, 1, target.pid, None),
    ];
    for r in &mut rows {
        r.server_cpu_per_op_ms = None;
    }
    rows[0].note = Some(format!(
        "{} profiles ({db_mb:.0} MB file, import {import_s:.1}s), {} idle keep-alive conns; start-up to first answer {:.1} ms (`listening on` after {:.1} ms)",
        args.footprint_profiles,
        idle.len(),
        startup.as_secs_f64() * 1e3,
        server.listening_after.as_secs_f64() * 1e3,
    ));
    let targets = Targets {
        footprint_rss_mb: rows[0].server_rss_mb,
        footprint_startup_ms: Some(startup.as_secs_f64() * 1e3),
        ..Targets::default()
    };
    drop(idle);
    drop(server);
    Ok((rows, targets))
}
