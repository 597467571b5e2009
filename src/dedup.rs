//! Dropping the duplicate copies of WireGuard data messages before they
//! reach WireGuard.
//!
//! With N links, WireGuard would decrypt N copies of every data message and
//! throw N−1 away in its replay check. The pair (receiver index, counter)
//! is clear text, so the relay can keep the first copy and drop the others
//! first. Per receiver index, a sliding window of [`WINDOW`] counters (as
//! wide as wireguard-go's) remembers which counters passed. A counter older
//! than the window always passes (only WireGuard can judge it), and so does
//! anything that is not WireGuard. Memory is bounded: at most
//! [`MAX_SESSIONS`] indices, the least recently used forgotten first.
//!
//! The first copy of every handshake and cookie message passes; a later copy
//! that is *byte for byte* the same as one of the last [`HANDSHAKES`] is
//! dropped. WireGuard would reject it anyway (a replayed initiation
//! timestamp, a response to a handshake already answered), but wireguard-go
//! checks and updates its handshake state under separate locks: two copies
//! of one response handled at once by two of its handshake workers are both
//! accepted, the second session replaces the first with the same keys and a
//! counter back at zero, and the first data message sent on one of them is
//! lost as a "replay" of the other (seen with wireguard-go 0.0.20220316 in
//! about one tunnel start in ten over three links). Whole-message equality,
//! not a header field, decides: a forger who alters a copy does not make the
//! genuine message look like a duplicate of it.
//!
//! Trade-off (docs/configuration.md, `dedup`): an attacker on the path of
//! one link who forges a data message with a future counter makes the
//! genuine message with that counter look like a duplicate. WireGuard
//! would have dropped the forgery itself; without dedup the genuine copy
//! would still pass. What limits it: the attacker must see the session's
//! receiver index on the wire and be on a link's path, and each forgery
//! can suppress only the one counter it names, and only while it is in
//! the window.

use crate::wireguard::{Message, parse};
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

/// Ring words per session; the word holding the highest counter may share
/// its slot with the oldest, so the window is one word short of the ring.
const WORDS: usize = 128;

/// Counters remembered per session: 8,128, as wireguard-go's replay window.
pub const WINDOW: u64 = (WORDS as u64 - 1) * 64;

/// Sessions (receiver indices) remembered at most.
pub const MAX_SESSIONS: usize = 4096;

/// Handshake and cookie messages remembered, to recognise their copies. The
/// copies of one message arrive within the links' delay spread, while a
/// peer sends a handshake every two minutes: a few dozen is plenty, and a
/// flood of forged handshakes only makes a genuine copy pass to WireGuard.
pub const HANDSHAKES: usize = 64;

/// What to do with one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it on (first copy, or not a data message).
    Forward,
    /// A copy of a data message already forwarded: drop it.
    Duplicate,
}

/// The replay window of one receiver index.
struct Window {
    /// Highest counter seen.
    highest: u64,
    /// Ring bitmap of the last WINDOW counters.
    bits: [u64; WORDS],
    /// When it was last used (a tick of the filter).
    used: u64,
}

impl Window {
    fn new(used: u64) -> Self {
        Self {
            highest: 0,
            bits: [0; WORDS],
            used,
        }
    }

    /// Marks `counter` seen; true if it was new.
    fn check_and_set(&mut self, counter: u64) -> bool {
        if counter > self.highest {
            let old_word = self.highest / 64;
            let new_word = counter / 64;
            // Clear the words the window slides over (all of them after a big jump).
            for word in (old_word + 1..=new_word).take(WORDS) {
                self.bits[(word % WORDS as u64) as usize] = 0;
            }
            self.highest = counter;
        } else if self.highest - counter >= WINDOW {
            return true; // too old to judge: WireGuard decides
        }
        let word = ((counter / 64) % WORDS as u64) as usize;
        let bit = 1u64 << (counter % 64);
        let new = self.bits[word] & bit == 0;
        self.bits[word] |= bit;
        new
    }
}

/// Fingerprints of the last [`HANDSHAKES`] handshake and cookie messages.
#[derive(Default)]
struct RecentHandshakes {
    /// Keyed per process, so nobody can craft colliding messages.
    hasher: RandomState,
    /// A ring, oldest overwritten first.
    fingerprints: Vec<u64>,
    next: usize,
}

impl RecentHandshakes {
    /// Remembers `message`; true if it was not among the recent ones.
    fn check_and_set(&mut self, message: &[u8]) -> bool {
        let fingerprint = self.hasher.hash_one(message);
        if self.fingerprints.contains(&fingerprint) {
            return false;
        }
        if self.fingerprints.len() < HANDSHAKES {
            self.fingerprints.push(fingerprint);
        } else {
            self.fingerprints[self.next] = fingerprint;
            self.next = (self.next + 1) % HANDSHAKES;
        }
        true
    }
}

/// Duplicate filter for one direction of one endpoint.
#[derive(Default)]
pub struct DuplicateFilter {
    sessions: HashMap<u32, Window>,
    tick: u64,
    handshakes: RecentHandshakes,
}

impl DuplicateFilter {
    /// An empty filter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges one datagram and remembers it.
    pub fn check(&mut self, datagram: &[u8]) -> Verdict {
        match parse(datagram) {
            Some(Message::TransportData {
                receiver_index,
                counter,
            }) => self.check_data(receiver_index, counter),
            Some(_) => self.check_handshake(datagram),
            None => Verdict::Forward,
        }
    }

    /// Judges a handshake or cookie message (the whole datagram): only an
    /// exact copy of a recent one is a duplicate.
    pub fn check_handshake(&mut self, message: &[u8]) -> Verdict {
        if self.handshakes.check_and_set(message) {
            Verdict::Forward
        } else {
            Verdict::Duplicate
        }
    }

    /// Judges the data message (`receiver_index`, `counter`), already parsed.
    pub fn check_data(&mut self, receiver_index: u32, counter: u64) -> Verdict {
        self.tick += 1;
        if !self.sessions.contains_key(&receiver_index) && self.sessions.len() >= MAX_SESSIONS {
            self.forget_least_recent();
        }
        let tick = self.tick;
        let window = self
            .sessions
            .entry(receiver_index)
            .or_insert_with(|| Window::new(tick));
        window.used = tick;
        if window.check_and_set(counter) {
            Verdict::Forward
        } else {
            Verdict::Duplicate
        }
    }

    /// Sessions remembered now.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Forgets the older half of the sessions: one pass over the map for
    /// many insertions, so a flood of new indices costs little per datagram.
    fn forget_least_recent(&mut self) {
        let mut ticks: Vec<u64> = self.sessions.values().map(|w| w.used).collect();
        let middle = ticks.len() / 2;
        let (_, cut, _) = ticks.select_nth_unstable(middle);
        let cut = *cut;
        self.sessions.retain(|_, window| window.used > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(index: u32, counter: u64) -> Vec<u8> {
        let mut message = vec![0u8; 48];
        message[0] = 4;
        message[4..8].copy_from_slice(&index.to_le_bytes());
        message[8..16].copy_from_slice(&counter.to_le_bytes());
        message
    }

    #[test]
    fn forwards_the_first_copy_only() {
        let mut filter = DuplicateFilter::new();
        for counter in [0, 1, 2, 5, 3] {
            assert_eq!(
                filter.check(&data(7, counter)),
                Verdict::Forward,
                "first copy of {counter}"
            );
            assert_eq!(
                filter.check(&data(7, counter)),
                Verdict::Duplicate,
                "second copy of {counter}"
            );
        }
        assert_eq!(
            filter.check(&data(8, 1)),
            Verdict::Forward,
            "sessions are separate"
        );
    }

    #[test]
    fn late_copies_within_the_window_are_still_recognised() {
        let mut filter = DuplicateFilter::new();
        for counter in 0..10_000 {
            filter.check(&data(1, counter));
        }
        assert_eq!(
            filter.check(&data(1, 10_000 - WINDOW + 1)),
            Verdict::Duplicate
        );
        assert_eq!(
            filter.check(&data(1, 100)),
            Verdict::Forward,
            "older than the window: WireGuard decides"
        );
    }

    #[test]
    fn a_jump_clears_the_window() {
        let mut filter = DuplicateFilter::new();
        filter.check(&data(1, 5));
        filter.check(&data(1, 5 + 3 * WINDOW));
        assert_eq!(
            filter.check(&data(1, 5 + 2 * WINDOW + 64)),
            Verdict::Forward,
            "not marked by the old window"
        );
        assert_eq!(
            filter.check(&data(1, 5 + 2 * WINDOW + 64)),
            Verdict::Duplicate
        );
    }

    fn initiation(sender: u32) -> Vec<u8> {
        let mut message = vec![0u8; 148];
        message[0] = 1;
        message[4..8].copy_from_slice(&sender.to_le_bytes());
        message
    }

    #[test]
    fn foreign_datagrams_always_pass() {
        let mut filter = DuplicateFilter::new();
        for _ in 0..3 {
            assert_eq!(filter.check(b"not wireguard"), Verdict::Forward);
        }
    }

    #[test]
    fn only_exact_copies_of_a_handshake_are_dropped() {
        let mut filter = DuplicateFilter::new();
        let genuine = initiation(9);
        assert_eq!(filter.check(&genuine), Verdict::Forward);
        assert_eq!(filter.check(&genuine), Verdict::Duplicate);
        let mut altered = genuine.clone();
        altered[147] ^= 1;
        assert_eq!(
            filter.check(&altered),
            Verdict::Forward,
            "the same header with another body is another message"
        );
        assert_eq!(filter.check(&initiation(10)), Verdict::Forward);
    }

    #[test]
    fn a_handshake_long_gone_from_the_ring_passes_again() {
        let mut filter = DuplicateFilter::new();
        filter.check(&initiation(0));
        for sender in 1..=HANDSHAKES as u32 {
            assert_eq!(filter.check(&initiation(sender)), Verdict::Forward);
        }
        assert_eq!(
            filter.check(&initiation(0)),
            Verdict::Forward,
            "forgotten: WireGuard judges it"
        );
        assert_eq!(
            filter.check(&initiation(HANDSHAKES as u32)),
            Verdict::Duplicate,
            "recent ones are kept"
        );
    }

    #[test]
    fn memory_stays_bounded_under_a_flood_of_indices() {
        let mut filter = DuplicateFilter::new();
        for index in 0..(MAX_SESSIONS as u32 * 5) {
            filter.check(&data(index, 1));
        }
        assert!(filter.sessions() <= MAX_SESSIONS);
        assert_eq!(
            filter.check(&data(MAX_SESSIONS as u32 * 5 - 1, 1)),
            Verdict::Duplicate,
            "recent sessions are kept"
        );
    }
}
