//! Reading a batch of datagrams with one system call.
//!
//! One `recvmmsg` fills up to [`BATCH_CAPACITY`] slots of a [`PacketBatch`]
//! with datagrams, their senders and (when the socket reports them) the
//! local addresses they were sent to.

use super::io_mode::batching;
use crate::packet::{BATCH_CAPACITY, DatagramMeta, MAX_DATAGRAM, PacketBatch};
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Reads up to [`BATCH_CAPACITY`] datagrams into the empty `batch` and
/// returns how many datagrams the call asked for at most (fewer received
/// means the socket's queue was empty when the call returned).
///
/// Returns `WouldBlock` when nothing is waiting. The local destination
/// address of each datagram is recorded when the socket has
/// `IP_PKTINFO`/`IPV6_RECVPKTINFO` enabled.
pub fn recv_batch(fd: BorrowedFd<'_>, batch: &mut PacketBatch) -> io::Result<usize> {
    const CONTROL_WORDS: usize = 8; // 64 bytes: room for one in6_pktinfo cmsg
    let capacity = if batching() { BATCH_CAPACITY } else { 1 };
    // The kernel writes addresses and control messages; nothing to zero
    // (zeroing them cost more than the call itself for one datagram).
    let mut names = [const { MaybeUninit::<libc::sockaddr_storage>::uninit() }; BATCH_CAPACITY];
    let mut control = [const { MaybeUninit::<[u64; CONTROL_WORDS]>::uninit() }; BATCH_CAPACITY];
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
        header.msg_name = names[i].as_mut_ptr().cast();
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_iov = &mut iovecs[i];
        header.msg_iovlen = 1;
        header.msg_control = control[i].as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of::<[u64; CONTROL_WORDS]>();
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
        // SAFETY: the kernel wrote msg_namelen bytes of address into names[i].
        let source =
            unsafe { super::sockaddr::decode(names[i].as_ptr(), header.msg_hdr.msg_namelen) }
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
    Ok(capacity)
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

    #[test]
    fn reports_sender_and_would_block() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        a.send_to(b"hello", b.local_addr().unwrap()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut batch = PacketBatch::new();
        let asked = recv_batch(b.as_fd(), &mut batch).unwrap();
        assert_eq!(asked, BATCH_CAPACITY);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.get(0).data, b"hello");
        assert_eq!(batch.get(0).meta.source, a.local_addr().unwrap());
        let error = recv_batch(b.as_fd(), &mut PacketBatch::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    }
}
