//! `engarde-bench`: every performance figure of issue 3 in one run, each
//! next to its baseline measured in the same run on the same machine.
//!
//! - forwarding ceilings (no WireGuard), engarde path vs a direct path, at
//!   100 and 1,400 bytes ([`forwarding`]);
//! - CPU per forwarded datagram, both daemons together ([`forwarding`]);
//! - heap allocations per datagram in steady state ([`allocations`]);
//! - round-trip time through WireGuard with and without engarde ([`latency`]);
//! - TCP throughput through WireGuard with and without engarde ([`throughput`]);
//! - a link rate-limited to 1 Mbit/s must not hurt the others ([`isolation`]);
//! - resident memory of both daemons over a run ([`memory`]);
//! - the receiving wireguard-go's CPU per million packets with and without
//!   `dedup` at three links ([`dedup_cpu`]);
//! - what one process wake-up costs on this machine, the floor under any
//!   relay's CPU and latency figures ([`calibration`]).
//!
//! docs/performance.md explains each figure and the latest results.

pub mod allocations;
pub mod calibration;
pub mod dedup_cpu;
pub mod forwarding;
pub mod isolation;
pub mod latency;
pub mod memory;
pub mod procfs;
pub mod report;
pub mod throughput;

use crate::lab::{Lab, LabOptions};
use forwarding::{Path, Search};
use report::Report;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// How long each part runs.
#[derive(Debug, Clone)]
pub struct Durations {
    /// One forwarding probe.
    pub probe: Duration,
    /// Bisection steps of the ceiling search.
    pub refinements: u32,
    /// The CPU measurement.
    pub cpu: Duration,
    /// Latency probes (one every 10 ms).
    pub latency_probes: u64,
    /// Each iperf3 run, seconds.
    pub iperf_seconds: u32,
    /// Each isolation stream.
    pub isolation: Duration,
    /// The memory run.
    pub memory: Duration,
    /// Datagrams counted for allocations (after as many for warm-up).
    pub allocation_packets: u64,
    /// Each side of the dedup CPU comparison.
    pub dedup_cpu: Duration,
    /// Its tunnel packets per second.
    pub dedup_cpu_rate: u64,
    /// Its tunnel packet sizes (UDP payload, bytes).
    pub dedup_cpu_sizes: &'static [usize],
}

impl Durations {
    /// The full benchmark (about five minutes).
    pub fn full() -> Self {
        Self {
            probe: Duration::from_millis(1500),
            refinements: 5,
            cpu: Duration::from_secs(5),
            latency_probes: 1000,
            iperf_seconds: 10,
            isolation: Duration::from_secs(15),
            memory: Duration::from_secs(60),
            allocation_packets: 100_000,
            dedup_cpu: Duration::from_secs(10),
            // Below what every part of the path handles on the CI machine,
            // so that no side drops datagrams and both are compared per packet.
            dedup_cpu_rate: 10_000,
            dedup_cpu_sizes: &[100, 1_350],
        }
    }

    /// A few seconds per part: checks the benchmark works, measures nothing worth quoting.
    pub fn smoke() -> Self {
        Self {
            probe: Duration::from_millis(300),
            refinements: 0,
            cpu: Duration::from_millis(500),
            latency_probes: 50,
            iperf_seconds: 1,
            isolation: Duration::from_secs(2),
            memory: Duration::from_secs(2),
            allocation_packets: 5_000,
            dedup_cpu: Duration::from_secs(1),
            dedup_cpu_rate: 2_000,
            dedup_cpu_sizes: &[100],
        }
    }
}

/// Everything the benchmark needs.
pub struct Options {
    /// The engarde-client binary.
    pub client_binary: PathBuf,
    /// The engarde-server binary.
    pub server_binary: PathBuf,
    /// How long each part runs.
    pub durations: Durations,
    /// Reads the process's allocation counter, when the caller counts allocations.
    pub allocation_counter: Option<fn() -> u64>,
    /// Progress lines go to stderr when true.
    pub verbose: bool,
}

/// Starts the forwarding lab (no WireGuard) and measures only the CPU cost
/// at `rate` for `seconds`, printing the daemons' PIDs first so a profiler
/// can be attached.
pub fn cpu_only(
    options: &Options,
    rate: u64,
    size: usize,
    seconds: u64,
) -> io::Result<forwarding::CpuCost> {
    let mut lab = LabOptions::new(&options.client_binary, &options.server_binary);
    // The lab runs a server that is not WireGuard-aware when there is no
    // WireGuard: the load generator's datagrams are not WireGuard.
    lab.with_wireguard = false;
    let lab = Lab::start(lab)?;
    eprintln!(
        "engarde-bench: engarde-client pid {}, engarde-server pid {}",
        lab.engarde_client.as_ref().map_or(0, |d| d.pid()),
        lab.engarde_server.as_ref().map_or(0, |d| d.pid())
    );
    forwarding::cpu_cost(&lab, rate, size, Duration::from_secs(seconds))
}

/// Runs every measurement and returns the report.
pub fn run(options: &Options) -> io::Result<Report> {
    let d = &options.durations;
    let say = |line: &str| {
        if options.verbose {
            eprintln!("engarde-bench: {line}");
        }
    };
    let lab_options = |engarde: bool, wireguard: bool| {
        let mut lab = LabOptions::new(&options.client_binary, &options.server_binary);
        lab.with_engarde = engarde;
        lab.with_wireguard = wireguard;
        lab
    };
    let mut report = Report::new();

    say("forwarding ceilings (no WireGuard)");
    {
        let lab = Lab::start(lab_options(true, false))?;
        let search = Search {
            probe: d.probe,
            start_pps: 10_000,
            refinements: d.refinements,
            max_pps: 2_000_000,
        };
        for size in [100usize, 1400] {
            let direct = forwarding::find_ceiling(&lab, Path::Direct, size, search)?;
            say(&format!("  {size} B direct: {} pps", direct.lossless_pps));
            let engarde = forwarding::find_ceiling(&lab, Path::Engarde, size, search)?;
            say(&format!("  {size} B engarde: {} pps", engarde.lossless_pps));
            report.ceilings.push(report::CeilingPair {
                size,
                direct,
                engarde,
            });
        }
        let base = report
            .ceilings
            .first()
            .map_or(10_000, |c| c.engarde.lossless_pps);
        for percent in [10, 25, 50] {
            let rate = (base * percent / 100).max(1_000);
            say(&format!(
                "  CPU at {rate} pps ({percent}% of the 100-byte ceiling)"
            ));
            report
                .cpu
                .push(forwarding::cpu_cost(&lab, rate, 100, d.cpu)?);
        }
        say("  wake-up cost of this machine (ping-pong)");
        report.wakeup = Some(calibration::measure(&lab, d.latency_probes * 5)?);
    }

    if let Some(counter) = options.allocation_counter {
        say("allocations per datagram (in-process)");
        report.allocations = Some(allocations::measure(
            counter,
            d.allocation_packets,
            d.allocation_packets,
        )?);
    }

    say("WireGuard without engarde: latency and TCP throughput");
    {
        let lab = Lab::start(lab_options(false, true))?;
        report.latency_direct = Some(latency::measure(
            &lab,
            d.latency_probes,
            Duration::from_millis(10),
        )?);
        report.tcp_direct_mbps = Some(throughput::tcp_mbps(&lab, d.iperf_seconds)?);
    }
    say("WireGuard through engarde: latency, TCP throughput, isolation, memory");
    {
        let mut lab = Lab::start(lab_options(true, true))?;
        report.latency_engarde = Some(latency::measure(
            &lab,
            d.latency_probes,
            Duration::from_millis(10),
        )?);
        report.tcp_engarde_mbps = Some(throughput::tcp_mbps(&lab, d.iperf_seconds)?);
        report.isolation = Some(isolation::measure(&mut lab, d.isolation)?);
        report.memory = Some(memory::measure(&lab, d.memory)?);
    }
    for &size in d.dedup_cpu_sizes {
        say(&format!(
            "the receiving WireGuard's CPU with and without dedup (three links, {size} B)"
        ));
        report.dedup_cpu.push(dedup_cpu::measure(
            &lab_options(true, true),
            d.dedup_cpu_rate,
            size,
            d.dedup_cpu,
        )?);
    }
    Ok(report)
}
