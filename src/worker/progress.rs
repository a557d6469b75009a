//! Progress of one compose job: phases and counts sent (at most twice a
//! second) to be recorded on the compose, every phase written to the
//! compose's log, and whether the job must stop.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::compose::Progress;
use crate::store::Timestamp;

/// Why a running compose must stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum StopReason {
    /// The job is not this worker's any more: cancelled, or taken over after
    /// its lease ran out.
    NotOurs = 1,
    /// The compose ran past the compose timeout.
    Timeout = 2,
}

/// Set once by whoever decides the compose must stop; the engine asks
/// between steps.
#[derive(Default)]
pub(super) struct Stop(AtomicU8);

impl Stop {
    pub(super) fn set(&self, why: StopReason) {
        let _ = self.0.compare_exchange(0, why as u8, Relaxed, Relaxed);
    }

    pub(super) fn reason(&self) -> Option<StopReason> {
        match self.0.load(Relaxed) {
            1 => Some(StopReason::NotOurs),
            2 => Some(StopReason::Timeout),
            _ => None,
        }
    }
}

pub(super) struct JobProgress {
    stop: std::sync::Arc<Stop>,
    tx: tokio::sync::mpsc::UnboundedSender<String>,
    state: Mutex<ProgressState>,
    log: Mutex<Option<std::fs::File>>,
}

struct ProgressState {
    phase: String,
    total: Option<u64>,
    done: u64,
    last_sent: Instant,
}

impl JobProgress {
    /// Progress into `tx` and the log at `log_path`, which is appended to: a
    /// compose run again (a retry, a worker that took the job over) keeps
    /// the earlier attempts' lines.
    pub(super) fn new(
        tx: tokio::sync::mpsc::UnboundedSender<String>,
        log_path: &Path,
        stop: std::sync::Arc<Stop>,
    ) -> JobProgress {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .map_err(|e| tracing::warn!("{}: cannot open the compose log: {e}", log_path.display()))
            .ok();
        JobProgress {
            stop,
            tx,
            state: Mutex::new(ProgressState {
                phase: String::new(),
                total: None,
                done: 0,
                last_sent: Instant::now(),
            }),
            log: Mutex::new(log),
        }
    }

    /// A line in the compose's log, with the time.
    pub(super) fn log(&self, line: &str) {
        use std::io::Write;
        if let Ok(mut guard) = self.log.lock()
            && let Some(f) = guard.as_mut()
        {
            let _ = writeln!(f, "{} {line}", Timestamp::now());
        }
    }

    fn send(&self, st: &mut ProgressState, force: bool) {
        if !force && st.last_sent.elapsed() < Duration::from_millis(500) {
            return;
        }
        st.last_sent = Instant::now();
        let text = match st.total {
            Some(t) if t > 0 => format!("{} {}/{t}", st.phase, st.done),
            _ => st.phase.clone(),
        };
        let _ = self.tx.send(text);
    }
}

impl Progress for JobProgress {
    fn note(&self, line: &str) {
        self.log(line);
    }
    fn phase(&self, name: &str, total: Option<u64>) {
        self.log(&match total {
            Some(t) => format!("{name} ({t})"),
            None => name.to_owned(),
        });
        if let Ok(mut st) = self.state.lock() {
            st.phase = name.to_owned();
            st.total = total;
            st.done = 0;
            self.send(&mut st, true);
        }
    }
    fn advance(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.done += n;
            self.send(&mut st, false);
        }
    }
    fn set(&self, n: u64) {
        if let Ok(mut st) = self.state.lock() {
            st.done = n;
            self.send(&mut st, false);
        }
    }
    fn done(&self) {}
    fn cancelled(&self) -> bool {
        self.stop.reason().is_some()
    }
}
