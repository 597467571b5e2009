//! Messages between the actors.
//!
//! Control messages (attach, detach, stop) are ordinary actix messages.
//! The data path uses [`WgPacket`]: a batch of datagrams sent over a
//! bounded tokio channel that the receiving actor consumes as a stream, so
//! no mailbox envelope is allocated per batch, a congested receiver makes
//! the sender drop and count instead of queueing without bound (actix's
//! `do_send` would ignore the mailbox capacity), and the fan-out to N paths
//! copies no payload (the batch is shared behind an `Arc`).

use crate::packet::PacketBatch;
use crate::stats::PathStats;
use actix::prelude::*;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Datagrams travelling between the WireGuard-facing endpoint and a path
/// (a client link, or a client address on the server), either way: the
/// datagrams `first .. first + count` of a shared batch.
#[derive(Debug, Clone)]
pub struct WgPacket {
    /// The batch holding the datagrams.
    pub batch: Arc<PacketBatch>,
    /// Index of the first datagram of the batch that belongs to this packet.
    pub first: usize,
    /// How many datagrams from `first` belong to it.
    pub count: usize,
    /// The path they arrived on, when they come from one: the endpoint
    /// charges the duplicates it drops to it, and a WireGuard-aware server
    /// learns from it which paths are established.
    pub from: Option<Origin>,
}

/// The path a batch arrived on.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The path's identity.
    pub id: PathId,
    /// Its counters.
    pub stats: Arc<PathStats>,
}

impl WgPacket {
    /// A whole batch not charged to any path (from WireGuard).
    pub fn new(batch: Arc<PacketBatch>) -> Self {
        let count = batch.len();
        Self {
            batch,
            first: 0,
            count,
            from: None,
        }
    }

    /// A whole batch path `id` received, for WireGuard.
    pub fn from_path(batch: Arc<PacketBatch>, id: PathId, stats: &Arc<PathStats>) -> Self {
        let origin = Origin {
            id,
            stats: Arc::clone(stats),
        };
        Self::part(batch, 0..usize::MAX, Some(origin))
    }

    /// Part of a batch (the server's listening socket hears every client,
    /// so each sender's run of datagrams is charged to its own path).
    pub fn part(
        batch: Arc<PacketBatch>,
        range: std::ops::Range<usize>,
        from: Option<Origin>,
    ) -> Self {
        let first = range.start.min(batch.len());
        let count = range.end.min(batch.len()) - first;
        Self {
            batch,
            first,
            count,
            from,
        }
    }

    /// The packet's datagrams.
    pub fn datagrams(&self) -> impl Iterator<Item = crate::packet::Datagram<'_>> {
        (self.first..self.first + self.count).map(|i| self.batch.get(i))
    }
}

/// Batches taken from a packet queue in one go, so that their datagrams
/// leave with as few system calls as possible.
pub struct WgPacketGroup {
    packets: [Option<WgPacket>; GROUP_BATCHES],
    len: usize,
}

/// Batches per [`WgPacketGroup`] at most.
pub const GROUP_BATCHES: usize = 8;

impl WgPacketGroup {
    /// A group of one batch.
    pub fn one(packet: WgPacket) -> Self {
        let mut group = Self {
            packets: Default::default(),
            len: 0,
        };
        group.push(packet);
        group
    }

    /// Adds a batch; false when the group is full.
    pub fn push(&mut self, packet: WgPacket) -> bool {
        if self.len == GROUP_BATCHES {
            return false;
        }
        self.packets[self.len] = Some(packet);
        self.len += 1;
        true
    }

    /// True when no more batches fit.
    pub fn is_full(&self) -> bool {
        self.len == GROUP_BATCHES
    }

    /// The packets, in arrival order.
    pub fn packets(&self) -> impl Iterator<Item = &WgPacket> {
        self.packets[..self.len].iter().flatten()
    }

    /// Every datagram of every packet, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = crate::packet::Datagram<'_>> {
        self.packets().flat_map(WgPacket::datagrams)
    }
}

/// Batches a path's queue holds before further ones are dropped.
pub const PATH_QUEUE_BATCHES: usize = 64;

/// Sending half of a path's or the endpoint's packet queue.
pub type PacketSender = mpsc::Sender<WgPacket>;

/// Receiving half, consumed as a stream by the owning actor.
pub type PacketReceiver = mpsc::Receiver<WgPacket>;

/// A new bounded packet queue.
pub fn packet_queue() -> (PacketSender, PacketReceiver) {
    mpsc::channel(PATH_QUEUE_BATCHES)
}

/// Identifies one path for its whole life (a re-created link gets a new one).
pub type PathId = u64;

/// Tells the WireGuard endpoint to copy its datagrams to a new path.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AttachPath {
    /// The path's identity.
    pub id: PathId,
    /// Its name, for logs.
    pub name: String,
    /// Where the endpoint puts datagrams for it.
    pub queue: PacketSender,
    /// Its counters (the endpoint counts the datagrams its queue drops).
    pub stats: Arc<PathStats>,
    /// The remote address it talks to (a server's client address), named
    /// in a WireGuard-aware server's reports.
    pub peer: Option<std::net::SocketAddr>,
    /// Whether it may receive everything WireGuard sends from the start;
    /// otherwise (a WireGuard-aware server's new address) only handshake
    /// answers until it sends data for a session of its client.
    pub established: bool,
}

/// Tells the WireGuard endpoint to forget a path.
#[derive(Message)]
#[rtype(result = "()")]
pub struct DetachPath {
    /// The path to forget.
    pub id: PathId,
}

/// Asks an actor to stop; `reason` goes to the log.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop {
    /// Why, in words.
    pub reason: String,
}

/// Tells a link its label changed (nothing else about it did).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Relabel {
    /// The new label.
    pub label: Option<String>,
}
