//! Real network over IPv6: links with only IPv6 addresses carry the tunnel
//! with zero loss while they are cut, and a dual-stack host carries one
//! link per family on every interface, both used in both directions.

mod common;

use common::lab::{assert_no_loss, client_links, options, start, with_web_manager};
use engarde::lab::stream::{Bidirectional, StreamSpec};
use engarde::lab::topology::{Families, client_interface};
use engarde::lab::{Fault, Scenario};
use std::time::Duration;

const STREAM: StreamSpec = StreamSpec {
    rate_pps: 500,
    duration: Duration::from_secs(14),
    payload_len: 200,
};

/// IPv6 only: links on fd00:i::2, the server listening on [::], engarde and
/// WireGuard talking over [::1] on both sides. Links are cut on either
/// side and black-holed while a stream runs both ways.
#[test]
fn ipv6_only_links_carry_the_tunnel_with_zero_loss_through_link_cuts() {
    let mut options = options(Scenario::Overrides);
    options.families = Families::V6;
    let mut lab = start(options);
    let client_log = lab.engarde_client.as_ref().unwrap().log();
    for i in 0..3 {
        assert!(
            client_log.contains(&format!(
                "link wan{i}/IPv6 up (new usable interface): [{}]:",
                lab.client_link_ip6(i)
            )),
            "{client_log}"
        );
    }
    assert!(!client_log.contains("/IPv4 up"), "{client_log}");
    assert!(
        client_log.contains("listening for WireGuard on [::1]:"),
        "{client_log}"
    );

    let streams = Bidirectional::start(&lab, STREAM).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_client_link(0, false).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_server_link(1, false).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_client_link(0, true).unwrap();
    lab.set_server_link(1, true).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_fault(2, Some(Fault::Blackhole)).unwrap();
    lab.set_client_link(1, false).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_fault(2, None).unwrap();
    lab.set_client_link(1, true).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);

    let server_log = lab.engarde_server.as_ref().unwrap().log();
    for i in 0..3 {
        assert!(
            server_log.contains(&format!("address [{}]:", lab.client_link_ip6(i))),
            "the server heard link {i} over IPv6:\n{server_log}"
        );
    }
    let client_log = lab.engarde_client.as_ref().unwrap().log();
    assert!(
        client_log.contains("link wan0/IPv6 removed: down"),
        "{client_log}"
    );
}

/// Dual stack: every interface has an IPv4 and an IPv6 address and every
/// destination is a host name with both (from the namespace's hosts file),
/// so each interface carries two links. Both families carry traffic both
/// ways (the API's per-link counters), then a link is cut without loss.
#[test]
fn a_dual_stack_setup_uses_both_families() {
    let mut options = options(Scenario::Routed);
    options.families = Families::Dual;
    with_web_manager(&mut options);
    let mut lab = start(options);
    let spec = StreamSpec {
        duration: Duration::from_secs(10),
        ..STREAM
    };
    let streams = Bidirectional::start(&lab, spec).unwrap();
    std::thread::sleep(Duration::from_secs(3));

    let links = client_links(&lab);
    for i in 0..3 {
        for family in ["IPv4", "IPv6"] {
            let name = format!("{}/{family}", client_interface(i));
            let (_, link) = links
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("{name} in {links:#?}"));
            assert_eq!(link["status"], "active", "{link:#}");
            assert_eq!(link["dstAddress"], "server.lab:59501", "{link:#}");
            let resolved = link["resolvedDstAddress"].as_str().unwrap();
            let expected = if family == "IPv4" {
                "192.0.2.1:59501"
            } else {
                "[fd00:ff::1]:59501"
            };
            assert_eq!(resolved, expected, "{link:#}");
            let counters = &link["counters"];
            assert!(
                counters["sentPackets"].as_u64().unwrap() > 500
                    && counters["receivedPackets"].as_u64().unwrap() > 500,
                "{name} carries traffic both ways: {counters:#}"
            );
            println!(
                "{name}: {} -> {} ({}), sent {}, received {}",
                link["localAddress"].as_str().unwrap(),
                link["dstAddress"].as_str().unwrap(),
                resolved,
                counters["sentPackets"],
                counters["receivedPackets"]
            );
        }
    }
    lab.set_client_link(0, false).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    lab.set_client_link(0, true).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let server_log = lab.engarde_server.as_ref().unwrap().log();
    for client in ["address 10.0.1.2:", "address [fd00:1::2]:"] {
        assert!(server_log.contains(client), "{client}:\n{server_log}");
    }
}

/// Host names are resolved again (here every second): when the answer
/// changes, the client says so and re-creates only the links whose
/// destination changed (the IPv6 ones), while the stream loses nothing.
#[test]
fn a_changed_dns_answer_re_creates_only_the_links_it_concerns() {
    let mut options = options(Scenario::Routed);
    options.families = Families::Dual;
    options.client_extra.push("resolveInterval: 1".into());
    let lab = start(options);
    engarde::lab::cmd::ip(lab.server.name(), "addr add fd00:ff::2/128 dev lo").unwrap();
    let streams = Bidirectional::start(
        &lab,
        StreamSpec {
            duration: Duration::from_secs(6),
            ..STREAM
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let changed = std::time::Instant::now();
    lab.write_hosts(
        "127.0.0.1 localhost\n::1 localhost\n192.0.2.1 server.lab\nfd00:ff::2 server.lab\n",
    )
    .unwrap();
    let client_log = || lab.engarde_client.as_ref().unwrap().log();
    let noticed = common::lab::time_until_logged(
        client_log,
        "server.lab:59501 now resolves to ",
        changed,
        Duration::from_secs(5),
    );
    let log = client_log();
    let line = log.lines().find(|l| l.contains("now resolves to")).unwrap();
    println!("{line}");
    let (now, was) = line.split_once("(was ").unwrap();
    assert!(
        now.contains("[fd00:ff::2]:59501") && now.contains("192.0.2.1:59501"),
        "{line}"
    );
    assert!(was.contains("[fd00:ff::1]:59501"), "{line}");
    println!(
        "the new answer was noticed {:.0} ms after the hosts file changed (resolveInterval 1 s)",
        noticed.as_secs_f64() * 1e3
    );
    for i in 0..3 {
        common::lab::time_until_logged(
            client_log,
            &format!(
                "link {}/IPv6 re-created: destination changed from [fd00:ff::1]:59501 to [fd00:ff::2]:59501",
                client_interface(i)
            ),
            changed,
            Duration::from_secs(5),
        );
    }
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let log = client_log();
    assert!(
        !log.contains("/IPv4 re-created") && !log.contains("/IPv4 removed"),
        "the IPv4 links were not touched:\n{log}"
    );
    assert!(
        lab.engarde_server
            .as_ref()
            .unwrap()
            .log()
            .contains("(it talks to [fd00:ff::2]:59501)"),
        "the server hears the links at the new address"
    );
}
