//! `mixed`: verify traffic while a sign-in storm saturates the server's
//! crypto. The storm is a child `zkppd-bench --storm-child` (niced, so that
//! its own SRP math does not compete with the server); its row comes back
//! as JSON on its stdout.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{Bench, fixed_op};
use crate::load::run_workers;
use crate::report::{Row, row};

impl Bench {
    pub(crate) fn mixed(&mut self) -> Result<Vec<Row>, String> {
        self.fresh_sessions()?;
        let admin = self
            .target
            .admin_token
            .clone()
            .ok_or("mixed needs --admin-token with --url")?;
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let storm_secs = self.warmup + self.args.duration + Duration::from_millis(1500);
        let mut cmd = if self.args.storm_nice != 0 && Path::new("/usr/bin/nice").exists() {
            let mut c = Command::new("nice");
            c.arg("-n").arg(self.args.storm_nice.to_string()).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.arg("--storm-child")
            .arg("--scenario=signin")
            .arg(format!("--url={}", self.target.host_url))
            .arg(format!("--admin-token={admin}"))
            .arg(format!("--concurrency={}", self.args.storm.max(1)))
            .arg(format!("--profiles={}", self.args.storm.max(1)))
            .arg(format!("--duration={}ms", storm_secs.as_millis()))
            .arg("--warmup=0s")
            .arg("--json")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().map_err(|e| format!("storm: {e}"))?;
        let stdout = child.stdout.take().ok_or("storm: no stdout")?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let ready = loop {
            match rx.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.trim() == "READY" => break true,
                Ok(_) => continue,
                Err(_) => break false,
            }
        };
        if !ready {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the sign-in storm did not start".into());
        }
        let c = self.conc();
        let m = run_workers(
            self.target.pid,
            self.warmup,
            self.args.duration,
            1,
            self.verify_workers(c),
            fixed_op(200, 0),
        );
        let status = child.wait().map_err(|e| format!("storm: {e}"))?;
        let mut out = String::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&line);
            out.push('\n');
        }
        let mut verify = row("mixed/verify", c, &m, 0, self.target.pid, None);
        verify.server_cpu_per_op_ms = None;
        verify.note = Some(format!(
            "verify while {} sign-in connections (nice {}) run",
            self.args.storm, self.args.storm_nice
        ));
        let mut rows = vec![verify];
        let storm = out
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .and_then(|v| v["rows"].get(0).cloned())
            .and_then(|r| serde_json::from_value::<Row>(r).ok());
        match storm {
            Some(mut r) if status.success() => {
                r.scenario = "mixed/signin-storm".into();
                r.note = Some("whole storm run, from the storm process".into());
                if r.errors > 0 {
                    rows[0].errors += r.errors;
                    rows[0].first_error = rows[0].first_error.take().or(r.first_error.clone());
                }
                rows.push(r);
            }
            _ => return Err(format!("the sign-in storm failed ({status})")),
        }
        Ok(rows)
    }
}
