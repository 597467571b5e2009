//! Writing datagrams with as few system calls as possible, never waiting.
//!
//! Up to 64 datagrams go out per `sendmmsg`. Runs of equal-size datagrams
//! (WireGuard's full-size data packets) go as one message with UDP GSO
//! (`UDP_SEGMENT`): the kernel walks its stack once per run instead of once
//! per datagram and cuts the run into datagrams at the end. A socket whose
//! kernel or device refuses GSO falls back to plain datagrams by itself.
//!
//! Sockets are non-blocking: a datagram the kernel cannot take right now
//! (`EAGAIN`, `ENOBUFS`) is dropped and counted, with the rest of the call,
//! so that one slow link never delays another.

use super::io_mode::{batching, gso};
use super::sockaddr::RawSockAddr;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Datagrams handed to the kernel per `sendmmsg` at most.
const MAX_PER_CALL: usize = 64;
/// Segments per GSO message at most (the kernel's UDP_MAX_SEGMENTS).
const MAX_GSO_SEGMENTS: usize = 64;
/// Payload bytes per GSO message at most (a GSO message is one IP packet
/// until it is cut, so it must stay under 64 KiB).
const MAX_GSO_BYTES: usize = 60_000;
/// Largest segment for GSO: it must fit the link's MTU with the headers;
/// 1,472 is what a 1,500-byte IPv4 MTU allows. Larger datagrams go alone.
const MAX_GSO_SEGMENT: usize = 1_472;

/// What happened to the datagrams of one send.
#[derive(Debug, Default)]
pub struct SendReport {
    /// Datagrams the kernel accepted.
    pub sent: u64,
    /// Their payload bytes.
    pub sent_bytes: u64,
    /// Datagrams dropped because the socket buffer was full.
    pub dropped_full: u64,
    /// Datagrams refused with another error.
    pub errors: u64,
    /// The last such error, for the (rate-limited) log.
    pub last_error: Option<io::Error>,
}

/// Whether GSO may still be tried on one socket.
#[derive(Debug)]
pub struct GsoState {
    enabled: bool,
}

impl GsoState {
    /// GSO allowed if the process-wide switch allows it.
    pub fn new() -> Self {
        Self { enabled: gso() }
    }

    /// GSO never used on this socket.
    pub fn disabled() -> Self {
        Self { enabled: false }
    }

    /// Whether the next send may use GSO.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
}

impl Default for GsoState {
    fn default() -> Self {
        Self::new()
    }
}

/// A full socket or device queue: the datagram is dropped, not an error.
fn is_buffer_full(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.raw_os_error() == Some(libc::ENOBUFS)
}

/// The kernel or the device cannot do GSO for this socket.
fn is_gso_refusal(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::EINVAL | libc::EIO | libc::EOPNOTSUPP | libc::ENOPROTOOPT)
    )
}

/// Sends `datagrams` on `fd`, to `destination` or, when `None`, to the
/// address the socket is connected to. Never blocks.
pub fn send_datagrams<'a>(
    fd: BorrowedFd<'_>,
    datagrams: impl IntoIterator<Item = &'a [u8]>,
    destination: Option<SocketAddr>,
    gso: &mut GsoState,
) -> SendReport {
    let destination = destination.map(RawSockAddr::new);
    let mut report = SendReport::default();
    let mut chunk: [&[u8]; MAX_PER_CALL] = [&[]; MAX_PER_CALL];
    let mut len = 0;
    let mut full = false;
    for datagram in datagrams {
        if full {
            report.dropped_full += 1;
            continue;
        }
        chunk[len] = datagram;
        len += 1;
        if len == MAX_PER_CALL {
            full = !send_chunk(fd, &chunk[..len], destination.as_ref(), gso, &mut report);
            len = 0;
        }
    }
    if len > 0 && !full {
        send_chunk(fd, &chunk[..len], destination.as_ref(), gso, &mut report);
    }
    report
}

/// One message: `count` datagrams from `first`, as GSO segments of
/// `segment` bytes when `segment > 0`.
#[derive(Clone, Copy, Default)]
struct Message {
    first: usize,
    count: usize,
    segment: u16,
}

/// Groups `datagrams` into messages: runs of equal-size datagrams (the last
/// of a run may be shorter) become one GSO message when `gso` allows.
fn plan(datagrams: &[&[u8]], gso: bool, messages: &mut [Message; MAX_PER_CALL]) -> usize {
    let mut count = 0;
    let mut i = 0;
    while i < datagrams.len() {
        let size = datagrams[i].len();
        let mut end = i + 1;
        if gso && size > 0 && size <= MAX_GSO_SEGMENT {
            let mut total = size;
            while end < datagrams.len() && end - i < MAX_GSO_SEGMENTS {
                let next = datagrams[end].len();
                if next == 0 || next > size || total + next > MAX_GSO_BYTES {
                    break;
                }
                total += next;
                end += 1;
                if next < size {
                    break; // only the last segment may be shorter
                }
            }
        }
        messages[count] = Message {
            first: i,
            count: end - i,
            segment: if end - i > 1 { size as u16 } else { 0 },
        };
        count += 1;
        i = end;
    }
    count
}

/// Room for one `UDP_SEGMENT` control message (CMSG_SPACE of a u16).
type GsoControl = [u64; 3];

/// Sends up to [`MAX_PER_CALL`] datagrams; false when the socket buffer
/// filled (the unsent ones are counted as dropped).
fn send_chunk(
    fd: BorrowedFd<'_>,
    datagrams: &[&[u8]],
    destination: Option<&RawSockAddr>,
    gso: &mut GsoState,
    report: &mut SendReport,
) -> bool {
    let mut messages = [Message::default(); MAX_PER_CALL];
    let count = plan(datagrams, gso.enabled, &mut messages);
    // Only the entries used are written: zeroing whole arrays cost more
    // than the system call itself for one datagram.
    let mut iovecs = [const { MaybeUninit::<libc::iovec>::uninit() }; MAX_PER_CALL];
    for (iovec, datagram) in iovecs.iter_mut().zip(datagrams) {
        iovec.write(libc::iovec {
            // sendmmsg only reads through iov_base; the C type wants *mut.
            iov_base: datagram.as_ptr() as *mut libc::c_void,
            iov_len: datagram.len(),
        });
    }
    let mut controls = [const { MaybeUninit::<GsoControl>::uninit() }; MAX_PER_CALL];
    let mut headers = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; MAX_PER_CALL];
    for (i, message) in messages[..count].iter().enumerate() {
        // SAFETY: mmsghdr is plain old data; all-zero is a valid empty header.
        let header = &mut headers[i].write(unsafe { std::mem::zeroed() }).msg_hdr;
        if let Some(destination) = destination {
            header.msg_name = destination.as_ptr() as *mut libc::c_void;
            header.msg_namelen = destination.byte_len();
        }
        // The first `datagrams.len()` iovecs were written above.
        header.msg_iov = iovecs[message.first].as_mut_ptr();
        header.msg_iovlen = message.count as _;
        if message.segment > 0 {
            write_gso_control(header, controls[i].write([0; 3]), message.segment);
        }
    }
    // Only the first `count` headers are initialised; the calls below pass no more.
    let headers: &mut [libc::mmsghdr] =
        // SAFETY: headers[..count] were written in the loop above.
        unsafe { std::slice::from_raw_parts_mut(headers.as_mut_ptr().cast(), count) };
    let per_call = if batching() { count } else { 1 };
    let mut next = 0;
    while next < count {
        let chunk = per_call.min(count - next);
        // SAFETY: headers[next..next + chunk] are initialised and point at
        // iovecs, payloads, control buffers and a destination that all
        // outlive this call.
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                headers[next..].as_mut_ptr(),
                chunk as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent > 0 {
            for message in &messages[next..next + sent as usize] {
                report.sent += message.count as u64;
                report.sent_bytes += datagrams[message.first..message.first + message.count]
                    .iter()
                    .map(|d| d.len() as u64)
                    .sum::<u64>();
            }
            next += sent as usize;
            continue;
        }
        let error = io::Error::last_os_error();
        let message = messages[next];
        if error.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if is_buffer_full(&error) {
            report.dropped_full += messages[next..count]
                .iter()
                .map(|m| m.count as u64)
                .sum::<u64>();
            return false;
        }
        if message.segment > 0 && is_gso_refusal(&error) {
            log::debug!(
                "UDP GSO refused ({error}); this socket sends datagram by datagram from now on"
            );
            gso.enabled = false;
            return send_chunk(fd, &datagrams[message.first..], destination, gso, report);
        }
        // Refused for another reason (unreachable, too big, …): the next may still go.
        report.errors += message.count as u64;
        report.last_error = Some(error);
        next += 1;
    }
    true
}

/// Attaches a `UDP_SEGMENT` control message of `segment` bytes to `header`.
fn write_gso_control(header: &mut libc::msghdr, control: &mut GsoControl, segment: u16) {
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = std::mem::size_of::<GsoControl>() as _;
    // SAFETY: the control buffer is CMSG_SPACE(2) bytes, 8-aligned, and
    // msg_control/msg_controllen describe it, so CMSG_FIRSTHDR is non-null
    // and its data has room for the u16.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(header);
        (*cmsg).cmsg_level = libc::SOL_UDP;
        (*cmsg).cmsg_type = libc::UDP_SEGMENT;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<u16>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::recv::recv_batch;
    use crate::packet::PacketBatch;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn receive_all(socket: &UdpSocket) -> Vec<Vec<u8>> {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut out = Vec::new();
        loop {
            let mut batch = PacketBatch::new();
            match recv_batch(socket.as_fd(), &mut batch) {
                Ok(_) => out.extend(batch.iter().map(|d| d.data.to_vec())),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return out,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn datagrams_of_every_size_cross_intact() {
        let (a, b) = pair();
        let big = vec![0xAB; 65_000];
        let sent: Vec<&[u8]> = vec![b"1", &[9u8; 1420], &big];
        let report = send_datagrams(
            a.as_fd(),
            sent.iter().copied(),
            Some(b.local_addr().unwrap()),
            &mut GsoState::new(),
        );
        assert_eq!((report.sent, report.errors, report.dropped_full), (3, 0, 0));
        assert_eq!(
            receive_all(&b),
            sent.iter().map(|d| d.to_vec()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_run_of_equal_datagrams_goes_as_one_gso_message_and_arrives_as_datagrams() {
        let datagrams: Vec<Vec<u8>> = (0..40u8)
            .map(|i| vec![i; if i == 39 { 700 } else { 1200 }])
            .collect();
        let mut messages = [Message::default(); MAX_PER_CALL];
        let slices: Vec<&[u8]> = datagrams.iter().map(Vec::as_slice).collect();
        assert_eq!(
            plan(&slices, true, &mut messages),
            1,
            "one GSO message for the run"
        );
        assert_eq!((messages[0].count, messages[0].segment), (40, 1200));
        assert_eq!(
            plan(&slices, false, &mut messages),
            40,
            "one message per datagram without GSO"
        );

        let (a, b) = pair();
        let mut gso = GsoState::new();
        let report = send_datagrams(
            a.as_fd(),
            slices.iter().copied(),
            Some(b.local_addr().unwrap()),
            &mut gso,
        );
        assert_eq!((report.sent, report.errors), (40, 0));
        assert!(gso.enabled(), "loopback accepts GSO");
        assert_eq!(
            receive_all(&b),
            datagrams,
            "the receiver sees the original datagrams, in order"
        );
    }

    #[test]
    fn runs_break_at_a_size_change() {
        let sizes = [100usize, 100, 100, 50, 100, 100, 2000, 2000];
        let datagrams: Vec<Vec<u8>> = sizes.iter().map(|s| vec![1; *s]).collect();
        let slices: Vec<&[u8]> = datagrams.iter().map(Vec::as_slice).collect();
        let mut messages = [Message::default(); MAX_PER_CALL];
        let count = plan(&slices, true, &mut messages);
        let shape: Vec<(usize, u16)> = messages[..count]
            .iter()
            .map(|m| (m.count, m.segment))
            .collect();
        assert_eq!(
            shape,
            vec![(4, 100), (2, 100), (1, 0), (1, 0)],
            "too large for GSO: alone"
        );
    }

    #[test]
    fn an_unsendable_datagram_is_counted_and_the_rest_still_go() {
        let (a, b) = pair();
        // Oversized for IPv4 UDP (at most 65,507 bytes of payload): EMSGSIZE.
        let too_big = vec![0u8; 65_535];
        let report = send_datagrams(
            a.as_fd(),
            [&too_big[..], b"ok"],
            Some(b.local_addr().unwrap()),
            &mut GsoState::new(),
        );
        assert_eq!((report.sent, report.errors), (1, 1));
        assert!(report.last_error.is_some());
        assert_eq!(receive_all(&b), vec![b"ok".to_vec()]);
    }
}
