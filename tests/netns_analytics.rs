//! Real network, real WireGuard (issue 5, test 4): the path analytics
//! report what was injected. Three links: wan0 clean; wan1 behind a tbf
//! queue at 1 Mbit/s with a 6,250-byte limit on both ends, fed 1.256 Mbit/s
//! by the stream, so its queue stays full (every datagram waits the queue's
//! 50 ms, and the excess, 20.4 %, is dropped at the tail); wan2 losing 20 %
//! at random both ways (nftables `numgen random`). A stream of 10,000
//! datagrams each way; the client judges the server's datagrams per link,
//! the server the client's per address.
//!
//! Tolerances (stated here, checked below, per direction):
//! - wan1's delay behind the fastest path: median 50 ms ± 30 % (the queue
//!   is only full once the first 16 kB of burst and 6 kB of queue are
//!   used), p99 under 80 ms;
//! - wan1's loss 20.4 % ± 8 points (the offered rate depends on framing
//!   bytes tbf counts; keepalives and ping add a little);
//! - wan2's loss 20 % ± 3 points (binomial, σ = 0.4 points over 10,000);
//! - wan0's loss under 1 %; wan0's and wan2's median delay under 2 ms;
//! - wan1 first for at most 1 %; wan0 and wan2 first for 98 % or more;
//! - wan0 rescued what wan1 and wan2 both lost: 10,000 × 0.204 × 0.2 ≈ 408,
//!   ± 40 %; wan1 and wan2 rescued at most 1 % (wan0 loses nothing).

mod common;

use common::lab::{api_get, assert_no_loss, options, start, with_web_manager};
use engarde::lab::stream::{Bidirectional, StreamSpec};
use engarde::lab::{Fault, Scenario};
use serde_json::Value;
use std::time::Duration;

const STREAM: StreamSpec = StreamSpec {
    rate_pps: 500,
    duration: Duration::from_secs(20),
    payload_len: 200,
};

/// tbf on wan1: rate (bit/s) and queue limit (bytes).
const TBF_RATE: f64 = 1e6;
const TBF_LIMIT: f64 = 6250.0;

/// Bytes tbf counts per stream datagram on a veth: Ethernet 14, IPv4 20,
/// UDP 8, WireGuard header 16, the inner IPv4/UDP datagram padded to 16,
/// tag 16.
fn frame_bytes() -> f64 {
    (14 + 20 + 8 + 16 + (28 + STREAM.payload_len).div_ceil(16) * 16 + 16) as f64
}

/// Each path's analytics in one get-list answer: per link index, the
/// `analytics` object (wanI on the client, 10.0.I.x on the server).
fn analytics(list: &Value) -> [Value; 3] {
    let mut out = [Value::Null, Value::Null, Value::Null];
    if list["type"] == "client" {
        for entry in list["interfaces"].as_array().unwrap() {
            if let Some(i) = entry["name"]
                .as_str()
                .unwrap()
                .strip_prefix("wan")
                .and_then(|i| i.parse::<usize>().ok())
            {
                out[i] = entry["analytics"].clone();
            }
        }
    } else {
        for socket in list["sockets"].as_array().unwrap() {
            let address = socket["address"].as_str().unwrap();
            let i: usize = address.split('.').nth(2).unwrap().parse().unwrap();
            out[i] = socket["analytics"].clone();
        }
    }
    out
}

fn count(value: &Value, field: &str) -> f64 {
    value[field].as_u64().unwrap_or(0) as f64
}

fn within(what: &str, measured: f64, low: f64, high: f64) {
    assert!(
        (low..=high).contains(&measured),
        "{what}: {measured:.4} not within [{low:.4}, {high:.4}]"
    );
}

#[test]
fn analytics_report_the_injected_delay_and_losses() {
    let mut options = options(Scenario::Overrides);
    with_web_manager(&mut options);
    // tbf must see datagrams, not GSO runs; and a log line every 5 s.
    options.env.push(("ENGARDE_GSO".into(), "0".into()));
    options
        .env
        .push(("ENGARDE_ANALYTICS_LOG_SECS".into(), "5".into()));
    let mut lab = start(options);
    lab.set_rate_limit(1, Some("1mbit"), &format!("{}", TBF_LIMIT as u64))
        .unwrap();
    lab.set_fault(2, Some(Fault::RandomDrop(20))).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let before = [
        analytics(&api_get(&lab, true, "/api/v1/get-list")),
        analytics(&api_get(&lab, false, "/api/v1/get-list")),
    ];

    let (up, down) = Bidirectional::start(&lab, STREAM)
        .unwrap()
        .finish()
        .unwrap();
    assert_no_loss(&lab, &up, &down);
    // Datagrams are judged once their copies had 0.5 s to arrive.
    std::thread::sleep(Duration::from_millis(1500));
    let after = [
        analytics(&api_get(&lab, true, "/api/v1/get-list")),
        analytics(&api_get(&lab, false, "/api/v1/get-list")),
    ];

    let offered = STREAM.rate_pps as f64 * frame_bytes() * 8.0;
    let tbf_loss = 1.0 - TBF_RATE / offered;
    let tbf_delay_ms = TBF_LIMIT * 8.0 / TBF_RATE * 1e3;
    println!(
        "injected: wan1 tbf {:.3} Mbit/s offered to 1 Mbit/s, expected loss {:.1} %, delay {tbf_delay_ms:.1} ms; wan2 20 % random loss",
        offered / 1e6,
        tbf_loss * 100.0
    );
    for (side, (before, after), sent) in [
        (
            "client (server's datagrams)",
            (&before[0], &after[0]),
            down.sent(),
        ),
        (
            "server (client's datagrams)",
            (&before[1], &after[1]),
            up.sent(),
        ),
    ] {
        let n = sent as f64;
        let delta = |i: usize, field: &str| count(&after[i], field) - count(&before[i], field);
        let loss = |i: usize| delta(i, "lost") / delta(i, "expected");
        for (i, path) in after.iter().enumerate() {
            println!(
                "{side} wan{i}: wins {}, rescued {}, lost {} of {} ({:.2} %), delay median {} ms, p99 {} ms",
                delta(i, "wins"),
                delta(i, "rescued"),
                delta(i, "lost"),
                delta(i, "expected"),
                loss(i) * 100.0,
                path["delayMedianMs"],
                path["delayP99Ms"]
            );
            within(
                &format!("{side} wan{i}: packets judged"),
                delta(i, "expected"),
                n * 0.99,
                n * 1.02,
            );
        }
        let median = |i: usize| after[i]["delayMedianMs"].as_f64().unwrap();
        let p99 = |i: usize| after[i]["delayP99Ms"].as_f64().unwrap();
        within(
            &format!("{side} wan1 median delay (ms)"),
            median(1),
            tbf_delay_ms * 0.7,
            tbf_delay_ms * 1.3,
        );
        within(&format!("{side} wan1 p99 delay (ms)"), p99(1), 0.0, 80.0);
        within(
            &format!("{side} wan1 loss"),
            loss(1),
            tbf_loss - 0.08,
            tbf_loss + 0.08,
        );
        within(&format!("{side} wan2 loss"), loss(2), 0.17, 0.23);
        within(&format!("{side} wan0 loss"), loss(0), 0.0, 0.01);
        within(
            &format!("{side} wan0 median delay (ms)"),
            median(0),
            0.0,
            2.0,
        );
        within(
            &format!("{side} wan2 median delay (ms)"),
            median(2),
            0.0,
            2.0,
        );
        within(
            &format!("{side} wan1 wins"),
            delta(1, "wins"),
            0.0,
            n * 0.01,
        );
        within(
            &format!("{side} wan0 + wan2 wins"),
            delta(0, "wins") + delta(2, "wins"),
            n * 0.98,
            n * 1.01,
        );
        let rescued = n * tbf_loss * 0.2;
        within(
            &format!("{side} wan0 rescued"),
            delta(0, "rescued"),
            rescued * 0.6,
            rescued * 1.4,
        );
        within(
            &format!("{side} wan1 rescued"),
            delta(1, "rescued"),
            0.0,
            n * 0.01,
        );
        within(
            &format!("{side} wan2 rescued"),
            delta(2, "rescued"),
            0.0,
            n * 0.01,
        );
    }

    // The periodic log line, per link on the client and per address on the server.
    let client_log = lab.engarde_client.as_ref().unwrap().log();
    let server_log = lab.engarde_server.as_ref().unwrap().log();
    let line = client_log
        .lines()
        .find(|l| l.contains("link wan1: last 5 s:") && l.contains("delay behind the fastest path"))
        .unwrap_or_else(|| panic!("the client logs wan1's figures:\n{client_log}"));
    println!("client log: {line}");
    let line = server_log
        .lines()
        .find(|l| l.contains("address 10.0.2.2:") && l.contains(": last 5 s: first copy"))
        .unwrap_or_else(|| panic!("the server logs each address's figures:\n{server_log}"));
    println!("server log: {line}");
}
