//! The ClientAddr actor: one source address of an engarde-client, as seen
//! by the server.
//!
//! It receives the WireGuard replies the endpoint copies to it and sends
//! them to its address. It owns a socket bound to the server's address and
//! port and connected to the client address when it can (GUIDE §1): the
//! kernel then delivers that address's datagrams to this socket, replies
//! leave from the address the client talks to, and a dead address fills
//! only its own send buffer. Otherwise it sends from the shared listening
//! socket. It stops itself after `clientTimeout` without a datagram, or
//! when the listener tells it to (its address moved to another client).

use super::messages::{
    AttachPath, DetachPath, PacketSender, PathId, Stop, WgPacket, WgPacketGroup, packet_queue,
};
use super::queue_stream::QueueStream;
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::{DatagramStream, GsoState, send_datagrams};
use crate::packet::PacketBatch;
use crate::stats::{PathStats, add};
use actix::prelude::*;
use log::{info, warn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

/// How a client address is answered.
pub enum ReplySocket {
    /// Its own socket, connected to the client address.
    Own(Arc<UdpSocket>),
    /// The shared listening socket (when an own socket could not be opened).
    Shared(Arc<UdpSocket>),
}

/// Tells the listener a client address expired.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ClientGone {
    /// The address.
    pub peer: SocketAddr,
    /// Which actor it was (the address may already have a new one).
    pub id: PathId,
}

/// Hands the listener datagrams a client address's own socket received
/// from other senders (possible in the instant between its bind and
/// connect): they are the listener's to place, not this address's client's.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForeignDatagrams(pub WgPacket);

/// The actor.
pub struct ClientAddr {
    id: PathId,
    peer: SocketAddr,
    socket: ReplySocket,
    timeout: Duration,
    endpoint: Addr<WireGuardEndpoint>,
    to_wireguard: PacketSender,
    listener: Recipient<ClientGone>,
    foreign: Recipient<ForeignDatagrams>,
    stats: Arc<PathStats>,
    /// Whether it may receive everything from the start (see `AttachPath`).
    established: bool,
    /// Whether this address's socket still takes UDP GSO.
    gso: GsoState,
    send_error_log: LogLimiter,
    receive_error_log: LogLimiter,
}

/// Everything a [`ClientAddr`] is started with.
pub struct ClientAddrParts {
    /// Path identity.
    pub id: PathId,
    /// The client's source address.
    pub peer: SocketAddr,
    /// How to answer it.
    pub socket: ReplySocket,
    /// Silence after which it expires.
    pub timeout: Duration,
    /// The WireGuard endpoint.
    pub endpoint: Addr<WireGuardEndpoint>,
    /// The endpoint's inbound queue.
    pub to_wireguard: PacketSender,
    /// Told when the address expires.
    pub listener: Recipient<ClientGone>,
    /// Handed the datagrams of other senders arriving on the own socket.
    pub foreign: Recipient<ForeignDatagrams>,
    /// Counters, shared with the listener (which also counts this address's
    /// datagrams arriving on the listening socket).
    pub stats: Arc<PathStats>,
    /// Whether it may receive everything WireGuard sends from the start.
    pub established: bool,
}

impl ClientAddr {
    /// The actor, not yet started.
    pub fn new(parts: ClientAddrParts) -> Self {
        Self {
            id: parts.id,
            peer: parts.peer,
            socket: parts.socket,
            timeout: parts.timeout,
            endpoint: parts.endpoint,
            to_wireguard: parts.to_wireguard,
            listener: parts.listener,
            foreign: parts.foreign,
            stats: parts.stats,
            established: parts.established,
            gso: GsoState::new(),
            send_error_log: LogLimiter::default(),
            receive_error_log: LogLimiter::default(),
        }
    }

    fn send(&mut self, group: &WgPacketGroup) {
        let datagrams = group.datagrams().map(|d| d.data);
        let report = match &self.socket {
            ReplySocket::Own(socket) => {
                send_datagrams(socket.as_fd(), datagrams, None, &mut self.gso)
            }
            ReplySocket::Shared(socket) => {
                send_datagrams(socket.as_fd(), datagrams, Some(self.peer), &mut self.gso)
            }
        };
        self.stats.record_send(&report);
        if let Some(error) = report.last_error {
            if let Some(suppressed) = self.send_error_log.allow() {
                warn!(
                    "client {}: sending failed: {error}{}",
                    self.peer,
                    suppressed_note(suppressed)
                );
            }
        }
    }

    fn received(&mut self, batch: Arc<PacketBatch>) {
        // Runs of datagrams from this address go to its client's endpoint;
        // runs from any other sender go back to the listener to be placed.
        let mut start = 0;
        while start < batch.len() {
            let source = batch.get(start).meta.source;
            let end = (start + 1..batch.len())
                .find(|&i| batch.get(i).meta.source != source)
                .unwrap_or(batch.len());
            if source == self.peer {
                let bytes = (start..end).map(|i| batch.get(i).data.len()).sum();
                self.stats.record_receive(end - start, bytes);
                let origin = Some(super::messages::Origin {
                    id: self.id,
                    stats: Arc::clone(&self.stats),
                });
                let packet = WgPacket::part(Arc::clone(&batch), start..end, origin);
                if let Err(TrySendError::Full(_) | TrySendError::Closed(_)) =
                    self.to_wireguard.try_send(packet)
                {
                    add(&self.stats.rx_dropped, (end - start) as u64);
                }
            } else {
                let packet = WgPacket::part(Arc::clone(&batch), start..end, None);
                self.foreign.do_send(ForeignDatagrams(packet));
            }
            start = end;
        }
    }

    fn check_expiry(&mut self, ctx: &mut Context<Self>) {
        let idle = self.stats.last_rx.age().unwrap_or(Duration::MAX);
        if idle >= self.timeout {
            info!(
                "client {} expired: nothing received for {} s",
                crate::net::sockaddr::unmap_socket(self.peer),
                self.timeout.as_secs_f32()
            );
            ctx.stop();
        }
    }
}

impl Actor for ClientAddr {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (queue, replies) = packet_queue();
        ctx.add_stream(QueueStream(replies));
        if let ReplySocket::Own(socket) = &self.socket {
            ctx.add_stream(DatagramStream::new(Arc::clone(socket)));
        }
        self.endpoint.do_send(AttachPath {
            id: self.id,
            name: self.peer.to_string(),
            queue,
            stats: Arc::clone(&self.stats),
            peer: Some(self.peer),
            established: self.established,
        });
        // Checking a few times per timeout keeps expiry close to the configured value.
        let every = (self.timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        ctx.run_interval(every, Self::check_expiry);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.endpoint.do_send(DetachPath { id: self.id });
        self.listener.do_send(ClientGone {
            peer: self.peer,
            id: self.id,
        });
    }
}

impl Handler<Stop> for ClientAddr {
    type Result = ();

    fn handle(&mut self, message: Stop, ctx: &mut Self::Context) {
        info!("client {}: {}", self.peer, message.reason);
        ctx.stop();
    }
}

/// WireGuard's replies, to send to the client address.
impl StreamHandler<WgPacketGroup> for ClientAddr {
    fn handle(&mut self, group: WgPacketGroup, _: &mut Self::Context) {
        self.send(&group);
    }
}

/// A reloaded `clientTimeout` (checked a few times a second at most, so a
/// shorter one takes effect within a second).
impl Handler<super::server_listener::SetClientTimeout> for ClientAddr {
    type Result = ();

    fn handle(&mut self, message: super::server_listener::SetClientTimeout, _: &mut Self::Context) {
        self.timeout = message.0;
    }
}

/// Datagrams arriving on the own socket.
impl StreamHandler<io::Result<Arc<PacketBatch>>> for ClientAddr {
    fn handle(&mut self, item: io::Result<Arc<PacketBatch>>, _: &mut Self::Context) {
        match item {
            Ok(batch) => self.received(batch),
            Err(error) => {
                // e.g. ECONNREFUSED: the client address answered an earlier reply with an ICMP error.
                if let Some(suppressed) = self.receive_error_log.allow() {
                    warn!(
                        "client {}: receive failed: {error}{}",
                        self.peer,
                        suppressed_note(suppressed)
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actors::wireguard_endpoint::WireGuardPeer;
    use crate::stats::LastSeen;
    use std::sync::Mutex;

    /// Stands in for the listener: records what client addresses report.
    #[derive(Default)]
    struct Listener {
        gone: Arc<Mutex<Vec<SocketAddr>>>,
    }

    impl Actor for Listener {
        type Context = Context<Self>;
    }

    impl Handler<ClientGone> for Listener {
        type Result = ();
        fn handle(&mut self, message: ClientGone, _: &mut Self::Context) {
            self.gone.lock().unwrap().push(message.peer);
        }
    }

    impl Handler<ForeignDatagrams> for Listener {
        type Result = ();
        fn handle(&mut self, _: ForeignDatagrams, _: &mut Self::Context) {}
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[actix_rt::test]
    async fn expires_after_client_timeout_without_packets_and_not_before() {
        tokio::time::pause();
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let upstream = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let endpoint = WireGuardEndpoint::new(
            upstream,
            WireGuardPeer::Connected("127.0.0.1:9".parse().unwrap()),
            true,
        );
        let to_wireguard = endpoint.inbound_sender();
        let endpoint = endpoint.start();
        let gone = Arc::new(Mutex::new(Vec::new()));
        let listener = Listener {
            gone: Arc::clone(&gone),
        }
        .start();
        let stats = Arc::new(PathStats::with_last_rx(LastSeen::now()));
        let peer: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        ClientAddr::new(ClientAddrParts {
            id: 1,
            peer,
            socket: ReplySocket::Shared(socket),
            timeout: Duration::from_secs(30),
            endpoint,
            to_wireguard,
            listener: listener.clone().recipient(),
            foreign: listener.recipient(),
            stats: Arc::clone(&stats),
            established: true,
        })
        .start();
        settle().await;

        tokio::time::advance(Duration::from_secs(29)).await;
        settle().await;
        assert!(
            gone.lock().unwrap().is_empty(),
            "alive 29 s after its last packet"
        );

        stats.last_rx.touch(); // a packet arrives at t = 29 s
        tokio::time::advance(Duration::from_secs(29)).await;
        settle().await;
        assert!(
            gone.lock().unwrap().is_empty(),
            "a packet restarts the countdown"
        );

        tokio::time::advance(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(
            *gone.lock().unwrap(),
            vec![peer],
            "expired 31 s after its last packet"
        );
    }
}
