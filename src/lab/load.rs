//! High-rate UDP load for benchmarks: a paced generator and a counting sink.
//!
//! Both use the same batched system calls as engarde itself, so the
//! generator and the sink cost as little CPU as possible on a machine that
//! also runs the daemons under test. Each datagram starts with its sequence
//! number and send time; the sink counts distinct sequence numbers (with
//! several links, engarde delivers several copies of each).

use super::clock::monotonic_ns;
use super::netns::Netns;
use crate::net::recv::recv_batch;
use crate::net::send::{GsoState, send_datagrams};
use crate::net::socket::listen_socket;
use crate::packet::{BATCH_CAPACITY, PacketBatch};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the generator sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent {
    /// Datagrams handed to the kernel.
    pub packets: u64,
    /// Nanoseconds from the first to the last send.
    pub elapsed_ns: u64,
}

/// What the sink received.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Distinct sequence numbers.
    pub unique: u64,
    /// All datagrams, copies included.
    pub total: u64,
    /// One-way delays of first copies, in nanoseconds (sampled: at most one per 16 datagrams).
    pub delays_ns: Vec<u64>,
}

/// A sink counting datagrams until stopped.
pub struct Sink {
    handle: JoinHandle<io::Result<Received>>,
    stop: Arc<AtomicBool>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Sink {
    /// Binds `addr` inside `ns` and starts counting.
    pub fn start(ns: &Netns, addr: SocketAddr) -> io::Result<Self> {
        let socket = ns.run(move || listen_socket(addr))??;
        let addr = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || count(socket, &stop))
        };
        Ok(Self { handle, stop, addr })
    }

    /// Stops after `grace` (for datagrams still in flight) and reports.
    pub fn finish(self, grace: Duration) -> io::Result<Received> {
        std::thread::sleep(grace);
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .map_err(|_| io::Error::other("sink panicked"))?
    }
}

fn count(socket: UdpSocket, stop: &AtomicBool) -> io::Result<Received> {
    let mut seen: Vec<u64> = Vec::new();
    let mut received = Received::default();
    let mut batch = PacketBatch::new();
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        if let Err(error) = recv_batch(socket.as_fd(), &mut batch) {
            if error.kind() == io::ErrorKind::WouldBlock {
                wait_readable(&socket, 20);
                continue;
            }
            return Err(error);
        }
        let now = monotonic_ns();
        for datagram in batch.iter() {
            received.total += 1;
            let Some(header) = datagram.data.get(..16) else {
                continue;
            };
            let seq = u64::from_le_bytes(header[..8].try_into().expect("8 bytes")) as usize;
            let word = seq / 64;
            if word >= seen.len() {
                if word > 1 << 24 {
                    continue; // not ours: more than a billion datagrams
                }
                seen.resize(word + 1, 0);
            }
            let bit = 1u64 << (seq % 64);
            if seen[word] & bit == 0 {
                seen[word] |= bit;
                received.unique += 1;
                if seq % 16 == 0 {
                    let sent = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
                    received.delays_ns.push(now.saturating_sub(sent));
                }
            }
        }
    }
    Ok(received)
}

/// Sleeps until `socket` is readable or `timeout_ms` passed (no busy loop).
fn wait_readable(socket: &UdpSocket, timeout_ms: i32) {
    use std::os::fd::AsRawFd;
    let mut poll = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd we own.
    unsafe { libc::poll(&mut poll, 1, timeout_ms) };
}

/// Sends `rate_pps` datagrams of `size` bytes per second for `duration`
/// from `bind` in `ns` to `destination`; blocks until done.
pub fn generate(
    ns: &Netns,
    bind: SocketAddr,
    destination: SocketAddr,
    rate_pps: u64,
    size: usize,
    duration: Duration,
) -> io::Result<Sent> {
    assert!(size >= 16, "datagrams carry a 16-byte header");
    let socket = ns.run(move || listen_socket(bind))??;
    let total = rate_pps * duration.as_millis() as u64 / 1000;
    let mut batch = PacketBatch::new();
    let mut payload = vec![0u8; size];
    let start = monotonic_ns();
    let mut sent = 0u64;
    let mut seq = 0u64;
    while seq < total {
        let due = ((monotonic_ns() - start) as u128 * rate_pps as u128 / 1_000_000_000) as u64;
        let ready = due.min(total).saturating_sub(seq);
        if ready == 0 {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        batch.clear();
        let now = monotonic_ns();
        for _ in 0..ready.min(BATCH_CAPACITY as u64) {
            payload[..8].copy_from_slice(&seq.to_le_bytes());
            payload[8..16].copy_from_slice(&now.to_le_bytes());
            batch.push(&payload, bind);
            seq += 1;
        }
        // No GSO: the generator stands in for WireGuard, which sends datagram by datagram.
        sent += send_datagrams(
            socket.as_fd(),
            batch.iter().map(|d| d.data),
            Some(destination),
            &mut GsoState::disabled(),
        )
        .sent;
    }
    Ok(Sent {
        packets: sent,
        elapsed_ns: monotonic_ns() - start,
    })
}
