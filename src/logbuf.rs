//! The server's log sink: lines are appended to one shared buffer and a
//! thread of its own writes them to stderr in batches, so that a request
//! never waits on a write to stderr and a busy server wakes that thread
//! once per batch, not once per line (a per-line queue costs two thread
//! wake-ups per request, a measurable share of a cheap route).
//!
//! Not lossy: a buffer at its limit makes the logger wait for the writer
//! rather than drop a line. [`Flush`], dropped when serving ends, writes
//! out everything buffered. Hand-written: the batching (wake on the first
//! line, gather briefly, write all at once) is the point, and it is a few
//! dozen lines over a mutex and two condition variables.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writer gathers lines after the first of a batch.
const GATHER: Duration = Duration::from_millis(20);
/// A batch this large is written at once, without waiting out `GATHER`.
const EAGER: usize = 64 * 1024;
/// Past this, loggers wait for the writer (bounded memory, no line lost).
const LIMIT: usize = 1024 * 1024;
/// How long the end of serving waits for the last lines to be written: a
/// stderr nobody reads (a stalled pipe) must not hold the exit forever.
const FINAL_WAIT: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    closed: bool,
    /// The writer wrote everything and ended.
    finished: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: the first line of a batch, a large batch, close.
    work: Condvar,
    /// Wakes loggers waiting for room.
    room: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The `MakeWriter` of the subscriber: cheap to clone, appends to the
/// shared buffer.
#[derive(Clone)]
pub(crate) struct LogBuf(Arc<Shared>);

/// Writes out what is buffered and stops the writer thread when dropped.
pub(crate) struct Flush {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Starts the writer thread over `out`.
pub(crate) fn start(out: impl Write + Send + 'static) -> (LogBuf, Flush) {
    let shared = Arc::new(Shared::default());
    let for_thread = shared.clone();
    let thread = std::thread::Builder::new()
        .name("zkppd-log".into())
        .spawn(move || write_batches(&for_thread, out))
        .ok();
    (LogBuf(shared.clone()), Flush { shared, thread })
}

fn write_batches(shared: &Shared, mut out: impl Write) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.buf.is_empty() && !state.closed {
            state = shared.work.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        if !state.closed && state.buf.len() < EAGER {
            // Let the rest of the batch arrive (a close ends the wait).
            state = shared
                .work
                .wait_timeout(state, GATHER)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let done = state.closed;
        std::mem::swap(&mut batch, &mut state.buf);
        drop(state);
        shared.room.notify_all();
        // A closed stderr (a collector gone away) loses the lines, never
        // the server.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if done {
            let mut state = shared.lock();
            if state.buf.is_empty() {
                state.finished = true;
                drop(state);
                shared.room.notify_all();
                return;
            }
        }
    }
}

impl Write for LogBuf {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let shared = &self.0;
        let mut state = shared.lock();
        while state.buf.len() >= LIMIT && !state.closed {
            state = shared.room.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        let was_empty = state.buf.is_empty();
        state.buf.extend_from_slice(line);
        let eager = state.buf.len() >= EAGER && state.buf.len() - line.len() < EAGER;
        drop(state);
        if was_empty || eager {
            shared.work.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;

    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        let shared = &self.shared;
        let mut state = shared.lock();
        state.closed = true;
        shared.work.notify_one();
        let deadline = std::time::Instant::now() + FINAL_WAIT;
        while !state.finished && self.thread.is_some() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                // The writer is stuck on stderr: leave it, exit anyway.
                return;
            }
            state = shared
                .room
                .wait_timeout(state, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(state);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Write` whose bytes the test can read.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_by_the_time_flush_is_dropped() {
        let sink = Sink::default();
        let (buf, flush) = start(sink.clone());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = buf.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(flush);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 80_000);
        for t in 0..4 {
            let mine: Vec<_> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            let want: Vec<_> = (0..20_000).map(|i| format!("t{t} line {i}")).collect();
            assert_eq!(mine, want, "thread {t}'s lines, in order");
        }
    }

    /// A `Write` that never returns (a pipe nobody reads).
    struct Stalled;

    impl Write for Stalled {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_stderr_holds_the_end_of_serving_only_for_the_final_wait() {
        let (mut buf, flush) = start(Stalled);
        buf.write_all(b"a line nobody reads\n").unwrap();
        let t0 = std::time::Instant::now();
        drop(flush);
        let took = t0.elapsed();
        assert!(took >= FINAL_WAIT - Duration::from_millis(100), "{took:?}");
        assert!(took < FINAL_WAIT + Duration::from_secs(2), "{took:?}");
    }

    #[test]
    fn a_line_reaches_the_output_without_a_flush() {
        let sink = Sink::default();
        let (mut buf, _flush) = start(sink.clone());
        buf.write_all(b"one line\n").unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.0.lock().unwrap().is_empty() {
            assert!(std::time::Instant::now() < deadline, "never written");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(&*sink.0.lock().unwrap(), b"one line\n");
    }
}
