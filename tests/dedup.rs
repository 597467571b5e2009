//! Duplicate copies of WireGuard data messages stop before WireGuard: with
//! two loopback links, each side's (fake) WireGuard receives every data
//! message once with `dedup` on and twice with it off, while handshakes
//! always pass; the dropped copies are counted on the link that brought them.
//! The path analytics see every copy either way: with `dedup` off they
//! observe exactly what they observe with it on.

mod common;

use common::inprocess::*;
use engarde::actors::interface_watcher::ListLinks;
use engarde::actors::server_listener::ListClients;
use engarde::client::{ClientLinks, RunningClient, start_client};
use engarde::server::{RunningServer, start_server};
use engarde::stats::get;
use std::time::Duration;
use tokio::net::UdpSocket;

/// A transport data message (type 4) of 64 bytes.
fn data_message(receiver_index: u32, counter: u64) -> Vec<u8> {
    let mut message = vec![0u8; 64];
    message[0] = 4;
    message[4..8].copy_from_slice(&receiver_index.to_le_bytes());
    message[8..16].copy_from_slice(&counter.to_le_bytes());
    message
}

/// A handshake initiation (type 1, 148 bytes).
fn initiation() -> Vec<u8> {
    let mut message = vec![0u8; 148];
    message[0] = 1;
    message
}

struct Pair {
    server: RunningServer,
    client: RunningClient,
    wireguard_server: UdpSocket,
    wireguard_client: UdpSocket,
}

async fn start_pair(dedup: bool) -> Pair {
    let wireguard_server = bind_loopback().await;
    let mut server_config = server_config(
        "127.0.0.1:0".parse().unwrap(),
        wireguard_server.local_addr().unwrap(),
        Duration::from_secs(30),
    );
    server_config.dedup = dedup;
    let server = start_server(&server_config).unwrap();
    let mut client_config = client_config("127.0.0.1:0".parse().unwrap(), server.listen_addr);
    client_config.dedup = dedup;
    let links = vec![
        loopback_link("link-a", "127.0.0.1", server.listen_addr),
        loopback_link("link-b", "127.0.0.2", server.listen_addr),
    ];
    let client = start_client(&client_config, ClientLinks::Fixed(links)).unwrap();
    wait_until("both links run", || async {
        client.watcher.send(ListLinks).await.unwrap().len() == 2
    })
    .await;
    Pair {
        server,
        client,
        wireguard_server,
        wireguard_client: bind_loopback().await,
    }
}

/// Counts what arrives at `socket` until it has been quiet for 300 ms.
async fn drain(socket: &UdpSocket) -> Vec<Vec<u8>> {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
    {
        received.push(buf[..n].to_vec());
    }
    received
}

async fn exchange(pair: &Pair, messages: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    pair.wireguard_client
        .send_to(&initiation(), pair.client.listen_addr)
        .await
        .unwrap();
    // As with WireGuard, the handshake makes the server know both links
    // before data flows (and the analytics track both paths from the start).
    tokio::time::sleep(Duration::from_millis(100)).await;
    for counter in 0..messages as u64 {
        pair.wireguard_client
            .send_to(&data_message(0xAAAA, counter), pair.client.listen_addr)
            .await
            .unwrap();
    }
    let at_server = drain(&pair.wireguard_server).await;
    for counter in 0..messages as u64 {
        pair.wireguard_server
            .send_to(
                &data_message(0xBBBB, counter),
                pair.server.upstream_addr.unwrap(),
            )
            .await
            .unwrap();
    }
    let at_client = drain(&pair.wireguard_client).await;
    (at_server, at_client)
}

/// Both sides' analytics after `messages` data messages each way over two
/// perfect links: every message judged on both paths, first copies split
/// between them, nothing lost or rescued.
async fn assert_analytics(pair: &Pair, messages: u64) {
    let server_paths = || async {
        let clients = pair.server.listener.send(ListClients).await.unwrap();
        clients
            .iter()
            .map(|c| c.stats.analytics.snapshot())
            .collect::<Vec<_>>()
    };
    let client_paths = || async {
        let links = pair.client.watcher.send(ListLinks).await.unwrap();
        links
            .iter()
            .map(|l| l.stats.analytics.snapshot())
            .collect::<Vec<_>>()
    };
    // Packets are judged once they are half a second old.
    wait_until("every message is judged on both sides", || async {
        let judged = |paths: Vec<engarde::analytics::AnalyticsSnapshot>| {
            paths.len() == 2 && paths.iter().all(|p| p.expected == messages)
        };
        judged(server_paths().await) && judged(client_paths().await)
    })
    .await;
    for (side, paths) in [
        ("server", server_paths().await),
        ("client", client_paths().await),
    ] {
        println!("{side}: {paths:?}");
        let wins: u64 = paths.iter().map(|p| p.wins).sum();
        assert_eq!(wins, messages, "{side}: one first copy per message");
        for path in &paths {
            assert_eq!((path.lost, path.rescued), (0, 0), "{side}: {path:?}");
            assert_eq!(
                path.delay_count(),
                messages,
                "{side}: each copy's delay measured"
            );
        }
    }
}

#[actix_rt::test]
async fn with_dedup_each_wireguard_gets_each_data_message_once() {
    let pair = start_pair(true).await;
    let (at_server, at_client) = exchange(&pair, 20).await;
    let data_at_server = at_server.iter().filter(|m| m[0] == 4).count();
    let initiations_at_server = at_server.iter().filter(|m| m[0] == 1).count();
    assert_eq!(
        data_at_server, 20,
        "one copy of each data message reaches the server's WireGuard"
    );
    assert_eq!(
        initiations_at_server, 1,
        "the initiation once: its copy on the other link is identical"
    );
    assert_eq!(
        at_client.len(),
        20,
        "one copy of each reply reaches the client's WireGuard"
    );

    let clients = pair.server.listener.send(ListClients).await.unwrap();
    let duplicates: u64 = clients.iter().map(|c| get(&c.stats.rx_duplicates)).sum();
    assert_eq!(
        duplicates, 21,
        "the server counts the 20 dropped data copies and the initiation's on the links that brought them"
    );
    assert_eq!(get(&pair.server.endpoint_stats.duplicates_dropped), 21);
    let links = pair.client.watcher.send(ListLinks).await.unwrap();
    let duplicates: u64 = links.iter().map(|l| get(&l.stats.rx_duplicates)).sum();
    assert_eq!(
        duplicates, 20,
        "the client counts the 20 dropped copies of the replies"
    );
    assert_analytics(&pair, 20).await;
}

#[actix_rt::test]
async fn without_dedup_every_copy_reaches_wireguard() {
    let pair = start_pair(false).await;
    let (at_server, at_client) = exchange(&pair, 20).await;
    assert_eq!(
        at_server.iter().filter(|m| m[0] == 4).count(),
        40,
        "both copies of each data message"
    );
    assert_eq!(
        at_server.iter().filter(|m| m[0] == 1).count(),
        2,
        "both copies of the initiation"
    );
    assert_eq!(at_client.len(), 40, "both copies of each reply");
    assert_eq!(get(&pair.server.endpoint_stats.duplicates_dropped), 0);
    assert_analytics(&pair, 20).await;
}
