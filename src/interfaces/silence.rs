//! Zombie links: a link whose socket is open but hears nothing from the
//! server while other links do.
//!
//! engarde-server sends every reply over every client address it heard
//! recently, so while one link receives, every healthy link receives the same
//! datagrams. A link that stays silent for `linkSilenceTimeout` while the
//! others received at least [`MIN_OTHERS_HEARD`] datagrams is broken in a way
//! the survey of interfaces cannot see (a stale NAT mapping upstream, a
//! socket bound to an interface that was created again, a firewall that
//! forgot the flow): the watcher re-creates it, which gives it a new socket
//! and a new source port. Plain silence is no fault (the server only speaks
//! when WireGuard does), so silence on every link never triggers anything.
//!
//! A link that is still silent after being re-created is re-created again
//! only after twice as long, and so on (at most [`MAX_BACKOFF_DOUBLINGS`]
//! doublings), so a link that is simply dead costs one log line every few
//! minutes, not a busy loop. Hearing the server once resets the backoff.
//!
//! Pure bookkeeping, driven by the watcher with counters and instants, so
//! it is tested without sockets or clocks.

use std::time::Duration;
use tokio::time::Instant;

/// Datagrams the other links must have received during the silence: one
/// lost reply on a lossy link is not a fault.
pub const MIN_OTHERS_HEARD: u64 = 3;

/// The silence needed doubles after each fruitless re-creation, at most
/// this many times (64 × the timeout).
pub const MAX_BACKOFF_DOUBLINGS: u32 = 6;

/// What the watcher remembers about one link (interface and family) across
/// re-creations.
#[derive(Debug, Clone)]
pub struct SilenceWatch {
    /// The link's receive counter when it last moved.
    own_rx: u64,
    /// When it last moved (or the link started).
    quiet_since: Instant,
    /// The other links' receive counters at `quiet_since`.
    others_at_quiet: u64,
    /// Re-creations since the link last heard the server.
    failures: u32,
}

/// A link found silent while the others heard the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    /// How long it has heard nothing.
    pub silent_for: Duration,
    /// Datagrams the other links received meanwhile.
    pub others_heard: u64,
    /// Re-creations before this one since it last heard the server.
    pub failures: u32,
}

impl SilenceWatch {
    /// A link that starts now, with its and the others' receive counters.
    pub fn new(now: Instant, own_rx: u64, others_rx: u64) -> Self {
        Self {
            own_rx,
            quiet_since: now,
            others_at_quiet: others_rx,
            failures: 0,
        }
    }

    /// The silence after which the link counts as broken, with the backoff.
    pub fn threshold(&self, timeout: Duration) -> Duration {
        timeout * (1 << self.failures.min(MAX_BACKOFF_DOUBLINGS))
    }

    /// Re-creations since the link last heard the server.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Looks at the counters now; `Some` when the link must be re-created.
    pub fn check(
        &mut self,
        now: Instant,
        own_rx: u64,
        others_rx: u64,
        timeout: Duration,
    ) -> Option<Silence> {
        if own_rx != self.own_rx {
            *self = Self::new(now, own_rx, others_rx);
            return None;
        }
        let silent_for = now.saturating_duration_since(self.quiet_since);
        let others_heard = others_rx.saturating_sub(self.others_at_quiet);
        (!timeout.is_zero()
            && silent_for >= self.threshold(timeout)
            && others_heard >= MIN_OTHERS_HEARD)
            .then_some(Silence {
                silent_for,
                others_heard,
                failures: self.failures,
            })
    }

    /// The link was re-created now: the silence is measured afresh, and the
    /// next re-creation needs twice as long unless it hears the server.
    pub fn recreated(&mut self, now: Instant, own_rx: u64, others_rx: u64) {
        let failures = self.failures.saturating_add(1);
        *self = Self::new(now, own_rx, others_rx);
        self.failures = failures;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(15);

    #[test]
    fn silence_while_others_hear_the_server_is_a_fault() {
        let start = Instant::now();
        let mut watch = SilenceWatch::new(start, 100, 1000);
        assert_eq!(watch.check(start + T / 2, 100, 1500, T), None, "too early");
        let found = watch.check(start + T, 100, 1500, T).expect("silent for T");
        assert_eq!(found.silent_for, T);
        assert_eq!(found.others_heard, 500);
        assert_eq!(found.failures, 0);
    }

    #[test]
    fn silence_everywhere_is_no_fault() {
        let start = Instant::now();
        let mut watch = SilenceWatch::new(start, 100, 1000);
        assert_eq!(watch.check(start + 10 * T, 100, 1000, T), None);
        assert_eq!(
            watch.check(start + 10 * T, 100, 1000 + MIN_OTHERS_HEARD - 1, T),
            None,
            "a couple of lost replies are no fault"
        );
        assert!(
            watch
                .check(start + 10 * T, 100, 1000 + MIN_OTHERS_HEARD, T)
                .is_some()
        );
    }

    #[test]
    fn hearing_the_server_restarts_the_count() {
        let start = Instant::now();
        let mut watch = SilenceWatch::new(start, 100, 1000);
        assert_eq!(
            watch.check(start + T - Duration::from_secs(1), 101, 1400, T),
            None
        );
        assert_eq!(watch.check(start + T, 101, 1500, T), None, "heard 1 s ago");
        assert!(watch.check(start + 2 * T, 101, 1600, T).is_some());
    }

    #[test]
    fn repeated_recreations_back_off_and_hearing_resets_the_backoff() {
        let mut now = Instant::now();
        let mut watch = SilenceWatch::new(now, 0, 0);
        let mut others = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let mut waited = Duration::ZERO;
            loop {
                now += Duration::from_secs(1);
                waited += Duration::from_secs(1);
                others += 100;
                if watch.check(now, 0, others, T).is_some() {
                    break;
                }
            }
            waits.push(waited.as_secs());
            watch.recreated(now, 0, others);
        }
        assert_eq!(waits, [15, 30, 60, 120, 240, 480, 960, 960]);
        assert_eq!(watch.failures(), 8);
        now += Duration::from_secs(1);
        assert_eq!(watch.check(now, 1, others, T), None, "it hears again");
        assert_eq!(watch.failures(), 0);
        assert_eq!(watch.threshold(T), T);
    }

    #[test]
    fn a_zero_timeout_turns_it_off() {
        let start = Instant::now();
        let mut watch = SilenceWatch::new(start, 0, 0);
        assert_eq!(
            watch.check(
                start + Duration::from_secs(3600),
                0,
                1_000_000,
                Duration::ZERO
            ),
            None
        );
    }
}
