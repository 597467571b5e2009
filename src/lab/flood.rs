//! A flood of spoofed and malformed datagrams, for the reflection tests
//! (issue 5, part 3).
//!
//! A raw IPv4 socket (`IPPROTO_RAW`, which implies `IP_HDRINCL`) lets every
//! datagram carry a source address and port of our choosing; the kernel
//! fills in the IP checksum, total length and identification. The UDP
//! checksum is left at 0 ("none", allowed over IPv4). Datagrams leave in
//! batches of [`BATCH`] with `sendmmsg`. The mix, in equal parts: random
//! bytes, truncated headers, WireGuard types with wrong lengths, well-shaped
//! data messages with random indices, forged handshake initiations, and
//! well-shaped responses and cookie replies with random indices.

use super::clock::monotonic_ns;
use super::netns::Netns;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

/// Datagrams per `sendmmsg`.
const BATCH: usize = 64;

/// Largest datagram built (IP and UDP headers included).
const MAX_PACKET: usize = 1500;

/// What kind of datagram to forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 1 to 1,400 random bytes.
    RandomBytes,
    /// A WireGuard type byte and zero reserved bytes, cut short of any message.
    Truncated,
    /// A WireGuard type with a length that type never has.
    WrongLength,
    /// A well-shaped data message with random receiver index and counter.
    DataRandomIndex,
    /// A well-shaped handshake initiation with random contents.
    ForgedInitiation,
    /// A well-shaped handshake response or cookie reply with random indices.
    ForgedAnswer,
}

/// Every kind, in the order reports list them.
pub const KINDS: [Kind; 6] = [
    Kind::RandomBytes,
    Kind::Truncated,
    Kind::WrongLength,
    Kind::DataRandomIndex,
    Kind::ForgedInitiation,
    Kind::ForgedAnswer,
];

/// What to send.
#[derive(Debug, Clone, Copy)]
pub struct FloodSpec {
    /// Datagrams in all.
    pub datagrams: u64,
    /// Where to.
    pub target: SocketAddrV4,
    /// First spoofed source address.
    pub first_source: Ipv4Addr,
    /// Spoofed source addresses, counted up from `first_source`.
    pub addresses: u32,
    /// Source ports per address (from 40000 up).
    pub ports: u16,
    /// Seed of the pseudo-random choices.
    pub seed: u64,
}

/// What was sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodReport {
    /// Datagrams the kernel took.
    pub sent: u64,
    /// Of which, per [`KINDS`] entry.
    pub by_kind: [u64; 6],
    /// Time from the first to the last send.
    pub elapsed: Duration,
}

impl FloodReport {
    /// Datagrams per second achieved.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A small xorshift generator: reproducible floods from a seed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn fill(&mut self, bytes: &mut [u8]) {
        for chunk in bytes.chunks_mut(8) {
            let value = self.next().to_le_bytes();
            chunk.copy_from_slice(&value[..chunk.len()]);
        }
    }
}

/// Writes the WireGuard-looking payload of `kind` into `payload`; returns its length.
fn forge(kind: Kind, random: &mut Random, payload: &mut [u8]) -> usize {
    let header = |payload: &mut [u8], kind: u8| {
        payload[0] = kind;
        payload[1..4].fill(0);
    };
    match kind {
        Kind::RandomBytes => {
            let len = 1 + random.below(1400) as usize;
            random.fill(&mut payload[..len]);
            len
        }
        Kind::Truncated => {
            let len = random.below(16) as usize;
            random.fill(&mut payload[..len]);
            if len >= 4 {
                header(payload, 1 + random.below(4) as u8);
            } else if len > 0 {
                payload[0] = 1 + random.below(4) as u8;
            }
            len
        }
        Kind::WrongLength => {
            let kind = 1 + random.below(4) as u8;
            let len = match kind {
                1 => [147, 149, 92, 164][random.below(4) as usize],
                2 => [91, 93, 148, 64][random.below(4) as usize],
                3 => [63, 65, 92, 80][random.below(4) as usize],
                // Data: at least 32 bytes (header and tag), so anything shorter.
                _ => 4 + random.below(28) as usize,
            };
            random.fill(&mut payload[..len]);
            header(payload, kind);
            len
        }
        Kind::DataRandomIndex => {
            let len = 32 + 16 * random.below(80) as usize;
            random.fill(&mut payload[..len]);
            header(payload, 4);
            len
        }
        Kind::ForgedInitiation => {
            random.fill(&mut payload[..148]);
            header(payload, 1);
            148
        }
        Kind::ForgedAnswer => {
            let (kind, len) = if random.below(2) == 0 {
                (2, 92)
            } else {
                (3, 64)
            };
            random.fill(&mut payload[..len]);
            header(payload, kind);
            len
        }
    }
}

/// Builds one IPv4/UDP packet from `source` to `target` carrying `payload_len`
/// bytes already in `packet[28..]`.
fn headers(packet: &mut [u8], source: SocketAddrV4, target: SocketAddrV4, payload_len: usize) {
    let udp_len = (8 + payload_len) as u16;
    let total = 20 + udp_len;
    packet[0] = 0x45; // IPv4, 5-word header
    packet[1] = 0;
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    packet[4..6].fill(0); // identification: the kernel picks one
    packet[6..8].fill(0);
    packet[8] = 64; // TTL
    packet[9] = libc::IPPROTO_UDP as u8;
    packet[10..12].fill(0); // checksum: the kernel computes it
    packet[12..16].copy_from_slice(&source.ip().octets());
    packet[16..20].copy_from_slice(&target.ip().octets());
    packet[20..22].copy_from_slice(&source.port().to_be_bytes());
    packet[22..24].copy_from_slice(&target.port().to_be_bytes());
    packet[24..26].copy_from_slice(&udp_len.to_be_bytes());
    packet[26..28].fill(0); // no UDP checksum
}

/// Sends the flood from namespace `ns`, as fast as the kernel takes it.
pub fn flood(ns: &Netns, spec: FloodSpec) -> io::Result<FloodReport> {
    ns.run(move || send(spec))?
}

fn send(spec: FloodSpec) -> io::Result<FloodReport> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a socket we just opened and own from here on.
    let socket = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&socket);
    let mut random = Random(spec.seed | 1);
    let mut packets = vec![[0u8; MAX_PACKET]; BATCH];
    let mut lengths = [0usize; BATCH];
    let destination = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: spec.target.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*spec.target.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let mut report = FloodReport::default();
    let start = monotonic_ns();
    while report.sent < spec.datagrams {
        let count = (spec.datagrams - report.sent).min(BATCH as u64) as usize;
        let mut kinds = [0usize; BATCH];
        for (i, packet) in packets.iter_mut().enumerate().take(count) {
            let kind = random.below(KINDS.len() as u64) as usize;
            kinds[i] = kind;
            let address =
                u32::from(spec.first_source) + random.below(u64::from(spec.addresses)) as u32;
            let port = 40000 + random.below(u64::from(spec.ports)) as u16;
            let source = SocketAddrV4::new(Ipv4Addr::from(address), port);
            let payload_len = forge(KINDS[kind], &mut random, &mut packet[28..]);
            headers(packet, source, spec.target, payload_len);
            lengths[i] = 28 + payload_len;
        }
        let mut iovecs: Vec<libc::iovec> = (0..count)
            .map(|i| libc::iovec {
                iov_base: packets[i].as_mut_ptr().cast(),
                iov_len: lengths[i],
            })
            .collect();
        let mut messages: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                // SAFETY: an all-zero mmsghdr is a valid empty message.
                let mut message: libc::mmsghdr = unsafe { std::mem::zeroed() };
                message.msg_hdr.msg_name =
                    (&destination as *const libc::sockaddr_in).cast_mut().cast();
                message.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                message.msg_hdr.msg_iov = iov;
                message.msg_hdr.msg_iovlen = 1;
                message
            })
            .collect();
        // SAFETY: `messages` holds `count` initialised headers pointing into
        // `iovecs`, `packets` and `destination`, all alive across the call.
        let sent = unsafe { libc::sendmmsg(raw, messages.as_mut_ptr(), count as u32, 0) };
        if sent < 0 {
            let error = io::Error::last_os_error();
            if error.raw_os_error() == Some(libc::ENOBUFS) {
                std::thread::yield_now();
                continue;
            }
            return Err(error);
        }
        for &kind in &kinds[..sent as usize] {
            report.by_kind[kind] += 1;
        }
        report.sent += sent as u64;
    }
    report.elapsed = Duration::from_nanos(monotonic_ns() - start);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wireguard::{Message, parse};

    #[test]
    fn every_kind_is_what_it_says() {
        let mut random = Random(7);
        let mut payload = [0u8; MAX_PACKET];
        for _ in 0..2000 {
            for kind in KINDS {
                let len = forge(kind, &mut random, &mut payload);
                let parsed = parse(&payload[..len]);
                match kind {
                    Kind::RandomBytes | Kind::Truncated | Kind::WrongLength => {
                        // Random bytes may, very rarely, look like WireGuard; the others never.
                        if kind != Kind::RandomBytes {
                            assert_eq!(parsed, None, "{kind:?} of {len} bytes");
                        }
                    }
                    Kind::DataRandomIndex => {
                        assert!(matches!(parsed, Some(Message::TransportData { .. })))
                    }
                    Kind::ForgedInitiation => {
                        assert!(matches!(parsed, Some(Message::HandshakeInitiation { .. })))
                    }
                    Kind::ForgedAnswer => assert!(matches!(
                        parsed,
                        Some(Message::HandshakeResponse { .. } | Message::CookieReply { .. })
                    )),
                }
            }
        }
    }
}
