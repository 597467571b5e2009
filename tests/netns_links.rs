//! Real network: a sequenced stream in both directions through real
//! WireGuard loses nothing while links fail, as long as one link works.

mod common;

use common::lab::{Random, assert_no_loss, options, start, time_until_logged};
use engarde::lab::stream::Bidirectional;
use engarde::lab::stream::StreamSpec;
use engarde::lab::{Fault, Scenario};
use std::time::{Duration, Instant};

const STREAM: StreamSpec = StreamSpec {
    rate_pps: 500,
    duration: Duration::from_secs(20),
    payload_len: 200,
};

/// Links go down and up in a random order, on either side, with at least
/// one link up (and established for over a second) at every moment.
#[test]
fn no_loss_while_links_go_down_and_up_in_random_order() {
    let mut lab = start(options(Scenario::Overrides));
    let mut random = Random::from_env();
    let mut up = [true; 3];
    let streams = Bidirectional::start(&lab, STREAM).unwrap();
    let mut events = Vec::new();
    while streams.started.elapsed() < STREAM.duration - Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(1500 + random.below(1000)));
        let i = random.below(3) as usize;
        let server_side = random.below(2) == 1;
        let up_count = up.iter().filter(|u| **u).count();
        if up[i] && up_count == 1 {
            continue; // never cut the last working link
        }
        up[i] = !up[i];
        if server_side {
            lab.set_server_link(i, up[i]).unwrap();
        } else {
            lab.set_client_link(i, up[i]).unwrap();
        }
        events.push(format!(
            "{:.1}s link {i} {} ({} side)",
            streams.started.elapsed().as_secs_f32(),
            if up[i] { "up" } else { "down" },
            if server_side { "server" } else { "client" }
        ));
        // Restore the link on the side that was not touched, so toggles pair up.
        if up[i] {
            lab.set_server_link(i, true).unwrap();
            lab.set_client_link(i, true).unwrap();
        }
    }
    let (up_report, down_report) = streams.finish().unwrap();
    println!("events: {}", events.join(", "));
    assert!(
        events.len() >= 5,
        "the schedule should flap links several times: {events:?}"
    );
    assert_no_loss(&lab, &up_report, &down_report);
}

/// Scenario 1: one server address reached through a default route per link.
#[test]
fn no_loss_over_routed_links_when_one_is_cut() {
    let mut lab = start(options(Scenario::Routed));
    let spec = StreamSpec {
        duration: Duration::from_secs(10),
        ..STREAM
    };
    let streams = Bidirectional::start(&lab, spec).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_client_link(0, false).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_client_link(1, false).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_client_link(0, true).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
}

/// A link that silently drops everything, then one dropping 30% at random.
#[test]
fn no_loss_with_a_blackholed_link_and_a_lossy_link() {
    let mut lab = start(options(Scenario::Overrides));
    let streams = Bidirectional::start(&lab, STREAM).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_fault(0, Some(Fault::Blackhole)).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    lab.set_fault(1, Some(Fault::RandomDrop(30))).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    lab.set_fault(0, None).unwrap();
    lab.set_fault(2, Some(Fault::RandomDrop(30))).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_fault(2, None).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
}

/// A new interface and a changed address: the new link carries traffic
/// within a second (seen by the server), then carries the stream alone.
#[test]
fn a_new_interface_and_a_new_address_carry_traffic_within_a_second() {
    let mut options = options(Scenario::Overrides);
    options.links = 2;
    let mut lab = start(options);
    let spec = StreamSpec {
        duration: Duration::from_secs(15),
        ..STREAM
    };
    let streams = Bidirectional::start(&lab, spec).unwrap();
    std::thread::sleep(Duration::from_secs(2));

    let added = Instant::now();
    lab.add_link(2).unwrap();
    let server_log = || lab.engarde_server.as_ref().unwrap().log();
    let new_link = time_until_logged(
        server_log,
        "address 10.0.2.2:",
        added,
        Duration::from_secs(5),
    );
    println!(
        "new interface wan2: the server heard from it {:.0} ms after it appeared",
        new_link.as_secs_f64() * 1e3
    );

    std::thread::sleep(Duration::from_secs(2));
    let readdressed = Instant::now();
    lab.readdress_client_link(1, 7).unwrap();
    let server_log = || lab.engarde_server.as_ref().unwrap().log();
    let new_address = time_until_logged(
        server_log,
        "address 10.0.1.7:",
        readdressed,
        Duration::from_secs(5),
    );
    println!(
        "wan1 re-addressed: the server heard from 10.0.1.7 {:.0} ms after the change",
        new_address.as_secs_f64() * 1e3
    );

    let client_log = lab.engarde_client.as_ref().unwrap().log();
    assert!(
        client_log.contains("link wan1/IPv4 re-created: address changed from 10.0.1.2 to 10.0.1.7"),
        "the client says why it re-created the link:\n{client_log}"
    );
    assert!(
        new_link < Duration::from_secs(1),
        "new interface took {new_link:?}"
    );
    assert!(
        new_address < Duration::from_secs(1),
        "new address took {new_address:?}"
    );

    // Only the new link and the re-addressed one remain, then only the latter.
    std::thread::sleep(Duration::from_secs(1));
    lab.set_client_link(0, false).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_client_link(2, false).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
}

/// wg-quick with `AllowedIPs = 0.0.0.0/0` routes everything into the tunnel;
/// engarde's links are bound to their interfaces, so their traffic to the
/// server still leaves through them instead of looping into the tunnel.
#[test]
fn no_loop_when_wireguard_routes_everything() {
    let mut lab = start(options(Scenario::Routed));
    lab.route_everything_through_wireguard().unwrap();
    // The stream's first datagram, the first packet routed by the new
    // rules, was lost in about one run in four (on main too; the cause is
    // not pinned down): count from a tunnel that already carries traffic
    // under the new routing.
    lab.wait_for_tunnel(Duration::from_secs(10)).unwrap();
    let spec = StreamSpec {
        duration: Duration::from_secs(8),
        ..STREAM
    };
    let streams = Bidirectional::start(&lab, spec).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    lab.set_client_link(1, false).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let client_log = lab.engarde_client.as_ref().unwrap().log();
    for healthy in ["wan0", "wan2"] {
        assert!(
            !client_log.contains(&format!("link {healthy}/IPv4: sending")),
            "{healthy} kept sending to the server without errors:\n{client_log}"
        );
    }
}
