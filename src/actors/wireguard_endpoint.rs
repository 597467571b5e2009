//! The WireGuardEndpoint actor: the socket facing the local WireGuard.
//!
//! Every batch WireGuard sends is copied to every attached path (client
//! links, or the server's client addresses); every batch a path receives
//! from the network is written to WireGuard. On the client the endpoint
//! listens on `listenAddr` and remembers WireGuard's address from the last
//! datagram; on the server its socket is connected to `dstAddr`. A
//! WireGuard-aware server runs one endpoint per client, each with its own
//! socket, so that WireGuard, which answers every peer at the address it
//! last heard that peer from, hands each client's traffic to its own
//! endpoint; the endpoint then filters with its [`Inspection`].
//!
//! The endpoint is where every copy of a data message arrives, so it also
//! keeps the path analytics ([`crate::analytics`]): it always runs the
//! duplicate filter to learn which copy came first, and drops the later
//! copies only with `dedup` on. It logs each path's figures every
//! [`analytics_log_interval`] when the path had traffic.

use super::inspection::{Inbound, Inspection, allowed_before_established};
use super::messages::Stop;
use super::messages::{
    AttachPath, DetachPath, Origin, PacketReceiver, PacketSender, PathId, WgPacket, WgPacketGroup,
    packet_queue,
};
use super::queue_stream::QueueStream;
use crate::analytics::{AnalyticsSnapshot, Tracker};
use crate::dedup::{DuplicateFilter, Verdict};
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::{DatagramStream, GsoState, send_datagrams};
use crate::packet::{BATCH_CAPACITY, PacketBatch};
use crate::stats::{EndpointStats, PathStats, add};
use crate::wireguard::{Message, parse};
use actix::prelude::*;
use log::{debug, info, warn};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

/// How often packets whose copies had [`crate::analytics::AGE_OUT`] to
/// arrive are judged.
const ANALYTICS_SWEEP: Duration = Duration::from_millis(250);

/// How often each path's analytics are logged: `ENGARDE_ANALYTICS_LOG_SECS`
/// seconds (0 turns the line off), 60 by default.
pub fn analytics_log_interval() -> Option<Duration> {
    let seconds = std::env::var("ENGARDE_ANALYTICS_LOG_SECS")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(60);
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// Where datagrams for WireGuard go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireGuardPeer {
    /// Client: WireGuard's address, learnt from what it sends (`None` until then).
    Learned(Option<SocketAddr>),
    /// Server: the socket is connected to WireGuard's address.
    Connected(SocketAddr),
}

/// One path the endpoint copies WireGuard's datagrams to.
struct AttachedPath {
    id: PathId,
    name: String,
    queue: PacketSender,
    stats: Arc<PathStats>,
    peer: Option<SocketAddr>,
    /// May receive everything (else only handshake answers).
    established: bool,
}

/// The actor owning the WireGuard-facing socket.
pub struct WireGuardEndpoint {
    socket: Arc<UdpSocket>,
    peer: WireGuardPeer,
    paths: Vec<AttachedPath>,
    /// Batches paths hand over for WireGuard; taken when the actor starts.
    inbound: Option<PacketReceiver>,
    /// Kept so paths can be given senders of `inbound`.
    inbound_sender: PacketSender,
    stats: Arc<EndpointStats>,
    /// Whether the socket still takes UDP GSO.
    gso: GsoState,
    /// Tells first copies of data messages from later ones: for `dedup`,
    /// and for the analytics, which run with `dedup` off too.
    filter: DuplicateFilter,
    /// Drop the later copies before WireGuard (`dedup`).
    dedup: bool,
    /// Which path delivered which copy when (path analytics).
    tracker: Tracker,
    /// Each path's figures at the last analytics log line, by counters.
    logged: HashMap<usize, AnalyticsSnapshot>,
    /// WireGuard awareness, on a WireGuard-aware server.
    inspection: Option<Inspection>,
    unknown_session_log: LogLimiter,
    foreign_log: LogLimiter,
    /// Rate limits for the per-packet problems worth logging.
    no_path_log: LogLimiter,
    no_peer_log: LogLimiter,
    send_error_log: LogLimiter,
    receive_error_log: LogLimiter,
}

impl WireGuardEndpoint {
    /// An endpoint on `socket` (already bound, and connected for
    /// [`WireGuardPeer::Connected`]); with `dedup`, only the first copy of
    /// each WireGuard data message reaches WireGuard.
    pub fn new(socket: UdpSocket, peer: WireGuardPeer, dedup: bool) -> Self {
        let (inbound_sender, inbound) = packet_queue();
        Self {
            socket: Arc::new(socket),
            peer,
            paths: Vec::new(),
            inbound: Some(inbound),
            inbound_sender,
            stats: Arc::new(EndpointStats::default()),
            gso: GsoState::new(),
            filter: DuplicateFilter::new(),
            dedup,
            tracker: Tracker::new(),
            logged: HashMap::new(),
            inspection: None,
            unknown_session_log: LogLimiter::default(),
            foreign_log: LogLimiter::default(),
            no_path_log: LogLimiter::default(),
            no_peer_log: LogLimiter::default(),
            send_error_log: LogLimiter::default(),
            receive_error_log: LogLimiter::default(),
        }
    }

    /// Counts into `stats` (shared by all the clients' endpoints of a server,
    /// whose totals it then holds) instead of counters of its own.
    pub fn with_stats(mut self, stats: Arc<EndpointStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Makes the endpoint WireGuard-aware for one client (server only).
    pub fn inspecting(mut self, inspection: Inspection) -> Self {
        self.inspection = Some(inspection);
        self
    }

    /// Where paths put the datagrams they receive for WireGuard.
    pub fn inbound_sender(&self) -> PacketSender {
        self.inbound_sender.clone()
    }

    /// The endpoint's counters.
    pub fn stats(&self) -> Arc<EndpointStats> {
        Arc::clone(&self.stats)
    }

    fn forward_from_wireguard(&mut self, batch: Arc<PacketBatch>) {
        if batch.is_empty() {
            return;
        }
        add(&self.stats.from_wireguard_packets, batch.len() as u64);
        add(&self.stats.from_wireguard_bytes, batch.total_bytes() as u64);
        if let WireGuardPeer::Learned(peer) = &mut self.peer {
            let source = batch.get(batch.len() - 1).meta.source;
            if *peer != Some(source) {
                log::info!("WireGuard is at {source}; replies from the server go there");
                *peer = Some(source);
            }
        }
        // On a WireGuard-aware server: which datagrams are this client's.
        let mut mine = [true; BATCH_CAPACITY];
        let mut all_mine = true;
        if let Some(inspection) = &mut self.inspection {
            for (i, datagram) in batch.iter().enumerate() {
                mine[i] = inspection.learn_from_wireguard(datagram.data);
                all_mine &= mine[i];
            }
        }
        if !all_mine {
            let foreign = mine[..batch.len()].iter().filter(|m| !**m).count();
            add(&self.stats.foreign_dropped, foreign as u64);
            if let Some(suppressed) = self.foreign_log.allow() {
                warn!(
                    "WireGuard sent data for another client's session to client {}'s socket (a port reused after a client left?): dropped{}",
                    self.inspection.as_ref().map_or(0, |i| i.client()),
                    suppressed_note(suppressed)
                );
            }
        }
        if self.paths.is_empty() {
            add(&self.stats.no_path_dropped, batch.len() as u64);
            if let Some(suppressed) = self.no_path_log.allow() {
                warn!(
                    "no link is up: dropping datagrams from WireGuard{}",
                    suppressed_note(suppressed)
                );
            }
            return;
        }
        let mut closed = Vec::new();
        for path in &self.paths {
            let everything = path.established || self.inspection.is_none();
            let delivered = if everything && all_mine {
                try_hand(path, WgPacket::new(Arc::clone(&batch)))
            } else if everything {
                hand_runs(path, &batch, |i, _| mine[i])
            } else {
                hand_runs(path, &batch, |i, data| {
                    mine[i] && allowed_before_established(data)
                })
            };
            if !delivered {
                closed.push(path.id);
            }
        }
        self.paths.retain(|path| !closed.contains(&path.id));
    }

    fn deliver_to_wireguard(&mut self, group: &WgPacketGroup) {
        let destination = match self.peer {
            WireGuardPeer::Connected(_) => None,
            WireGuardPeer::Learned(Some(peer)) => Some(peer),
            WireGuardPeer::Learned(None) => {
                add(
                    &self.stats.to_wireguard_no_peer,
                    group.datagrams().count() as u64,
                );
                if let Some(suppressed) = self.no_peer_log.allow() {
                    warn!(
                        "datagrams from the server arrive, but WireGuard has not sent anything yet: dropping them{}",
                        suppressed_note(suppressed)
                    );
                }
                return;
            }
        };
        let Self {
            socket,
            gso,
            filter,
            dedup,
            tracker,
            stats,
            inspection,
            paths,
            unknown_session_log,
            ..
        } = self;
        // Batches stamped by their receive call; a fallback for any that are not.
        let now = Instant::now();
        let datagrams = group.packets().flat_map(|packet| {
            let received = packet.batch.received_at().unwrap_or(now);
            packet
                .datagrams()
                .map(move |datagram| (datagram.data, packet.from.as_ref(), received))
        });
        let first_copies = datagrams.filter_map(|(data, from, received)| {
            let message = parse(data);
            // A WireGuard-aware server passes only its client's WireGuard traffic.
            if let Some(inspection) = inspection.as_mut() {
                match inspection.inbound(message) {
                    Inbound::Forward => {}
                    Inbound::ForwardEstablishing => {
                        if let Some(origin) = from {
                            establish(paths, origin.id);
                        }
                    }
                    Inbound::NotWireGuard => {
                        add(&stats.refused_not_wireguard, 1);
                        return None;
                    }
                    Inbound::TooManyInitiations => {
                        add(&stats.refused_too_many_initiations, 1);
                        return None;
                    }
                    Inbound::UnknownSession(index) => {
                        add(&stats.refused_unknown_session, 1);
                        let peer = from
                            .and_then(|origin| paths.iter().find(|p| p.id == origin.id))
                            .and_then(|p| p.peer);
                        if let (Some(peer), Some(_)) = (peer, unknown_session_log.allow()) {
                            inspection.report_unknown_session(peer, index);
                        }
                        return None;
                    }
                }
            }
            let Some(Message::TransportData {
                receiver_index,
                counter,
            }) = message
            else {
                // The first copy of a handshake or cookie message always
                // passes; exact copies do not (src/dedup.rs says why).
                if message.is_some() && *dedup && filter.check_handshake(data) == Verdict::Duplicate
                {
                    count_duplicate(stats, from);
                    return None;
                }
                return Some(data);
            };
            let first = filter.check_data(receiver_index, counter) == Verdict::Forward;
            let slot = from.and_then(|origin| tracker.slot_of(origin.id));
            let received = tracker.micros(received);
            tracker.observe(slot, receiver_index, counter, first, received);
            if first || !*dedup {
                return Some(data);
            }
            count_duplicate(stats, from);
            None
        });
        // GSO is safe towards any WireGuard: the kernel cuts a run back into
        // datagrams before a socket that did not ask for UDP_GRO reads it.
        let report = send_datagrams(socket.as_fd(), first_copies, destination, gso);
        add(&self.stats.to_wireguard_packets, report.sent);
        add(&self.stats.to_wireguard_bytes, report.sent_bytes);
        add(&self.stats.to_wireguard_dropped, report.dropped_full);
        add(&self.stats.to_wireguard_errors, report.errors);
        if let Some(error) = report.last_error {
            if let Some(suppressed) = self.send_error_log.allow() {
                warn!(
                    "cannot deliver to WireGuard: {error}{}",
                    suppressed_note(suppressed)
                );
            }
        }
    }
}

impl WireGuardEndpoint {
    /// How the log names `path`: a client's link, or a server's client address.
    fn path_label(&self, path: &AttachedPath) -> String {
        match (&self.inspection, self.peer) {
            (Some(inspection), _) => {
                format!("client {} address {}", inspection.client(), path.name)
            }
            (None, WireGuardPeer::Connected(_)) => format!("client address {}", path.name),
            (None, WireGuardPeer::Learned(_)) => format!("link {}", path.name),
        }
    }

    /// Logs what each path did since the last time, when it did anything.
    fn log_analytics(&mut self, interval: Duration) {
        let mut logged = HashMap::with_capacity(self.paths.len());
        for path in &self.paths {
            // By counters, not path: a re-created client link keeps its interface's.
            let key = Arc::as_ptr(&path.stats) as usize;
            let now = path.stats.analytics.snapshot();
            let recent = match self.logged.get(&key) {
                Some(before) => now.since(before),
                None => now.clone(),
            };
            if recent.has_traffic() {
                info!(
                    "{}: last {} s: {}",
                    self.path_label(path),
                    interval.as_secs(),
                    recent.describe()
                );
            }
            logged.insert(key, now);
        }
        self.logged = logged;
    }
}

/// Counts a dropped duplicate, for the endpoint and for the path that
/// brought it.
fn count_duplicate(stats: &EndpointStats, from: Option<&Origin>) {
    add(&stats.duplicates_dropped, 1);
    if let Some(origin) = from {
        add(&origin.stats.rx_duplicates, 1);
    }
}

/// Marks path `id` established: it has sent data for a session of its
/// client, so it receives everything WireGuard sends from now on.
fn establish(paths: &mut [AttachedPath], id: PathId) {
    if let Some(path) = paths.iter_mut().find(|p| p.id == id && !p.established) {
        path.established = true;
        debug!("path {} established", path.name);
    }
}

/// Queues `packet` for `path`; false when the path is gone. A full queue
/// drops the packet for this path only.
fn try_hand(path: &AttachedPath, packet: WgPacket) -> bool {
    let count = packet.count as u64;
    match path.queue.try_send(packet) {
        Ok(()) => true,
        Err(TrySendError::Full(_)) => {
            add(&path.stats.tx_dropped, count);
            true
        }
        Err(TrySendError::Closed(_)) => false,
    }
}

/// Queues for `path` the runs of `batch` whose datagrams `keep` (index,
/// payload); false when the path is gone.
fn hand_runs(
    path: &AttachedPath,
    batch: &Arc<PacketBatch>,
    keep: impl Fn(usize, &[u8]) -> bool,
) -> bool {
    let mut start = None;
    for i in 0..=batch.len() {
        let kept = i < batch.len() && keep(i, batch.get(i).data);
        match (kept, start) {
            (true, None) => start = Some(i),
            (false, Some(first)) => {
                if !try_hand(path, WgPacket::part(Arc::clone(batch), first..i, None)) {
                    return false;
                }
                start = None;
            }
            _ => {}
        }
    }
    true
}

impl Actor for WireGuardEndpoint {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(DatagramStream::new(Arc::clone(&self.socket)));
        if let Some(inbound) = self.inbound.take() {
            ctx.add_stream(QueueStream(inbound));
        }
        ctx.run_interval(ANALYTICS_SWEEP, |endpoint, _| {
            let now = endpoint.tracker.micros(Instant::now());
            endpoint.tracker.sweep(now);
        });
        if let Some(interval) = analytics_log_interval() {
            ctx.run_interval(interval, move |endpoint, _| {
                endpoint.log_analytics(interval)
            });
        }
    }
}

/// Datagrams from WireGuard.
impl StreamHandler<io::Result<Arc<PacketBatch>>> for WireGuardEndpoint {
    fn handle(&mut self, item: io::Result<Arc<PacketBatch>>, _: &mut Self::Context) {
        match item {
            Ok(batch) => self.forward_from_wireguard(batch),
            Err(error) => {
                // e.g. ECONNREFUSED on the server while WireGuard is not running.
                if let Some(suppressed) = self.receive_error_log.allow() {
                    warn!(
                        "receiving from WireGuard failed: {error}{}",
                        suppressed_note(suppressed)
                    );
                }
            }
        }
    }
}

/// Datagrams from the paths, for WireGuard.
impl StreamHandler<WgPacketGroup> for WireGuardEndpoint {
    fn handle(&mut self, group: WgPacketGroup, _: &mut Self::Context) {
        self.deliver_to_wireguard(&group);
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // Cannot happen while we hold `inbound_sender`; never stop because of it.
    }
}

impl Handler<AttachPath> for WireGuardEndpoint {
    type Result = ();

    fn handle(&mut self, message: AttachPath, _: &mut Self::Context) {
        debug!("path {} ({}) attached", message.name, message.id);
        let now = self.tracker.micros(Instant::now());
        if !self
            .tracker
            .attach(message.id, Arc::clone(&message.stats.analytics), now)
        {
            debug!("path {}: no analytics, every slot is taken", message.name);
        }
        self.paths.push(AttachedPath {
            id: message.id,
            name: message.name,
            queue: message.queue,
            stats: message.stats,
            peer: message.peer,
            established: message.established,
        });
    }
}

impl Handler<DetachPath> for WireGuardEndpoint {
    type Result = ();

    fn handle(&mut self, message: DetachPath, _: &mut Self::Context) {
        let now = self.tracker.micros(Instant::now());
        self.tracker.detach(message.id, now);
        self.paths.retain(|path| {
            if path.id == message.id {
                debug!("path {} ({}) detached", path.name, path.id);
            }
            path.id != message.id
        });
    }
}

impl Handler<Stop> for WireGuardEndpoint {
    type Result = ();

    fn handle(&mut self, message: Stop, ctx: &mut Self::Context) {
        debug!("WireGuard endpoint stopping: {}", message.reason);
        ctx.stop();
    }
}
