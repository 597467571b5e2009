//! Rate-limited logging for per-packet events.
//!
//! A dead link fails every send; logging each failure would flood the log
//! and cost CPU. Like quinn-udp, we log the first occurrence, then at most
//! one line per interval saying how many were suppressed in between.

use std::time::{Duration, Instant};

/// How often a repeating per-packet problem may be logged.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

/// Decides whether a repeating event may be logged now.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimiter {
    /// A limiter allowing one line per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Call on every occurrence: `Some(n)` means log now, `n` occurrences
    /// having been suppressed since the previous line.
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

impl Default for LogLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_INTERVAL)
    }
}

/// " (N similar suppressed)" when N > 0, for appending to a log line.
pub fn suppressed_note(suppressed: u64) -> String {
    if suppressed == 0 {
        String::new()
    } else {
        format!(" ({suppressed} similar suppressed)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_first_then_counts_until_the_interval_passes() {
        let mut limiter = LogLimiter::new(Duration::from_millis(50));
        assert_eq!(limiter.allow(), Some(0));
        assert_eq!(limiter.allow(), None);
        assert_eq!(limiter.allow(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(limiter.allow(), Some(2));
    }
}
