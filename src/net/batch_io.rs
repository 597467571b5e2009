//! Reading and writing whole batches of datagrams per system call.
//!
//! On Linux a batch is read with one `recvmmsg` and written with one
//! `sendmmsg` (GUIDE §1: system calls, not actors, set the ceiling). The
//! batched calls sit behind a process-wide switch ([`set_batching`], or
//! `ENGARDE_BATCH_IO=0` in the environment) that falls back to one datagram
//! per call, for kernels or sandboxes where the batched calls misbehave.
//!
//! Sending never waits: the sockets are non-blocking, and a datagram the
//! kernel cannot take right now (`EAGAIN`, `ENOBUFS`) is dropped and counted
//! in the [`SendReport`] so that one slow link never delays another.

use crate::packet::{BATCH_CAPACITY, DatagramMeta, MAX_DATAGRAM, PacketBatch};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};

static BATCHING: AtomicBool = AtomicBool::new(true);

/// Turns batched system calls on or off for the whole process.
pub fn set_batching(enabled: bool) {
    BATCHING.store(enabled, Ordering::Relaxed);
}

/// Whether batched system calls are in use.
pub fn batching() -> bool {
    BATCHING.load(Ordering::Relaxed)
}

/// Applies `ENGARDE_BATCH_IO=0|1` from the environment, if set.
pub fn configure_from_env() {
    if let Ok(value) = std::env::var("ENGARDE_BATCH_IO") {
        set_batching(!matches!(value.trim(), "0" | "off" | "false" | "no"));
    }
}

/// What happened to the datagrams of one [`send_batch`] call.
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

impl SendReport {
    fn record_error(&mut self, error: io::Error, remaining: u64) -> bool {
        if is_buffer_full(&error) {
            self.dropped_full += remaining;
            false
        } else {
            self.errors += 1;
            self.last_error = Some(error);
            true
        }
    }
}

/// A full socket or device queue: the datagram is dropped, not an error.
fn is_buffer_full(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.raw_os_error() == Some(libc::ENOBUFS)
}

/// Sends every datagram of `batch` on `fd`, to `destination` or, when
/// `None`, to the address the socket is connected to. Never blocks.
pub fn send_batch(
    fd: BorrowedFd<'_>,
    batch: &PacketBatch,
    destination: Option<SocketAddr>,
) -> SendReport {
    let mut report = SendReport::default();
    if batch.is_empty() {
        return report;
    }
    let raw_destination = destination.map(super::sockaddr::RawSockAddr::new);
    let (name, name_len) = match &raw_destination {
        Some(raw) => (raw.as_ptr() as *mut libc::c_void, raw.byte_len()),
        None => (std::ptr::null_mut(), 0),
    };
    let count = batch.len();
    let mut iovecs: [libc::iovec; BATCH_CAPACITY] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH_CAPACITY];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid (empty) value.
    let mut headers: [libc::mmsghdr; BATCH_CAPACITY] = unsafe { std::mem::zeroed() };
    for (i, datagram) in batch.iter().enumerate() {
        // sendmmsg only reads through iov_base; the cast to *mut is what the C type demands.
        iovecs[i].iov_base = datagram.data.as_ptr() as *mut libc::c_void;
        iovecs[i].iov_len = datagram.data.len();
        headers[i].msg_hdr.msg_name = name;
        headers[i].msg_hdr.msg_namelen = name_len;
        headers[i].msg_hdr.msg_iov = &mut iovecs[i];
        headers[i].msg_hdr.msg_iovlen = 1;
    }
    let per_call = if batching() { count } else { 1 };
    let mut next = 0;
    while next < count {
        let chunk = per_call.min(count - next);
        // SAFETY: headers[next..next+chunk] are initialised and point at live
        // iovecs, payloads and destination, all outliving this call.
        let sent = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                headers[next..].as_mut_ptr(),
                chunk as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if sent > 0 {
            for datagram in batch.iter().skip(next).take(sent as usize) {
                report.sent += 1;
                report.sent_bytes += datagram.data.len() as u64;
            }
            next += sent as usize;
            continue;
        }
        let error = io::Error::last_os_error();
        if error.kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if !report.record_error(error, (count - next) as u64) {
            break; // buffer full: the rest of the batch is dropped for this socket only
        }
        next += 1; // this datagram was refused; the next one may still go
    }
    report
}

/// Reads up to `BATCH_CAPACITY` datagrams into the empty `batch`.
///
/// Returns `WouldBlock` when nothing is waiting. With `want_local`, the
/// local destination address of each datagram is recorded (the socket must
/// have `IP_PKTINFO`/`IPV6_RECVPKTINFO` enabled).
pub fn recv_batch(fd: BorrowedFd<'_>, batch: &mut PacketBatch) -> io::Result<()> {
    const CONTROL_WORDS: usize = 8; // 64 bytes: room for one in6_pktinfo cmsg
    let capacity = if batching() { BATCH_CAPACITY } else { 1 };
    // SAFETY: these C structures are plain old data; all-zero values are valid.
    let mut names: [libc::sockaddr_storage; BATCH_CAPACITY] = unsafe { std::mem::zeroed() };
    let mut control = [[0u64; CONTROL_WORDS]; BATCH_CAPACITY];
    let mut iovecs: [libc::iovec; BATCH_CAPACITY] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH_CAPACITY];
    // SAFETY: as above.
    let mut headers: [libc::mmsghdr; BATCH_CAPACITY] = unsafe { std::mem::zeroed() };
    debug_assert!(batch.is_empty(), "recv_batch fills an empty batch");
    for i in 0..capacity {
        iovecs[i].iov_base = batch.slot_ptr(i).cast();
        iovecs[i].iov_len = MAX_DATAGRAM;
        let header = &mut headers[i].msg_hdr;
        header.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_iov = &mut iovecs[i];
        header.msg_iovlen = 1;
        header.msg_control = control[i].as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of_val(&control[i]);
    }
    let received = loop {
        // SAFETY: every header points at live buffers sized as declared; the
        // kernel writes at most iov_len bytes into each slot.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                headers.as_mut_ptr(),
                capacity as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n >= 0 {
            break n as usize;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    for (i, header) in headers.iter().enumerate().take(received) {
        // An IP socket only reports IP senders; the fallback keeps slots and
        // metadata aligned should that ever not hold.
        let source = super::sockaddr::decode(&names[i], header.msg_hdr.msg_namelen)
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        let meta = DatagramMeta {
            len: (header.msg_len as usize).min(MAX_DATAGRAM),
            source,
            local: local_address(&header.msg_hdr),
        };
        // SAFETY: the kernel wrote msg_len bytes into slot i, which is slot
        // `batch.len()` because every received datagram is committed in order.
        unsafe { batch.commit(meta) };
    }
    Ok(())
}

/// The local address from an `IP_PKTINFO`/`IPV6_PKTINFO` control message.
fn local_address(header: &libc::msghdr) -> Option<std::net::IpAddr> {
    // SAFETY: the header's control buffer was filled by the kernel; the CMSG
    // macros stay within msg_controllen and the reads are unaligned-safe.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let level = (*cmsg).cmsg_level;
            let kind = (*cmsg).cmsg_type;
            if level == libc::IPPROTO_IP && kind == libc::IP_PKTINFO {
                let info: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(
                    std::net::Ipv4Addr::from(u32::from_be(info.ipi_spec_dst.s_addr)).into(),
                );
            }
            if level == libc::IPPROTO_IPV6 && kind == libc::IPV6_PKTINFO {
                let info: libc::in6_pktinfo =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(std::net::Ipv6Addr::from(info.ipi6_addr.s6_addr).into());
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    #[test]
    fn a_batch_crosses_a_socket_intact() {
        let (a, b) = pair();
        let big = vec![0xAB; 65_000];
        let batch = PacketBatch::from_datagrams(
            [&b"1"[..], &[9u8; 1420][..], &big[..]],
            a.local_addr().unwrap(),
        );
        let report = send_batch(a.as_fd(), &batch, Some(b.local_addr().unwrap()));
        assert_eq!((report.sent, report.errors, report.dropped_full), (3, 0, 0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut received = PacketBatch::new();
        recv_batch(b.as_fd(), &mut received).unwrap();
        assert_eq!(received.len(), 3);
        assert_eq!(received.get(0).data, b"1");
        assert_eq!(received.get(1).data, &[9u8; 1420][..]);
        assert_eq!(received.get(2).data, &big[..]);
        assert_eq!(received.get(2).meta.source, a.local_addr().unwrap());
        let err = recv_batch(b.as_fd(), &mut PacketBatch::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn an_unreachable_datagram_is_counted_and_the_rest_still_go() {
        let (a, b) = pair();
        // Oversized for IPv4 UDP (max 65,507 bytes of payload): EMSGSIZE.
        let too_big = vec![0u8; 65_535];
        let batch =
            PacketBatch::from_datagrams([&too_big[..], &b"ok"[..]], a.local_addr().unwrap());
        let report = send_batch(a.as_fd(), &batch, Some(b.local_addr().unwrap()));
        assert_eq!(report.sent, 1);
        assert_eq!(report.errors, 1);
        assert!(report.last_error.is_some());
    }
}
