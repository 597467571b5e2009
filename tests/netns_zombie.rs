//! Zombie links, for real: a link whose socket is open and still sends,
//! but hears nothing any more, while the other links hear the server.
//!
//! The Go engarde's users saw it after a connection "went down and up":
//! the link looked fine and carried nothing until they excluded and
//! included it by hand. Here the interface and its address do not change
//! at all, so no reading of the interfaces can notice anything: link 1
//! sits behind a NAT (a modem in router mode, a carrier's NAT) whose public
//! address changes when its uplink re-dials. The flow of engarde's socket
//! keeps its old mapping (the NAT's connection tracking renews it with
//! every datagram the socket sends), and the old public address now leads
//! nowhere: the server hears the link, the link never hears the server.
//!
//! With `linkSilenceTimeout: 0` the bug is reproduced and stays; a reload
//! that sets the timeout makes the link heal by itself: silent while
//! another link hears the server, it is re-created (a new socket, so a new
//! flow and a fresh mapping), saying why. A link that stays deaf whatever
//! its socket is re-created again only after twice as long.

mod common;

use common::lab::{
    assert_no_loss, client_links, options, start, time_until_logged, with_web_manager,
};
use engarde::lab::Scenario;
use engarde::lab::stream::{Bidirectional, StreamSpec};
use std::time::{Duration, Instant};

fn counters(lab: &engarde::lab::Lab, link: &str) -> (u64, u64) {
    let (_, entry) = client_links(lab)
        .into_iter()
        .find(|(name, _)| name == link)
        .unwrap_or_else(|| panic!("no {link}"));
    let c = &entry["counters"];
    (
        c["sentPackets"].as_u64().unwrap(),
        c["receivedPackets"].as_u64().unwrap(),
    )
}

fn client_log(lab: &engarde::lab::Lab) -> String {
    lab.engarde_client.as_ref().unwrap().log()
}

fn server_log(lab: &engarde::lab::Lab) -> String {
    lab.engarde_server.as_ref().unwrap().log()
}

#[test]
fn a_link_that_hears_nothing_after_a_redial_heals_by_itself() {
    let mut options = options(Scenario::Overrides);
    with_web_manager(&mut options);
    options.client_extra.push("linkSilenceTimeout: 0".into());
    let mut lab = start(options);
    // Link 1 behind a NAT; cycling the link gives engarde a new flow through it.
    lab.nat_client_link(1, 50).unwrap();
    lab.set_client_link(1, false).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    lab.set_client_link(1, true).unwrap();
    let streams = Bidirectional::start(
        &lab,
        StreamSpec {
            rate_pps: 500,
            duration: Duration::from_secs(26),
            payload_len: 200,
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        server_log(&lab).contains("address 10.0.1.50:"),
        "{}",
        server_log(&lab)
    );
    let (_, heard) = counters(&lab, "wan1/IPv4");
    assert!(heard > 0, "wan1 hears the server through the NAT");

    // The NAT re-dials: the bug, with the silence check off.
    lab.redial_nat(1, 50, 51).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let (sent_before, heard_before) = counters(&lab, "wan1/IPv4");
    std::thread::sleep(Duration::from_secs(4));
    let (sent_after, heard_after) = counters(&lab, "wan1/IPv4");
    println!(
        "after the re-dial, in 4 s wan1 sent {} datagrams and heard {}",
        sent_after - sent_before,
        heard_after - heard_before
    );
    assert!(sent_after > sent_before + 1000, "wan1 still sends");
    assert_eq!(heard_after, heard_before, "and hears nothing: the bug");
    assert!(!client_log(&lab).contains("link wan1/IPv4 re-created"));

    // Turn the check on (a reload): it heals by itself.
    lab.options_mut()
        .client_extra
        .retain(|line| !line.starts_with("linkSilenceTimeout"));
    lab.options_mut()
        .client_extra
        .push("linkSilenceTimeout: 2".into());
    lab.write_configs().unwrap();
    let reloaded = Instant::now();
    lab.engarde_client.as_ref().unwrap().signal(libc::SIGHUP);
    let healed = time_until_logged(
        || client_log(&lab),
        "link wan1/IPv4 re-created: heard nothing from the server for",
        reloaded,
        Duration::from_secs(6),
    );
    time_until_logged(
        || server_log(&lab),
        "address 10.0.1.51:",
        reloaded,
        Duration::from_secs(6),
    );
    println!(
        "wan1 re-created {:.1} s after the check was turned on (timeout 2 s)",
        healed.as_secs_f64()
    );
    let log = client_log(&lab);
    let why = log
        .lines()
        .find(|l| l.contains("link wan1/IPv4 re-created"))
        .unwrap();
    println!("{why}");
    assert!(why.contains("while the other links received"), "{why}");
    std::thread::sleep(Duration::from_secs(1));
    let (_, heard_healed) = counters(&lab, "wan1/IPv4");
    std::thread::sleep(Duration::from_secs(1));
    let (_, heard_later) = counters(&lab, "wan1/IPv4");
    assert!(
        heard_later > heard_healed + 200,
        "wan1 hears the server again ({heard_healed} then {heard_later})"
    );

    // Link 2 stays deaf whatever its socket: re-created after 2 s, then
    // only after 4 s more; then the server can answer it again.
    let deaf = Instant::now();
    lab.set_server_cannot_answer(2, true).unwrap();
    std::thread::sleep(Duration::from_secs(9));
    let tries: Vec<String> = client_log(&lab)
        .lines()
        .filter(|l| l.contains("link wan2/IPv4 re-created"))
        .map(str::to_string)
        .collect();
    println!(
        "in {:.1} s of deafness: {tries:#?}",
        deaf.elapsed().as_secs_f64()
    );
    assert_eq!(tries.len(), 2, "2 s, then 4 s later: {tries:#?}");
    assert!(
        tries[1].contains("re-created 1 time in a row already; next try after 8 s"),
        "{}",
        tries[1]
    );
    lab.set_server_cannot_answer(2, false).unwrap();

    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
}
