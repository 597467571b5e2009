//! Forwarding without WireGuard: how many datagrams per second cross
//! generator → engarde-client → three links → engarde-server → sink with
//! no loss, against generator → sink over one of the same links; and how
//! much CPU the two daemons spend per forwarded datagram.

use super::procfs::cpu_split;
use crate::lab::Lab;
use crate::lab::load::{Sink, generate};
use crate::lab::topology::{CLIENT_PORT, WIREGUARD_PORT, server_link_ip};
use serde::Serialize;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// One probe at a fixed offered rate.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Probe {
    /// Offered datagrams per second.
    pub offered_pps: u64,
    /// Datagrams the generator got out.
    pub sent: u64,
    /// Distinct datagrams the sink received.
    pub received: u64,
    /// The rate the generator achieved (it may fall short of the offer).
    pub achieved_pps: u64,
}

impl Probe {
    fn lossless(&self) -> bool {
        self.sent > 0 && self.received == self.sent
    }

    /// The generator could not send as fast as offered: this machine's
    /// generator, not the path, is the limit from here on.
    fn generator_bound(&self) -> bool {
        self.achieved_pps * 100 < self.offered_pps * 95
    }
}

/// The highest lossless rate found, with the probes that found it.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// Highest rate that lost nothing (every lower probe lost nothing
    /// either); the achieved rate when the generator was the limit.
    pub lossless_pps: u64,
    /// True when the generator, not the path, set the ceiling.
    pub generator_bound: bool,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
}

/// Which path a probe measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Through engarde-client, every link, engarde-server.
    Engarde,
    /// Straight from the client namespace to the server over link 0.
    Direct,
}

/// Probe length and search bounds.
#[derive(Debug, Clone, Copy)]
pub struct Search {
    /// How long each probe sends.
    pub probe: Duration,
    /// First rate tried.
    pub start_pps: u64,
    /// Bisection steps after the first loss.
    pub refinements: u32,
    /// Rate never exceeded.
    pub max_pps: u64,
}

/// Sends at `rate` on `path` and counts what arrives.
pub fn probe(
    lab: &Lab,
    path: Path,
    rate: u64,
    size: usize,
    duration: Duration,
) -> io::Result<Probe> {
    let (sink_addr, from, to) = match path {
        Path::Engarde => (
            SocketAddr::from((Ipv4Addr::LOCALHOST, WIREGUARD_PORT)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            SocketAddr::from((Ipv4Addr::LOCALHOST, CLIENT_PORT)),
        ),
        Path::Direct => {
            let server = SocketAddr::from((server_link_ip(0), WIREGUARD_PORT + 1));
            (server, SocketAddr::from((lab.client_link_ip(0), 0)), server)
        }
    };
    let sink = Sink::start(&lab.server, sink_addr)?;
    let sent = generate(&lab.client, from, to, rate, size, duration)?;
    let received = sink.finish(Duration::from_millis(300))?;
    Ok(Probe {
        offered_pps: rate,
        sent: sent.packets,
        received: received.unique,
        achieved_pps: (sent.packets as u128 * 1_000_000_000 / u128::from(sent.elapsed_ns.max(1)))
            as u64,
    })
}

/// Doubles the rate until a probe loses (or the generator cannot keep up),
/// then bisects.
pub fn find_ceiling(lab: &Lab, path: Path, size: usize, search: Search) -> io::Result<Ceiling> {
    let mut probes = Vec::new();
    let mut good = 0;
    let mut bad = None;
    let mut rate = search.start_pps;
    while rate <= search.max_pps {
        let result = probe(lab, path, rate, size, search.probe)?;
        probes.push(result);
        if !result.lossless() {
            bad = Some(rate);
            break;
        }
        if result.generator_bound() {
            return Ok(Ceiling {
                lossless_pps: result.achieved_pps.max(good),
                generator_bound: true,
                probes,
            });
        }
        good = rate;
        rate *= 2;
    }
    if let Some(mut high) = bad {
        for _ in 0..search.refinements {
            let middle = (good + high) / 2;
            if middle <= good || high - good < high / 50 {
                break;
            }
            let result = probe(lab, path, middle, size, search.probe)?;
            probes.push(result);
            if result.lossless() && !result.generator_bound() {
                good = middle;
            } else {
                high = middle;
            }
        }
    }
    Ok(Ceiling {
        lossless_pps: good,
        generator_bound: false,
        probes,
    })
}

/// CPU spent by both daemons per forwarded input datagram.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuCost {
    /// Offered rate.
    pub rate_pps: u64,
    /// Datagram size.
    pub size: usize,
    /// Input datagrams sent to engarde-client.
    pub packets: u64,
    /// Of which the sink saw (distinct).
    pub delivered: u64,
    /// engarde-client CPU seconds (user + system).
    pub client_cpu_s: f64,
    /// engarde-server CPU seconds (user + system).
    pub server_cpu_s: f64,
    /// Both, per input datagram, in microseconds.
    pub micros_per_packet: f64,
    /// Of which in user space (engarde's own code), microseconds.
    pub user_micros_per_packet: f64,
}

/// Measures the daemons' CPU while forwarding `rate` datagrams per second.
pub fn cpu_cost(lab: &Lab, rate: u64, size: usize, duration: Duration) -> io::Result<CpuCost> {
    let client_pid = lab
        .engarde_client
        .as_ref()
        .map(|d| d.pid())
        .ok_or_else(|| io::Error::other("no engarde-client"))?;
    let server_pid = lab
        .engarde_server
        .as_ref()
        .map(|d| d.pid())
        .ok_or_else(|| io::Error::other("no engarde-server"))?;
    let (client_before, server_before) = (cpu_split(client_pid)?, cpu_split(server_pid)?);
    let result = probe(lab, Path::Engarde, rate, size, duration)?;
    let (client_after, server_after) = (cpu_split(client_pid)?, cpu_split(server_pid)?);
    let client_cpu_s = client_after.0 + client_after.1 - client_before.0 - client_before.1;
    let server_cpu_s = server_after.0 + server_after.1 - server_before.0 - server_before.1;
    let user_s = client_after.0 - client_before.0 + server_after.0 - server_before.0;
    let packets = result.sent.max(1) as f64;
    Ok(CpuCost {
        rate_pps: rate,
        size,
        packets: result.sent,
        delivered: result.received,
        client_cpu_s,
        server_cpu_s,
        micros_per_packet: (client_cpu_s + server_cpu_s) * 1e6 / packets,
        user_micros_per_packet: user_s * 1e6 / packets,
    })
}
