//! Pausing and logging while something keeps failing (the database is down or
//! its disk is full): the pause grows exponentially to a cap, and a failing
//! condition is logged once per interval with a count, not once per attempt
//! (a worker that logged each retry wrote 1.26 GB in ten minutes, issue #12).

use std::fmt::Display;
use std::time::{Duration, Instant};

/// An error and its sources, `: `-separated, leaving out a source whose text
/// the previous one already shows (a database error repeats its message).
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for part in std::iter::successors(Some(e), |e| e.source()).map(ToString::to_string) {
        if !parts.last().is_some_and(|prev| prev.contains(&part)) {
            parts.push(part);
        }
    }
    parts.join(": ")
}

/// An exponential pause: `first`, doubling up to `cap`; [`Backoff::reset`] on
/// success.
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff {
            first,
            cap,
            next: first,
        }
    }

    /// The pause before the next attempt.
    pub fn pause(&mut self) -> Duration {
        let now = self.next;
        self.next = (self.next * 2).min(self.cap);
        now
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// A condition that may fail many times in a row, logged at the first
/// failure and then at most once per `interval`, with how many failures
/// there were since.
pub struct Throttled {
    what: String,
    interval: Duration,
    last_logged: Option<Instant>,
    failures: u64,
    unlogged: u64,
}

impl Throttled {
    pub fn new(what: impl Into<String>, interval: Duration) -> Throttled {
        Throttled {
            what: what.into(),
            interval,
            last_logged: None,
            failures: 0,
            unlogged: 0,
        }
    }

    pub fn failed(&mut self, error: &dyn Display) {
        self.failures += 1;
        if self
            .last_logged
            .is_some_and(|t| t.elapsed() < self.interval)
        {
            self.unlogged += 1;
            return;
        }
        if self.unlogged > 0 {
            tracing::error!(
                failures = self.failures,
                "{}: {error} (still failing: {} more failures since the last report)",
                self.what,
                self.unlogged
            );
        } else {
            tracing::error!(failures = self.failures, "{}: {error}", self.what);
        }
        self.last_logged = Some(Instant::now());
        self.unlogged = 0;
    }

    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "{}: works again after {} failures",
                self.what,
                self.failures
            );
        }
        self.failures = 0;
        self.unlogged = 0;
        self.last_logged = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_doubles_up_to_the_cap_and_starts_again_after_success() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(500));
        let waits: Vec<u128> = (0..5).map(|_| b.pause().as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 500, 500]);
        b.reset();
        assert_eq!(b.pause().as_millis(), 100);
    }
}
