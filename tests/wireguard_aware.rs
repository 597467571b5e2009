//! A WireGuard-aware server (the default) in-process: two engarde-clients
//! with two loopback links each behind one server port. Each client's
//! handshake and data reach the (fake) WireGuard from a socket of that
//! client's own, each reply goes to that client's addresses only, an
//! address that only sent a handshake gets only the handshake's answer,
//! and garbage or strangers' datagrams reach nobody.

mod common;

use common::inprocess::*;
use engarde::actors::interface_watcher::ListLinks;
use engarde::client::{ClientLinks, RunningClient, start_client};
use engarde::registry::Limits;
use engarde::server::start_server;
use engarde::stats::get;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

fn initiation(sender: u32, ephemeral: u8) -> Vec<u8> {
    let mut message = vec![0u8; 148];
    message[0] = 1;
    message[4..8].copy_from_slice(&sender.to_le_bytes());
    message[8..40].fill(ephemeral);
    message
}

fn response(sender: u32, receiver: u32) -> Vec<u8> {
    let mut message = vec![0u8; 92];
    message[0] = 2;
    message[4..8].copy_from_slice(&sender.to_le_bytes());
    message[8..12].copy_from_slice(&receiver.to_le_bytes());
    message
}

fn data(receiver: u32, counter: u64) -> Vec<u8> {
    let mut message = vec![0u8; 64];
    message[0] = 4;
    message[4..8].copy_from_slice(&receiver.to_le_bytes());
    message[8..16].copy_from_slice(&counter.to_le_bytes());
    message
}

/// Everything `socket` receives until it has been quiet for 300 ms.
async fn drain(socket: &UdpSocket) -> Vec<(Vec<u8>, SocketAddr)> {
    let mut received = Vec::new();
    let mut buf = vec![0u8; 2048];
    while let Ok(Ok((n, from))) =
        tokio::time::timeout(Duration::from_millis(300), socket.recv_from(&mut buf)).await
    {
        received.push((buf[..n].to_vec(), from));
    }
    received
}

async fn client(server: SocketAddr, ips: [&str; 2]) -> (RunningClient, UdpSocket) {
    let links = vec![
        loopback_link("link-1", ips[0], server),
        loopback_link("link-2", ips[1], server),
    ];
    let client = start_client(
        &client_config("127.0.0.1:0".parse().unwrap(), server),
        ClientLinks::Fixed(links),
    )
    .unwrap();
    wait_until("both links run", || async {
        client.watcher.send(ListLinks).await.unwrap().len() == 2
    })
    .await;
    (client, bind_loopback().await)
}

#[actix_rt::test]
async fn each_client_gets_its_own_traffic_and_strangers_get_nothing() {
    let wireguard = bind_loopback().await;
    let mut config = server_config(
        "127.0.0.1:0".parse().unwrap(),
        wireguard.local_addr().unwrap(),
        Duration::from_secs(30),
    );
    config.wireguard_aware = Some(Limits {
        max_clients: 8,
        max_addresses_per_client: 4,
        allowed_sources: Vec::new(),
    });
    let server = start_server(&config).unwrap();
    let (client_a, wireguard_a) = client(server.listen_addr, ["127.0.0.1", "127.0.0.2"]).await;
    let (client_b, wireguard_b) = client(server.listen_addr, ["127.0.0.3", "127.0.0.4"]).await;

    // Both clients start a handshake: each reaches WireGuard from its own socket.
    wireguard_a
        .send_to(&initiation(0xA1, 0xAA), client_a.listen_addr)
        .await
        .unwrap();
    let at_wireguard = drain(&wireguard).await;
    assert_eq!(
        at_wireguard.len(),
        1,
        "A's initiation once: its second, identical copy is a duplicate"
    );
    assert_eq!(get(&server.endpoint_stats.duplicates_dropped), 1);
    let socket_a = at_wireguard[0].1;
    assert!(
        at_wireguard.iter().all(|(_, from)| *from == socket_a),
        "one socket for client A"
    );
    wireguard_b
        .send_to(&initiation(0xB1, 0xBB), client_b.listen_addr)
        .await
        .unwrap();
    let at_wireguard = drain(&wireguard).await;
    assert_eq!(at_wireguard.len(), 1);
    let socket_b = at_wireguard[0].1;
    assert_ne!(socket_a, socket_b, "client B has a socket of its own");

    // WireGuard answers A: only A's addresses get the response.
    wireguard
        .send_to(&response(0x5A, 0xA1), socket_a)
        .await
        .unwrap();
    assert_eq!(
        drain(&wireguard_a).await.len(),
        1,
        "A's WireGuard gets the response once"
    );
    assert_eq!(
        get(&client_a.endpoint_stats.duplicates_dropped),
        1,
        "A got it on both links"
    );
    assert!(
        drain(&wireguard_b).await.is_empty(),
        "B gets nothing of A's"
    );

    // A sends data for its session: one copy reaches WireGuard, from A's socket.
    for counter in 0..5 {
        wireguard_a
            .send_to(&data(0x5A, counter), client_a.listen_addr)
            .await
            .unwrap();
    }
    let at_wireguard = drain(&wireguard).await;
    assert_eq!(at_wireguard.len(), 5, "one copy of each data message");
    assert!(at_wireguard.iter().all(|(_, from)| *from == socket_a));

    // WireGuard's data for A reaches A only; its data for B does not reach B,
    // whose addresses never sent data for a session (only a handshake).
    for counter in 0..5 {
        wireguard
            .send_to(&data(0xA1, counter), socket_a)
            .await
            .unwrap();
        wireguard
            .send_to(&data(0xB1, counter), socket_b)
            .await
            .unwrap();
    }
    assert_eq!(
        drain(&wireguard_a).await.len(),
        5,
        "A gets its data, once each"
    );
    assert!(
        drain(&wireguard_b).await.is_empty(),
        "B's addresses only ever get handshake answers"
    );

    // Strangers: garbage, truncated or misshapen WireGuard, data for unknown
    // sessions and for A's session from an address that is not A's.
    let stranger = bind_loopback().await;
    let mut garbage: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        vec![4, 0, 0],
        vec![1; 148],
        data(0x5A, 99)[..31].to_vec(), // one byte short of the shortest data message
    ];
    garbage.push(data(0xDEAD, 1));
    garbage.push(response(0x77, 0x12345));
    for datagram in &garbage {
        stranger
            .send_to(datagram, server.listen_addr)
            .await
            .unwrap();
    }
    assert!(
        drain(&wireguard).await.is_empty(),
        "nothing of the stranger's reaches WireGuard"
    );
    wireguard.send_to(&data(0xA1, 100), socket_a).await.unwrap();
    assert!(
        drain(&stranger).await.is_empty(),
        "the stranger receives nothing"
    );
    assert_eq!(drain(&wireguard_a).await.len(), 1);

    let stats = &server.endpoint_stats;
    assert!(get(&stats.refused_not_wireguard) >= 4, "garbage counted");
    assert!(
        get(&stats.refused_unknown_session) >= 2,
        "unknown sessions counted"
    );
}
