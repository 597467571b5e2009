//! The ServerListener actor: the server's listening socket and its registry
//! of clients and their addresses.
//!
//! A datagram from an address without a ClientAddr yet arrives here. On a
//! WireGuard-aware server (the default) the [`Registry`] decides whose
//! client the address is, or refuses it (not WireGuard, a stranger, a
//! session nobody has, over a limit); a new client gets its own
//! WireGuardEndpoint with its own socket towards WireGuard, and the address
//! a ClientAddr attached to it. With `wireguardAware: false` every address
//! joins one endpoint, as in the Go engarde. Either way the ClientAddr then
//! receives its address's datagrams on its own socket, and the datagram that
//! introduced it goes on to its client's endpoint.

use super::client_addr::{ClientAddr, ClientAddrParts, ClientGone, ForeignDatagrams, ReplySocket};
use super::inspection::{EndpointReport, Inspection};
use super::messages::{Origin, PacketSender, PathId, Stop, WgPacket};
use super::wireguard_endpoint::{WireGuardEndpoint, WireGuardPeer};
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::DatagramStream;
use crate::net::sockaddr::unmap_socket;
use crate::net::socket::{client_reply_socket, upstream_socket};
use crate::packet::PacketBatch;
use crate::registry::{Admission, ClientId, Limits, Registry};
use crate::stats::{EndpointStats, LastSeen, PathStats};
use crate::wireguard::{Message, parse};
use actix::prelude::*;
use log::{info, warn};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Client addresses served at once, whatever the other limits say.
pub const MAX_CLIENT_ADDRESSES: usize = 1024;

/// How long a new client may wait for its WireGuard to answer its handshake
/// before its place is given up (WireGuard retries a handshake every 5 s).
const HANDSHAKE_PATIENCE: Duration = Duration::from_secs(10);

/// The one client of a server that is not WireGuard-aware.
const SHARED_CLIENT: ClientId = 0;

/// How the listener places addresses.
pub struct ListenerOptions {
    /// Silence after which a client address expires.
    pub client_timeout: Duration,
    /// The local WireGuard.
    pub wireguard: SocketAddr,
    /// Drop duplicate copies before WireGuard.
    pub dedup: bool,
    /// WireGuard-aware: one endpoint per client, no reflection. `None`:
    /// every address joins one endpoint, as in the Go engarde.
    pub aware: Option<Limits>,
}

/// A live client address.
struct KnownAddress {
    id: PathId,
    client: ClientId,
    stats: Arc<PathStats>,
    actor: Addr<ClientAddr>,
}

/// A client's endpoint.
struct ClientEndpoint {
    actor: Addr<WireGuardEndpoint>,
    inbound: PacketSender,
    /// The socket WireGuard sees this client at.
    upstream: SocketAddr,
}

/// How addresses are placed.
enum Placement {
    Aware(Box<Registry>),
    /// Every address belongs to client 0.
    Shared,
}

/// The actor.
pub struct ServerListener {
    socket: Arc<UdpSocket>,
    listen_addr: SocketAddr,
    options: ListenerOptions,
    placement: Placement,
    endpoints: HashMap<ClientId, ClientEndpoint>,
    addresses: HashMap<SocketAddr, KnownAddress>,
    /// Totals over every client's endpoint.
    stats: Arc<EndpointStats>,
    next_path: PathId,
    receive_error_log: LogLimiter,
    refusal_log: LogLimiter,
    socket_error_log: LogLimiter,
}

impl ServerListener {
    /// A listener on `socket` (bound to `listen_addr`, reporting local
    /// addresses); `stats` receives every endpoint's counts. Without
    /// WireGuard awareness the one shared endpoint starts at once.
    pub fn new(
        socket: UdpSocket,
        listen_addr: SocketAddr,
        options: ListenerOptions,
        stats: Arc<EndpointStats>,
    ) -> Self {
        let placement = match &options.aware {
            Some(limits) => Placement::Aware(Box::new(Registry::new(limits.clone()))),
            None => Placement::Shared,
        };
        let mut listener = Self {
            socket: Arc::new(socket),
            listen_addr,
            options,
            placement,
            endpoints: HashMap::new(),
            addresses: HashMap::new(),
            stats,
            next_path: 1,
            receive_error_log: LogLimiter::default(),
            refusal_log: LogLimiter::default(),
            socket_error_log: LogLimiter::default(),
        };
        if matches!(listener.placement, Placement::Shared) {
            listener.start_endpoint(SHARED_CLIENT, None);
        }
        listener
    }

    /// The address WireGuard sees the shared endpoint at (not WireGuard-aware).
    pub fn shared_upstream(&self) -> Option<SocketAddr> {
        self.endpoints
            .get(&SHARED_CLIENT)
            .map(|endpoint| endpoint.upstream)
    }

    /// Handles datagrams `range` of `batch`, from senders without a ClientAddr
    /// (or whose ClientAddr has not taken over yet).
    fn received(
        &mut self,
        batch: Arc<PacketBatch>,
        range: std::ops::Range<usize>,
        ctx: &mut Context<Self>,
    ) {
        let mut start = range.start;
        while start < range.end {
            let source = batch.get(start).meta.source;
            let end = (start + 1..range.end)
                .find(|&i| batch.get(i).meta.source != source)
                .unwrap_or(range.end);
            self.place_run(&batch, start..end, ctx);
            start = end;
        }
    }

    /// Places one sender's run of datagrams and hands what it may send on.
    fn place_run(
        &mut self,
        batch: &Arc<PacketBatch>,
        run: std::ops::Range<usize>,
        ctx: &mut Context<Self>,
    ) {
        let source = batch.get(run.start).meta.source;
        let local = batch.get(run.start).meta.local;
        if let Some(known) = self.addresses.get(&source) {
            known.stats.last_rx.touch();
            self.forward(
                batch,
                run,
                known.client,
                Some(Origin {
                    id: known.id,
                    stats: Arc::clone(&known.stats),
                }),
            );
            return;
        }
        // The first datagram that admits the address opens its way; those
        // before it are refused and counted.
        let mut first = run.start;
        while first < run.end {
            let data = batch.get(first).data;
            match self.admit(source, parse(data), data) {
                Ok((client, new_client, established)) => {
                    let inspection = Inspection::new(client, ctx.address().recipient());
                    if new_client && !self.start_endpoint(client, Some(inspection)) {
                        return;
                    }
                    let bytes: usize = (first..run.end).map(|i| batch.get(i).data.len()).sum();
                    let origin = self.new_address(
                        source,
                        local,
                        client,
                        established,
                        first..run.end,
                        bytes,
                        ctx,
                    );
                    self.forward(batch, first..run.end, client, origin);
                    return;
                }
                Err(refusal) => {
                    self.stats.refuse(refusal);
                    if let Some(suppressed) = self.refusal_log.allow() {
                        warn!(
                            "datagram from {source} refused ({}){}",
                            refusal.label(),
                            suppressed_note(suppressed)
                        );
                    }
                }
            }
            first += 1;
        }
    }

    /// Decides `source`'s client: (client, whether it is new, whether the
    /// address may receive everything at once).
    fn admit(
        &mut self,
        source: SocketAddr,
        message: Option<Message>,
        data: &[u8],
    ) -> Result<(ClientId, bool, bool), crate::registry::Refusal> {
        if self.addresses.len() >= MAX_CLIENT_ADDRESSES {
            return Err(crate::registry::Refusal::TooManyAddresses);
        }
        match &mut self.placement {
            Placement::Shared => Ok((SHARED_CLIENT, false, true)),
            Placement::Aware(registry) => {
                let established = matches!(message, Some(Message::TransportData { .. }));
                match registry.admit(source, message, data, Instant::now()) {
                    Admission::Client(client) => Ok((client, false, established)),
                    Admission::NewClient(client) => Ok((client, true, false)),
                    Admission::Refuse(refusal) => Err(refusal),
                }
            }
        }
    }

    /// Starts the endpoint of a new client (WireGuard-aware with
    /// `inspection`); false when its socket towards WireGuard cannot be opened.
    fn start_endpoint(&mut self, client: ClientId, inspection: Option<Inspection>) -> bool {
        let socket = match upstream_socket(self.options.wireguard).and_then(UdpSocket::from_std) {
            Ok(socket) => socket,
            Err(error) => {
                if let Some(suppressed) = self.socket_error_log.allow() {
                    warn!(
                        "cannot open a socket towards WireGuard for a new client: {error}{}",
                        suppressed_note(suppressed)
                    );
                }
                return false;
            }
        };
        let upstream = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let mut endpoint = WireGuardEndpoint::new(
            socket,
            WireGuardPeer::Connected(self.options.wireguard),
            self.options.dedup,
        )
        .with_stats(Arc::clone(&self.stats));
        if let Some(inspection) = inspection {
            endpoint = endpoint.inspecting(inspection);
            info!("client {client} is new (WireGuard sees it at {upstream})");
        }
        let inbound = endpoint.inbound_sender();
        let actor = endpoint.start();
        self.endpoints.insert(
            client,
            ClientEndpoint {
                actor,
                inbound,
                upstream,
            },
        );
        true
    }

    /// Starts the ClientAddr of a newly admitted address.
    #[allow(clippy::too_many_arguments)]
    fn new_address(
        &mut self,
        peer: SocketAddr,
        local: Option<IpAddr>,
        client: ClientId,
        established: bool,
        run: std::ops::Range<usize>,
        bytes: usize,
        ctx: &mut Context<Self>,
    ) -> Option<Origin> {
        let endpoint = self.endpoints.get(&client)?;
        let local_addr = SocketAddr::new(
            local.unwrap_or(self.listen_addr.ip()),
            self.listen_addr.port(),
        );
        let socket = match client_reply_socket(local_addr, peer).and_then(UdpSocket::from_std) {
            Ok(own) => ReplySocket::Own(Arc::new(own)),
            Err(error) => {
                if let Some(suppressed) = self.socket_error_log.allow() {
                    warn!(
                        "client address {peer}: no own socket ({error}); answering from the shared socket{}",
                        suppressed_note(suppressed)
                    );
                }
                ReplySocket::Shared(Arc::clone(&self.socket))
            }
        };
        let id = self.next_path;
        self.next_path += 1;
        let stats = Arc::new(PathStats::with_last_rx(LastSeen::never()));
        stats.record_receive(run.len(), bytes);
        info!(
            "client {client}: address {} is new (it talks to {})",
            unmap_socket(peer),
            unmap_socket(local_addr)
        );
        let actor = ClientAddr::new(ClientAddrParts {
            id,
            peer,
            socket,
            timeout: self.options.client_timeout,
            endpoint: endpoint.actor.clone(),
            to_wireguard: endpoint.inbound.clone(),
            listener: ctx.address().recipient(),
            foreign: ctx.address().recipient(),
            stats: Arc::clone(&stats),
            established,
        })
        .start();
        let origin = Origin {
            id,
            stats: Arc::clone(&stats),
        };
        self.addresses.insert(
            peer,
            KnownAddress {
                id,
                client,
                stats,
                actor,
            },
        );
        Some(origin)
    }

    /// Hands datagrams `run` of `batch` to `client`'s endpoint.
    fn forward(
        &self,
        batch: &Arc<PacketBatch>,
        run: std::ops::Range<usize>,
        client: ClientId,
        origin: Option<Origin>,
    ) {
        let Some(endpoint) = self.endpoints.get(&client) else {
            return;
        };
        let count = run.len() as u64;
        let stats = origin.as_ref().map(|o| Arc::clone(&o.stats));
        if endpoint
            .inbound
            .try_send(WgPacket::part(Arc::clone(batch), run, origin))
            .is_err()
        {
            if let Some(stats) = stats {
                crate::stats::add(&stats.rx_dropped, count);
            }
        }
    }

    /// Ends the clients whose handshake their WireGuard never answered (a
    /// forged initiation, or a WireGuard that does not know the peer), so
    /// they cannot hold places among `maxClients`.
    fn drop_unproven_clients(&mut self) {
        let Placement::Aware(registry) = &self.placement else {
            return;
        };
        let unproven = registry.unproven_clients(Instant::now(), HANDSHAKE_PATIENCE);
        for client in unproven {
            let addresses = match &self.placement {
                Placement::Aware(registry) => registry.addresses_of(client),
                Placement::Shared => Vec::new(),
            };
            info!("client {client} dropped: WireGuard never answered its handshake");
            for address in addresses {
                if let Some(known) = self.addresses.get(&address) {
                    known.actor.do_send(Stop {
                        reason: "its client's handshake was never answered".into(),
                    });
                }
                self.forget_address(&address);
            }
        }
    }

    /// Forgets `peer`; ends its client when it was the client's last address.
    fn forget_address(&mut self, peer: &SocketAddr) {
        if self.addresses.remove(peer).is_none() {
            return;
        }
        let ended = match &mut self.placement {
            Placement::Aware(registry) => registry.remove_address(peer),
            Placement::Shared => None,
        };
        if let Some(client) = ended {
            if let Some(endpoint) = self.endpoints.remove(&client) {
                info!("client {client} ended: its last address {peer} is gone");
                endpoint.actor.do_send(Stop {
                    reason: format!("client {client} has no address left"),
                });
            }
        }
    }
}

impl Actor for ServerListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(DatagramStream::new(Arc::clone(&self.socket)));
        if matches!(self.placement, Placement::Aware(_)) {
            ctx.run_interval(Duration::from_secs(1), |listener, _| {
                listener.drop_unproven_clients()
            });
        }
    }
}

impl StreamHandler<io::Result<Arc<PacketBatch>>> for ServerListener {
    fn handle(&mut self, item: io::Result<Arc<PacketBatch>>, ctx: &mut Self::Context) {
        match item {
            Ok(batch) => {
                let all = 0..batch.len();
                self.received(batch, all, ctx);
            }
            Err(error) => {
                if let Some(suppressed) = self.receive_error_log.allow() {
                    warn!(
                        "receiving from clients failed: {error}{}",
                        suppressed_note(suppressed)
                    );
                }
            }
        }
    }
}

impl Handler<ClientGone> for ServerListener {
    type Result = ();

    fn handle(&mut self, message: ClientGone, _: &mut Self::Context) {
        if self
            .addresses
            .get(&message.peer)
            .is_some_and(|known| known.id == message.id)
        {
            self.forget_address(&message.peer);
        }
    }
}

impl Handler<ForeignDatagrams> for ServerListener {
    type Result = ();

    fn handle(&mut self, ForeignDatagrams(packet): ForeignDatagrams, ctx: &mut Self::Context) {
        let range = packet.first..packet.first + packet.count;
        self.received(packet.batch, range, ctx);
    }
}

impl Handler<EndpointReport> for ServerListener {
    type Result = ();

    fn handle(&mut self, report: EndpointReport, _: &mut Self::Context) {
        let Placement::Aware(registry) = &mut self.placement else {
            return;
        };
        match report {
            EndpointReport::SessionLearned { client, index } => {
                registry.learn_session(client, index)
            }
            EndpointReport::SessionForgotten { client, index } => {
                registry.forget_session(client, index)
            }
            EndpointReport::UnknownSession {
                client,
                peer,
                index,
            } => {
                // The address speaks for another client's session: it moved (NAT).
                let Some(owner) = registry.session_owner(index) else {
                    return;
                };
                if owner == client {
                    return;
                }
                if let Some(known) = self.addresses.get(&peer) {
                    info!(
                        "client address {peer} now belongs to client {owner} (it was client {client}'s)"
                    );
                    known.actor.do_send(Stop {
                        reason: format!("moved to client {owner}"),
                    });
                }
                self.forget_address(&peer);
            }
        }
    }
}

/// A reloaded `clientTimeout`: for new client addresses and live ones.
#[derive(Message, Clone, Copy)]
#[rtype(result = "()")]
pub struct SetClientTimeout(pub Duration);

impl Handler<SetClientTimeout> for ServerListener {
    type Result = ();

    fn handle(&mut self, message: SetClientTimeout, _: &mut Self::Context) {
        self.options.client_timeout = message.0;
        for known in self.addresses.values() {
            known.actor.do_send(message);
        }
    }
}

/// Asks the listener for its live client addresses.
#[derive(Message)]
#[rtype(result = "Vec<ClientSnapshot>")]
pub struct ListClients;

/// One live client address as seen from outside.
#[derive(Debug, Clone)]
pub struct ClientSnapshot {
    /// The address.
    pub peer: SocketAddr,
    /// The client it belongs to (0 when the server is not WireGuard-aware).
    pub client: ClientId,
    /// Where WireGuard sees that client (its endpoint's socket).
    pub upstream: Option<SocketAddr>,
    /// Its counters.
    pub stats: Arc<PathStats>,
}

impl Handler<ListClients> for ServerListener {
    type Result = Vec<ClientSnapshot>;

    fn handle(&mut self, _: ListClients, _: &mut Self::Context) -> Vec<ClientSnapshot> {
        self.addresses
            .iter()
            .map(|(peer, known)| ClientSnapshot {
                peer: *peer,
                client: known.client,
                upstream: self.endpoints.get(&known.client).map(|e| e.upstream),
                stats: Arc::clone(&known.stats),
            })
            .collect()
    }
}
