//! Driving load: one thread per worker state running an operation in a loop
//! until a measured window ends, latencies recorded per kind of operation in
//! HDR histograms (only operations wholly inside the window count), and the
//! server's and machine's CPU sampled at the window's edges. It knows no
//! route and no scenario.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::sampler;

/// Latencies above this are recorded as this (an hour, in ns).
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;

/// A latency histogram in ns, 3 significant figures.
pub(crate) fn histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3).expect("valid histogram bounds")
}

/// What one worker measured: latencies per kind, errors.
pub(crate) struct Recorder {
    start: Instant,
    end: Instant,
    lat: Vec<Histogram<u64>>,
    errors: u64,
    first_error: Option<String>,
}

impl Recorder {
    fn new(start: Instant, end: Instant, kinds: usize) -> Recorder {
        Recorder {
            start,
            end,
            lat: (0..kinds).map(|_| histogram()).collect(),
            errors: 0,
            first_error: None,
        }
    }

    /// Counts an operation of `kind` that ran from `t0` to now, if it lies
    /// inside the measured window.
    pub(crate) fn record(&mut self, kind: usize, t0: Instant) {
        self.record_span(kind, t0, Instant::now());
    }

    /// Counts an operation of `kind` that ran from `t0` to `t1`, if it lies
    /// inside the measured window (for parts of one timed operation).
    pub(crate) fn record_span(&mut self, kind: usize, t0: Instant, t1: Instant) {
        if t0 >= self.start && t1 <= self.end {
            let ns = u64::try_from((t1 - t0).as_nanos()).unwrap_or(u64::MAX);
            self.lat[kind].saturating_record(ns.max(1));
        }
    }

    pub(crate) fn error(&mut self, what: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what());
        }
    }
}

/// Everything the workers of one run measured, merged.
pub(crate) struct Measured {
    pub(crate) lat: Vec<Histogram<u64>>,
    pub(crate) errors: u64,
    pub(crate) first_error: Option<String>,
    pub(crate) seconds: f64,
    pub(crate) server_cpu_s: Option<f64>,
    pub(crate) machine_busy: Option<f64>,
}

/// Runs one thread per state until the window ends; `op` does one
/// operation and records it. The CPU of `pid` is sampled at the window's
/// edges.
pub(crate) fn run_workers<S: Send>(
    pid: Option<u32>,
    warmup: Duration,
    duration: Duration,
    kinds: usize,
    states: Vec<S>,
    op: impl Fn(&mut S, &mut Recorder) + Sync,
) -> Measured {
    let start = Instant::now() + warmup;
    let end = start + duration;
    let op = &op;
    let (recs, cpu, machine) = std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .into_iter()
            .map(|mut state| {
                scope.spawn(move || {
                    let mut rec = Recorder::new(start, end, kinds);
                    while Instant::now() < end {
                        op(&mut state, &mut rec);
                    }
                    rec
                })
            })
            .collect();
        sleep_until(start);
        let cpu0 = pid.and_then(sampler::cpu_s);
        let m0 = sampler::machine_jiffies();
        sleep_until(end);
        let cpu1 = pid.and_then(sampler::cpu_s);
        let m1 = sampler::machine_jiffies();
        let recs: Vec<Recorder> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        let cpu = cpu0.zip(cpu1).map(|(a, b)| b - a);
        let machine = m0.zip(m1).map(|((b0, t0), (b1, t1))| {
            let total = t1.saturating_sub(t0).max(1) as f64;
            b1.saturating_sub(b0) as f64 / total * sampler::cores() as f64
        });
        (recs, cpu, machine)
    });
    let mut lat: Vec<Histogram<u64>> = (0..kinds).map(|_| histogram()).collect();
    let (mut errors, mut first_error) = (0, None);
    for r in recs {
        for (all, mine) in lat.iter_mut().zip(r.lat) {
            // Same bounds on both sides: adding cannot fail.
            all.add(mine).expect("histograms of the same bounds");
        }
        errors += r.errors;
        if first_error.is_none() {
            first_error = r.first_error;
        }
    }
    Measured {
        lat,
        errors,
        first_error,
        seconds: duration.as_secs_f64(),
        server_cpu_s: cpu,
        machine_busy: machine,
    }
}

fn sleep_until(t: Instant) {
    let now = Instant::now();
    if t > now {
        std::thread::sleep(t - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operations_inside_the_window_count() {
        let m = run_workers(
            None,
            Duration::from_millis(20),
            Duration::from_millis(50),
            2,
            vec![0u32; 2],
            |n, rec| {
                let t0 = Instant::now();
                std::thread::sleep(Duration::from_millis(1));
                rec.record(usize::from(*n % 2 == 1), t0);
                if *n == 3 {
                    rec.error(|| "third".into());
                }
                *n += 1;
            },
        );
        assert!(!m.lat[0].is_empty() && !m.lat[1].is_empty());
        // 2 workers, each op ≥ 1 ms, 50 ms window.
        assert!(m.lat[0].len() + m.lat[1].len() <= 2 * 50);
        assert!(m.lat[0].min() >= 1_000_000);
        assert_eq!((m.errors, m.first_error.as_deref()), (2, Some("third")));
    }
}
