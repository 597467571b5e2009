//! The real binaries, run as a user would: `-v`, `-h`, bad options, every
//! invalid config fixture (exit status 2 and one line naming file and key),
//! the default `engarde.yml`, `list-interfaces`, and a clean exit on
//! SIGTERM and SIGINT.

mod common;

use common::fixtures::{Binary, load_all};
use common::process::{CLIENT, Daemon, SERVER, TempDir, command, run, run_command, signal};
use std::process::Output;
use std::time::Duration;

const BINARIES: [(&str, &str); 2] = [("engarde-client", CLIENT), ("engarde-server", SERVER)];

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn version_prints_name_and_version() {
    let dir = TempDir::new("version");
    for (name, binary) in BINARIES {
        for flag in ["-v", "--version"] {
            let output = run(binary, &[flag], dir.path());
            assert!(output.status.success(), "{name} {flag}: {output:?}");
            assert_eq!(
                stdout(&output),
                format!("{name} {}\n", env!("CARGO_PKG_VERSION")),
                "{name} {flag}"
            );
        }
    }
}

#[test]
fn help_prints_usage() {
    let dir = TempDir::new("help");
    for (name, binary) in BINARIES {
        for flag in ["-h", "--help"] {
            let output = run(binary, &[flag], dir.path());
            assert!(output.status.success(), "{name} {flag}: {output:?}");
            assert!(
                stdout(&output).starts_with(&format!("usage: {name} [CONFIG]")),
                "{name} {flag}: {}",
                stdout(&output)
            );
        }
    }
}

#[test]
fn an_unknown_option_is_a_usage_error() {
    let dir = TempDir::new("option");
    for (name, binary) in BINARIES {
        let output = run(binary, &["--frobnicate"], dir.path());
        assert_eq!(output.status.code(), Some(2), "{name}: {output:?}");
        assert!(
            stderr(&output).starts_with(&format!("{name}: unknown option --frobnicate")),
            "{name}: {}",
            stderr(&output)
        );
    }
}

/// A configuration error: status 2 and exactly one line on standard error
/// that names the file and holds `expected`, with no panic.
fn assert_config_error(binary: &str, output: &Output, file: &str, expected: &[&str]) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(2), "{binary}: {output:?}");
    assert_eq!(err.lines().count(), 1, "{binary}: not one line: {err:?}");
    assert!(!err.trim().is_empty(), "{binary}: empty stderr");
    assert!(err.contains(file), "{binary}: {err:?} does not name {file}");
    for text in expected {
        assert!(err.contains(text), "{binary}: {err:?} lacks {text:?}");
    }
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{binary}: {err:?}"
    );
}

/// Every invalid fixture (broken YAML, unknown keys, wrong types, bad
/// addresses, missing keys …) through the binary it is meant for.
#[test]
fn every_invalid_fixture_exits_2_with_one_line_naming_file_and_key() {
    let dir = TempDir::new("invalid");
    // The kinds of mistake each binary must be seen to report.
    let mut uncovered: Vec<(&str, Binary)> = [
        "broken-yaml.yml",
        "unknown-key-top-level.yml",
        "missing-section-client.yml",
        "unknown-key-client.yml",
        "wrong-type-write-timeout.yml",
        "address-no-port.yml",
        "missing-listen-addr.yml",
    ]
    .map(|name| (name, Binary::Client))
    .into_iter()
    .chain(
        [
            "broken-yaml.yml",
            "missing-section-server.yml",
            "unknown-key-server.yml",
            "wrong-type-client-timeout.yml",
            "address-bad-port.yml",
            "missing-dst-addr.yml",
        ]
        .map(|name| (name, Binary::Server)),
    )
    .collect();
    for fixture in load_all("invalid") {
        let path = fixture.path.to_str().expect("UTF-8 path");
        let key = fixture.key.clone().unwrap_or_default();
        let mut expected: Vec<&str> = fixture.expect_error.iter().map(String::as_str).collect();
        expected.push(&key);
        for binary in &fixture.binaries {
            let program = match binary {
                Binary::Client => CLIENT,
                Binary::Server => SERVER,
            };
            let output = run(program, &[path], dir.path());
            assert_config_error(fixture.file_name(), &output, path, &expected);
            uncovered.retain(|&(name, b)| (name, b) != (fixture.file_name(), *binary));
        }
    }
    assert!(uncovered.is_empty(), "fixtures not run: {uncovered:?}");
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let dir = TempDir::new("missing");
    let path = dir.path().join("nowhere.yml");
    let path = path.to_str().unwrap();
    for (name, binary) in BINARIES {
        let output = run(binary, &[path], dir.path());
        assert_config_error(name, &output, path, &["cannot read the configuration file"]);
    }
}

/// The log level is for the daemon's log: a user who silenced it must still
/// learn why the daemon did not start.
#[test]
fn a_config_error_is_printed_whatever_rust_log_says() {
    let dir = TempDir::new("rust-log");
    let path = dir.write("typo.yml", "server:\n  listenAdr: ':59501'\n");
    let path = path.to_str().unwrap();
    for (name, binary) in BINARIES {
        let mut quiet = command(binary, dir.path());
        quiet.arg(path).env("RUST_LOG", "off");
        let output = run_command(quiet);
        assert_config_error(name, &output, path, &[]);
        assert!(
            stderr(&output).starts_with(&format!("{name}: {path}:")),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn without_an_argument_engarde_yml_in_the_working_directory_is_read() {
    let dir = TempDir::new("default");
    for (name, binary) in BINARIES {
        let output = run(binary, &[], dir.path());
        assert_config_error(name, &output, "engarde.yml: cannot read", &[]);
    }
}

#[test]
fn list_interfaces_without_a_config_shows_loopback_unused() {
    let dir = TempDir::new("list");
    let output = run(CLIENT, &["list-interfaces"], dir.path());
    assert!(output.status.success(), "{output:?}");
    let table = stdout(&output);
    assert!(
        table.contains("INTERFACE") && table.contains("ENGARDE"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("lo ") && line.ends_with("not used: loopback")),
        "{table}"
    );
}

#[test]
fn list_interfaces_with_a_broken_file_exits_2() {
    let dir = TempDir::new("list-broken");
    let path = dir.write("broken.yml", "client:\n  listenAdr: x\n");
    let path = path.to_str().unwrap();
    let output = run(CLIENT, &["list-interfaces", path], dir.path());
    assert_config_error(
        "list-interfaces",
        &output,
        path,
        &["client.listenAdr: unknown key"],
    );
}

const STOP_WITHIN: Duration = Duration::from_secs(5);

/// Started with no argument, so this also shows the default path is used.
#[test]
fn the_server_exits_0_on_sigterm() {
    let dir = TempDir::new("sigterm");
    dir.write(
        "engarde.yml",
        "server:\n  listenAddr: 127.0.0.1:0\n  dstAddr: 127.0.0.1:9\n",
    );
    let mut server = Daemon::start(SERVER, &[], dir.path());
    server.wait_for_line("listening for clients on 127.0.0.1:", STOP_WITHIN);
    signal(server.pid(), libc::SIGTERM);
    let status = server.wait_for_exit(STOP_WITHIN);
    assert_eq!(status.code(), Some(0), "{:#?}", server.stderr);
    assert!(
        server
            .stderr
            .iter()
            .any(|l| l.contains("SIGTERM received: shutting down")),
        "{:#?}",
        server.stderr
    );
}

#[test]
fn the_client_exits_0_on_sigint() {
    let dir = TempDir::new("sigint");
    let config = dir.write(
        "client.yml",
        "client:\n  listenAddr: 127.0.0.1:0\n  dstAddr: 127.0.0.1:9\n",
    );
    let mut client = Daemon::start(CLIENT, &[config.to_str().unwrap()], dir.path());
    client.wait_for_line("listening for WireGuard on 127.0.0.1:", STOP_WITHIN);
    signal(client.pid(), libc::SIGINT);
    let status = client.wait_for_exit(STOP_WITHIN);
    assert_eq!(status.code(), Some(0), "{:#?}", client.stderr);
    assert!(
        client
            .stderr
            .iter()
            .any(|l| l.contains("SIGINT received: shutting down")),
        "{:#?}",
        client.stderr
    );
}

/// A port already taken (here by another engarde-server) is a start failure:
/// exit status 1 and one line saying which socket and why, even with logging off.
#[test]
fn a_taken_port_exits_1_with_one_line_naming_the_socket() {
    let dir = TempDir::new("taken");
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let path = dir.write(
        "taken.yml",
        &format!("server:\n  listenAddr: \"127.0.0.1:{port}\"\n  dstAddr: \"127.0.0.1:9\"\n"),
    );
    let mut quiet = command(SERVER, dir.path());
    quiet.arg(&path).env("RUST_LOG", "off");
    let output = run_command(quiet);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.starts_with("engarde-server: cannot open the clients' socket (server.listenAddr)")
            && text.contains(&format!("127.0.0.1:{port}"))
            && text.contains("in use"),
        "{text}"
    );
}
