//! The server on IPv6: a dual-stack `[::]` listener serves IPv4 and IPv6
//! clients at once (IPv4 ones arrive as v4-mapped addresses), each answered
//! from the address it sent to over its own connected socket; WireGuard
//! may sit on `[::1]` on both sides.

mod common;

use common::inprocess::*;
use engarde::actors::server_listener::ListClients;
use engarde::client::{ClientLinks, start_client};
use engarde::net::sockaddr::unmap_socket;
use engarde::server::start_server;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

async fn bind(addr: &str) -> UdpSocket {
    UdpSocket::bind(addr).await.unwrap()
}

#[actix_rt::test]
async fn a_dual_stack_server_serves_ipv4_and_ipv6_links() {
    let wireguard_server = bind("[::1]:0").await;
    let server = start_server(&server_config(
        "[::]:0".parse().unwrap(),
        wireguard_server.local_addr().unwrap(),
        Duration::from_secs(30),
    ))
    .unwrap();
    let port = server.listen_addr.port();
    let to = |ip: &str| SocketAddr::new(ip.parse().unwrap(), port);
    let links = vec![
        loopback_link("v4-a", "127.0.0.1", to("127.0.0.1")),
        loopback_link("v4-b", "127.0.0.2", to("127.0.0.1")),
        loopback_link("v6", "::1", to("::1")),
    ];
    let client = start_client(
        &client_config("[::1]:0".parse().unwrap(), to("127.0.0.1")),
        ClientLinks::Fixed(links),
    )
    .unwrap();
    let wireguard_client = bind("[::1]:0").await;
    let payload = vec![0x5au8; 1200];
    // The first datagram teaches the client where its WireGuard is.
    wireguard_client
        .send_to(&payload, client.listen_addr)
        .await
        .unwrap();
    for copy in 0..3 {
        let (data, from) = recv(&wireguard_server, &format!("copy {copy} at the server")).await;
        assert_eq!(data, payload);
        assert_eq!(from, server.upstream_addr.unwrap());
    }
    assert_silent(&wireguard_server, Duration::from_millis(100), "a 4th copy").await;
    let mut peers: Vec<String> = server
        .listener
        .send(ListClients)
        .await
        .unwrap()
        .iter()
        .map(|c| unmap_socket(c.peer).ip().to_string())
        .collect();
    peers.sort();
    assert_eq!(
        peers,
        ["127.0.0.1", "127.0.0.2", "::1"],
        "IPv4 links reach the dual-stack listener too"
    );

    wireguard_server
        .send_to(&payload, server.upstream_addr.unwrap())
        .await
        .unwrap();
    for copy in 0..3 {
        let (data, _) = recv(&wireguard_client, &format!("reply copy {copy}")).await;
        assert_eq!(data, payload);
    }
    assert_silent(&wireguard_client, Duration::from_millis(100), "a 4th reply").await;
}

/// A plain IPv4 socket talking to the dual-stack listener gets its answers
/// from the IPv4 address it sent to (not from a v4-mapped one it could not
/// match), through the client's own connected socket on the server.
#[actix_rt::test]
async fn an_ipv4_client_of_a_dual_stack_server_is_answered_from_where_it_sent() {
    let wireguard_server = bind("127.0.0.1:0").await;
    let server = start_server(&server_config(
        "[::]:0".parse().unwrap(),
        wireguard_server.local_addr().unwrap(),
        Duration::from_secs(30),
    ))
    .unwrap();
    let target: SocketAddr =
        SocketAddr::new("127.0.0.1".parse().unwrap(), server.listen_addr.port());
    let link = bind("127.0.0.1:0").await;
    link.send_to(b"hello", target).await.unwrap();
    let (data, _) = recv(&wireguard_server, "the first datagram").await;
    assert_eq!(data, b"hello");
    // Later datagrams reach the client's own socket on the server.
    link.send_to(b"again", target).await.unwrap();
    let (data, _) = recv(&wireguard_server, "the second datagram").await;
    assert_eq!(data, b"again");
    wireguard_server
        .send_to(b"reply", server.upstream_addr.unwrap())
        .await
        .unwrap();
    let (data, from) = recv(&link, "the reply").await;
    assert_eq!(data, b"reply");
    assert_eq!(from, target, "answered from the address it sent to");
}

/// `[::]` takes IPv4 even on hosts where `net.ipv6.bindv6only` is 1
/// (checked in a private network namespace, so the host is not touched).
#[test]
fn an_unspecified_ipv6_listener_takes_ipv4_whatever_bindv6only_says() {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    assert_eq!(
        uid, 0,
        "this test needs root (it sets bindv6only in a private network namespace)"
    );
    std::thread::spawn(|| {
        // SAFETY: unshare(CLONE_NEWNET) moves this thread only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .unwrap();
        assert!(up.success());
        // /proc/sys/net shows the network namespace of the thread that opens it.
        std::fs::write("/proc/sys/net/ipv6/bindv6only", "1").unwrap();
        let listener =
            engarde::net::socket::shared_listen_socket("[::]:0".parse().unwrap()).unwrap();
        listener.set_nonblocking(false).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        client.send_to(b"v4", ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 8];
        let (n, from) = listener.recv_from(&mut buf).expect("an IPv4 datagram");
        assert_eq!(&buf[..n], b"v4");
        assert_eq!(unmap_socket(from), client.local_addr().unwrap());
    })
    .join()
    .unwrap();
}
