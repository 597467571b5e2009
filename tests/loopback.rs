//! Client and server in one process over loopback, with a fake WireGuard
//! socket on each side and two links: every datagram WireGuard sends crosses
//! once per link, intact, in both directions.

mod common;

use common::inprocess::*;
use engarde::actors::interface_watcher::ListLinks;
use engarde::actors::server_listener::ListClients;
use engarde::client::{ClientLinks, start_client};
use engarde::server::start_server;
use std::time::Duration;

#[actix_rt::test]
async fn every_datagram_crosses_once_per_link_in_both_directions() {
    let wireguard_server = bind_loopback().await;
    let server = start_server(&server_config(
        "127.0.0.1:0".parse().unwrap(),
        wireguard_server.local_addr().unwrap(),
        Duration::from_secs(30),
    ))
    .unwrap();
    let links = vec![
        loopback_link("link-a", "127.0.0.1", server.listen_addr),
        loopback_link("link-b", "127.0.0.2", server.listen_addr),
    ];
    let client = start_client(
        &client_config("127.0.0.1:0".parse().unwrap(), server.listen_addr),
        ClientLinks::Fixed(links),
    )
    .unwrap();
    wait_until("both links run", || async {
        client.watcher.send(ListLinks).await.unwrap().len() == 2
    })
    .await;

    let wireguard_client = bind_loopback().await;
    let payloads = [
        vec![0x42u8; 1],
        vec![0x13u8; 1420],
        (0..65_000u32).map(|i| (i % 251) as u8).collect(),
    ];

    for payload in &payloads {
        wireguard_client
            .send_to(payload, client.listen_addr)
            .await
            .unwrap();
        let mut sources = Vec::new();
        for copy in 0..2 {
            let (data, from) = recv(
                &wireguard_server,
                &format!(
                    "copy {copy} of {} bytes at the server's WireGuard",
                    payload.len()
                ),
            )
            .await;
            assert_eq!(&data, payload, "payload intact");
            assert_eq!(
                from,
                server.upstream_addr.unwrap(),
                "all copies come from the one upstream socket"
            );
            sources.push(from);
        }
        assert_silent(
            &wireguard_server,
            Duration::from_millis(100),
            "a third copy",
        )
        .await;
    }

    let clients = server.listener.send(ListClients).await.unwrap();
    let mut client_ips: Vec<String> = clients.iter().map(|c| c.peer.ip().to_string()).collect();
    client_ips.sort();
    assert_eq!(
        client_ips,
        ["127.0.0.1", "127.0.0.2"],
        "the server knows one address per link"
    );

    for payload in &payloads {
        wireguard_server
            .send_to(payload, server.upstream_addr.unwrap())
            .await
            .unwrap();
        for copy in 0..2 {
            let (data, from) = recv(
                &wireguard_client,
                &format!(
                    "copy {copy} of {} bytes at the client's WireGuard",
                    payload.len()
                ),
            )
            .await;
            assert_eq!(&data, payload, "payload intact");
            assert_eq!(from, client.listen_addr);
        }
        assert_silent(
            &wireguard_client,
            Duration::from_millis(100),
            "a third copy",
        )
        .await;
    }

    let links = client.watcher.send(ListLinks).await.unwrap();
    for link in links {
        let stats = &link.stats;
        assert_eq!(
            engarde::stats::get(&stats.tx_packets),
            3,
            "{}: one copy of each datagram sent",
            link.spec.name
        );
        assert_eq!(
            engarde::stats::get(&stats.rx_packets),
            3,
            "{}: one copy of each reply received",
            link.spec.name
        );
    }
}
