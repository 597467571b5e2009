//! Building the daemons' UDP sockets with socket2.
//!
//! All sockets are non-blocking (sending never waits, GUIDE §1) and get
//! large kernel buffers so that bursts are absorbed instead of dropped.

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Socket buffer size we ask for, each direction. Above `net.core.rmem_max`
/// the kernel silently caps it unless we may force it (CAP_NET_ADMIN).
pub const SOCKET_BUFFER_BYTES: usize = 4 << 20;

fn udp_socket(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_nonblocking(true)?;
    grow_buffers(&socket);
    Ok(socket)
}

/// Asks for [`SOCKET_BUFFER_BYTES`] each way, forcing past the system limit
/// when privileged. Failure is harmless (the default buffers still work).
fn grow_buffers(socket: &Socket) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let size = SOCKET_BUFFER_BYTES as libc::c_int;
        for (force, plain) in [
            (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
            (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
        ] {
            // SAFETY: setsockopt reads an int from a valid pointer of the stated size.
            let forced = unsafe {
                libc::setsockopt(
                    socket.as_raw_fd(),
                    libc::SOL_SOCKET,
                    force,
                    (&size as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if forced != 0 {
                // SAFETY: as above.
                unsafe {
                    libc::setsockopt(
                        socket.as_raw_fd(),
                        libc::SOL_SOCKET,
                        plain,
                        (&size as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    )
                };
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket.set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let _ = socket.set_send_buffer_size(SOCKET_BUFFER_BYTES);
    }
}

/// The unspecified address of `ip`'s family.
pub fn unspecified_like(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// A link's socket: bound to `source` (port chosen by the kernel) and, on
/// Linux, to `device` with SO_BINDTODEVICE so that its datagrams leave
/// through that interface whatever the routing table prefers.
pub fn link_socket(source: IpAddr, device: Option<&str>) -> io::Result<UdpSocket> {
    let socket = udp_socket(Domain::for_address(SocketAddr::new(source, 0)))?;
    if source.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if let Some(device) = device {
        #[cfg(target_os = "linux")]
        socket.bind_device(Some(device.as_bytes()))?;
        #[cfg(not(target_os = "linux"))]
        let _ = device;
    }
    socket.bind(&SockAddr::from(SocketAddr::new(source, 0)))?;
    Ok(socket.into())
}

/// `[::]` means both families whatever `net.ipv6.bindv6only` says, and a
/// v4-mapped address needs a socket that takes IPv4.
fn allow_ipv4_on_ipv6(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    if let SocketAddr::V6(v6) = addr {
        if v6.ip().is_unspecified() || v6.ip().to_ipv4_mapped().is_some() {
            socket.set_only_v6(false)?;
        }
    }
    Ok(())
}

/// A plain listening socket (the client's WireGuard-facing socket).
pub fn listen_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = udp_socket(Domain::for_address(addr))?;
    allow_ipv4_on_ipv6(&socket, addr)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// The server's listening socket, which shares its port with per-client
/// reply sockets ([`client_reply_socket`]) and reports each datagram's local
/// destination address.
///
/// Sharing needs SO_REUSEADDR, which would also let a second engarde-server
/// bind the same port without error; a first bind without it detects that
/// case and reports "address in use" as a user expects.
pub fn shared_listen_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = Domain::for_address(addr);
    {
        let probe = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        allow_ipv4_on_ipv6(&probe, addr)?;
        probe.bind(&SockAddr::from(addr))?;
    }
    let socket = udp_socket(domain)?;
    allow_ipv4_on_ipv6(&socket, addr)?;
    socket.set_reuse_address(true)?;
    enable_local_address_reports(&socket, addr)?;
    socket.bind(&SockAddr::from(addr))?;
    Ok(socket.into())
}

/// Makes every received datagram carry its local destination address.
fn enable_local_address_reports(socket: &Socket, addr: SocketAddr) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        let (level, option) = if addr.is_ipv4() {
            (libc::IPPROTO_IP, libc::IP_PKTINFO)
        } else {
            (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
        };
        // SAFETY: setsockopt reads an int from a valid pointer of the stated size.
        let result = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                option,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if result != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (socket, addr);
    Ok(())
}

/// A server socket for one client address: bound to the address and port
/// the client sends to and connected to the client, so the kernel delivers
/// that client's datagrams here, replies leave from the address the client
/// expects (NAT-friendly), and a dead client address fills only its own
/// send buffer (GUIDE §1).
pub fn client_reply_socket(local: SocketAddr, peer: SocketAddr) -> io::Result<UdpSocket> {
    let socket = udp_socket(Domain::for_address(local))?;
    allow_ipv4_on_ipv6(&socket, local)?;
    socket.set_reuse_address(true)?;
    socket.bind(&SockAddr::from(local))?;
    socket.connect(&SockAddr::from(peer))?;
    Ok(socket.into())
}

/// The server's socket towards its local WireGuard: an ephemeral port,
/// connected so that only WireGuard's datagrams are accepted.
pub fn upstream_socket(destination: SocketAddr) -> io::Result<UdpSocket> {
    let socket = udp_socket(Domain::for_address(destination))?;
    socket.bind(&SockAddr::from(SocketAddr::new(
        unspecified_like(destination.ip()),
        0,
    )))?;
    socket.connect(&SockAddr::from(destination))?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_server_on_the_same_port_is_refused() {
        let first = shared_listen_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let taken = first.local_addr().unwrap();
        let error = shared_listen_socket(taken).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    #[test]
    fn a_reply_socket_takes_over_its_clients_datagrams() {
        let listener = shared_listen_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = listener.local_addr().unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let reply = client_reply_socket(server, client.local_addr().unwrap()).unwrap();
        client.send_to(b"mine", server).unwrap();
        other.send_to(b"not mine", server).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut buf = [0u8; 16];
        let n = reply.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"mine");
        let (n, from) = listener.recv_from(&mut buf).unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"not mine"[..], other.local_addr().unwrap())
        );
        reply.send(b"back").unwrap();
        let (n, from) = client.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"back"[..], server));
    }
}
