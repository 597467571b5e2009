//! Real network, real WireGuard, several clients behind one server port
//! (issue 5, test 1): three engarde-clients with their own wireguard-go
//! (distinct keys) and two or three links each, one engarde-server port,
//! one server wireguard-go with three peers. All three ping and stream both
//! ways at once for 130 s, across wireguard-go's rekey (every 120 s), while
//! links are cut on either side, one client roams to new addresses and
//! another's engarde-client is killed and restarted (new source ports).
//!
//! Each client's downstream uses its own datagram size, so the encrypted
//! datagrams of each client have their own UDP length on the wire. nftables
//! in every client namespace counts, per link and per length, what arrives
//! from the server's port before any routing decision: no client's return
//! traffic may show up at another client's links. This proves the
//! separation without trusting engarde's own counters.

mod common;

use common::lab::{WEB_PORT, api_get_in};
use engarde::lab::clock::monotonic_ns;
use engarde::lab::multi::{MultiLab, MultiOptions, client_tunnel_ip, server_tunnel_ip};
use engarde::lab::stream::{self, RunningStream, StreamReport, StreamSpec};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Links of each client.
const LINKS: [usize; 3] = [3, 2, 2];

/// Long enough to cross wireguard-go's REKEY_AFTER_TIME (120 s after the
/// handshake the lab's first ping made).
const DURATION: Duration = Duration::from_secs(130);

const RATE: u32 = 150;

/// Client `k`'s downstream datagram size (distinct per client).
fn down_payload(k: usize) -> usize {
    200 + 100 * k
}

/// The UDP length on the wire of a WireGuard data message carrying an
/// IPv4/UDP datagram with `payload` bytes: WireGuard pads the inner packet
/// to a multiple of 16 (these are far below the MTU, where padding stops)
/// and adds a 16-byte header and a 16-byte tag.
fn wireguard_udp_length(payload: usize) -> u16 {
    let inner = 20 + 8 + payload;
    (8 + 16 + inner.div_ceil(16) * 16 + 16) as u16
}

struct Streams {
    up: RunningStream,
    down: RunningStream,
}

fn start_streams(lab: &MultiLab, k: usize) -> Streams {
    let spec = |payload_len| StreamSpec {
        rate_pps: RATE,
        duration: DURATION,
        payload_len,
    };
    let client = &lab.clients[k].ns;
    let up = stream::start(
        (client, SocketAddr::from((client_tunnel_ip(k), 0))),
        (
            &lab.server,
            SocketAddr::from((server_tunnel_ip(), 7000 + k as u16)),
        ),
        spec(300),
    )
    .unwrap();
    let down = stream::start(
        (&lab.server, SocketAddr::from((server_tunnel_ip(), 0))),
        (client, SocketAddr::from((client_tunnel_ip(k), 7001))),
        spec(down_payload(k)),
    )
    .unwrap();
    Streams { up, down }
}

/// Sequence numbers lost, with their send time in seconds after `start_ns`.
fn losses(report: &StreamReport, start_ns: u64) -> Vec<(u64, f64)> {
    report
        .lost()
        .into_iter()
        .map(|seq| {
            let at = report.send_ns[seq as usize].saturating_sub(start_ns);
            (seq, at as f64 / 1e9)
        })
        .collect()
}

#[test]
fn three_clients_behind_one_port_stay_apart_through_cuts_roaming_restarts_and_rekeying() {
    let mut options = MultiOptions::new(
        env!("CARGO_BIN_EXE_engarde-client"),
        env!("CARGO_BIN_EXE_engarde-server"),
        &LINKS,
    );
    options.server_extra.push(format!(
        "webManager: {{ listenAddr: \"127.0.0.1:{WEB_PORT}\" }}"
    ));
    // The firewall counts a GSO run as one datagram; count real datagrams.
    options.env.push(("ENGARDE_GSO".into(), "0".into()));
    let mut lab =
        MultiLab::start(options).unwrap_or_else(|e| panic!("cannot start the network lab: {e}"));
    let lengths: Vec<u16> = (0..LINKS.len())
        .map(|k| wireguard_udp_length(down_payload(k)))
        .collect();
    lab.count_return_lengths(&lengths).unwrap();
    let peers_before = lab.server_peers().unwrap();
    println!("server WireGuard peers at start: {peers_before:?}");

    let start_ns = monotonic_ns();
    let started = Instant::now();
    let streams: Vec<Streams> = (0..LINKS.len()).map(|k| start_streams(&lab, k)).collect();
    let pings: Vec<_> = lab
        .clients
        .iter()
        .map(|site| {
            let ns = site.ns.name().to_string();
            std::thread::spawn(move || {
                engarde::lab::cmd::run_in(
                    &ns,
                    "ping",
                    &[
                        "-c",
                        "100",
                        "-i",
                        "0.2",
                        "-W",
                        "2",
                        &server_tunnel_ip().to_string(),
                    ],
                )
            })
        })
        .collect();

    let mut events = Vec::new();
    let mut at = |secs: u64, what: &str| {
        let due = Duration::from_secs(secs);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        events.push(format!("{:.1}s {what}", started.elapsed().as_secs_f32()));
    };
    at(8, "client 0: link 0 down (client side)");
    lab.set_client_link(0, 0, false).unwrap();
    at(12, "client 1: link 1 down (server side)");
    lab.set_server_link(1, 1, false).unwrap();
    at(14, "client 0: link 2 down (server side); only link 1 left");
    lab.set_server_link(0, 2, false).unwrap();
    at(20, "client 0: link 0 up; client 1: link 1 up");
    lab.set_client_link(0, 0, true).unwrap();
    lab.set_server_link(1, 1, true).unwrap();
    at(24, "client 0: link 2 up");
    lab.set_server_link(0, 2, true).unwrap();
    at(26, "client 2: link 0 down (client side)");
    lab.set_client_link(2, 0, false).unwrap();
    at(34, "client 2: link 0 up");
    lab.set_client_link(2, 0, true).unwrap();
    at(45, "client 1 roams: link 0 gets 10.2.0.7");
    lab.readdress_client_link(1, 0, 7).unwrap();
    at(52, "client 1 roams: link 1 gets 10.2.1.7");
    lab.readdress_client_link(1, 1, 7).unwrap();
    at(70, "client 2: engarde-client killed");
    let killed_ns = monotonic_ns();
    lab.kill_client(2).unwrap();
    lab.start_client(2).unwrap();
    let restarted_ns = monotonic_ns();
    events.push(format!(
        "{:.1}s client 2: engarde-client restarted, links up",
        started.elapsed().as_secs_f32()
    ));
    println!("events: {}", events.join(", "));

    let reports: Vec<(StreamReport, StreamReport)> = streams
        .into_iter()
        .map(|s| {
            (
                s.up.finish(Duration::from_secs(2)).unwrap(),
                s.down.finish(Duration::ZERO).unwrap(),
            )
        })
        .collect();
    for (k, ping) in pings.into_iter().enumerate() {
        let output = ping.join().unwrap();
        let summary = output
            .as_ref()
            .map(|o| {
                o.lines()
                    .filter(|l| l.contains("packet loss"))
                    .collect::<String>()
            })
            .unwrap_or_else(|e| e.to_string());
        println!("client {k} ping: {summary}");
        assert!(
            summary.contains(" 0% packet loss"),
            "client {k}'s pings all answered during the first 20 s of cuts: {summary}"
        );
    }

    // Zero loss, except for client 2 while its engarde-client was dead
    // (including what was in flight towards it when it died).
    let window = (
        (killed_ns - start_ns) as f64 / 1e9 - 0.5,
        (restarted_ns - start_ns) as f64 / 1e9 + 2.0,
    );
    for (k, (up, down)) in reports.iter().enumerate() {
        println!("client {k}: up {}; down {}", up.summary(), down.summary());
        let mut lost = losses(up, start_ns);
        lost.extend(losses(down, start_ns));
        if k == 2 {
            let outside: Vec<_> = lost
                .iter()
                .filter(|(_, at)| *at < window.0 || *at > window.1)
                .collect();
            println!(
                "client 2: {} lost while its engarde-client restarted ({:.1}-{:.1} s, restart took {:.0} ms)",
                lost.len(),
                window.0,
                window.1,
                (restarted_ns - killed_ns) as f64 / 1e6
            );
            assert!(
                outside.is_empty(),
                "client 2 lost packets outside its restart window: {outside:?}\n{}",
                lab.logs()
            );
        } else {
            assert!(
                lost.is_empty(),
                "client {k} lost packets (seq, s): {lost:?}\n{}",
                lab.logs()
            );
        }
        assert!(up.sent() > 0 && down.sent() > 0);
    }
    // After the restart the stream flows again both ways.
    let (up, down) = &reports[2];
    for (name, report) in [("up", up), ("down", down)] {
        let after = report.window(restarted_ns + 2_000_000_000, u64::MAX);
        assert!(
            after.0 > 1000 && after.1 == 0,
            "client 2 {name} after its restart: (sent, lost) {after:?}"
        );
    }

    // No client's return traffic reached another client's links.
    for k in 0..LINKS.len() {
        let counts = lab.return_length_counts(k, &lengths).unwrap();
        println!("client {k} arrivals from the server port (link, UDP length): {counts:?}");
        for ((link, length), count) in &counts {
            if let Some(length) = length {
                if *length != lengths[k] {
                    assert_eq!(
                        *count, 0,
                        "client {k} link {link} received {count} datagrams of length {length}, another client's return stream"
                    );
                }
            }
        }
        let own: u64 = (0..LINKS[k])
            .map(|link| counts[&(link, Some(lengths[k]))])
            .sum();
        assert!(
            own >= reports[k].1.sent(),
            "client {k}'s links received its own stream: {own} datagrams of length {} for {} sent",
            lengths[k],
            reports[k].1.sent()
        );
    }

    // WireGuard rekeyed every session during the run, without a loss.
    let peers_after = lab.server_peers().unwrap();
    println!("server WireGuard peers at the end: {peers_after:?}");
    assert_eq!(peers_after.len(), LINKS.len());
    for (key, endpoint, handshake) in &peers_after {
        let before = peers_before
            .iter()
            .find(|(k, _, _)| k == key)
            .map_or(0, |p| p.2);
        assert!(
            *handshake > before,
            "peer {key} (at {endpoint}) made a new handshake: {before} -> {handshake}"
        );
    }
    let endpoints: BTreeSet<&String> = peers_after.iter().map(|p| &p.1).collect();
    assert_eq!(
        endpoints.len(),
        LINKS.len(),
        "WireGuard sees each client at its own socket: {peers_after:?}"
    );

    // The server groups addresses by client: one client number per client
    // namespace (its links' 10.(k+1).x.x addresses), the same before and
    // after a roam or a restart, and a different one for each client.
    let list = api_get_in(&lab.server, "/api/v1/get-list");
    println!("server get-list: {list:#}");
    assert_eq!(list["clients"], 3, "three clients");
    let mut by_network: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for socket in list["sockets"].as_array().unwrap() {
        let address = socket["address"].as_str().unwrap();
        let network = address.split('.').nth(1).unwrap().to_string();
        by_network
            .entry(network)
            .or_default()
            .insert(socket["client"].as_u64().unwrap());
    }
    assert_eq!(
        by_network.len(),
        3,
        "addresses of three clients: {by_network:?}"
    );
    let ids: BTreeSet<u64> = by_network.values().flatten().copied().collect();
    assert!(
        by_network.values().all(|ids| ids.len() == 1) && ids.len() == 3,
        "each client's addresses share one client number, distinct per client: {by_network:?}"
    );
    let server_log = lab.engarde_server.as_ref().unwrap().log();
    let new_clients = server_log.matches("is new (WireGuard sees it at").count();
    assert_eq!(
        new_clients, 3,
        "three clients, none re-created by a roam or a restart:\n{server_log}"
    );
}
