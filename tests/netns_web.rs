//! Real network, real WireGuard, discovered interfaces: excluding a link
//! from the management API stops its traffic at once (the server stops
//! hearing from that address), including it brings it back, a sequenced
//! stream through the tunnel loses nothing meanwhile, and the client's
//! /metrics add up: each link that was never excluded sent every datagram
//! WireGuard gave engarde.

mod common;

use common::http;
use common::lab::{WEB_PORT, assert_no_loss, options, start, with_web_manager};
use engarde::lab::stream::{Bidirectional, StreamSpec};
use engarde::lab::{Lab, Scenario};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn web() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], WEB_PORT))
}

/// An HTTP request made from inside the client's (or the server's) namespace.
fn in_ns(
    lab: &Lab,
    client_side: bool,
    method: &'static str,
    path: &'static str,
    body: Value,
) -> http::Response {
    let ns = if client_side {
        &lab.client
    } else {
        &lab.server
    };
    ns.run(move || {
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        http::request(web(), method, path, &[], body.as_bytes())
    })
    .expect("a thread in the namespace")
    .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

fn client_list(lab: &Lab) -> Value {
    in_ns(lab, true, "GET", "/api/v1/get-list", Value::Null).json()
}

fn link<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("{name} in {list:#}"))
}

/// Received packets per client address, as the server reports them.
fn server_received(lab: &Lab) -> Vec<(String, u64)> {
    let list = in_ns(lab, false, "GET", "/api/v1/get-list", Value::Null).json();
    list["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["address"].as_str().unwrap().to_string(),
                s["counters"]["receivedPackets"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn received_from(counts: &[(String, u64)], ip: &str) -> Vec<(String, u64)> {
    counts
        .iter()
        .filter(|(address, _)| address.starts_with(&format!("{ip}:")))
        .cloned()
        .collect()
}

fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let values: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
            _ => panic!("{metric}: not a plain value"),
        })
        .collect();
    assert_eq!(values.len(), 1, "{metric}{labels:?}");
    values[0]
}

#[test]
fn excluding_a_link_from_the_api_stops_it_on_the_wire_without_loss() {
    let mut options = options(Scenario::Overrides);
    with_web_manager(&mut options);
    let lab = start(options);
    let spec = StreamSpec {
        rate_pps: 500,
        duration: Duration::from_secs(12),
        payload_len: 200,
    };
    let streams = Bidirectional::start(&lab, spec).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let list = client_list(&lab);
    for name in ["wan0", "wan1", "wan2"] {
        assert_eq!(link(&list, name)["status"], "active", "{list:#}");
    }
    let wan1 = lab.client_link_ip(1).to_string();
    assert!(!received_from(&server_received(&lab), &wan1).is_empty());

    let excluded = Instant::now();
    let answer = in_ns(
        &lab,
        true,
        "POST",
        "/api/v1/exclude",
        json!({"interface": "wan1"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(link(&client_list(&lab), "wan1")["status"], "excluded");
    // Within a second the server hears nothing more from wan1's address.
    std::thread::sleep(Duration::from_millis(500));
    let before = received_from(&server_received(&lab), &wan1);
    let sent_before = link(&client_list(&lab), "wan1")["counters"]["sentPackets"].clone();
    std::thread::sleep(Duration::from_secs(2));
    let after = received_from(&server_received(&lab), &wan1);
    assert_eq!(before, after, "the server heard wan1 after it was excluded");
    assert_eq!(
        link(&client_list(&lab), "wan1")["counters"]["sentPackets"],
        sent_before,
        "wan1 sent after it was excluded"
    );
    println!(
        "wan1 silent on the wire from at most 0.5 s after the exclusion ({:.1} s checked)",
        excluded.elapsed().as_secs_f64()
    );

    let answer = in_ns(
        &lab,
        true,
        "POST",
        "/api/v1/include",
        json!({"interface": "wan1"}),
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(link(&client_list(&lab), "wan1")["status"], "active");
    let first = received_from(&server_received(&lab), &wan1);
    std::thread::sleep(Duration::from_millis(500));
    let second = received_from(&server_received(&lab), &wan1);
    assert!(
        second
            .iter()
            .any(|(address, n)| !first.contains(&(address.clone(), *n))),
        "the server hears wan1 again: {first:?} then {second:?}"
    );

    let (up, down) = streams.finish().unwrap();
    assert_no_loss(&lab, &up, &down);
    let client_log = lab.engarde_client.as_ref().unwrap().log();
    assert!(
        client_log.contains("interface wan1 excluded from the management interface"),
        "{client_log}"
    );

    // With the stream over, the counters must add up: wan0 and wan2 carried
    // every datagram WireGuard handed to engarde (keepalives may still
    // cross, so read until a quiet moment).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = in_ns(&lab, true, "GET", "/metrics", Value::Null).text();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let from_wireguard = sample(&scrape, "engarde_wireguard_received_packets_total", &[])
            - sample(
                &scrape,
                "engarde_wireguard_dropped_packets_total",
                &[("reason", "no_path")],
            );
        let handled = |link: &str| {
            let l = [("interface", link)];
            sample(&scrape, "engarde_link_sent_packets_total", &l)
                + sample(&scrape, "engarde_link_send_errors_total", &l)
                + sample(
                    &scrape,
                    "engarde_link_dropped_packets_total",
                    &[("interface", link), ("reason", "send_full")],
                )
        };
        let (wan0, wan2) = (handled("wan0"), handled("wan2"));
        if wan0 == from_wireguard && wan2 == from_wireguard {
            assert!(
                from_wireguard >= up.sent() as f64,
                "{from_wireguard} < {} streamed",
                up.sent()
            );
            println!("wan0 and wan2 each handled all {from_wireguard} datagrams from WireGuard");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "from WireGuard {from_wireguard}, wan0 handled {wan0}, wan2 {wan2}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
