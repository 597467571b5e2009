//! Real network: ping crosses real WireGuard through engarde over three links.

mod common;

use engarde::lab::Scenario;
use engarde::lab::topology::TUNNEL_MTU;

#[test]
fn ping_crosses_the_tunnel_with_overrides() {
    let lab = common::lab::start(common::lab::options(Scenario::Overrides));
    let summary = lab.ping(5).unwrap();
    assert!(
        summary.contains(" 0% packet loss"),
        "{summary}\n{}",
        lab.logs()
    );
}

#[test]
fn ping_crosses_the_tunnel_over_routed_links() {
    let lab = common::lab::start(common::lab::options(Scenario::Routed));
    let summary = lab.ping(5).unwrap();
    assert!(
        summary.contains(" 0% packet loss"),
        "{summary}\n{}",
        lab.logs()
    );
}

/// Packets as large as the tunnel's MTU: WireGuard stops padding at the
/// MTU, so their data messages are not a multiple of 16 bytes long, and a
/// relay that expects one refuses them (TCP stalls, small pings pass).
#[test]
fn packets_as_large_as_the_tunnel_mtu_cross_it() {
    let lab = common::lab::start(common::lab::options(Scenario::Overrides));
    for payload in [TUNNEL_MTU - 28, TUNNEL_MTU - 29, TUNNEL_MTU - 36] {
        let summary = lab.ping_sized(5, payload).unwrap();
        assert!(
            summary.contains(" 0% packet loss"),
            "{payload}-byte pings: {summary}\n{}",
            lab.logs()
        );
    }
}
