//! Round-trip time through the WireGuard tunnel, measured with a UDP echo
//! at a low rate (the same measurement with and without engarde gives what
//! engarde adds).

use crate::lab::Lab;
use crate::lab::clock::monotonic_ns;
use crate::lab::stream::percentile;
use crate::lab::topology::tunnel_ips;
use serde::Serialize;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Round trips of one run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RoundTrips {
    /// Probes sent.
    pub sent: u64,
    /// Probes answered.
    pub answered: u64,
    /// Median round trip, microseconds.
    pub median_us: f64,
    /// 99th percentile, microseconds.
    pub p99_us: f64,
}

const ECHO_PORT: u16 = 7100;

/// Sends `count` probes, one every `interval`, to an echo in the server
/// namespace through the tunnel.
pub fn measure(lab: &Lab, count: u64, interval: Duration) -> io::Result<RoundTrips> {
    let (client_ip, server_ip) = tunnel_ips();
    let echo_addr = SocketAddr::from((server_ip, ECHO_PORT));
    let echo = lab.server.run(move || UdpSocket::bind(echo_addr))??;
    echo.set_read_timeout(Some(Duration::from_millis(50)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let echo_thread = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, from)) = echo.recv_from(&mut buf) {
                    let _ = echo.send_to(&buf[..n], from);
                }
            }
        })
    };
    let probe = lab
        .client
        .run(move || UdpSocket::bind(SocketAddr::from((client_ip, 0))))??;
    probe.set_read_timeout(Some(Duration::from_millis(200)))?;
    let mut rtts = Vec::new();
    let mut buf = [0u8; 64];
    for seq in 0..count {
        let sent_at = monotonic_ns();
        probe.send_to(&seq.to_le_bytes(), echo_addr)?;
        // Read until this probe's answer (or time out); late answers of earlier probes are skipped.
        while let Ok(n) = probe.recv(&mut buf) {
            if n == 8 && u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")) == seq {
                rtts.push(Duration::from_nanos(monotonic_ns() - sent_at));
                break;
            }
        }
        let spent = Duration::from_nanos(monotonic_ns() - sent_at);
        std::thread::sleep(interval.saturating_sub(spent));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo_thread.join();
    rtts.sort();
    let micros = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64() * 1e6);
    Ok(RoundTrips {
        sent: count,
        answered: rtts.len() as u64,
        median_us: micros(percentile(&rtts, 50.0)),
        p99_us: micros(percentile(&rtts, 99.0)),
    })
}
