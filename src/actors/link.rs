//! The LinkActor: one network link of the client.
//!
//! It owns a socket bound to one interface and its address. It sends every
//! batch the WireGuard endpoint hands it to the server (or the interface's
//! override destination), and hands every datagram the server sends back
//! to the endpoint. Sending never waits: what the socket cannot take now is
//! dropped and counted, so a dead or slow link never delays the others.

use super::messages::{
    AttachPath, DetachPath, PacketSender, PathId, Relabel, Stop, WgPacket, WgPacketGroup,
    packet_queue,
};
use super::queue_stream::QueueStream;
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::interfaces::LinkSpec;
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::{DatagramStream, GsoState, send_datagrams};
use crate::packet::PacketBatch;
use crate::stats::{PathStats, add};
use actix::prelude::*;
use log::{debug, warn};
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;

/// A running link.
pub struct LinkActor {
    id: PathId,
    spec: LinkSpec,
    socket: Arc<UdpSocket>,
    endpoint: Addr<WireGuardEndpoint>,
    /// Where datagrams from the server go (the endpoint's inbound queue).
    to_wireguard: PacketSender,
    stats: Arc<PathStats>,
    /// Whether this link's socket still takes UDP GSO.
    gso: GsoState,
    send_error_log: LogLimiter,
    receive_error_log: LogLimiter,
}

impl LinkActor {
    /// A link for `spec` on `socket` (already bound to the interface).
    pub fn new(
        id: PathId,
        spec: LinkSpec,
        socket: UdpSocket,
        endpoint: Addr<WireGuardEndpoint>,
        to_wireguard: PacketSender,
    ) -> Self {
        Self {
            id,
            spec,
            socket: Arc::new(socket),
            endpoint,
            to_wireguard,
            stats: Arc::new(PathStats::new()),
            gso: GsoState::new(),
            send_error_log: LogLimiter::default(),
            receive_error_log: LogLimiter::default(),
        }
    }

    /// Counts into `stats` instead of fresh counters (the watcher keeps one
    /// set per interface, so a re-created link continues its totals).
    pub fn with_stats(mut self, stats: Arc<PathStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The link's counters.
    pub fn stats(&self) -> Arc<PathStats> {
        Arc::clone(&self.stats)
    }

    fn send(&mut self, group: &WgPacketGroup) {
        let report = send_datagrams(
            self.socket.as_fd(),
            group.datagrams().map(|d| d.data),
            Some(self.spec.destination),
            &mut self.gso,
        );
        self.stats.record_send(&report);
        if let Some(error) = report.last_error {
            if let Some(suppressed) = self.send_error_log.allow() {
                warn!(
                    "link {}: sending to {} failed: {error}{}",
                    self.spec.display_name(),
                    self.spec.destination,
                    suppressed_note(suppressed)
                );
            }
        }
    }

    fn received(&mut self, batch: Arc<PacketBatch>) {
        if batch.is_empty() {
            return;
        }
        self.stats.record_receive(batch.len(), batch.total_bytes());
        let count = batch.len() as u64;
        match self
            .to_wireguard
            .try_send(WgPacket::from_path(batch, self.id, &self.stats))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                add(&self.stats.rx_dropped, count)
            }
        }
    }
}

impl Actor for LinkActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let (queue, from_wireguard) = packet_queue();
        ctx.add_stream(QueueStream(from_wireguard));
        ctx.add_stream(DatagramStream::new(Arc::clone(&self.socket)));
        self.endpoint.do_send(AttachPath {
            id: self.id,
            name: self.spec.name.clone(),
            queue,
            stats: Arc::clone(&self.stats),
            peer: None,
            established: true,
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.endpoint.do_send(DetachPath { id: self.id });
        debug!("link {}: socket closed", self.spec.display_name());
    }
}

/// Datagrams from WireGuard, to send to the server.
impl StreamHandler<WgPacketGroup> for LinkActor {
    fn handle(&mut self, group: WgPacketGroup, _: &mut Self::Context) {
        self.send(&group);
    }
}

/// Datagrams from the server, for WireGuard.
impl StreamHandler<io::Result<Arc<PacketBatch>>> for LinkActor {
    fn handle(&mut self, item: io::Result<Arc<PacketBatch>>, _: &mut Self::Context) {
        match item {
            Ok(batch) => self.received(batch),
            Err(error) => {
                if let Some(suppressed) = self.receive_error_log.allow() {
                    warn!(
                        "link {}: receive failed: {error}{}",
                        self.spec.display_name(),
                        suppressed_note(suppressed)
                    );
                }
            }
        }
    }
}

impl Handler<Stop> for LinkActor {
    type Result = ();

    fn handle(&mut self, message: Stop, ctx: &mut Self::Context) {
        debug!(
            "link {}: stopping: {}",
            self.spec.display_name(),
            message.reason
        );
        ctx.stop();
    }
}

impl Handler<Relabel> for LinkActor {
    type Result = ();

    fn handle(&mut self, message: Relabel, _: &mut Self::Context) {
        self.spec.label = message.label;
    }
}
