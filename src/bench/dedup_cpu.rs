//! What `dedup` saves the receiving WireGuard (issue 5, part 2): the CPU
//! time of the server's wireguard-go per million tunnel packets, with three
//! links, once with `dedup` on and once with it off, each in a lab of its
//! own, under the same load.
//!
//! WireGuard decrypts a data message before its replay check, so without
//! `dedup` it decrypts all three copies of every packet and throws two away.
//! The load is UDP through the tunnel, client to server, at a fixed rate,
//! in rounds alternating between the two labs (both run side by side, one
//! carrying load at a time); wireguard-go's CPU comes from `/proc/PID/stat`
//! (all its threads), the datagrams it received from the firewall's counter
//! in front of it.

use super::procfs::cpu_seconds;
use crate::lab::load::{Sink, generate};
use crate::lab::topology::tunnel_ips;
use crate::lab::{Lab, LabOptions};
use serde::Serialize;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// One side of the comparison.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WireGuardCpu {
    /// Tunnel packets sent through the tunnel.
    pub packets: u64,
    /// Of which arrived (distinct).
    pub delivered: u64,
    /// Datagrams the server's WireGuard received from engarde.
    pub datagrams_received: u64,
    /// wireguard-go CPU seconds (user + system) during the load.
    pub cpu_s: f64,
    /// The same per million tunnel packets.
    pub cpu_s_per_million: f64,
}

/// Both sides.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DedupCpu {
    /// Links between the daemons.
    pub links: usize,
    /// Offered tunnel packets per second.
    pub rate_pps: u64,
    /// Tunnel packet size (UDP payload), bytes.
    pub size: usize,
    /// With `dedup` on (the default).
    pub with_dedup: WireGuardCpu,
    /// With `dedup: false`.
    pub without_dedup: WireGuardCpu,
    /// Share of wireguard-go's CPU that dedup saves (0 to 1).
    pub saving: f64,
}

/// Rounds each side's load is split into, alternating between the sides,
/// so that a change in the machine's background load (CI machines are
/// shared) weighs on both alike.
const ROUNDS: u32 = 4;

/// A lab with `dedup` on or off, and its counts so far.
struct Side {
    lab: Lab,
    totals: WireGuardCpu,
}

impl Side {
    fn start(base: &LabOptions, dedup: bool) -> io::Result<Self> {
        let mut options = base.clone();
        options.with_engarde = true;
        options.with_wireguard = true;
        // The firewall counts a GSO run as one datagram; WireGuard receives
        // them one by one either way.
        options.env.push(("ENGARDE_GSO".into(), "0".into()));
        let switch = format!("dedup: {dedup}");
        options.client_extra.push(switch.clone());
        options.server_extra.push(switch);
        Ok(Self {
            lab: Lab::start(options)?,
            totals: WireGuardCpu {
                packets: 0,
                delivered: 0,
                datagrams_received: 0,
                cpu_s: 0.0,
                cpu_s_per_million: 0.0,
            },
        })
    }

    /// Sends `rate_pps` packets of `size` bytes through the tunnel for `duration`.
    fn load(&mut self, rate_pps: u64, size: usize, duration: Duration) -> io::Result<()> {
        let lab = &self.lab;
        let pid = lab.wireguards()?.1.pid();
        let (client_ip, server_ip) = tunnel_ips();
        let sink = Sink::start(&lab.server, SocketAddr::from((server_ip, 7100)))?;
        let received_before = lab.wireguard_datagrams_received(false)?;
        let cpu_before = cpu_seconds(pid)?;
        let sent = generate(
            &lab.client,
            SocketAddr::from((client_ip, 0)),
            sink.addr,
            rate_pps,
            size,
            duration,
        )?;
        let received = sink.finish(Duration::from_millis(300))?;
        let totals = &mut self.totals;
        totals.cpu_s += cpu_seconds(pid)? - cpu_before;
        totals.packets += sent.packets;
        totals.delivered += received.unique;
        totals.datagrams_received += lab.wireguard_datagrams_received(false)? - received_before;
        totals.cpu_s_per_million = totals.cpu_s * 1e6 / totals.packets.max(1) as f64;
        Ok(())
    }
}

/// Measures both sides at `rate_pps` for `duration` each.
pub fn measure(
    base: &LabOptions,
    rate_pps: u64,
    size: usize,
    duration: Duration,
) -> io::Result<DedupCpu> {
    let mut with = Side::start(base, true)?;
    let mut without = Side::start(base, false)?;
    let rounds = if duration >= Duration::from_secs(4) {
        ROUNDS
    } else {
        1
    };
    for _ in 0..rounds {
        with.load(rate_pps, size, duration / rounds)?;
        without.load(rate_pps, size, duration / rounds)?;
    }
    let (with_dedup, without_dedup) = (with.totals, without.totals);
    Ok(DedupCpu {
        links: base.links,
        rate_pps,
        size,
        with_dedup,
        without_dedup,
        saving: 1.0 - with_dedup.cpu_s_per_million / without_dedup.cpu_s_per_million.max(1e-9),
    })
}
