//! The management interface over real HTTP against running daemons: the Go
//! field names and types, exclusions that change what the data path does
//! (seen in the counters and in the copies the fake WireGuard receives),
//! Prometheus metrics that parse and match the traffic, authentication,
//! and malformed requests.

mod common;

use common::daemons::{Daemons, Options, active_links, drain, interface};
use common::http::{self, basic, get, post_json, request};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Long enough for loopback datagrams in flight to arrive.
const QUIET: Duration = Duration::from_millis(300);
/// The promise: an excluded link stops sending within a second.
/// The test waits this long after the request before sending.
const SETTLE: Duration = Duration::from_millis(200);

fn is_string(v: &Value) -> bool {
    v.is_string()
}

fn is_count_or_null(v: &Value) -> bool {
    v.is_null() || v.is_u64()
}

#[test]
fn get_list_has_the_go_fields_with_the_go_types() {
    let daemons = Daemons::start(Options::default());
    daemons.send_from_client_wireguard(10, 100);
    assert_eq!(drain(&daemons.wireguard_server, QUIET).0, 20);
    daemons.send_from_server_wireguard(5, 100);
    assert_eq!(drain(&daemons.wireguard_client, QUIET).0, 10);

    let client = get(daemons.client_web, "/api/v1/get-list");
    assert_eq!(client.status, 200);
    assert!(
        client
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let client = client.json();
    assert_eq!(client["type"], "client");
    assert_eq!(client["version"], engarde::VERSION);
    assert_eq!(client["description"], "Truck 7 (test)");
    assert_eq!(client["listenAddress"], daemons.client_listen.to_string());
    let interfaces = client["interfaces"].as_array().unwrap();
    assert_eq!(interfaces.len(), 2, "{client:#}");
    for entry in interfaces {
        for field in ["name", "status", "senderAddress", "dstAddress"] {
            assert!(is_string(&entry[field]), "{field} is a string: {entry:#}");
        }
        assert!(is_count_or_null(&entry["last"]), "last: {entry:#}");
        assert!(entry["label"].is_string(), "label: {entry:#}");
        assert_eq!(entry["status"], "active");
        assert_eq!(entry["last"], 0, "heard within the last second: {entry:#}");
        assert!(entry["lastMs"].as_u64().unwrap() < 5000);
        assert_eq!(entry["counters"]["sentPackets"], 10);
        assert_eq!(entry["counters"]["sentBytes"], 1000);
        assert_eq!(entry["counters"]["receivedPackets"], 5);
        assert_eq!(entry["counters"]["receivedBytes"], 500);
    }
    let a = interface(&client, "link-a");
    assert_eq!(a["label"], "Fiber");
    assert_eq!(a["senderAddress"], "127.0.0.1");
    let b = interface(&client, "link-b");
    assert_eq!(b["senderAddress"], "127.0.0.2");
    assert_eq!(b["label"], "LTE modem");
    // Per link (one per address family): source, bound socket, destination.
    let links = a["links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{a:#}");
    let link = &links[0];
    assert_eq!(link["name"], "link-a/IPv4");
    assert_eq!(link["family"], "IPv4");
    assert_eq!(link["status"], "active");
    assert_eq!(link["senderAddress"], "127.0.0.1");
    assert!(
        link["localAddress"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{link:#}"
    );
    assert_eq!(link["dstAddress"], a["dstAddress"]);
    assert_eq!(
        link["resolvedDstAddress"], a["dstAddress"],
        "a literal address"
    );
    assert_eq!(link["silentRecreations"], 0);
    assert_eq!(link["counters"], a["counters"], "one link: the same totals");
    assert_eq!(client["wireguard"]["receivedPackets"], 10);
    assert_eq!(client["wireguard"]["sentPackets"], 10);

    let server = get(daemons.server_web, "/api/v1/get-list").json();
    assert_eq!(server["type"], "server");
    assert_eq!(server["version"], engarde::VERSION);
    assert_eq!(server["description"], "test server");
    for field in ["listenAddress", "dstAddress"] {
        assert!(is_string(&server[field]), "{field}: {server:#}");
    }
    assert_eq!(
        server["dstAddress"],
        daemons.wireguard_server.local_addr().unwrap().to_string()
    );
    assert!(
        server["interfaces"].is_null(),
        "the server has no interfaces"
    );
    let sockets = server["sockets"].as_array().unwrap();
    let mut addresses: Vec<&str> = sockets
        .iter()
        .map(|s| s["address"].as_str().unwrap())
        .collect();
    addresses.sort();
    assert_eq!(addresses.len(), 2, "{server:#}");
    assert!(addresses[0].starts_with("127.0.0.1:") && addresses[1].starts_with("127.0.0.2:"));
    for socket in sockets {
        assert!(is_count_or_null(&socket["last"]), "{socket:#}");
        assert_eq!(socket["last"], 0);
        assert_eq!(socket["counters"]["receivedPackets"], 10);
        assert_eq!(socket["counters"]["sentPackets"], 5);
    }
    assert_eq!(
        server["wireguard"]["sentPackets"], 20,
        "both copies reach WireGuard"
    );
}

fn counters(list: &Value, name: &str, field: &str) -> u64 {
    interface(list, name)["counters"][field].as_u64().unwrap()
}

#[test]
fn exclusions_change_what_the_data_path_does_at_once() {
    let daemons = Daemons::start(Options::default());
    let web = daemons.client_web;
    daemons.send_from_client_wireguard(50, 200);
    assert_eq!(
        drain(&daemons.wireguard_server, QUIET).0,
        100,
        "one copy per link"
    );

    let answer = post_json(web, "/api/v1/exclude", &json!({"interface": "link-b"}));
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({"status": "ok", "interface": "link-b", "excluded": true, "changed": true})
    );
    let list = daemons.client_list();
    assert_eq!(active_links(&list), ["link-a"]);
    let b = interface(&list, "link-b");
    assert_eq!(b["status"], "excluded");
    assert_eq!(b["reasonCode"], "excluded-at-run-time");
    assert_eq!(b["changedAtRunTime"], true);
    assert_eq!(
        b["last"],
        Value::Null,
        "the Go meaning: only active links have last"
    );

    std::thread::sleep(SETTLE);
    daemons.send_from_client_wireguard(50, 200);
    assert_eq!(
        drain(&daemons.wireguard_server, QUIET).0,
        50,
        "only link-a carries packets"
    );
    let list = daemons.client_list();
    assert_eq!(counters(&list, "link-a", "sentPackets"), 100);
    assert_eq!(
        counters(&list, "link-b", "sentPackets"),
        50,
        "link-b stopped"
    );

    // The return path: the server still answers both addresses, but only
    // link-a's socket is open to receive.
    daemons.send_from_server_wireguard(20, 100);
    assert_eq!(drain(&daemons.wireguard_client, QUIET).0, 20);
    let list = daemons.client_list();
    assert_eq!(counters(&list, "link-a", "receivedPackets"), 20);
    assert_eq!(counters(&list, "link-b", "receivedPackets"), 0);

    let again = post_json(web, "/api/v1/exclude", &json!({"interface": "link-b"})).json();
    assert_eq!(again["changed"], false, "excluding twice changes nothing");

    let answer = post_json(web, "/api/v1/include", &json!({"interface": "link-b"})).json();
    assert_eq!(answer["excluded"], false);
    daemons.wait_until("link-b is active again", |l| {
        active_links(l) == ["link-a", "link-b"]
    });
    std::thread::sleep(SETTLE);
    daemons.send_from_client_wireguard(10, 200);
    assert_eq!(drain(&daemons.wireguard_server, QUIET).0, 20);
    let list = daemons.client_list();
    assert_eq!(
        counters(&list, "link-b", "sentPackets"),
        60,
        "totals continue across the re-created link"
    );

    let answer = post_json(
        web,
        "/api/v1/swap-exclusion",
        &json!({"interface": "link-a"}),
    )
    .json();
    assert_eq!(answer["excluded"], true);
    assert_eq!(active_links(&daemons.client_list()), ["link-b"]);
    std::thread::sleep(SETTLE);
    daemons.send_from_client_wireguard(10, 200);
    assert_eq!(drain(&daemons.wireguard_server, QUIET).0, 10);

    let answer = request(web, "POST", "/api/v1/reset-exclusions", &[], b"").unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(
        answer.json(),
        json!({"status": "ok", "changed": ["link-a"]})
    );
    daemons.wait_until("both links are active after the reset", |l| {
        active_links(l) == ["link-a", "link-b"]
    });
    let list = daemons.client_list();
    assert!(
        list["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["changedAtRunTime"] == false)
    );
    std::thread::sleep(SETTLE);
    daemons.send_from_client_wireguard(10, 200);
    assert_eq!(drain(&daemons.wireguard_server, QUIET).0, 20);
}

/// Parses an exposition with a real parser, and checks that it understood
/// every sample line (the parser skips what it cannot read).
fn scrape(text: &str) -> prometheus_parse::Scrape {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    // The parser gathers a summary's quantile lines into one sample per
    // label set; `_sum` and `_count` lines, and every other line, are one
    // sample each.
    let summaries: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" summary"))
        .collect();
    let name_of = |line: &str| {
        line.split(['{', ' '])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut quantile_groups: Vec<String> = text
        .lines()
        .filter(|l| summaries.contains(&name_of(l).as_str()))
        .map(|l| l.split(",quantile=").next().unwrap_or_default().to_string())
        .collect();
    quantile_groups.dedup();
    let sample_lines = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter(|l| !summaries.contains(&name_of(l).as_str()))
        .count()
        + quantile_groups.len();
    assert_eq!(
        scrape.samples.len(),
        sample_lines,
        "every sample line parsed:\n{text}"
    );
    for sample in &scrape.samples {
        // A summary's `_sum` and `_count` are documented under its name.
        let family = summaries
            .iter()
            .find(|s| [format!("{s}_sum"), format!("{s}_count")].contains(&sample.metric))
            .map_or(sample.metric.as_str(), |s| s);
        assert!(
            scrape.docs.contains_key(family),
            "{} has HELP",
            sample.metric
        );
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "{} has TYPE",
            sample.metric
        );
    }
    scrape
}

/// The value of the sample `metric` whose labels include `labels`.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{metric} is not a plain value"),
        })
        .collect();
    assert_eq!(matching.len(), 1, "one {metric}{labels:?}");
    matching[0]
}

fn kinds(scrape: &prometheus_parse::Scrape) -> HashMap<String, &'static str> {
    scrape
        .samples
        .iter()
        .map(|s| {
            let kind = match s.value {
                prometheus_parse::Value::Counter(_) => "counter",
                prometheus_parse::Value::Gauge(_) => "gauge",
                prometheus_parse::Value::Summary(_) => "summary",
                _ => "other",
            };
            (s.metric.clone(), kind)
        })
        .collect()
}

#[test]
fn metrics_parse_and_count_what_was_sent() {
    let daemons = Daemons::start(Options::default());
    daemons.send_from_client_wireguard(40, 300);
    assert_eq!(drain(&daemons.wireguard_server, QUIET).0, 80);
    daemons.send_from_server_wireguard(7, 1000);
    assert_eq!(drain(&daemons.wireguard_client, QUIET).0, 14);
    post_json(
        daemons.client_web,
        "/api/v1/exclude",
        &json!({"interface": "link-b"}),
    );

    let response = get(daemons.client_web, "/metrics");
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let client = scrape(&response.text());
    for (name, kind) in kinds(&client) {
        // A summary's `_sum` and `_count` are its parts, not counters or gauges.
        if response.text().contains(&format!(
            "# TYPE {} summary",
            name.trim_end_matches("_sum").trim_end_matches("_count")
        )) {
            continue;
        }
        let expected = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        assert_eq!(
            kind, expected,
            "{name}: counters end in _total, nothing else does"
        );
    }
    assert_eq!(
        value(
            &client,
            "engarde_build_info",
            &[("version", engarde::VERSION), ("role", "client")]
        ),
        1.0
    );
    let started = value(&client, "process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started <= now && now - started < 120.0,
        "started {started}, now {now}"
    );
    assert_eq!(value(&client, "engarde_links_active", &[]), 1.0);
    assert_eq!(
        value(
            &client,
            "engarde_link_up",
            &[("interface", "link-a"), ("label", "Fiber")]
        ),
        1.0
    );
    assert_eq!(
        value(&client, "engarde_link_up", &[("interface", "link-b")]),
        0.0
    );
    assert_eq!(
        value(&client, "engarde_link_excluded", &[("interface", "link-b")]),
        1.0
    );
    assert_eq!(
        value(
            &client,
            "engarde_link_info",
            &[
                ("interface", "link-a"),
                ("family", "IPv4"),
                ("source", "127.0.0.1")
            ]
        ),
        1.0,
        "a running link says where it sends from and to"
    );
    assert!(
        !client
            .samples
            .iter()
            .any(|s| s.metric == "engarde_link_info" && s.labels.get("interface") == Some("link-b")),
        "an excluded interface runs no link"
    );
    for link in ["link-a", "link-b"] {
        let l = [("interface", link)];
        assert_eq!(value(&client, "engarde_link_sent_packets_total", &l), 40.0);
        assert_eq!(
            value(&client, "engarde_link_sent_bytes_total", &l),
            12_000.0
        );
        assert_eq!(
            value(&client, "engarde_link_received_packets_total", &l),
            7.0
        );
        assert_eq!(
            value(&client, "engarde_link_received_bytes_total", &l),
            7_000.0
        );
        assert_eq!(value(&client, "engarde_link_send_errors_total", &l), 0.0);
        for reason in ["send_full", "wireguard_full"] {
            let labels = [("interface", link), ("reason", reason)];
            assert_eq!(
                value(&client, "engarde_link_dropped_packets_total", &labels),
                0.0
            );
        }
        let age = value(&client, "engarde_link_last_receive_age_seconds", &l);
        assert!((0.0..10.0).contains(&age), "{link} heard {age} s ago");
    }
    assert_eq!(
        value(&client, "engarde_wireguard_received_packets_total", &[]),
        40.0
    );
    assert_eq!(
        value(&client, "engarde_wireguard_received_bytes_total", &[]),
        12_000.0
    );
    assert_eq!(
        value(&client, "engarde_wireguard_sent_packets_total", &[]),
        14.0
    );
    assert_eq!(
        value(&client, "engarde_wireguard_sent_bytes_total", &[]),
        14_000.0
    );
    for reason in ["no_path", "full", "unknown_peer"] {
        assert_eq!(
            value(
                &client,
                "engarde_wireguard_dropped_packets_total",
                &[("reason", reason)]
            ),
            0.0
        );
    }

    let server = scrape(&get(daemons.server_web, "/metrics").text());
    assert_eq!(
        value(&server, "engarde_build_info", &[("role", "server")]),
        1.0
    );
    assert_eq!(value(&server, "engarde_peers_active", &[]), 2.0);
    let peers: Vec<String> = server
        .samples
        .iter()
        .filter(|s| s.metric == "engarde_peer_received_packets_total")
        .map(|s| s.labels.get("peer").unwrap().to_string())
        .collect();
    assert_eq!(peers.len(), 2);
    for peer in &peers {
        let l = [("peer", peer.as_str())];
        assert_eq!(
            value(&server, "engarde_peer_received_packets_total", &l),
            40.0
        );
        assert_eq!(
            value(&server, "engarde_peer_received_bytes_total", &l),
            12_000.0
        );
        assert_eq!(value(&server, "engarde_peer_sent_packets_total", &l), 7.0);
    }
    assert_eq!(
        value(&server, "engarde_wireguard_sent_packets_total", &[]),
        80.0
    );
    assert_eq!(
        value(&server, "engarde_wireguard_received_packets_total", &[]),
        7.0
    );
}

const USER: &str = "admin";
const PASSWORD: &str = "c0rrect horse";

#[test]
fn every_route_needs_the_credentials_when_they_are_set() {
    let daemons = Daemons::start(Options {
        credentials: Some((USER.into(), PASSWORD.into())),
    });
    let good = basic(USER, PASSWORD);
    let wrong_password = basic(USER, "c0rrect horsE");
    let wrong_user = basic("Admin", PASSWORD);
    let routes = [
        ("GET", "/"),
        ("GET", "/app.js"),
        ("GET", "/metrics"),
        ("GET", "/api/v1/get-list"),
        ("POST", "/api/v1/exclude"),
        ("POST", "/api/v1/reset-exclusions"),
        ("GET", "/no-such-page"),
    ];
    let body = json!({"interface": "link-a"}).to_string();
    for web in [daemons.client_web, daemons.server_web] {
        for (method, path) in routes {
            for auth in [
                None,
                Some(wrong_password.as_str()),
                Some(wrong_user.as_str()),
                Some("Basic !!"),
            ] {
                let headers: Vec<(&str, &str)> =
                    auth.map(|a| ("Authorization", a)).into_iter().collect();
                let response = request(web, method, path, &headers, body.as_bytes()).unwrap();
                assert_eq!(response.status, 401, "{method} {path} with {auth:?}");
                assert_eq!(
                    response.header("www-authenticate"),
                    Some("Basic realm=\"engarde\", charset=\"UTF-8\"")
                );
                assert_eq!(response.json()["status"], "error");
            }
        }
        let response = request(web, "GET", "/metrics", &[("Authorization", &good)], b"").unwrap();
        assert_eq!(response.status, 200);
        let response = request(web, "GET", "/", &[("Authorization", &good)], b"").unwrap();
        assert_eq!(response.status, 200);
        assert!(response.text().contains("<title>engarde</title>"));
    }
    let list = daemons.client_list();
    assert_eq!(
        active_links(&list),
        ["link-a", "link-b"],
        "refused requests changed nothing"
    );
    let response = request(
        daemons.client_web,
        "POST",
        "/api/v1/exclude",
        &[("Authorization", &good)],
        body.as_bytes(),
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    daemons.wait_until("link-a is excluded", |l| active_links(l) == ["link-b"]);
}

#[test]
fn malformed_requests_get_a_json_4xx_and_change_nothing() {
    let daemons = Daemons::start(Options::default());
    let web = daemons.client_web;
    let huge = format!("{{\"interface\": \"{}\"}}", "x".repeat(10_000));
    // (method, path, headers, body, expected status)
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("POST", "/api/v1/exclude", vec![], b"not json".to_vec(), 400),
        ("POST", "/api/v1/exclude", vec![], b"".to_vec(), 400),
        (
            "POST",
            "/api/v1/exclude",
            vec![],
            b"{\"iface\": \"link-a\"}".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/exclude",
            vec![],
            b"{\"interface\": 7}".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/exclude",
            vec![],
            b"{\"interface\": \"\"}".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/include",
            vec![],
            b"[\"link-a\"]".to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1/swap-exclusion",
            vec![],
            b"{\"interface\": \"eth9\"}".to_vec(),
            404,
        ),
        (
            "POST",
            "/api/v1/exclude",
            vec![],
            b"{\"interface\": \"link-a \"}".to_vec(),
            404,
        ),
        (
            "POST",
            "/api/v1/exclude",
            vec![],
            huge.clone().into_bytes(),
            413,
        ),
        (
            "POST",
            "/api/v1/reset-exclusions",
            vec![],
            huge.into_bytes(),
            413,
        ),
        ("GET", "/api/v1/exclude", vec![], vec![], 405),
        ("GET", "/api/v1/reset-exclusions", vec![], vec![], 405),
        (
            "PUT",
            "/api/v1/include",
            vec![],
            b"{\"interface\": \"link-a\"}".to_vec(),
            405,
        ),
        ("POST", "/api/v1/get-list", vec![], vec![], 405),
        ("DELETE", "/metrics", vec![], vec![], 405),
        ("GET", "/api/v2/get-list", vec![], vec![], 404),
        (
            "POST",
            "/api/v1/exclude",
            vec![("Origin", "http://evil.example")],
            b"{\"interface\": \"link-a\"}".to_vec(),
            403,
        ),
    ];
    for (method, path, headers, body, status) in cases {
        let response = request(web, method, path, &headers, &body).unwrap();
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(
            response.status,
            status,
            "{method} {path} {shown}: {}",
            response.text()
        );
        let json = response.json();
        assert_eq!(json["status"], "error", "{method} {path}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{json}"
        );
        if status == 405 {
            assert!(
                response.header("allow").is_some(),
                "405 says what is allowed"
            );
        }
    }
    // A chunked body over the limit is refused too, without a length up front.
    let mut stream = std::net::TcpStream::connect(web).unwrap();
    use std::io::{Read, Write};
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let chunk = "y".repeat(8000);
    write!(
        stream,
        "POST /api/v1/exclude HTTP/1.1\r\nHost: {web}\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

    let list = daemons.client_list();
    assert_eq!(active_links(&list), ["link-a", "link-b"], "nothing changed");
    assert!(
        list["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["changedAtRunTime"] == false)
    );

    // A same-origin page (as the browser sends it) is accepted.
    let origin = format!("http://{web}");
    let response = request(
        web,
        "POST",
        "/api/v1/exclude",
        &[("Origin", &origin), ("Content-Type", "application/json")],
        b"{\"interface\": \"link-a\"}",
    )
    .unwrap();
    assert_eq!(response.status, 200, "{}", response.text());

    // The server has no interfaces to change.
    let response = post_json(
        daemons.server_web,
        "/api/v1/exclude",
        &json!({"interface": "link-a"}),
    );
    assert_eq!(response.status, 404);
    assert!(
        response.json()["error"]
            .as_str()
            .unwrap()
            .contains("no interfaces")
    );
}

#[test]
fn the_page_and_its_files_are_served_with_safe_headers() {
    let daemons = Daemons::start(Options::default());
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let response = http::get(daemons.client_web, path);
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response.header("content-type").unwrap().starts_with(kind),
            "{path}"
        );
        let csp = response.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(response.header("x-frame-options"), Some("DENY"));
        assert_eq!(response.header("x-content-type-options"), Some("nosniff"));
        assert!(!response.body.is_empty());
    }
    let list = http::get(daemons.client_web, "/api/v1/get-list");
    assert_eq!(list.header("cache-control"), Some("no-store"));
}
