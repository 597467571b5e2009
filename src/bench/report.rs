//! The benchmark's results: one table for people, JSON for machines.
//! Every figure stands next to its target (issue 3) and baseline.

use super::allocations::Allocations;
use super::calibration::WakeupCost;
use super::dedup_cpu::DedupCpu;
use super::forwarding::{Ceiling, CpuCost};
use super::isolation::Isolation;
use super::latency::RoundTrips;
use super::memory::Memory;
use serde::Serialize;
use std::fmt::Write;

/// Ceilings of one datagram size.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingPair {
    /// Datagram size in bytes.
    pub size: usize,
    /// Generator → sink over one link.
    pub direct: Ceiling,
    /// Generator → engarde-client → 3 links → engarde-server → sink.
    pub engarde: Ceiling,
}

/// Where and when the benchmark ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// UTC time of the run.
    pub date: String,
    /// `uname -sr`.
    pub kernel: String,
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// engarde version.
    pub version: String,
}

impl Machine {
    fn read() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines().find_map(|l| {
                    l.strip_prefix("model name")
                        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                })
            })
            .unwrap_or_default();
        let run = |program: &str, args: &[&str]| {
            crate::lab::cmd::run(program, args)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        Self {
            date: run("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            kernel: run("uname", &["-sr"]),
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            version: crate::VERSION.to_string(),
        }
    }
}

/// Every figure of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where and when.
    pub machine: Machine,
    /// Forwarding ceilings per datagram size.
    pub ceilings: Vec<CeilingPair>,
    /// CPU per forwarded datagram, at 10, 25 and 50% of the 100-byte ceiling.
    pub cpu: Vec<CpuCost>,
    /// What one process wake-up costs here (UDP ping-pong).
    pub wakeup: Option<WakeupCost>,
    /// Heap allocations per datagram.
    pub allocations: Option<Allocations>,
    /// Round trips through WireGuard alone.
    pub latency_direct: Option<RoundTrips>,
    /// Round trips through WireGuard and engarde.
    pub latency_engarde: Option<RoundTrips>,
    /// iperf3 TCP through WireGuard alone.
    pub tcp_direct_mbps: Option<f64>,
    /// iperf3 TCP through WireGuard and engarde.
    pub tcp_engarde_mbps: Option<f64>,
    /// The slow-link run.
    pub isolation: Option<Isolation>,
    /// Resident memory over a run.
    pub memory: Option<Memory>,
    /// The receiving wireguard-go's CPU with and without dedup, per packet size.
    pub dedup_cpu: Vec<DedupCpu>,
}

impl Report {
    /// An empty report stamped with this machine.
    pub fn new() -> Self {
        Self {
            machine: Machine::read(),
            ceilings: Vec::new(),
            cpu: Vec::new(),
            wakeup: None,
            allocations: None,
            latency_direct: None,
            latency_engarde: None,
            tcp_direct_mbps: None,
            tcp_engarde_mbps: None,
            isolation: None,
            memory: None,
            dedup_cpu: Vec::new(),
        }
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serializes")
    }

    /// The report as one table: figure, measured, baseline, ratio, target, verdict.
    pub fn to_table(&self) -> String {
        let mut rows: Vec<[String; 5]> = vec![[
            "figure".into(),
            "engarde".into(),
            "baseline (same run)".into(),
            "result".into(),
            "target".into(),
        ]];
        for pair in &self.ceilings {
            let ratio = pair.engarde.lossless_pps as f64 / pair.direct.lossless_pps.max(1) as f64;
            rows.push([
                format!("lossless forwarding, {} B datagrams", pair.size),
                format!("{} pps", pair.engarde.lossless_pps),
                format!(
                    "{} pps direct{}",
                    pair.direct.lossless_pps,
                    if pair.direct.generator_bound {
                        " (generator-bound)"
                    } else {
                        ""
                    }
                ),
                format!("{ratio:.2}x {}", verdict(ratio >= 0.3)),
                ">= 0.3x direct".into(),
            ]);
        }
        for cpu in &self.cpu {
            let floor = self.wakeup.map_or(String::new(), |w| {
                format!(
                    ", {:.1}x a ping-pong side",
                    cpu.micros_per_packet / w.cpu_per_datagram_us
                )
            });
            rows.push([
                format!("CPU per datagram at {} pps", cpu.rate_pps),
                format!(
                    "{:.2} us ({:.2} in user space)",
                    cpu.micros_per_packet, cpu.user_micros_per_packet
                ),
                format!(
                    "client {:.2} s + server {:.2} s{floor}",
                    cpu.client_cpu_s, cpu.server_cpu_s
                ),
                verdict(cpu.micros_per_packet <= 10.0).into(),
                "<= 10 us".into(),
            ]);
        }
        if let Some(wakeup) = &self.wakeup {
            rows.push([
                "machine floor: UDP ping-pong over one link".into(),
                format!(
                    "{:.1} us CPU per datagram per side",
                    wakeup.cpu_per_datagram_us
                ),
                format!("median round trip {:.0} us", wakeup.median_rtt_us),
                "(context)".into(),
                "-".into(),
            ]);
        }
        if let Some(allocations) = &self.allocations {
            rows.push([
                "heap allocations per datagram".into(),
                format!("{:.4}", allocations.per_packet),
                format!(
                    "{} over {} datagrams",
                    allocations.allocations, allocations.packets
                ),
                verdict(allocations.per_packet < 0.01).into(),
                "none in steady state".into(),
            ]);
        }
        if let (Some(direct), Some(engarde)) = (&self.latency_direct, &self.latency_engarde) {
            let median = (engarde.median_us - direct.median_us) / 1e3;
            let p99 = (engarde.p99_us - direct.p99_us) / 1e3;
            // A relay adds two process hops each way; each hop costs about half
            // a ping-pong round trip on this machine.
            let floor = self.wakeup.map_or(String::new(), |w| {
                format!(" (4 hops: {:.3} ms)", 2.0 * w.median_rtt_us / 1e3)
            });
            rows.push([
                "added round trip, median".into(),
                format!("{:.3} ms", engarde.median_us / 1e3),
                format!("{:.3} ms WireGuard alone{floor}", direct.median_us / 1e3),
                format!("{median:+.3} ms {}", verdict(median <= 0.1)),
                "<= +0.1 ms".into(),
            ]);
            rows.push([
                "added round trip, p99".into(),
                format!("{:.3} ms", engarde.p99_us / 1e3),
                format!("{:.3} ms WireGuard alone", direct.p99_us / 1e3),
                format!("{p99:+.3} ms {}", verdict(p99 <= 0.5)),
                "<= +0.5 ms".into(),
            ]);
        }
        if let (Some(direct), Some(engarde)) = (self.tcp_direct_mbps, self.tcp_engarde_mbps) {
            let ratio = engarde / direct.max(f64::MIN_POSITIVE);
            rows.push([
                "TCP through WireGuard (iperf3)".into(),
                format!("{engarde:.0} Mbit/s"),
                format!("{direct:.0} Mbit/s WireGuard alone"),
                format!("{ratio:.2}x {}", verdict(ratio >= 0.5)),
                ">= 0.5x".into(),
            ]);
        }
        if let Some(iso) = &self.isolation {
            for (name, baseline, shaped) in [
                ("client->server", iso.baseline_up, iso.shaped_up),
                ("server->client", iso.baseline_down, iso.shaped_down),
            ] {
                let ok = shaped.lost == 0 && shaped.p99_ms - baseline.p99_ms <= 5.0;
                rows.push([
                    format!("one link at 1 Mbit/s, {name}"),
                    format!(
                        "lost {}/{}, p99 {:.2} ms",
                        shaped.lost, shaped.sent, shaped.p99_ms
                    ),
                    format!(
                        "lost {}/{}, p99 {:.2} ms unshaped",
                        baseline.lost, baseline.sent, baseline.p99_ms
                    ),
                    verdict(ok).into(),
                    "0 lost, p99 <= +5 ms".into(),
                ]);
            }
        }
        if let Some(memory) = &self.memory {
            for (name, series) in [
                ("engarde-client", &memory.client),
                ("engarde-server", &memory.server),
            ] {
                rows.push([
                    format!("{name} RSS over {} s", memory.seconds),
                    format!("max {:.1} MiB", series.max_kib as f64 / 1024.0),
                    format!(
                        "first {:.1} MiB, last {:.1} MiB",
                        series.first_kib as f64 / 1024.0,
                        series.last_kib as f64 / 1024.0
                    ),
                    verdict(series.max_kib < 10 * 1024).into(),
                    "< 10 MiB, flat".into(),
                ]);
            }
        }
        for dedup in &self.dedup_cpu {
            let (with, without) = (&dedup.with_dedup, &dedup.without_dedup);
            rows.push([
                format!(
                    "receiving wireguard-go CPU per million packets, {} links, {} pps of {} B",
                    dedup.links, dedup.rate_pps, dedup.size
                ),
                format!(
                    "{:.2} s with dedup ({} datagrams for {} packets)",
                    with.cpu_s_per_million, with.datagrams_received, with.packets
                ),
                format!(
                    "{:.2} s without ({} datagrams for {} packets)",
                    without.cpu_s_per_million, without.datagrams_received, without.packets
                ),
                format!(
                    "saves {:.0}% {}",
                    dedup.saving * 100.0,
                    verdict(dedup.saving > 0.0)
                ),
                "less with dedup".into(),
            ]);
        }
        let mut widths = [0usize; 5];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = format!(
            "engarde {} benchmark, {}, {} ({} CPUs), {}\n\n",
            self.machine.version,
            self.machine.date,
            self.machine.cpu,
            self.machine.cpus,
            self.machine.kernel
        );
        for (i, row) in rows.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join(" | ").trim_end());
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                let _ = writeln!(out, "{}", rule.join("-|-"));
            }
        }
        out
    }
}

impl Default for Report {
    fn default() -> Self {
        Self::new()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
