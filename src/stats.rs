//! Counters kept by the data path and read by logs, tests and the
//! management interface.
//!
//! They are relaxed atomics behind an `Arc`: the actor that owns a socket
//! updates them once per batch, readers take a snapshot whenever they like,
//! and nobody ever waits on a lock.

use crate::analytics::PathAnalytics;
use crate::net::SendReport;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::time::{Duration, Instant};

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// When something was last heard from, cheap to update from the data path.
///
/// Time is tokio's, so tests with paused time control expiry.
#[derive(Debug)]
pub struct LastSeen {
    base: Instant,
    /// Milliseconds after `base` of the last event, or `u64::MAX` for never.
    millis: AtomicU64,
}

impl LastSeen {
    /// Nothing seen yet.
    pub fn never() -> Self {
        Self {
            base: Instant::now(),
            millis: AtomicU64::new(u64::MAX),
        }
    }

    /// Seen just now.
    pub fn now() -> Self {
        let seen = Self::never();
        seen.touch();
        seen
    }

    /// Records an event now.
    pub fn touch(&self) {
        let millis = self
            .base
            .elapsed()
            .as_millis()
            .min(u128::from(u64::MAX - 1)) as u64;
        self.millis.store(millis, Ordering::Relaxed);
    }

    /// Time since the last event; `None` if there was none.
    pub fn age(&self) -> Option<Duration> {
        let millis = self.millis.load(Ordering::Relaxed);
        (millis != u64::MAX).then(|| {
            self.base
                .elapsed()
                .saturating_sub(Duration::from_millis(millis))
        })
    }
}

/// Traffic of one path: a client link, or a client address on the server.
///
/// "tx" is towards the network (the peer engarde), "rx" is from it.
#[derive(Debug)]
pub struct PathStats {
    /// Datagrams handed to the kernel for the peer.
    pub tx_packets: AtomicU64,
    /// Their bytes.
    pub tx_bytes: AtomicU64,
    /// Datagrams dropped because the socket buffer or the path's queue was full.
    pub tx_dropped: AtomicU64,
    /// Datagrams the kernel refused with an error (unreachable, down, …).
    pub tx_errors: AtomicU64,
    /// Datagrams received from the peer.
    pub rx_packets: AtomicU64,
    /// Their bytes.
    pub rx_bytes: AtomicU64,
    /// Received datagrams dropped because the WireGuard side was congested.
    pub rx_dropped: AtomicU64,
    /// Received copies of data messages that another path delivered first,
    /// dropped before WireGuard (with `dedup` on).
    pub rx_duplicates: AtomicU64,
    /// When the peer was last heard from on this path.
    pub last_rx: LastSeen,
    /// What the path is worth next to the others (first copies, rescued,
    /// lost, delay), kept by the endpoint that receives its copies.
    pub analytics: Arc<PathAnalytics>,
}

impl PathStats {
    /// Zero counters, nothing heard yet.
    pub fn new() -> Self {
        Self::with_last_rx(LastSeen::never())
    }

    /// Zero counters with the given last-heard time.
    pub fn with_last_rx(last_rx: LastSeen) -> Self {
        Self {
            tx_packets: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
            tx_dropped: AtomicU64::new(0),
            tx_errors: AtomicU64::new(0),
            rx_packets: AtomicU64::new(0),
            rx_bytes: AtomicU64::new(0),
            rx_dropped: AtomicU64::new(0),
            rx_duplicates: AtomicU64::new(0),
            last_rx,
            analytics: Arc::new(PathAnalytics::default()),
        }
    }
}

impl EndpointStats {
    /// Counts a datagram a WireGuard-aware server refused.
    pub fn refuse(&self, refusal: crate::registry::Refusal) {
        add(self.refused(refusal), 1);
    }

    /// The counter of datagrams refused for `refusal`.
    pub fn refused(&self, refusal: crate::registry::Refusal) -> &AtomicU64 {
        use crate::registry::Refusal;
        match refusal {
            Refusal::NotWireGuard => &self.refused_not_wireguard,
            Refusal::NotAllowed => &self.refused_not_allowed,
            Refusal::UnknownSession => &self.refused_unknown_session,
            Refusal::TooManyClients => &self.refused_too_many_clients,
            Refusal::TooManyAddresses => &self.refused_too_many_addresses,
            Refusal::TooManyInitiations => &self.refused_too_many_initiations,
        }
    }
}

impl PathStats {
    /// Counts the outcome of a send towards the peer.
    pub fn record_send(&self, report: &SendReport) {
        add(&self.tx_packets, report.sent);
        add(&self.tx_bytes, report.sent_bytes);
        add(&self.tx_dropped, report.dropped_full);
        add(&self.tx_errors, report.errors);
    }

    /// Counts a batch received from the peer, now.
    pub fn record_receive(&self, packets: usize, bytes: usize) {
        self.last_rx.touch();
        add(&self.rx_packets, packets as u64);
        add(&self.rx_bytes, bytes as u64);
    }
}

impl Default for PathStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Traffic of the socket facing the local WireGuard.
#[derive(Debug, Default)]
pub struct EndpointStats {
    /// Datagrams received from WireGuard.
    pub from_wireguard_packets: AtomicU64,
    /// Their bytes.
    pub from_wireguard_bytes: AtomicU64,
    /// Datagrams from WireGuard dropped because no path was up.
    pub no_path_dropped: AtomicU64,
    /// Data messages from WireGuard dropped because they are for another
    /// client's session (WireGuard-aware server; see the inspection).
    pub foreign_dropped: AtomicU64,
    /// Datagrams delivered to WireGuard.
    pub to_wireguard_packets: AtomicU64,
    /// Their bytes.
    pub to_wireguard_bytes: AtomicU64,
    /// Datagrams for WireGuard dropped because its socket buffer was full.
    pub to_wireguard_dropped: AtomicU64,
    /// Datagrams for WireGuard dropped because its address is not known yet
    /// (client side, before WireGuard sent anything).
    pub to_wireguard_no_peer: AtomicU64,
    /// Datagrams for WireGuard refused with an error.
    pub to_wireguard_errors: AtomicU64,
    /// Duplicate copies of data messages dropped before WireGuard.
    pub duplicates_dropped: AtomicU64,
    /// From clients, dropped before WireGuard: not WireGuard (aware server).
    pub refused_not_wireguard: AtomicU64,
    /// From clients, dropped: data for a session that is not the sender's client's.
    pub refused_unknown_session: AtomicU64,
    /// From clients, dropped: the source is outside `allowedSources`.
    pub refused_not_allowed: AtomicU64,
    /// From clients, dropped: `maxClients` reached.
    pub refused_too_many_clients: AtomicU64,
    /// From clients, dropped: the client has `maxAddressesPerClient` addresses.
    pub refused_too_many_addresses: AtomicU64,
    /// From clients, dropped: handshake initiations beyond the few allowed
    /// before WireGuard answered the client once.
    pub refused_too_many_initiations: AtomicU64,
}
