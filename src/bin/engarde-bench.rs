//! engarde-bench: measures engarde against direct paths in network
//! namespaces and prints one table (and JSON). Needs root and the lab's
//! packages, plus iperf3. `--smoke` runs every part for a few seconds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts allocations so the benchmark can show the data path makes none.
struct CountingAllocator;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: delegates every call to the system allocator unchanged.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocation_count() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

const HELP: &str = "\
usage: engarde-bench [--smoke] [--json FILE] [--memory-seconds N]
       engarde-bench --cpu-only RATE     only the CPU cost at RATE datagrams/s for 20 s
                                         (prints the daemons' PIDs, for profilers)
       engarde-bench --dedup-cpu-only RATE
                                         only the receiving wireguard-go's CPU with and
                                         without dedup, RATE packets/s for 10 s each

Builds network namespaces with three links, runs engarde-client and
engarde-server (found next to this binary) and wireguard-go, and measures
forwarding ceilings, CPU and allocations per datagram, added latency, TCP
throughput, isolation from a slow link and memory, each against a baseline
measured in the same run. Prints a table; writes JSON to FILE (default
bench-results.json). --smoke runs each part for a few seconds only.
Run as root; needs iproute2, nftables, wireguard-go, wireguard-tools, iperf3.";

fn main() -> ExitCode {
    let mut durations = engarde::bench::Durations::full();
    let mut json = PathBuf::from("bench-results.json");
    let mut memory_seconds = None;
    let mut cpu_only = None;
    let mut dedup_cpu_only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--smoke" => durations = engarde::bench::Durations::smoke(),
            "--json" => match args.next() {
                Some(path) => json = PathBuf::from(path),
                None => return usage("--json needs a file name"),
            },
            "--memory-seconds" => match args.next().and_then(|n| n.parse::<u64>().ok()) {
                Some(n) => memory_seconds = Some(n),
                None => return usage("--memory-seconds needs a number"),
            },
            "--cpu-only" => match args.next().and_then(|n| n.parse::<u64>().ok()) {
                Some(rate) => cpu_only = Some(rate),
                None => return usage("--cpu-only needs a rate in datagrams per second"),
            },
            "--dedup-cpu-only" => match args.next().and_then(|n| n.parse::<u64>().ok()) {
                Some(rate) => dedup_cpu_only = Some(rate),
                None => return usage("--dedup-cpu-only needs a rate in packets per second"),
            },
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other}")),
        }
    }
    if let Some(seconds) = memory_seconds {
        durations.memory = std::time::Duration::from_secs(seconds);
    }
    let directory = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
        .unwrap_or_default();
    let options = engarde::bench::Options {
        client_binary: directory.join("engarde-client"),
        server_binary: directory.join("engarde-server"),
        durations,
        allocation_counter: Some(allocation_count),
        verbose: true,
    };
    if let Some(rate) = cpu_only {
        return match engarde::bench::cpu_only(&options, rate, 100, 20) {
            Ok(cost) => {
                println!("{cost:?}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("engarde-bench: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(rate) = dedup_cpu_only {
        let mut report = engarde::bench::report::Report::new();
        let lab = engarde::lab::LabOptions::new(&options.client_binary, &options.server_binary);
        for &size in options.durations.dedup_cpu_sizes {
            match engarde::bench::dedup_cpu::measure(&lab, rate, size, options.durations.dedup_cpu)
            {
                Ok(cost) => report.dedup_cpu.push(cost),
                Err(error) => {
                    eprintln!("engarde-bench: {error}");
                    return ExitCode::FAILURE;
                }
            }
        }
        println!("{}\n{}", report.to_table(), report.to_json());
        return ExitCode::SUCCESS;
    }
    match engarde::bench::run(&options) {
        Ok(report) => {
            println!("{}", report.to_table());
            if let Err(error) = std::fs::write(&json, report.to_json()) {
                eprintln!("engarde-bench: cannot write {}: {error}", json.display());
                return ExitCode::FAILURE;
            }
            println!("JSON written to {}", json.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("engarde-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("engarde-bench: {message}\n\n{HELP}");
    ExitCode::from(2)
}
