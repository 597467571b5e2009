//! Unit tests of the checking pass: how empty and `null` values are read.
//! Whole files, valid and invalid, are in `tests/fixtures/` and
//! `tests/config_fixtures.rs`.

use super::*;

const FILE: &str = "t.yml";

fn client(text: &str) -> Result<ClientConfig, ConfigError> {
    parse_client(text, Path::new(FILE))
}

#[test]
fn an_empty_section_is_missing_its_required_keys_not_missing_itself() {
    let err = client("client:\n").unwrap_err();
    assert_eq!(err.key(), "client.listenAddr", "{err}");
    assert!(err.to_string().contains("missing required key"), "{err}");

    let err = parse_server("server: ~\n", Path::new(FILE)).unwrap_err();
    assert_eq!(err.key(), "server.listenAddr", "{err}");

    let err = client("server: {}\n").unwrap_err();
    assert_eq!(err.key(), "client", "{err}");
    assert!(err.to_string().contains("missing section"), "{err}");
}

#[test]
fn null_list_items_and_labels_are_empty_as_in_the_go_version() {
    let config = client(
        "client:\n  listenAddr: ':1'\n  dstAddr: '192.0.2.1:2'\n\
         \x20 excludedInterfaces: [eth1, null, '', ~]\n\
         \x20 interfaceLabels: {eth0: Fiber, eth1: null, eth2: ''}\n",
    )
    .unwrap();
    assert_eq!(
        config.excluded_interfaces,
        BTreeSet::from(["eth1".to_string()])
    );
    assert_eq!(
        config.interface_labels,
        BTreeMap::from([("eth0".to_string(), "Fiber".to_string())])
    );
}

#[test]
fn an_empty_required_value_is_called_empty() {
    let err = client("client:\n  listenAddr: ''\n  dstAddr: '192.0.2.1:2'\n").unwrap_err();
    assert_eq!(err.key(), "client.listenAddr");
    assert!(err.to_string().contains("is empty but required"), "{err}");
}

#[test]
fn a_refreshed_destination_keeps_the_address_in_use_while_the_answer_has_it() {
    let a = |s: &str| s.parse::<std::net::SocketAddr>().unwrap();
    let old = Destination::new(
        "vpn.example.org:59501",
        vec![
            a("192.0.2.1:59501"),
            a("192.0.2.2:59501"),
            a("[2001:db8::1]:59501"),
        ],
    );
    assert_eq!(old.for_family(true), Some(a("192.0.2.1:59501")));
    assert_eq!(old.for_family(false), Some(a("[2001:db8::1]:59501")));
    // A rotated answer: the IPv4 address in use stays first.
    let rotated = old.refreshed(vec![
        a("[2001:db8::1]:59501"),
        a("192.0.2.2:59501"),
        a("192.0.2.1:59501"),
    ]);
    assert_eq!(rotated.for_family(true), Some(a("192.0.2.1:59501")));
    assert_eq!(rotated.for_family(false), Some(a("[2001:db8::1]:59501")));
    // The address in use is gone: the answer's first one of that family.
    let moved = old.refreshed(vec![a("192.0.2.9:59501"), a("[2001:db8::1]:59501")]);
    assert_eq!(moved.for_family(true), Some(a("192.0.2.9:59501")));
    assert_eq!(moved.addr, a("192.0.2.9:59501"));
    // No IPv6 any more.
    let v4 = old.refreshed(vec![a("192.0.2.1:59501")]);
    assert_eq!(v4.for_family(false), None);
    assert_eq!(v4.text, "vpn.example.org:59501");
    assert!(v4.is_host_name());
    assert!(!Destination::literal(a("192.0.2.1:1")).is_host_name());
}
