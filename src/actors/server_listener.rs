//! The ServerListener actor: the server's listening socket and its
//! registry of client addresses.
//!
//! Every datagram it receives goes to the WireGuard endpoint. A source
//! address it has not seen before gets a ClientAddr actor, which from then
//! on receives that address's datagrams on its own socket and answers it
//! with WireGuard's replies until it expires.

use super::client_addr::{ClientAddr, ClientAddrParts, ClientGone, ForeignSenders, ReplySocket};
use super::messages::{PacketSender, PathId, WgPacket};
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::DatagramStream;
use crate::net::sockaddr::unmap_socket;
use crate::net::socket::client_reply_socket;
use crate::packet::PacketBatch;
use crate::stats::{LastSeen, PathStats, add};
use actix::prelude::*;
use log::{info, warn};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Client addresses served at once; further new addresses are not answered
/// (their datagrams still reach WireGuard) until others expire.
pub const MAX_CLIENT_ADDRESSES: usize = 1024;

/// A live client address.
struct KnownClient {
    id: PathId,
    stats: Arc<PathStats>,
    /// Its actor, told when `clientTimeout` is reloaded.
    actor: Addr<ClientAddr>,
}

/// The actor.
pub struct ServerListener {
    socket: Arc<UdpSocket>,
    listen_addr: SocketAddr,
    client_timeout: Duration,
    endpoint: Addr<WireGuardEndpoint>,
    to_wireguard: PacketSender,
    clients: HashMap<SocketAddr, KnownClient>,
    next_id: PathId,
    receive_error_log: LogLimiter,
    full_log: LogLimiter,
    socket_error_log: LogLimiter,
}

impl ServerListener {
    /// A listener on `socket` (bound to `listen_addr`, reporting local addresses).
    pub fn new(
        socket: UdpSocket,
        listen_addr: SocketAddr,
        client_timeout: Duration,
        endpoint: Addr<WireGuardEndpoint>,
        to_wireguard: PacketSender,
    ) -> Self {
        Self {
            socket: Arc::new(socket),
            listen_addr,
            client_timeout,
            endpoint,
            to_wireguard,
            clients: HashMap::new(),
            next_id: 1,
            receive_error_log: LogLimiter::default(),
            full_log: LogLimiter::default(),
            socket_error_log: LogLimiter::default(),
        }
    }

    fn received(&mut self, batch: Arc<PacketBatch>, ctx: &mut Context<Self>) {
        for datagram in batch.iter() {
            let source = datagram.meta.source;
            match self.clients.get(&source) {
                Some(client) => {
                    client.stats.last_rx.touch();
                    add(&client.stats.rx_packets, 1);
                    add(&client.stats.rx_bytes, datagram.data.len() as u64);
                }
                None => self.new_client(source, datagram.meta.local, datagram.data.len(), ctx),
            }
        }
        // Each sender's run of datagrams goes as its own packet, charged to
        // its path (a sender beyond the limit of client addresses has none).
        let mut start = 0;
        while start < batch.len() {
            let source = batch.get(start).meta.source;
            let end = (start + 1..batch.len())
                .find(|&i| batch.get(i).meta.source != source)
                .unwrap_or(batch.len());
            let from = self
                .clients
                .get(&source)
                .map(|client| Arc::clone(&client.stats));
            let packet = WgPacket::part(Arc::clone(&batch), start..end, from.clone());
            if self.to_wireguard.try_send(packet).is_err() {
                if let Some(stats) = from {
                    add(&stats.rx_dropped, (end - start) as u64);
                }
            }
            start = end;
        }
    }

    fn new_client(
        &mut self,
        peer: SocketAddr,
        local: Option<IpAddr>,
        bytes: usize,
        ctx: &mut Context<Self>,
    ) {
        if self.clients.len() >= MAX_CLIENT_ADDRESSES {
            if let Some(suppressed) = self.full_log.allow() {
                warn!(
                    "{MAX_CLIENT_ADDRESSES} client addresses are live already: not answering {peer}{}",
                    suppressed_note(suppressed)
                );
            }
            return;
        }
        let local_ip = local.unwrap_or(self.listen_addr.ip());
        let local_addr = SocketAddr::new(local_ip, self.listen_addr.port());
        let socket = match client_reply_socket(local_addr, peer).and_then(UdpSocket::from_std) {
            Ok(own) => ReplySocket::Own(Arc::new(own)),
            Err(error) => {
                if let Some(suppressed) = self.socket_error_log.allow() {
                    warn!(
                        "client {peer}: no own socket ({error}); answering from the shared socket{}",
                        suppressed_note(suppressed)
                    );
                }
                ReplySocket::Shared(Arc::clone(&self.socket))
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let stats = Arc::new(PathStats::with_last_rx(LastSeen::now()));
        add(&stats.rx_packets, 1);
        add(&stats.rx_bytes, bytes as u64);
        info!(
            "client {} is new (it talks to {})",
            unmap_socket(peer),
            unmap_socket(local_addr)
        );
        let actor = ClientAddr::new(ClientAddrParts {
            id,
            peer,
            socket,
            timeout: self.client_timeout,
            endpoint: self.endpoint.clone(),
            to_wireguard: self.to_wireguard.clone(),
            listener: ctx.address().recipient(),
            foreign: ctx.address().recipient(),
            stats: Arc::clone(&stats),
        })
        .start();
        self.clients.insert(peer, KnownClient { id, stats, actor });
    }
}

impl Actor for ServerListener {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.add_stream(DatagramStream::new(Arc::clone(&self.socket)));
    }
}

impl StreamHandler<io::Result<Arc<PacketBatch>>> for ServerListener {
    fn handle(&mut self, item: io::Result<Arc<PacketBatch>>, ctx: &mut Self::Context) {
        match item {
            Ok(batch) => self.received(batch, ctx),
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
            .clients
            .get(&message.peer)
            .is_some_and(|c| c.id == message.id)
        {
            self.clients.remove(&message.peer);
        }
    }
}

impl Handler<ForeignSenders> for ServerListener {
    type Result = ();

    fn handle(&mut self, message: ForeignSenders, ctx: &mut Self::Context) {
        for (peer, local) in message.senders {
            match self.clients.get(&peer) {
                Some(client) => client.stats.last_rx.touch(),
                None => self.new_client(peer, local, 0, ctx),
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
        self.client_timeout = message.0;
        for client in self.clients.values() {
            client.actor.do_send(message);
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
    /// Its counters.
    pub stats: Arc<PathStats>,
}

impl Handler<ListClients> for ServerListener {
    type Result = Vec<ClientSnapshot>;

    fn handle(&mut self, _: ListClients, _: &mut Self::Context) -> Vec<ClientSnapshot> {
        self.clients
            .iter()
            .map(|(peer, client)| ClientSnapshot {
                peer: *peer,
                stats: Arc::clone(&client.stats),
            })
            .collect()
    }
}
