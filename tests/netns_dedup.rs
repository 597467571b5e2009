//! Real network, real WireGuard: with three links, each WireGuard receives
//! every data message once (counted by the kernel's firewall in front of
//! it, not by engarde), and the stream still loses nothing through a cut
//! link; with `dedup: false`, WireGuard receives three copies.
//!
//! The daemons run without UDP GSO here: the firewall counts a GSO run as
//! one packet (it is cut into datagrams after the firewall), which would
//! make the count meaningless.

mod common;

use common::lab::{assert_no_loss, options, start};
use engarde::lab::Scenario;
use engarde::lab::stream::{Bidirectional, StreamSpec};
use std::time::Duration;

const STREAM: StreamSpec = StreamSpec {
    rate_pps: 500,
    duration: Duration::from_secs(8),
    payload_len: 300,
};

/// Keepalives and handshakes also cross; they are few next to the stream.
const CONTROL_ALLOWANCE: u64 = 60;

fn lab_options(dedup: bool) -> engarde::lab::LabOptions {
    let mut options = options(Scenario::Overrides);
    options.env.push(("ENGARDE_GSO".into(), "0".into()));
    if !dedup {
        options.client_extra.push("dedup: false".into());
        options.server_extra.push("dedup: false".into());
    }
    options
}

#[test]
fn each_wireguard_receives_each_data_message_once() {
    let mut lab = start(lab_options(true));
    let before = (
        lab.wireguard_datagrams_received(false).unwrap(),
        lab.wireguard_datagrams_received(true).unwrap(),
    );
    let streams = Bidirectional::start(&lab, STREAM).unwrap();
    std::thread::sleep(Duration::from_secs(4));
    lab.set_client_link(1, false).unwrap();
    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let server = lab.wireguard_datagrams_received(false).unwrap() - before.0;
    let client = lab.wireguard_datagrams_received(true).unwrap() - before.1;
    println!(
        "server WireGuard received {server} datagrams for {} sent; client WireGuard {client} for {}",
        up.sent(),
        down.sent()
    );
    assert!(
        server >= up.sent() && server <= up.sent() + CONTROL_ALLOWANCE,
        "server WireGuard: {server} datagrams for {} data messages",
        up.sent()
    );
    assert!(
        client >= down.sent() && client <= down.sent() + CONTROL_ALLOWANCE,
        "client WireGuard: {client} datagrams for {} data messages",
        down.sent()
    );
}

#[test]
fn without_dedup_wireguard_receives_every_copy() {
    let lab = start(lab_options(false));
    let before = lab.wireguard_datagrams_received(false).unwrap();
    let (up, down) = Bidirectional::start(&lab, STREAM)
        .unwrap()
        .finish()
        .unwrap();
    assert_no_loss(&lab, &up, &down);
    let server = lab.wireguard_datagrams_received(false).unwrap() - before;
    println!(
        "without dedup, server WireGuard received {server} datagrams for {} sent",
        up.sent()
    );
    assert!(
        server >= 3 * up.sent(),
        "three links, three copies: {server} for {}",
        up.sent()
    );
}
