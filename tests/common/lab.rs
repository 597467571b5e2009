//! Starting the network lab with the binaries under test.

use engarde::lab::netns::Netns;
use engarde::lab::{Lab, LabOptions, Scenario};

/// Lab options pointing at this build's binaries.
pub fn options(scenario: Scenario) -> LabOptions {
    let mut options = LabOptions::new(
        env!("CARGO_BIN_EXE_engarde-client"),
        env!("CARGO_BIN_EXE_engarde-server"),
    );
    options.scenario = scenario;
    options
}

/// Starts a lab, failing the test loudly (never skipping) if it cannot.
pub fn start(options: LabOptions) -> Lab {
    Lab::start(options).unwrap_or_else(|e| panic!("cannot start the network lab: {e}"))
}

use engarde::lab::stream::StreamReport;
use std::time::{Duration, Instant};

/// Asserts both directions lost nothing, with the daemons' logs on failure.
pub fn assert_no_loss(lab: &Lab, up: &StreamReport, down: &StreamReport) {
    println!("client -> server: {}", up.summary());
    println!("server -> client: {}", down.summary());
    assert!(
        up.lost().is_empty() && down.lost().is_empty(),
        "packets lost\nclient -> server: {}\nserver -> client: {}\n{}",
        up.summary(),
        down.summary(),
        lab.logs()
    );
    assert!(up.sent() > 0 && down.sent() > 0, "the streams sent nothing");
}

/// A small deterministic random generator (xorshift), seeded from
/// `ENGARDE_TEST_SEED` or the clock; the seed is printed to reproduce a run.
pub struct Random(u64);

impl Random {
    pub fn from_env() -> Self {
        let seed = std::env::var("ENGARDE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        println!("random seed: {seed} (set ENGARDE_TEST_SEED={seed} to repeat this run)");
        Self(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Waits until `log()` contains `needle`; returns how long it took from `since`.
pub fn time_until_logged(
    log: impl Fn() -> String,
    needle: &str,
    since: Instant,
    timeout: Duration,
) -> Duration {
    loop {
        if log().contains(needle) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < timeout,
            "\"{needle}\" not logged within {timeout:?}:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Port of both management interfaces in labs that enable them (on
/// loopback inside each namespace).
pub const WEB_PORT: u16 = 8080;

/// Enables the management interface of both daemons on 127.0.0.1:WEB_PORT.
pub fn with_web_manager(options: &mut LabOptions) {
    let lines = [
        "webManager:".to_string(),
        format!("  listenAddr: \"127.0.0.1:{WEB_PORT}\""),
    ];
    options.client_extra.extend(lines.clone());
    options.server_extra.extend(lines);
}

/// `GET path` on the client's (or the server's) management interface, from
/// inside its namespace, as JSON.
pub fn api_get(lab: &Lab, client_side: bool, path: &'static str) -> serde_json::Value {
    let ns = if client_side {
        &lab.client
    } else {
        &lab.server
    };
    api_get_in(ns, path)
}

/// `GET path` on the management interface at 127.0.0.1:WEB_PORT inside
/// `ns`, as JSON.
pub fn api_get_in(ns: &Netns, path: &'static str) -> serde_json::Value {
    ns.run(move || {
        super::http::request(
            std::net::SocketAddr::from(([127, 0, 0, 1], WEB_PORT)),
            "GET",
            path,
            &[],
            b"",
        )
    })
    .expect("a thread in the namespace")
    .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    .json()
}

/// The links of the client's get-list, flattened: (name, entry).
pub fn client_links(lab: &Lab) -> Vec<(String, serde_json::Value)> {
    let list = api_get(lab, true, "/api/v1/get-list");
    list["interfaces"]
        .as_array()
        .expect("interfaces")
        .iter()
        .flat_map(|i| i["links"].as_array().cloned().unwrap_or_default())
        .map(|link| (link["name"].as_str().unwrap().to_string(), link))
        .collect()
}

/// The time stamp of an engarde log line (`[2026-01-02T03:04:05.678Z …`).
pub fn log_time(line: &str) -> Option<std::time::SystemTime> {
    let stamp = line.strip_prefix('[')?.split_whitespace().next()?;
    let (date, time) = stamp.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    let (hms, millis) = time.split_once('.')?;
    let mut hms = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let millis: i64 = millis.parse().ok()?;
    // Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis;
    Some(std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).ok()?))
}

/// Waits until a line containing `needle`, stamped at or after `since`
/// (to the millisecond), appears in `log()`; returns the time from `since`
/// to that line's stamp.
pub fn logged_after(
    log: impl Fn() -> String,
    needle: &str,
    since: std::time::SystemTime,
    timeout: Duration,
) -> Duration {
    let floor = since - Duration::from_millis(1);
    let started = Instant::now();
    loop {
        let text = log();
        let hit = text
            .lines()
            .filter(|line| line.contains(needle))
            .filter_map(log_time)
            .find(|stamp| *stamp >= floor);
        if let Some(stamp) = hit {
            return stamp.duration_since(since).unwrap_or(Duration::ZERO);
        }
        assert!(
            started.elapsed() < timeout,
            "\"{needle}\" not logged within {timeout:?} of the change:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
