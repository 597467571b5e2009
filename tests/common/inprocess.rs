//! Building configurations and fake WireGuard sockets for in-process tests.

use engarde::config::{ClientConfig, Destination, ServerConfig};
use engarde::interfaces::LinkSpec;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

/// Every wait in these tests is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(5);

pub fn destination(addr: SocketAddr) -> Destination {
    Destination::literal(addr)
}

pub fn client_config(listen: SocketAddr, server: SocketAddr) -> ClientConfig {
    ClientConfig {
        description: "test client".into(),
        listen_addr: listen,
        dst_addr: destination(server),
        write_timeout_ms: 10,
        excluded_interfaces: Default::default(),
        interface_labels: Default::default(),
        dst_overrides: Default::default(),
        web_manager: None,
        dedup: true,
        link_silence_timeout: engarde::config::DEFAULT_LINK_SILENCE_TIMEOUT,
        resolve_interval: engarde::config::DEFAULT_RESOLVE_INTERVAL,
    }
}

pub fn server_config(
    listen: SocketAddr,
    wireguard: SocketAddr,
    client_timeout: Duration,
) -> ServerConfig {
    ServerConfig {
        description: "test server".into(),
        listen_addr: listen,
        dst_addr: destination(wireguard),
        client_timeout,
        write_timeout_ms: 10,
        web_manager: None,
        dedup: true,
        // These tests relay arbitrary datagrams, which only a server that
        // is not WireGuard-aware passes; tests/wireguard_aware.rs covers the default.
        wireguard_aware: None,
    }
}

/// A loopback "link" without SO_BINDTODEVICE.
pub fn loopback_link(name: &str, source: &str, server: SocketAddr) -> LinkSpec {
    LinkSpec::fixed(name, source.parse::<IpAddr>().unwrap(), server)
}

pub async fn bind_loopback() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// Receives one datagram, failing the test after [`TIMEOUT`].
pub async fn recv(socket: &UdpSocket, what: &str) -> (Vec<u8>, SocketAddr) {
    let mut buf = vec![0u8; 65_536];
    let (n, from) = tokio::time::timeout(TIMEOUT, socket.recv_from(&mut buf))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap();
    buf.truncate(n);
    (buf, from)
}

/// Asserts nothing arrives within `wait`.
pub async fn assert_silent(socket: &UdpSocket, wait: Duration, what: &str) {
    let mut buf = vec![0u8; 65_536];
    if let Ok(Ok((n, from))) = tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
        panic!("{what}: unexpected datagram of {n} bytes from {from}");
    }
}

/// Polls `condition` every 10 ms until it holds, failing after [`TIMEOUT`].
pub async fn wait_until<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
