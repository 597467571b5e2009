//! The management interface of the real binaries: the warning for an open
//! interface on the network, a taken port, and the client's run-time
//! exclusions on the host's own interfaces (discovered, not fixed links).

mod common;

use common::http::{self, basic, post_json};
use common::process::{CLIENT, Daemon, SERVER, TempDir, command, run_command, signal};
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);
const WARNING: &str = "WITHOUT A PASSWORD";

/// Starts `binary` on `config`, waits for the management interface's line,
/// and returns the daemon and a loopback address that reaches the interface.
fn start(binary: &str, dir: &TempDir, config: &str) -> (Daemon, SocketAddr) {
    let path = dir.write("engarde.yml", config);
    let mut daemon = Daemon::start(binary, &[path.to_str().unwrap()], dir.path());
    daemon.wait_for_line("management interface on http://", WAIT);
    let line = daemon.stderr.last().unwrap().clone();
    let url = line.split("http://").nth(1).unwrap();
    let port: u16 = url
        .split('/')
        .next()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    (daemon, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Stops `daemon` and returns everything it logged.
fn stop(mut daemon: Daemon) -> String {
    signal(daemon.pid(), libc::SIGTERM);
    let status = daemon.wait_for_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{:#?}", daemon.stderr);
    daemon.stderr.join("\n")
}

fn server_config(web: &str) -> String {
    format!(
        "server:\n  description: \"Studio\"\n  listenAddr: \"127.0.0.1:0\"\n  dstAddr: \"127.0.0.1:9\"\n  webManager:\n{web}"
    )
}

#[test]
fn an_open_interface_on_the_network_is_warned_about_loudly() {
    let dir = TempDir::new("web-open");
    let (daemon, web) = start(SERVER, &dir, &server_config("    listenAddr: \":0\"\n"));
    daemon.stderr.iter().for_each(|l| println!("{l}"));
    let list = http::get(web, "/api/v1/get-list");
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["type"], "server");
    assert_eq!(list.json()["description"], "Studio");
    let log = stop(daemon);
    let warning = log
        .lines()
        .find(|l| l.contains(WARNING))
        .unwrap_or_else(|| panic!("no warning in:\n{log}"));
    assert!(warning.contains("WARN"), "{warning}");
    assert!(warning.contains("0.0.0.0:"), "{warning}");
    assert!(
        warning.contains("webManager.username"),
        "says how to fix it: {warning}"
    );
}

#[test]
fn credentials_or_loopback_need_no_warning() {
    for web in [
        "    listenAddr: \"0.0.0.0:0\"\n    username: \"admin\"\n    password: \"pw\"\n",
        "    listenAddr: \"127.0.0.1:0\"\n",
    ] {
        let dir = TempDir::new("web-quiet");
        let (daemon, addr) = start(SERVER, &dir, &server_config(web));
        let auth = basic("admin", "pw");
        let response =
            http::request(addr, "GET", "/metrics", &[("Authorization", &auth)], b"").unwrap();
        assert_eq!(response.status, 200, "{web}");
        let log = stop(daemon);
        assert!(!log.contains(WARNING), "{web}:\n{log}");
    }
}

#[test]
fn a_taken_management_port_exits_1_naming_it() {
    let dir = TempDir::new("web-taken");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let path = dir.write(
        "engarde.yml",
        &server_config(&format!("    listenAddr: \"127.0.0.1:{port}\"\n")),
    );
    let mut quiet = command(SERVER, dir.path());
    quiet.arg(&path).env("RUST_LOG", "off");
    let output = run_command(quiet);
    let text = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(
            "engarde-server: cannot open the management interface (webManager.listenAddr)"
        ) && text.contains(&format!("127.0.0.1:{port}")),
        "{text}"
    );
}

/// The host's loopback interface is listed as the Go version lists it
/// (idle), and can be excluded and included at run time, with a log line.
#[test]
fn the_client_binary_lists_and_excludes_the_hosts_interfaces() {
    let dir = TempDir::new("web-client");
    let (daemon, web) = start(
        CLIENT,
        &dir,
        "client:\n  listenAddr: \"127.0.0.1:0\"\n  dstAddr: \"127.0.0.1:9\"\n  interfaceLabels:\n    lo: \"Loopback\"\n  webManager:\n    listenAddr: \"127.0.0.1:0\"\n",
    );
    let list = http::get(web, "/api/v1/get-list").json();
    assert_eq!(list["type"], "client");
    let lo = list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap_or_else(|| panic!("lo is listed: {list:#}"))
        .clone();
    assert_eq!(lo["status"], "idle");
    assert_eq!(lo["reasonCode"], "loopback");
    assert_eq!(lo["label"], "Loopback");
    assert_eq!(lo["dstAddress"], "127.0.0.1:9");

    let answer = post_json(web, "/api/v1/exclude", &json!({"interface": "lo"}));
    assert_eq!(answer.status, 200, "{}", answer.text());
    let list = http::get(web, "/api/v1/get-list").json();
    let lo = list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap();
    assert_eq!(lo["status"], "excluded");
    assert_eq!(lo["reason"], "excluded from the management interface");
    let metrics = http::get(web, "/metrics").text();
    assert!(
        metrics.contains("engarde_link_excluded{interface=\"lo\",label=\"Loopback\"} 1"),
        "{metrics}"
    );

    let answer = post_json(web, "/api/v1/include", &json!({"interface": "lo"}));
    assert_eq!(answer.status, 200);
    let list = http::get(web, "/api/v1/get-list").json();
    let lo = list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "lo")
        .unwrap();
    assert_eq!(lo["status"], "idle");

    let log = stop(daemon);
    assert!(
        log.contains("interface lo excluded from the management interface"),
        "{log}"
    );
    assert!(
        log.contains("interface lo included from the management interface"),
        "{log}"
    );
}
