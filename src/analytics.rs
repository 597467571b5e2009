//! Passive per-path analytics (issue 5, part 4): what each path (a client
//! link, or a client address on the server) is worth, measured from the
//! copies the receiving side already sees, with no probe and no added byte.
//!
//! Every WireGuard data message travels over every path, and the endpoint
//! that receives the copies (where the duplicate filter runs) sees each
//! `(receiver index, counter)` once per path that delivered it. Per path:
//! - **wins**: how often it delivered the first copy (exact: the duplicate
//!   filter's verdict);
//! - **rescued**: packets that arrived on it alone while another path was
//!   up: what that path bought the user;
//! - **lost**: packets another path delivered and it never did, out of
//!   **expected**, the packets it should have carried (another path
//!   delivered them while it was attached);
//! - **delay**: how much later than the fastest path its copy arrived (0
//!   when it was first), in a log-scale histogram read as median and p99.
//!
//! Cost on the data path: one slot of a direct-mapped table per tracked
//! packet, written in place (no allocation), and a few relaxed atomic
//! additions per copy. An entry is finalised when it is [`AGE_OUT`] old:
//! a copy later than that counts as lost (and its delay is not recorded).
//! The table holds [`TABLE_ENTRIES`] packets; at more than about
//! `TABLE_ENTRIES / AGE_OUT` (8,192) distinct packets a second, a packet
//! whose slot is still busy goes untracked: wins stay exact, the other
//! figures become a sample (their ratios stay right).
//!
//! Paths are identified by small slots (at most [`SLOTS`] per endpoint), so
//! a packet's set of delivering paths is one `u64` bitmask.

use crate::actors::messages::PathId;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Paths an endpoint tracks at once; more are not tracked.
pub const SLOTS: usize = 64;

/// Packets tracked at once (a power of two).
pub const TABLE_ENTRIES: usize = 4096;

/// How long a packet waits for its copies before it is judged.
pub const AGE_OUT: Duration = Duration::from_millis(500);

const AGE_OUT_US: u64 = AGE_OUT.as_micros() as u64;

/// Histogram buckets: 8 exact ones below 8 µs, then 8 per power of two up
/// to 2^24 µs (16.8 s); later values land in the last bucket.
pub const BUCKETS: usize = 8 + 21 * 8;

/// The bucket of a delay of `micros`.
fn bucket(micros: u64) -> usize {
    if micros < 8 {
        return micros as usize;
    }
    let exponent = 63 - micros.leading_zeros() as usize; // >= 3
    let mantissa = ((micros >> (exponent - 3)) & 7) as usize;
    (8 + (exponent - 3) * 8 + mantissa).min(BUCKETS - 1)
}

/// The delay a bucket stands for: the middle of its range, in µs (within
/// 1/16 of any value in it).
fn bucket_value(index: usize) -> f64 {
    if index < 8 {
        return index as f64;
    }
    let exponent = (index - 8) / 8 + 3;
    let mantissa = ((index - 8) % 8) as u64;
    let width = 1u64 << (exponent - 3);
    ((8 + mantissa) * width) as f64 + width as f64 / 2.0
}

/// A path's figures, shared with the readers (API, metrics, log): relaxed
/// atomics, written by the endpoint that receives the path's copies.
#[derive(Debug)]
pub struct PathAnalytics {
    /// First copies this path delivered.
    pub wins: AtomicU64,
    /// Packets only this path delivered while another was up.
    pub rescued: AtomicU64,
    /// Packets another path delivered and this one did not.
    pub lost: AtomicU64,
    /// Packets judged while this path was up (the denominator of `lost`).
    pub expected: AtomicU64,
    /// Delay behind the first copy of each packet it delivered, per bucket.
    delay: [AtomicU64; BUCKETS],
    /// Sum of the recorded delays, in µs (for a Prometheus summary).
    delay_sum_us: AtomicU64,
}

impl Default for PathAnalytics {
    fn default() -> Self {
        Self {
            wins: AtomicU64::new(0),
            rescued: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            expected: AtomicU64::new(0),
            delay: std::array::from_fn(|_| AtomicU64::new(0)),
            delay_sum_us: AtomicU64::new(0),
        }
    }
}

impl PathAnalytics {
    fn record_delay(&self, micros: u64) {
        self.delay[bucket(micros)].fetch_add(1, Ordering::Relaxed);
        self.delay_sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The figures now.
    pub fn snapshot(&self) -> AnalyticsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        AnalyticsSnapshot {
            wins: load(&self.wins),
            rescued: load(&self.rescued),
            lost: load(&self.lost),
            expected: load(&self.expected),
            delay: std::array::from_fn(|i| load(&self.delay[i])),
            delay_sum_us: load(&self.delay_sum_us),
        }
    }
}

/// A path's figures at one moment (or over an interval, see [`Self::since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalyticsSnapshot {
    /// First copies delivered.
    pub wins: u64,
    /// Packets only this path delivered while another was up.
    pub rescued: u64,
    /// Packets another path delivered and this one did not.
    pub lost: u64,
    /// Packets judged while this path was up.
    pub expected: u64,
    /// Delay histogram.
    pub delay: [u64; BUCKETS],
    /// Sum of the recorded delays, in µs.
    pub delay_sum_us: u64,
}

impl AnalyticsSnapshot {
    /// Copies whose delay was recorded.
    pub fn delay_count(&self) -> u64 {
        self.delay.iter().sum()
    }

    /// The `q`-quantile (0 to 1) of the delay behind the fastest path;
    /// `None` before any copy was recorded.
    pub fn delay_quantile(&self, q: f64) -> Option<Duration> {
        let count = self.delay_count();
        if count == 0 {
            return None;
        }
        // The smallest bucket holding at least `q` of the samples.
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (index, n) in self.delay.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_nanos((bucket_value(index) * 1e3) as u64));
            }
        }
        None
    }

    /// `lost / expected`, when anything was expected.
    pub fn loss_ratio(&self) -> Option<f64> {
        (self.expected > 0).then(|| self.lost as f64 / self.expected as f64)
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            wins: self.wins.saturating_sub(earlier.wins),
            rescued: self.rescued.saturating_sub(earlier.rescued),
            lost: self.lost.saturating_sub(earlier.lost),
            expected: self.expected.saturating_sub(earlier.expected),
            delay: std::array::from_fn(|i| self.delay[i].saturating_sub(earlier.delay[i])),
            delay_sum_us: self.delay_sum_us.saturating_sub(earlier.delay_sum_us),
        }
    }

    /// True when the path carried or was expected to carry something.
    pub fn has_traffic(&self) -> bool {
        self.wins > 0 || self.expected > 0 || self.delay_count() > 0
    }

    /// One line for the log: `first copy 62.0% (…), rescued 4, lost …`.
    pub fn describe(&self) -> String {
        let percent = |part: u64, whole: u64| {
            if whole == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", part as f64 * 100.0 / whole as f64)
            }
        };
        let millis = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.1} ms", d.as_secs_f64() * 1e3)
            })
        };
        format!(
            "first copy {} ({} of {}), rescued {}, lost {} ({} of {}), delay behind the fastest path median {}, p99 {}",
            percent(self.wins, self.expected.max(self.wins)),
            self.wins,
            self.expected.max(self.wins),
            self.rescued,
            percent(self.lost, self.expected),
            self.lost,
            self.expected,
            millis(self.delay_quantile(0.5)),
            millis(self.delay_quantile(0.99)),
        )
    }
}

/// One tracked packet.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    index: u32,
    /// The counter's low 32 bits: counters 2^32 apart never meet within
    /// [`AGE_OUT`].
    counter: u32,
    /// When the first copy arrived (µs after the tracker's epoch, low bits).
    first_us: u32,
    live: bool,
    /// Slots whose copy arrived.
    delivered: u64,
}

/// A tracked path.
struct Slot {
    path: PathId,
    analytics: Arc<PathAnalytics>,
    /// When it was attached (µs after the epoch): packets first seen
    /// before that are not its to judge.
    attached_us: u64,
}

/// The endpoint's side of the analytics: which packet each path delivered,
/// and when. Owned by one endpoint; not shared.
pub struct Tracker {
    epoch: Instant,
    slots: [Option<Slot>; SLOTS],
    /// Slots in use.
    active: u64,
    /// When each slot was last freed: a slot is not handed out again while
    /// packets it could have delivered are still being judged.
    freed_us: [u64; SLOTS],
    /// Allocated when a second path attaches: one path has nothing to compare.
    table: Option<Box<[Entry]>>,
    /// Packets not tracked because their slot in the table was busy.
    untracked: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            slots: std::array::from_fn(|_| None),
            active: 0,
            freed_us: [0; SLOTS],
            table: None,
            untracked: 0,
        }
    }

    /// Microseconds from the tracker's epoch to `at`.
    pub fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_micros() as u64
    }

    /// Starts tracking `path` (whose figures go to `analytics`) at `now_us`;
    /// false when every slot is taken.
    pub fn attach(&mut self, path: PathId, analytics: Arc<PathAnalytics>, now_us: u64) -> bool {
        // A slot freed long enough ago first, else any free one.
        let free = |i: &usize| self.active & (1 << i) == 0;
        let cooled = (0..SLOTS)
            .filter(free)
            .find(|&i| self.freed_us[i] == 0 || now_us >= self.freed_us[i] + 2 * AGE_OUT_US);
        let Some(slot) = cooled.or_else(|| (0..SLOTS).find(free)) else {
            return false;
        };
        self.slots[slot] = Some(Slot {
            path,
            analytics,
            attached_us: now_us,
        });
        self.active |= 1 << slot;
        if self.active.count_ones() >= 2 && self.table.is_none() {
            self.table = Some(vec![Entry::default(); TABLE_ENTRIES].into_boxed_slice());
        }
        true
    }

    /// Stops tracking `path`.
    pub fn detach(&mut self, path: PathId, now_us: u64) {
        if let Some(slot) = self.slot_of(path) {
            self.slots[slot] = None;
            self.active &= !(1 << slot);
            self.freed_us[slot] = now_us.max(1);
        }
    }

    /// The slot of `path`, if tracked.
    pub fn slot_of(&self, path: PathId) -> Option<usize> {
        let mut bits = self.active;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            if self.slots[slot].as_ref().is_some_and(|s| s.path == path) {
                return Some(slot);
            }
            bits &= bits - 1;
        }
        None
    }

    /// Packets not tracked because the table was busy, since start.
    pub fn untracked(&self) -> u64 {
        self.untracked
    }

    /// Records that `slot` delivered data message (`index`, `counter`) at
    /// `now_us`; `first` when no copy of it had arrived before (the
    /// duplicate filter's verdict).
    pub fn observe(
        &mut self,
        slot: Option<usize>,
        index: u32,
        counter: u64,
        first: bool,
        now_us: u64,
    ) {
        let Some(slot) = slot.filter(|s| self.active & (1 << s) != 0) else {
            return;
        };
        if first {
            self.analytics(slot).wins.fetch_add(1, Ordering::Relaxed);
        }
        let Some(table) = &self.table else { return };
        // Consecutive counters of one session take consecutive entries.
        let position =
            (counter as u32).wrapping_add(index.wrapping_mul(0x9E37_79B9)) as usize % TABLE_ENTRIES;
        let entry = table[position];
        let now = now_us as u32;
        if first {
            if entry.live {
                if u64::from(now.wrapping_sub(entry.first_us)) < AGE_OUT_US {
                    self.untracked += 1;
                    return;
                }
                self.finalise(position, now_us);
            }
            *self.entry_mut(position) = Entry {
                index,
                counter: counter as u32,
                first_us: now,
                live: true,
                delivered: 1 << slot,
            };
            self.analytics(slot).record_delay(0);
        } else if entry.live && entry.index == index && entry.counter == counter as u32 {
            let bit = 1u64 << slot;
            if entry.delivered & bit == 0 {
                self.entry_mut(position).delivered |= bit;
                self.analytics(slot)
                    .record_delay(u64::from(now.wrapping_sub(entry.first_us)));
            }
        }
    }

    fn analytics(&self, slot: usize) -> &PathAnalytics {
        &self.slots[slot].as_ref().expect("an active slot").analytics
    }

    fn entry_mut(&mut self, position: usize) -> &mut Entry {
        &mut self.table.as_mut().expect("the table exists")[position]
    }

    /// Judges every packet that has waited [`AGE_OUT`] for its copies.
    pub fn sweep(&mut self, now_us: u64) {
        let Some(table) = &self.table else { return };
        let now = now_us as u32;
        for position in 0..table.len() {
            let entry = self.table.as_ref().expect("the table exists")[position];
            if entry.live && u64::from(now.wrapping_sub(entry.first_us)) >= AGE_OUT_US {
                self.finalise(position, now_us);
            }
        }
    }

    /// Credits each path with what it did for the packet at `position`.
    fn finalise(&mut self, position: usize, now_us: u64) {
        let table = self.table.as_mut().expect("finalised entries exist");
        let entry = table[position];
        table[position].live = false;
        let first_us =
            now_us.saturating_sub(u64::from((now_us as u32).wrapping_sub(entry.first_us)));
        // The paths that were up when the packet's first copy arrived.
        let mut valid = 0u64;
        let mut bits = self.active;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            if self.slots[slot]
                .as_ref()
                .is_some_and(|s| s.attached_us <= first_us)
            {
                valid |= 1 << slot;
            }
            bits &= bits - 1;
        }
        let missing = valid & !entry.delivered;
        let alone = entry.delivered.count_ones() == 1 && entry.delivered & valid != 0;
        let mut bits = valid;
        while bits != 0 {
            let slot = bits.trailing_zeros() as usize;
            let analytics = &self.slots[slot]
                .as_ref()
                .expect("valid slots are active")
                .analytics;
            analytics.expected.fetch_add(1, Ordering::Relaxed);
            if missing & (1 << slot) != 0 {
                analytics.lost.fetch_add(1, Ordering::Relaxed);
            } else if alone && missing != 0 {
                analytics.rescued.fetch_add(1, Ordering::Relaxed);
            }
            bits &= bits - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_delay_within_an_eighth() {
        for micros in [
            0u64, 1, 7, 8, 9, 15, 16, 100, 1_000, 50_000, 1_234_567, 16_000_000,
        ] {
            let index = bucket(micros);
            let value = bucket_value(index);
            assert!(
                (value - micros as f64).abs() <= (micros as f64 / 16.0).max(0.5),
                "{micros} µs lands in bucket {index} worth {value}"
            );
        }
        assert_eq!(
            bucket(u64::MAX),
            BUCKETS - 1,
            "huge delays land in the last bucket"
        );
        for index in 1..BUCKETS {
            assert!(
                bucket_value(index) > bucket_value(index - 1),
                "buckets grow"
            );
        }
    }

    fn tracker_with(paths: usize) -> (Tracker, Vec<Arc<PathAnalytics>>) {
        let mut tracker = Tracker::new();
        let analytics: Vec<_> = (0..paths)
            .map(|_| Arc::new(PathAnalytics::default()))
            .collect();
        for (i, a) in analytics.iter().enumerate() {
            assert!(tracker.attach(i as PathId + 1, Arc::clone(a), 0));
        }
        (tracker, analytics)
    }

    #[test]
    fn wins_rescues_losses_and_delays() {
        let (mut tracker, paths) = tracker_with(3);
        let (a, b, c) = (tracker.slot_of(1), tracker.slot_of(2), tracker.slot_of(3));
        let start = 1_000_000;
        for counter in 0..100u64 {
            let t = start + counter * 1_000;
            // a first; b 30 ms later but not every tenth; c every fourth, 5 ms later.
            tracker.observe(a, 7, counter, true, t);
            if counter % 10 != 0 {
                tracker.observe(b, 7, counter, false, t + 30_000);
            }
            if counter % 4 == 0 {
                tracker.observe(c, 7, counter, false, t + 5_000);
            }
        }
        // b alone delivers counter 1000, a and c never do.
        tracker.observe(b, 7, 1000, true, start + 200_000);
        tracker.sweep(start + 2_000_000);
        let [a, b, c] = [0, 1, 2].map(|i| paths[i].snapshot());
        assert_eq!((a.wins, b.wins, c.wins), (100, 1, 0));
        assert_eq!((a.expected, b.expected, c.expected), (101, 101, 101));
        assert_eq!(a.lost, 1, "a missed counter 1000");
        assert_eq!(b.lost, 10, "b missed every tenth");
        assert_eq!(c.lost, 76, "c missed three in four, and counter 1000");
        assert_eq!(b.rescued, 1, "only b delivered counter 1000");
        assert_eq!(a.rescued, 5, "10, 30, 50, 70 and 90 came on a alone");
        assert_eq!(a.delay_quantile(0.5), Some(Duration::ZERO));
        let b_median = b.delay_quantile(0.5).unwrap().as_secs_f64() * 1e3;
        assert!((b_median - 30.0).abs() < 2.0, "b median {b_median} ms");
        let c_median = c.delay_quantile(0.5).unwrap().as_secs_f64() * 1e3;
        assert!((c_median - 5.0).abs() < 0.4, "c median {c_median} ms");
    }

    #[test]
    fn a_path_attached_later_is_not_blamed_for_earlier_packets() {
        let (mut tracker, paths) = tracker_with(2);
        tracker.observe(tracker.slot_of(1), 1, 1, true, 1_000);
        tracker.observe(tracker.slot_of(2), 1, 1, false, 2_000);
        let late = Arc::new(PathAnalytics::default());
        tracker.attach(3, Arc::clone(&late), 3_000);
        tracker.observe(tracker.slot_of(1), 1, 2, true, 4_000);
        tracker.sweep(10_000_000);
        assert_eq!(
            late.snapshot().expected,
            1,
            "only the packet after it attached"
        );
        assert_eq!(late.snapshot().lost, 1);
        assert_eq!(paths[1].snapshot().lost, 1, "path 2 missed counter 2");
        // A detached path's slot is not reused while its packets are judged.
        tracker.detach(2, 11_000_000);
        tracker.attach(4, Arc::new(PathAnalytics::default()), 11_000_001);
        assert_ne!(tracker.slot_of(4), Some(1), "slot 1 is cooling down");
    }

    #[test]
    fn one_path_alone_compares_nothing_and_allocates_nothing() {
        let (mut tracker, paths) = tracker_with(1);
        tracker.observe(tracker.slot_of(1), 1, 1, true, 1);
        tracker.sweep(10_000_000);
        assert!(tracker.table.is_none());
        let a = paths[0].snapshot();
        assert_eq!((a.wins, a.expected, a.lost, a.rescued), (1, 0, 0, 0));
    }

    #[test]
    fn a_busy_table_samples_instead_of_guessing() {
        let (mut tracker, paths) = tracker_with(2);
        // Two sessions whose counters collide in the table, within AGE_OUT.
        tracker.observe(tracker.slot_of(1), 0, 0, true, 1_000);
        let other = (TABLE_ENTRIES as u32).wrapping_sub(0x9E37_79B9u32.wrapping_mul(5))
            % TABLE_ENTRIES as u32;
        tracker.observe(tracker.slot_of(1), 5, u64::from(other), true, 2_000);
        assert_eq!(tracker.untracked(), 1);
        tracker.sweep(10_000_000);
        assert_eq!(paths[0].snapshot().wins, 2, "wins stay exact");
        assert_eq!(
            paths[1].snapshot().expected,
            1,
            "only the tracked packet is judged"
        );
    }

    #[test]
    fn intervals_and_descriptions() {
        let (mut tracker, paths) = tracker_with(2);
        tracker.observe(tracker.slot_of(1), 1, 1, true, 1_000);
        tracker.sweep(10_000_000);
        let before = paths[1].snapshot();
        tracker.observe(tracker.slot_of(1), 1, 2, true, 20_000_000);
        tracker.observe(tracker.slot_of(2), 1, 2, false, 20_010_000);
        tracker.sweep(30_000_000);
        let interval = paths[1].snapshot().since(&before);
        assert_eq!((interval.expected, interval.lost), (1, 0));
        assert!(interval.has_traffic());
        let line = interval.describe();
        assert!(line.contains("lost 0.0% (0 of 1)"), "{line}");
        // 10 ms falls in the bucket [9.216, 10.240) ms, read as its middle.
        assert!(line.contains("median 9.7 ms"), "{line}");
    }
}
