//! Every configuration fixture through the real loader: each file in
//! `tests/fixtures/valid/` loads, each in `tests/fixtures/invalid/` fails
//! with the one-line error its header promises (see `common/fixtures.rs`),
//! and a few valid files are checked value by value.

mod common;

use common::fixtures::{Binary, Fixture, fixtures_dir, load_all};
use engarde::config::{
    ClientConfig, DEFAULT_CLIENT_TIMEOUT, ServerConfig, load_client, load_server, parse_client,
    parse_server,
};
use engarde::error::ConfigError;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

fn load(binary: Binary, path: &Path) -> Result<(), ConfigError> {
    match binary {
        Binary::Client => load_client(path).map(drop),
        Binary::Server => load_server(path).map(drop),
    }
}

#[test]
fn every_valid_fixture_loads() {
    let mut failures = Vec::new();
    for fixture in load_all("valid") {
        assert!(
            fixture.key.is_none() && fixture.expect_error.is_empty(),
            "{}: a valid fixture must not state an expected error",
            fixture.file_name()
        );
        for &binary in &fixture.binaries {
            if let Err(error) = load(binary, &fixture.path) {
                failures.push(format!("{} ({binary:?}): {error}", fixture.file_name()));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_invalid_fixture_fails_with_its_one_line_error() {
    let mut failures = Vec::new();
    for fixture in load_all("invalid") {
        for &binary in &fixture.binaries {
            if let Err(problem) = check_invalid(&fixture, binary) {
                failures.push(format!("{} ({binary:?}): {problem}", fixture.file_name()));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The promises of an invalid fixture, as a description of the first broken one.
fn check_invalid(fixture: &Fixture, binary: Binary) -> Result<(), String> {
    let (Some(key), false) = (&fixture.key, fixture.expect_error.is_empty()) else {
        return Err("needs \"# key:\" and \"# expect-error:\" header lines".into());
    };
    let error = match load(binary, &fixture.path) {
        Ok(()) => return Err("loaded without error".into()),
        Err(error) => error,
    };
    let text = error.to_string();
    if let Some(missing) = fixture.expect_error.iter().find(|e| !text.contains(*e)) {
        return Err(format!("error {text:?} lacks {missing:?}"));
    }
    if !text.contains(fixture.file_name()) {
        return Err(format!("error {text:?} does not name the file"));
    }
    if text.contains('\n') {
        return Err(format!("error {text:?} is more than one line"));
    }
    if error.key() != key {
        return Err(format!("error names key {:?}, not {key:?}", error.key()));
    }
    if !key.is_empty() && !text.contains(&format!(": {key}: ")) {
        return Err(format!("error {text:?} does not show the key {key:?}"));
    }
    Ok(())
}

#[test]
fn a_missing_file_is_one_line_naming_it() {
    let path = fixtures_dir().join("no-such-engarde.yml");
    for error in [
        load_client(&path).unwrap_err(),
        load_server(&path).unwrap_err(),
    ] {
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("{}: cannot read", path.display())),
            "{text}"
        );
        assert!(text.contains("No such file"), "{text}");
        assert!(!text.contains('\n'), "{text}");
    }
}

#[test]
fn an_empty_file_is_a_missing_section() {
    let path = Path::new("empty.yml");
    for text in ["", "\n  \n"] {
        let error = parse_client(text, path).unwrap_err();
        assert_eq!(error.key(), "client");
        assert!(error.to_string().contains("missing section"), "{error}");
        let error = parse_server(text, path).unwrap_err();
        assert_eq!(error.key(), "server");
        assert!(error.to_string().contains("missing section"), "{error}");
    }
}

fn client(name: &str) -> ClientConfig {
    let path = fixtures_dir().join("valid").join(name);
    load_client(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn server(name: &str) -> ServerConfig {
    let path = fixtures_dir().join("valid").join(name);
    load_server(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

#[test]
fn the_go_sample_reads_as_the_go_engarde_read_it() {
    let c = client("go-sample.yml");
    assert_eq!(c.description, "My engarde-client instance");
    assert_eq!(c.listen_addr, addr("127.0.0.1:59401"));
    assert_eq!(c.dst_addr.addr, addr("1.2.3.4:59501"));
    assert_eq!(c.write_timeout_ms, 10);
    assert_eq!(c.excluded_interfaces.len(), 4);
    assert!(c.excluded_interfaces.contains("Local Area Connection 2"));
    assert!(
        c.excluded_interfaces
            .contains("Loopback Pseudo-Interface 1")
    );
    assert_eq!(c.dst_overrides.len(), 1);
    assert_eq!(
        c.dst_overrides["Local Area Connection 4"].addr,
        addr("5.6.7.8:59501")
    );
    let web = c.web_manager.expect("client web manager");
    assert_eq!(web.listen_addr, addr("0.0.0.0:9001"));
    assert_eq!(
        (web.username.as_str(), web.password.as_str()),
        ("engarde", "engarde")
    );

    let s = server("go-sample.yml");
    assert_eq!(s.description, "My engarde-server instance");
    assert_eq!(s.listen_addr, addr("0.0.0.0:59501"));
    assert_eq!(s.dst_addr.addr, addr("127.0.0.1:59301"));
    assert_eq!(s.client_timeout, Duration::from_secs(30));
    assert_eq!(s.write_timeout_ms, 10);
    assert!(s.web_manager.is_some());
}

#[test]
fn null_and_empty_optional_keys_mean_defaults() {
    let c = client("null-values.yml");
    assert_eq!(c.description, "");
    assert_eq!(c.write_timeout_ms, 0);
    assert!(c.excluded_interfaces.is_empty());
    assert!(c.interface_labels.is_empty());
    assert!(c.dst_overrides.is_empty());
    assert_eq!(c.web_manager, None);

    let s = server("null-values.yml");
    assert_eq!(s.client_timeout, DEFAULT_CLIENT_TIMEOUT);
    assert_eq!(DEFAULT_CLIENT_TIMEOUT, Duration::from_secs(30));
    assert_eq!(s.web_manager, None);
    assert_eq!(
        server("server-only.yml").client_timeout,
        Duration::from_secs(60)
    );
}

#[test]
fn labels_overrides_and_scalars_keep_their_text() {
    let labels = client("interface-labels.yml").interface_labels;
    assert_eq!(labels.len(), 3);
    assert_eq!(labels["eth0"], "Fiber");
    assert_eq!(labels["Local Area Connection 4"], "Office DSL");

    let c = client("unquoted-scalars.yml");
    assert_eq!(c.description, "2024");
    assert!(c.excluded_interfaces.contains("3"));
    assert_eq!(c.web_manager.expect("web manager").password, "1234");
}

#[test]
fn listen_port_ipv6_and_host_name_forms() {
    let c = client("listen-port-only.yml");
    assert_eq!(c.listen_addr, addr("0.0.0.0:59401"));
    assert_eq!(
        c.web_manager.expect("web manager").listen_addr,
        addr("0.0.0.0:9001")
    );
    assert_eq!(
        server("listen-port-only.yml").listen_addr,
        addr("0.0.0.0:59501")
    );

    let c = client("ipv6.yml");
    assert_eq!(c.listen_addr, addr("[::1]:59401"));
    assert_eq!(c.dst_addr.addr, addr("[2001:db8::7]:59501"));
    assert_eq!(c.dst_overrides["wwan0"].addr, addr("[2001:db8:1::7]:59501"));
    let s = server("ipv6.yml");
    assert_eq!(s.listen_addr, addr("[::]:59501"));
    assert_eq!(s.dst_addr.addr, addr("[::1]:51820"));

    // Resolved at load time, IPv4 first where one address is wanted; the
    // text is kept for the logs and for resolving again.
    let c = client("hostname.yml");
    assert_eq!(c.dst_addr.text, "localhost:59501");
    assert_eq!(c.dst_addr.addr, addr("127.0.0.1:59501"));
    assert!(c.dst_addr.addrs.contains(&addr("127.0.0.1:59501")));
    assert!(c.dst_addr.is_host_name());
    assert_eq!(
        c.dst_addr.for_family(true),
        Some(addr("127.0.0.1:59501")),
        "client links use the first address of each family"
    );
    assert_eq!(c.listen_addr, addr("127.0.0.1:59401"));
    assert_eq!(
        server("hostname.yml").dst_addr.addr,
        addr("127.0.0.1:51820")
    );
}

#[test]
fn self_healing_keys_and_their_defaults() {
    let c = client("self-healing.yml");
    assert_eq!(c.link_silence_timeout, Duration::ZERO);
    assert_eq!(c.resolve_interval, Duration::from_secs(300));
    let c = client("minimal.yml");
    assert_eq!(
        c.link_silence_timeout,
        engarde::config::DEFAULT_LINK_SILENCE_TIMEOUT
    );
    assert_eq!(c.link_silence_timeout, Duration::from_secs(15));
    assert_eq!(
        c.resolve_interval,
        engarde::config::DEFAULT_RESOLVE_INTERVAL
    );
    assert_eq!(c.resolve_interval, Duration::from_secs(60));
}

#[test]
fn an_empty_web_manager_listen_address_disables_it() {
    assert_eq!(client("web-manager-disabled.yml").web_manager, None);
    assert_eq!(server("web-manager-disabled.yml").web_manager, None);
}

/// The shipped `engarde.yml.sample` must load for both binaries with the
/// values its comments describe.
#[test]
fn the_shipped_sample_loads_for_both_binaries() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("engarde.yml.sample");
    let text = std::fs::read_to_string(&path).expect("engarde.yml.sample at the repository root");

    let c = parse_client(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.listen_addr, addr("127.0.0.1:59401"));
    assert_eq!(c.dst_addr.addr, addr("127.0.0.1:59501"));
    assert_eq!(c.write_timeout_ms, 10);
    assert!(c.excluded_interfaces.contains("Local Area Connection 2"));
    assert_eq!(c.interface_labels["eth0"], "Fiber");
    assert_eq!(c.dst_overrides["wwan0"].addr, addr("127.0.0.1:59501"));
    assert_eq!(c.link_silence_timeout, Duration::from_secs(15));
    assert_eq!(c.resolve_interval, Duration::from_secs(60));
    // Its listenAddr is empty: the sample shows the keys, disabled.
    assert_eq!(c.web_manager, None);

    let s = parse_server(&text, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.listen_addr, addr("0.0.0.0:59501"));
    assert_eq!(s.dst_addr.addr, addr("127.0.0.1:51820"));
    assert_eq!(s.client_timeout, Duration::from_secs(30));
    assert_eq!(s.web_manager, None);

    // Every key of each section is present, so the sample documents them all.
    let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let keys = |value: &serde_yaml::Value| -> Vec<String> {
        let map = value.as_mapping().expect("a mapping");
        map.keys()
            .map(|k| k.as_str().expect("text key").to_string())
            .collect()
    };
    let web = ["listenAddr", "username", "password"];
    let client_keys = [
        "description",
        "listenAddr",
        "dstAddr",
        "writeTimeout",
        "dedup",
        "excludedInterfaces",
        "interfaceLabels",
        "dstOverrides",
        "linkSilenceTimeout",
        "resolveInterval",
        "webManager",
    ];
    let server_keys = [
        "description",
        "listenAddr",
        "dstAddr",
        "clientTimeout",
        "writeTimeout",
        "dedup",
        "wireguardAware",
        "maxClients",
        "maxAddressesPerClient",
        "allowedSources",
        "webManager",
    ];
    assert_eq!(keys(&yaml["client"]), client_keys);
    assert_eq!(
        keys(&yaml["client"]["dstOverrides"][0]),
        ["ifName", "dstAddr"]
    );
    assert_eq!(keys(&yaml["client"]["webManager"]), web);
    assert_eq!(keys(&yaml["server"]), server_keys);
    assert_eq!(keys(&yaml["server"]["webManager"]), web);
}
