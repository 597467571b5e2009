//! The kernel's word that an interface or address changed (Linux rtnetlink).
//!
//! A `NETLINK_ROUTE` socket subscribed to the link, IPv4-address and
//! IPv6-address groups receives a message whenever an interface appears,
//! vanishes or changes state, and whenever an address is added, removed or
//! finishes duplicate address detection. The messages are not parsed: the
//! InterfaceWatcher only needs to know *that* something changed, and then
//! reads the interfaces again and lets the pure survey and diff decide, as
//! on every poll. So the kernel's answer and the poll's can never disagree.
//!
//! If the kernel has more messages than the socket's buffer holds, it drops
//! them and the next read fails with `ENOBUFS`; that is reported as
//! [`NetlinkEvent::Overflow`], which calls for a re-scan all the same.
//!
//! Written with libc rather than a netlink crate: subscribing and draining
//! is thirty lines, and nothing is parsed.

use actix::prelude::Stream;
use log::warn;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::unix::AsyncFd;

/// Receive buffer asked for, so that a burst (say, a hundred interfaces
/// changing at once) fits; the kernel caps it at `net.core.rmem_max`.
const SOCKET_BUFFER_BYTES: libc::c_int = 1 << 20;

/// What the socket reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetlinkEvent {
    /// One or more interfaces or addresses changed.
    Changed,
    /// Changes were lost because the socket's buffer overflowed.
    Overflow,
}

/// A stream of [`NetlinkEvent`]s; each item stands for every message that
/// was waiting when it was read, so a burst of changes is a few items.
pub struct InterfaceEvents {
    fd: AsyncFd<OwnedFd>,
    buf: Vec<u8>,
    failed: bool,
}

impl InterfaceEvents {
    /// Opens the socket and subscribes; call inside the tokio runtime.
    pub fn open() -> io::Result<Self> {
        // SAFETY: socket(2) with constant arguments; the result is checked.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a socket we just opened and own nowhere else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: setsockopt reads an int from a valid pointer of the stated size.
        // Failure is harmless: the default buffer works, and an overflow is handled.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&SOCKET_BUFFER_BYTES as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        address.nl_groups =
            (libc::RTMGRP_LINK | libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        // SAFETY: bind reads a sockaddr_nl of the stated size from a valid pointer.
        let bound = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&address as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if bound != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: an OwnedFd's descriptor is valid, stays open while the
        // AsyncFd owns it, and `as_raw_fd` always returns that same descriptor.
        let fd = unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
            .map_err(|error| error.into_parts().1)?;
        Ok(Self {
            fd,
            buf: vec![0; 64 * 1024],
            failed: false,
        })
    }
}

/// Reads every waiting message; `Ok(n)` counts those from the kernel.
/// `WouldBlock` when nothing was waiting at all.
fn drain(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut from_kernel = 0;
    loop {
        // SAFETY: sockaddr_nl is plain old data; all-zero is a valid value.
        let mut sender: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut sender_len = std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t;
        // SAFETY: recvfrom writes at most buf.len() bytes into buf and at
        // most sender_len bytes into sender, both valid for writes.
        let n = unsafe {
            libc::recvfrom(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut sender as *mut libc::sockaddr_nl).cast(),
                &mut sender_len,
            )
        };
        if n >= 0 {
            // Only the kernel (port 0) sends on these groups; anything else is ignored.
            from_kernel += usize::from(sender.nl_pid == 0 && n > 0);
            continue;
        }
        let error = io::Error::last_os_error();
        match error.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock if from_kernel > 0 => return Ok(from_kernel),
            _ => return Err(error),
        }
    }
}

impl Stream for InterfaceEvents {
    type Item = NetlinkEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<NetlinkEvent>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        loop {
            let mut guard = match ready!(this.fd.poll_read_ready(cx)) {
                Ok(guard) => guard,
                Err(error) => {
                    warn!("interface change notifications stopped: {error}; polling only");
                    this.failed = true;
                    return Poll::Ready(None);
                }
            };
            match guard.try_io(|fd| drain(fd.get_ref(), &mut this.buf)) {
                Ok(Ok(_)) => return Poll::Ready(Some(NetlinkEvent::Changed)),
                Ok(Err(error)) if error.raw_os_error() == Some(libc::ENOBUFS) => {
                    return Poll::Ready(Some(NetlinkEvent::Overflow));
                }
                Ok(Err(error)) => {
                    warn!("interface change notifications stopped: {error}; polling only");
                    this.failed = true;
                    return Poll::Ready(None);
                }
                // Nothing was waiting: readiness is cleared, wait again.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn next(
        events: &mut InterfaceEvents,
    ) -> impl std::future::Future<Output = Option<NetlinkEvent>> + '_ {
        std::future::poll_fn(move |cx| Pin::new(&mut *events).poll_next(cx))
    }

    /// Needs CAP_NET_ADMIN in its own network namespace: adds and removes
    /// an address on loopback, which every namespace has.
    #[test]
    fn an_address_change_is_reported() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            panic!("this test needs root (it changes an address in a private network namespace)");
        }
        std::thread::spawn(|| {
            // SAFETY: unshare(CLONE_NEWNET) affects this thread only.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut events = InterfaceEvents::open().unwrap();
                let quiet =
                    tokio::time::timeout(Duration::from_millis(50), next(&mut events)).await;
                assert!(quiet.is_err(), "nothing changes by itself: {quiet:?}");
                let status = std::process::Command::new("ip")
                    .args(["addr", "add", "192.0.2.77/32", "dev", "lo"])
                    .status()
                    .unwrap();
                assert!(status.success());
                let event = tokio::time::timeout(Duration::from_secs(2), next(&mut events))
                    .await
                    .expect("an event within 2 s");
                assert_eq!(event, Some(NetlinkEvent::Changed));
            });
        })
        .join()
        .unwrap();
    }
}
