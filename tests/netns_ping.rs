//! Real network: ping crosses real WireGuard through engarde over three links.

mod common;

use engarde::lab::Scenario;

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
