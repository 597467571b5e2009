//! A sequenced UDP stream: the lab's way to count every lost packet.
//!
//! The sender, in one namespace, sends datagrams numbered 0, 1, 2, … at a
//! fixed rate, each stamped with its send time; the receiver, in another,
//! records which numbers arrived and when. The report says exactly which
//! packets were lost, which arrived twice, and the one-way delays.

use super::clock::monotonic_ns;
use super::netns::Netns;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Bytes of the sequence number and send time at the start of each datagram.
const HEADER: usize = 16;

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct StreamSpec {
    /// Datagrams per second.
    pub rate_pps: u32,
    /// How long to send.
    pub duration: Duration,
    /// Datagram size (at least 16 bytes).
    pub payload_len: usize,
}

/// A stream in progress.
pub struct RunningStream {
    sender: JoinHandle<io::Result<Sent>>,
    receiver: JoinHandle<io::Result<Arrivals>>,
    stop: Arc<AtomicBool>,
}

/// What the sender did.
struct Sent {
    send_ns: Vec<u64>,
    errors: u64,
    first_error: Option<String>,
}

#[derive(Default)]
struct Arrivals {
    /// Arrival time of each sequence number (0 = not arrived).
    at: Vec<u64>,
    duplicates: u64,
    foreign: u64,
}

/// What a finished stream measured.
#[derive(Debug, Clone)]
pub struct StreamReport {
    /// Send time of each sequence number.
    pub send_ns: Vec<u64>,
    /// Arrival time of each sequence number (0 = lost).
    pub arrival_ns: Vec<u64>,
    /// Datagrams that arrived more than once.
    pub duplicates: u64,
    /// Datagrams that were not part of the stream.
    pub foreign: u64,
    /// Sends the kernel refused (each one a lost datagram).
    pub send_errors: u64,
    /// The first such refusal: sequence number and error.
    pub first_send_error: Option<String>,
}

impl StreamReport {
    /// Datagrams sent.
    pub fn sent(&self) -> u64 {
        self.send_ns.len() as u64
    }

    /// Sequence numbers that never arrived.
    pub fn lost(&self) -> Vec<u64> {
        (0..self.send_ns.len())
            .filter(|&i| self.arrival_ns[i] == 0)
            .map(|i| i as u64)
            .collect()
    }

    /// (sent, lost) among datagrams sent in `[from_ns, to_ns)`.
    pub fn window(&self, from_ns: u64, to_ns: u64) -> (u64, u64) {
        let mut sent = 0;
        let mut lost = 0;
        for (i, &at) in self.send_ns.iter().enumerate() {
            if at >= from_ns && at < to_ns {
                sent += 1;
                lost += u64::from(self.arrival_ns[i] == 0);
            }
        }
        (sent, lost)
    }

    /// One-way delays of the datagrams that arrived, sorted.
    pub fn delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = self
            .send_ns
            .iter()
            .zip(&self.arrival_ns)
            .filter(|(_, arrived)| **arrived != 0)
            .map(|(sent, arrived)| Duration::from_nanos(arrived.saturating_sub(*sent)))
            .collect();
        delays.sort();
        delays
    }

    /// The `p`-th percentile (0–100) of the one-way delay.
    pub fn delay_percentile(&self, p: f64) -> Option<Duration> {
        percentile(&self.delays(), p)
    }

    /// "sent N, lost M (first lost: …)" for assertion messages.
    pub fn summary(&self) -> String {
        let lost = self.lost();
        let shown: Vec<String> = lost.iter().take(20).map(u64::to_string).collect();
        format!(
            "sent {}, lost {}{}, duplicates {}, foreign {}{}",
            self.sent(),
            lost.len(),
            if lost.is_empty() {
                String::new()
            } else {
                format!(" (seq {})", shown.join(", "))
            },
            self.duplicates,
            self.foreign,
            match &self.first_send_error {
                Some(first) => format!(", send errors {} (first: {first})", self.send_errors),
                None => String::new(),
            }
        )
    }
}

/// The `p`-th percentile (0–100) of sorted `values`.
pub fn percentile(values: &[Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * (values.len() - 1) as f64).round() as usize;
    Some(values[rank.min(values.len() - 1)])
}

/// Starts a stream from `from` (namespace, bind address) to `to`.
pub fn start(
    from: (&Netns, SocketAddr),
    to: (&Netns, SocketAddr),
    spec: StreamSpec,
) -> io::Result<RunningStream> {
    assert!(
        spec.payload_len >= HEADER,
        "a stream datagram carries a 16-byte header"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let receiver_socket = to.0.run(move || UdpSocket::bind(to.1))??;
    let receiver = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || receive(receiver_socket, &stop))
    };
    let destination = to.1;
    let sender_socket = from.0.run(move || UdpSocket::bind(from.1))??;
    let sender = std::thread::spawn(move || send(sender_socket, destination, spec));
    Ok(RunningStream {
        sender,
        receiver,
        stop,
    })
}

impl RunningStream {
    /// Waits for the sender to finish, gives stragglers `grace` to arrive,
    /// and returns the report.
    pub fn finish(self, grace: Duration) -> io::Result<StreamReport> {
        let Sent {
            send_ns,
            errors,
            first_error,
        } = self
            .sender
            .join()
            .map_err(|_| io::Error::other("stream sender panicked"))??;
        std::thread::sleep(grace);
        self.stop.store(true, Ordering::Relaxed);
        let arrivals = self
            .receiver
            .join()
            .map_err(|_| io::Error::other("stream receiver panicked"))??;
        let mut arrival_ns = arrivals.at;
        arrival_ns.resize(send_ns.len(), 0);
        arrival_ns.truncate(send_ns.len());
        Ok(StreamReport {
            send_ns,
            arrival_ns,
            duplicates: arrivals.duplicates,
            foreign: arrivals.foreign,
            send_errors: errors,
            first_send_error: first_error,
        })
    }
}

fn send(socket: UdpSocket, destination: SocketAddr, spec: StreamSpec) -> io::Result<Sent> {
    let total = (u128::from(spec.rate_pps) * spec.duration.as_millis() / 1000) as usize;
    let interval_ns = 1_000_000_000 / u64::from(spec.rate_pps.max(1));
    let mut payload = vec![0u8; spec.payload_len];
    let mut send_ns = Vec::with_capacity(total);
    let (mut errors, mut first_error) = (0, None);
    let start = monotonic_ns();
    for seq in 0..total as u64 {
        let due = start + seq * interval_ns;
        let now = monotonic_ns();
        if due > now {
            std::thread::sleep(Duration::from_nanos(due - now));
        }
        let at = monotonic_ns();
        payload[..8].copy_from_slice(&seq.to_le_bytes());
        payload[8..16].copy_from_slice(&at.to_le_bytes());
        // A send error (e.g. ENOBUFS) is a lost datagram like any other;
        // the report says so, to tell it from a loss on the way.
        if let Err(error) = socket.send_to(&payload, destination) {
            errors += 1;
            first_error.get_or_insert_with(|| format!("seq {seq}: {error}"));
        }
        send_ns.push(at);
    }
    Ok(Sent {
        send_ns,
        errors,
        first_error,
    })
}

fn receive(socket: UdpSocket, stop: &AtomicBool) -> io::Result<Arrivals> {
    socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    let mut arrivals = Arrivals::default();
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        };
        let now = monotonic_ns();
        if n < HEADER {
            arrivals.foreign += 1;
            continue;
        }
        let seq = u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")) as usize;
        if seq > 100_000_000 {
            arrivals.foreign += 1;
            continue;
        }
        if arrivals.at.len() <= seq {
            arrivals.at.resize(seq + 1, 0);
        }
        if arrivals.at[seq] != 0 {
            arrivals.duplicates += 1;
        } else {
            arrivals.at[seq] = now;
        }
    }
    Ok(arrivals)
}

/// Two sequenced streams through the lab's tunnel at once: client → server
/// ("up") and server → client ("down", the return path, where the Go
/// engarde lost packets when a link died).
pub struct Bidirectional {
    up: RunningStream,
    down: RunningStream,
    /// When the streams started (CLOCK_MONOTONIC ns, as in the reports).
    pub started_ns: u64,
    /// When the streams started.
    pub started: std::time::Instant,
}

impl Bidirectional {
    /// Starts both streams between the tunnel addresses of `lab`.
    pub fn start(lab: &super::Lab, spec: StreamSpec) -> io::Result<Self> {
        let (client_ip, server_ip) = super::topology::tunnel_ips();
        let started_ns = monotonic_ns();
        let up = start(
            (&lab.client, SocketAddr::from((client_ip, 0))),
            (&lab.server, SocketAddr::from((server_ip, 7000))),
            spec,
        )?;
        let down = start(
            (&lab.server, SocketAddr::from((server_ip, 0))),
            (&lab.client, SocketAddr::from((client_ip, 7001))),
            spec,
        )?;
        Ok(Self {
            up,
            down,
            started_ns,
            started: std::time::Instant::now(),
        })
    }

    /// Waits for both streams; returns (up, down).
    pub fn finish(self) -> io::Result<(StreamReport, StreamReport)> {
        let up = self.up.finish(Duration::from_secs(2))?;
        let down = self.down.finish(Duration::ZERO)?;
        Ok((up, down))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_percentiles() {
        let report = StreamReport {
            send_ns: vec![10, 20, 30, 40],
            arrival_ns: vec![15, 0, 60, 45],
            duplicates: 0,
            foreign: 0,
            send_errors: 0,
            first_send_error: None,
        };
        assert_eq!(report.lost(), vec![1]);
        assert_eq!(report.window(0, 25), (2, 1));
        assert_eq!(report.window(25, 100), (2, 0));
        assert_eq!(report.delay_percentile(0.0), Some(Duration::from_nanos(5)));
        assert_eq!(
            report.delay_percentile(100.0),
            Some(Duration::from_nanos(30))
        );
    }
}
