//! A short run of `engarde-bench --smoke`: every part of the benchmark
//! works and the JSON report holds every figure. It asserts no speed:
//! performance is measured by the benchmark itself, never by a test.

mod common;

use common::process::{TempDir, run_command_within};
use std::process::Command;
use std::time::Duration;

#[test]
fn the_benchmark_runs_and_reports_every_figure() {
    let dir = TempDir::new("bench");
    let json = dir.path().join("bench.json");
    let mut bench = Command::new(env!("CARGO_BIN_EXE_engarde-bench"));
    bench.arg("--smoke").arg("--json").arg(&json);
    // A smoke run takes about a minute; a hung one fails instead of hanging CI.
    let output = run_command_within(bench, Duration::from_secs(300));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "engarde-bench --smoke failed\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("lossless forwarding, 100 B datagrams"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    for key in [
        "wakeup",
        "allocations",
        "latency_direct",
        "latency_engarde",
        "tcp_direct_mbps",
        "tcp_engarde_mbps",
        "isolation",
        "memory",
    ] {
        assert!(!report[key].is_null(), "the report lacks {key}: {report:#}");
    }
    let ceilings = report["ceilings"].as_array().unwrap();
    assert_eq!(ceilings.len(), 2, "100 and 1,400-byte ceilings");
    for ceiling in ceilings {
        assert!(
            ceiling["direct"]["lossless_pps"].as_u64().unwrap() > 0,
            "{ceiling:#}"
        );
        assert!(
            ceiling["engarde"]["lossless_pps"].as_u64().unwrap() > 0,
            "{ceiling:#}"
        );
    }
    assert!(report["allocations"]["packets"].as_u64().unwrap() > 0);
    // Not a speed: a TCP transfer that moved nothing means the tunnel is broken.
    for key in ["tcp_direct_mbps", "tcp_engarde_mbps"] {
        assert!(
            report[key].as_f64().unwrap() > 0.0,
            "{key}: TCP moved nothing: {report:#}"
        );
    }
    let dedup = &report["dedup_cpu"][0];
    for side in ["with_dedup", "without_dedup"] {
        assert!(
            dedup[side]["cpu_s_per_million"].is_number(),
            "the receiving WireGuard's CPU {side}: {:#}",
            report["dedup_cpu"]
        );
    }
    assert!(
        stdout.contains("receiving wireguard-go CPU per million packets"),
        "{stdout}"
    );
    assert_eq!(
        report["cpu"].as_array().unwrap().len(),
        3,
        "CPU at three rates"
    );
}
