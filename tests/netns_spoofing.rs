//! Real network, real WireGuard (issue 5, test 3): from an attacker
//! namespace, a million datagrams from 16,384 spoofed sources (4,096
//! addresses of 10.200.0.0/16, routed back to the attacker, times 4 ports):
//! random bytes, truncated headers, WireGuard types with wrong lengths,
//! well-shaped data messages with random indices, forged handshake
//! initiations, and well-shaped responses and cookies with random indices,
//! while a real client streams both ways through three links.
//!
//! What must hold, counted by nftables rather than by engarde:
//! - engarde-server stays up and the real stream loses nothing;
//! - the server's WireGuard receives none of the flood's data messages,
//!   responses or cookies; forged initiations are well-formed WireGuard and
//!   do reach it (it drops them: their mac1 is not keyed to its public key),
//!   but at most 16 per forged client and at most `maxClients` forged
//!   clients per 10 s (the handshake patience);
//! - nothing at all is sent back to the spoofed sources.

mod common;

use common::lab::{WEB_PORT, api_get_in};
use engarde::lab::cmd::run_in;
use engarde::lab::flood::{FloodSpec, KINDS, flood};
use engarde::lab::multi::{
    MultiLab, MultiOptions, SERVER_ATTACK_IP, SPOOFED_NETWORK, client_tunnel_ip, server_tunnel_ip,
};
use engarde::lab::stream::{self, StreamSpec};
use engarde::lab::topology::SERVER_PORT;
use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

const FLOOD: u64 = 1_000_000;

/// `maxClients`' default, and the initiations a client whose WireGuard never
/// answered may pass (engarde's INITIATIONS_BEFORE_ANSWER).
const MAX_CLIENTS: u64 = 64;
const INITIATIONS_BEFORE_ANSWER: u64 = 16;
/// How long a client without an answer from WireGuard keeps its place.
const HANDSHAKE_PATIENCE_SECS: u64 = 10;

/// Keepalives and the real client's own handshakes cross too.
const CONTROL_ALLOWANCE: u64 = 60;

/// The server namespace's UDP counters (`/proc/net/snmp`): name → value.
fn udp_snmp(lab: &MultiLab) -> Vec<(String, u64)> {
    let snmp = run_in(lab.server.name(), "cat", &["/proc/net/snmp"]).unwrap();
    let lines: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
    let names = lines[0].split_whitespace().skip(1);
    let values = lines[1].split_whitespace().skip(1);
    names
        .zip(values)
        .map(|(n, v)| (n.to_string(), v.parse().unwrap_or(0)))
        .collect()
}

fn snmp(counters: &[(String, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(n, _)| n == name)
        .map_or(0, |(_, v)| *v)
}

#[test]
fn a_million_spoofed_and_malformed_datagrams_reach_neither_wireguard_nor_their_sources() {
    let mut options = MultiOptions::new(
        env!("CARGO_BIN_EXE_engarde-client"),
        env!("CARGO_BIN_EXE_engarde-server"),
        &[3],
    );
    options.attacker = true;
    options.server_extra.push(format!(
        "webManager: {{ listenAddr: \"127.0.0.1:{WEB_PORT}\" }}"
    ));
    // The firewall counts a GSO run as one datagram; count real datagrams.
    options.env.push(("ENGARDE_GSO".into(), "0".into()));
    let mut lab =
        MultiLab::start(options).unwrap_or_else(|e| panic!("cannot start the network lab: {e}"));
    let before = lab.wireguard_input().unwrap();
    let snmp_before = udp_snmp(&lab);

    let spec = StreamSpec {
        rate_pps: 200,
        duration: Duration::from_secs(24),
        payload_len: 300,
    };
    let client = &lab.clients[0].ns;
    let up = stream::start(
        (client, SocketAddr::from((client_tunnel_ip(0), 0))),
        (&lab.server, SocketAddr::from((server_tunnel_ip(), 7000))),
        spec,
    )
    .unwrap();
    let down = stream::start(
        (&lab.server, SocketAddr::from((server_tunnel_ip(), 0))),
        (client, SocketAddr::from((client_tunnel_ip(0), 7001))),
        spec,
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));

    let attacker = lab.attacker.as_ref().unwrap();
    let flooding = Instant::now();
    let report = flood(
        attacker,
        FloodSpec {
            datagrams: FLOOD,
            target: SocketAddrV4::new(SERVER_ATTACK_IP, SERVER_PORT),
            first_source: Ipv4Addr::from(u32::from(SPOOFED_NETWORK) + 1),
            addresses: 4096,
            ports: 4,
            seed: 0x5eed_f100d,
        },
    )
    .unwrap();
    let flood_secs = flooding.elapsed().as_secs_f64();
    println!(
        "flood: {} datagrams in {:.2} s, {:.0} datagrams/s; by kind {:?}",
        report.sent,
        report.elapsed.as_secs_f64(),
        report.rate(),
        KINDS.iter().zip(report.by_kind).collect::<Vec<_>>()
    );
    let up = up.finish(Duration::from_secs(2)).unwrap();
    let down = down.finish(Duration::ZERO).unwrap();

    lab.engarde_server
        .as_mut()
        .unwrap()
        .check_running()
        .expect("engarde-server survived the flood");
    println!("client -> server: {}", up.summary());
    println!("server -> client: {}", down.summary());
    assert!(
        up.lost().is_empty() && down.lost().is_empty(),
        "the real client's stream lost nothing\n{}",
        lab.logs()
    );
    assert_eq!(report.sent, FLOOD, "the whole flood was sent");

    // What reached the server's WireGuard, by message type.
    let after = lab.wireguard_input().unwrap();
    let total = after.0 - before.0;
    let by_type: Vec<u64> = (0..4).map(|t| after.1[t] - before.1[t]).collect();
    println!(
        "server WireGuard received {total} datagrams: initiations {}, responses {}, cookies {}, data {} (the real stream sent {} up)",
        by_type[0],
        by_type[1],
        by_type[2],
        by_type[3],
        up.sent()
    );
    assert_eq!(
        total,
        by_type.iter().sum::<u64>(),
        "nothing but WireGuard messages"
    );
    assert!(
        by_type[3] >= up.sent() && by_type[3] <= up.sent() + CONTROL_ALLOWANCE,
        "no forged data message reached WireGuard: {} data messages for {} sent",
        by_type[3],
        up.sent()
    );
    assert!(
        by_type[1] + by_type[2] <= 5,
        "no forged response or cookie reached WireGuard: {} responses, {} cookies",
        by_type[1],
        by_type[2]
    );
    let windows = (flood_secs / HANDSHAKE_PATIENCE_SECS as f64).ceil() as u64 + 1;
    let bound = windows * MAX_CLIENTS * INITIATIONS_BEFORE_ANSWER + CONTROL_ALLOWANCE;
    let forged_initiations = report.by_kind[4];
    println!(
        "forged initiations: {forged_initiations} sent, {} reached WireGuard (bound {bound})",
        by_type[0]
    );
    assert!(
        by_type[0] <= bound,
        "forged initiations reaching WireGuard are bounded: {} > {bound}",
        by_type[0]
    );

    // Nothing went back to a spoofed source.
    let (ip_in, udp_in, icmp_in) = lab.attacker_received().unwrap();
    println!(
        "the attacker's namespace received {ip_in} IP packets from the server: {udp_in} UDP, {icmp_in} ICMP"
    );
    assert_eq!(
        udp_in, 0,
        "no datagram was sent to an address that never completed a session"
    );
    assert_eq!(ip_in, 0, "nothing at all went back to the spoofed sources");

    // What engarde counted, and what the kernel dropped before it. The
    // forged clients give up their places once their handshake has waited
    // HANDSHAKE_PATIENCE_SECS for an answer.
    let get_list = || api_get_in(&lab.server, "/api/v1/get-list");
    let waiting = Instant::now();
    let mut list = get_list();
    while list["clients"] != 1 && waiting.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(500));
        list = get_list();
    }
    let refused = &list["refused"];
    println!("engarde-server refused: {refused}");
    let snmp_after = udp_snmp(&lab);
    let dropped_by_kernel = snmp(&snmp_after, "RcvbufErrors") - snmp(&snmp_before, "RcvbufErrors");
    let refused_total: u64 = refused
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    println!(
        "of {FLOOD} flood datagrams: {refused_total} refused by engarde, {dropped_by_kernel} dropped by the kernel (receive buffer full), the rest admitted with a forged initiation and handled by that forged client's endpoint"
    );
    for reason in ["notWireguard", "unknownSession", "tooManyClients"] {
        assert!(
            refused[reason].as_u64().unwrap() > 0,
            "the flood is counted as {reason}: {refused}"
        );
    }
    assert_eq!(list["clients"], 1, "only the real client is left: {list:#}");
    let sockets: Vec<&Value> = list["sockets"].as_array().unwrap().iter().collect();
    assert!(
        sockets
            .iter()
            .all(|s| !s["address"].as_str().unwrap().starts_with("10.200.")),
        "no spoofed source is left: {sockets:?}"
    );
}
