//! SIGHUP on engarde-client with a stream running, on real links: a new
//! exclusion stops its link at once, a new label and description apply,
//! the links the change does not concern keep their sockets and carry every
//! datagram, and an invalid file is refused while everything keeps running.

mod common;

use common::lab::{api_get, assert_no_loss, client_links, options, start, with_web_manager};
use engarde::lab::Scenario;
use engarde::lab::stream::{Bidirectional, StreamSpec};
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(5);

fn local_address(lab: &engarde::lab::Lab, link: &str) -> Value {
    client_links(lab)
        .into_iter()
        .find(|(name, _)| name == link)
        .map(|(_, entry)| entry["localAddress"].clone())
        .unwrap_or(Value::Null)
}

fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            _ => panic!("{metric}: not a plain value"),
        })
        .sum()
}

#[test]
fn sighup_applies_a_new_exclusion_and_labels_without_touching_other_links() {
    let mut options = options(Scenario::Overrides);
    with_web_manager(&mut options);
    let mut lab = start(options);
    let streams = Bidirectional::start(
        &lab,
        StreamSpec {
            rate_pps: 500,
            duration: Duration::from_secs(12),
            payload_len: 200,
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let before: Vec<Value> = ["wan0/IPv4", "wan1/IPv4"]
        .iter()
        .map(|link| local_address(&lab, link))
        .collect();
    assert!(before.iter().all(Value::is_string), "{before:?}");

    // The new file: wan2 excluded, wan0 labelled, another description.
    lab.options_mut().client_extra.extend([
        "excludedInterfaces: [\"wan2\"]".to_string(),
        "interfaceLabels: {wan0: \"Fiber\"}".to_string(),
    ]);
    let config = lab.write_configs().unwrap().0;
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("description: \"lab client\"", "description: \"reloaded\""),
    )
    .unwrap();
    let client_log = || lab.engarde_client.as_ref().unwrap().log();
    let signalled = Instant::now();
    lab.engarde_client.as_ref().unwrap().signal(libc::SIGHUP);
    common::lab::time_until_logged(client_log, "configuration reloaded:", signalled, WAIT);
    let stopped = common::lab::time_until_logged(
        client_log,
        "link wan2/IPv4 removed: excluded in the configuration",
        signalled,
        WAIT,
    );
    println!(
        "wan2 stopped {:.0} ms after SIGHUP",
        stopped.as_secs_f64() * 1e3
    );
    let log = client_log();
    let applied = log
        .lines()
        .find(|l| l.contains("configuration reloaded:"))
        .unwrap();
    for key in [
        "client.excludedInterfaces",
        "client.interfaceLabels",
        "client.description",
    ] {
        assert!(applied.contains(key), "{applied}");
    }

    std::thread::sleep(Duration::from_millis(500));
    let list = api_get(&lab, true, "/api/v1/get-list");
    assert_eq!(list["description"], "reloaded", "the page restarted");
    let interface = |name: &str| {
        list["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(interface("wan0")["label"], "Fiber");
    assert_eq!(interface("wan2")["status"], "excluded");
    assert_eq!(interface("wan2")["reasonCode"], "excluded");
    let after: Vec<Value> = ["wan0/IPv4", "wan1/IPv4"]
        .iter()
        .map(|link| local_address(&lab, link))
        .collect();
    assert_eq!(before, after, "untouched links keep their sockets");

    // An invalid file: refused, everything keeps running as it is.
    std::fs::write(&config, "client:\n  listenAddr: [\n").unwrap();
    lab.engarde_client.as_ref().unwrap().signal(libc::SIGHUP);
    common::lab::time_until_logged(
        client_log,
        "configuration not reloaded",
        Instant::now(),
        WAIT,
    );
    assert!(
        client_log()
            .lines()
            .any(|l| l.starts_with("engarde-client: ") && l.contains("client.yml:")),
        "the one-line error:\n{}",
        client_log()
    );
    let list = api_get(&lab, true, "/api/v1/get-list");
    assert_eq!(list["description"], "reloaded");
    assert_eq!(
        ["wan0/IPv4", "wan1/IPv4"]
            .iter()
            .map(|link| local_address(&lab, link))
            .collect::<Vec<_>>(),
        before
    );

    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let log = client_log();
    for untouched in ["wan0/IPv4", "wan1/IPv4"] {
        assert!(
            !log.contains(&format!("link {untouched} removed"))
                && !log.contains(&format!("link {untouched} re-created")),
            "{untouched} was left alone:\n{log}"
        );
    }
    // Each untouched link handed every datagram WireGuard gave engarde to
    // the kernel (read after the stream, once keepalives are quiet).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = lab
            .client
            .run(|| {
                common::http::request(
                    std::net::SocketAddr::from(([127, 0, 0, 1], common::lab::WEB_PORT)),
                    "GET",
                    "/metrics",
                    &[],
                    b"",
                )
            })
            .unwrap()
            .unwrap()
            .text();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let from_wireguard = sample(&scrape, "engarde_wireguard_received_packets_total", &[])
            - sample(
                &scrape,
                "engarde_wireguard_dropped_packets_total",
                &[("reason", "no_path")],
            );
        let sent = |link: &str| {
            sample(
                &scrape,
                "engarde_link_sent_packets_total",
                &[("interface", link), ("family", "IPv4")],
            )
        };
        let (wan0, wan1) = (sent("wan0"), sent("wan1"));
        if wan0 == from_wireguard && wan1 == from_wireguard {
            println!("wan0 and wan1 each sent all {from_wireguard} datagrams from WireGuard");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "from WireGuard {from_wireguard}, wan0 sent {wan0}, wan1 {wan1}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
