//! SIGHUP on the real server binary: an invalid file is refused with the
//! same one-line error as at start while the running configuration stays;
//! a valid one changes what can change live (clientTimeout, description,
//! the management interface) and says which changed keys need a restart.
//! (The client's reload, with links and a stream, is in netns_reload.rs.)

mod common;

use common::http;
use common::process::{Daemon, SERVER, TempDir, signal};
use std::net::SocketAddr;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

fn config(description: &str, listen: &str, timeout: u64) -> String {
    format!(
        "server:\n  description: \"{description}\"\n  listenAddr: \"{listen}\"\n  dstAddr: \"127.0.0.1:9\"\n  clientTimeout: {timeout}\n  webManager:\n    listenAddr: \"127.0.0.1:0\"\n"
    )
}

/// The management interface's address from the last line announcing it.
fn web_address(daemon: &mut Daemon) -> SocketAddr {
    daemon.wait_for_line("management interface on http://", WAIT);
    let line = daemon.stderr.last().unwrap();
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no port in {line}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn description(web: SocketAddr) -> String {
    http::get(web, "/api/v1/get-list").json()["description"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn sighup_applies_a_valid_file_and_refuses_an_invalid_one() {
    let dir = TempDir::new("reload");
    let path = dir.write("engarde.yml", &config("first", "127.0.0.1:0", 30));
    let mut daemon = Daemon::start(SERVER, &[path.to_str().unwrap()], dir.path());
    let web = web_address(&mut daemon);
    assert_eq!(description(web), "first");

    // An invalid file: the same one-line error as at start, nothing changes.
    dir.write(
        "engarde.yml",
        "server:\n  listenAddr: \"127.0.0.1:0\"\n  dstAddr: \"127.0.0.1:9\"\n  clientTimout: 5\n",
    );
    signal(daemon.pid(), libc::SIGHUP);
    daemon.wait_for_line("configuration not reloaded", WAIT);
    let error = daemon
        .stderr
        .iter()
        .find(|line| line.starts_with("engarde-server: "))
        .unwrap_or_else(|| panic!("no one-line error in {:#?}", daemon.stderr));
    assert!(
        error.contains(
            "engarde.yml:4:3: server.clientTimout: unknown key (did you mean \"clientTimeout\"?)"
        ),
        "{error}"
    );
    assert_eq!(description(web), "first", "the running configuration stays");

    // A valid file: what can change does, what cannot is named.
    dir.write("engarde.yml", &config("second", "127.0.0.1:1", 5));
    signal(daemon.pid(), libc::SIGHUP);
    let web = web_address(&mut daemon);
    daemon.wait_for_line("configuration reloaded:", WAIT);
    let applied = daemon.stderr.last().unwrap().clone();
    for key in ["server.clientTimeout (5 s)", "server.description"] {
        assert!(applied.contains(key), "{applied}");
    }
    daemon.wait_for_line("server.listenAddr (still 127.0.0.1:", WAIT);
    assert!(
        daemon.stderr.last().unwrap().contains("needs a restart"),
        "{:#?}",
        daemon.stderr
    );
    assert_eq!(description(web), "second");

    signal(daemon.pid(), libc::SIGTERM);
    let status = daemon.wait_for_exit(WAIT);
    assert_eq!(status.code(), Some(0), "{:#?}", daemon.stderr);
    println!("{}", daemon.stderr.join("\n"));
}
