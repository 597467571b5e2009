//! TCP throughput through the WireGuard tunnel with iperf3.

use crate::lab::Lab;
use crate::lab::cmd::run_in;
use crate::lab::process::Daemon;
use crate::lab::topology::tunnel_ips;
use std::io;
use std::path::Path;
use std::time::Duration;

/// Receiver-side throughput of an iperf3 TCP run, in Mbit/s.
pub fn tcp_mbps(lab: &Lab, seconds: u32) -> io::Result<f64> {
    let (_, server_ip) = tunnel_ips();
    let server_ip = server_ip.to_string();
    let mut server = Daemon::start(
        "iperf3 server",
        lab.server.name(),
        Path::new("iperf3"),
        &["-s", "-1", "--forceflush", "-B", &server_ip, "-p", "5201"],
        &[],
        lab.dir().join("iperf3-server.log"),
    )?;
    server.wait_for_log("Server listening", Duration::from_secs(5))?;
    let output = run_in(
        lab.client.name(),
        "iperf3",
        &[
            "-c",
            &server_ip,
            "-p",
            "5201",
            "-t",
            &seconds.to_string(),
            "-J",
        ],
    )?;
    let report: serde_json::Value = serde_json::from_str(&output)
        .map_err(|e| io::Error::other(format!("iperf3 output: {e}")))?;
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .map(|bps| bps / 1e6)
        .ok_or_else(|| io::Error::other(format!("iperf3 reported no throughput: {output}")))
}
