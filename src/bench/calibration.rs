//! What one process wake-up costs on this machine: a UDP ping-pong between
//! two threads in the lab's two namespaces, over one link. Each side wakes
//! once per datagram, receives it and sends one back, which is the least
//! work any relay does per datagram; engarde's CPU and latency figures are
//! best read against it (on virtual machines a wake-up can cost tens of
//! microseconds).

use crate::lab::Lab;
use crate::lab::clock::monotonic_ns;
use crate::lab::topology::server_link_ip;
use serde::Serialize;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

/// The ping-pong's figures.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct WakeupCost {
    /// Round trips made.
    pub round_trips: u64,
    /// Median round trip, microseconds.
    pub median_rtt_us: f64,
    /// CPU (user + system) per datagram on the echoing side, microseconds.
    pub cpu_per_datagram_us: f64,
}

fn thread_cpu_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Bounces one datagram `round_trips` times between the namespaces.
pub fn measure(lab: &Lab, round_trips: u64) -> io::Result<WakeupCost> {
    let echo_addr = SocketAddr::from((server_link_ip(0), 7200));
    let echo = lab.server.spawn(move || -> io::Result<u64> {
        let socket = UdpSocket::bind(echo_addr)?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 64];
        let start = thread_cpu_ns();
        for _ in 0..round_trips {
            let (n, from) = socket.recv_from(&mut buf)?;
            socket.send_to(&buf[..n], from)?;
        }
        Ok(thread_cpu_ns() - start)
    })?;
    let client_ip = lab.client_link_ip(0);
    let pinger = lab.client.spawn(move || -> io::Result<Vec<Duration>> {
        let socket = UdpSocket::bind(SocketAddr::from((client_ip, 0)))?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 64];
        let mut rtts = Vec::with_capacity(round_trips as usize);
        for _ in 0..round_trips {
            let sent = monotonic_ns();
            socket.send_to(&[7u8; 64], echo_addr)?;
            socket.recv(&mut buf)?;
            rtts.push(Duration::from_nanos(monotonic_ns() - sent));
        }
        Ok(rtts)
    })?;
    let mut rtts = pinger
        .join()
        .map_err(|_| io::Error::other("pinger panicked"))??;
    let echo_cpu = echo
        .join()
        .map_err(|_| io::Error::other("echo panicked"))??;
    rtts.sort();
    Ok(WakeupCost {
        round_trips,
        median_rtt_us: crate::lab::stream::percentile(&rtts, 50.0)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e6),
        cpu_per_datagram_us: echo_cpu as f64 / 1e3 / round_trips as f64,
    })
}
