//! Resident memory of both daemons over a run with traffic.

use super::procfs::rss_bytes;
use crate::lab::Lab;
use crate::lab::stream::{Bidirectional, StreamSpec};
use serde::Serialize;
use std::io;
use std::time::{Duration, Instant};

/// RSS samples of one daemon, in KiB.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RssSeries {
    /// First sample (traffic running).
    pub first_kib: u64,
    /// Last sample.
    pub last_kib: u64,
    /// Largest sample.
    pub max_kib: u64,
    /// Every sample.
    pub samples_kib: Vec<u64>,
}

impl RssSeries {
    fn push(&mut self, bytes: u64) {
        let kib = bytes / 1024;
        if self.samples_kib.is_empty() {
            self.first_kib = kib;
        }
        self.last_kib = kib;
        self.max_kib = self.max_kib.max(kib);
        self.samples_kib.push(kib);
    }
}

/// Both daemons.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Length of the run, seconds.
    pub seconds: u64,
    /// Tunnel traffic during the run, datagrams per second each way.
    pub rate_pps: u32,
    /// engarde-client.
    pub client: RssSeries,
    /// engarde-server.
    pub server: RssSeries,
}

/// Samples RSS every `duration / 20` (at least 1 s) while a stream runs.
pub fn measure(lab: &Lab, duration: Duration) -> io::Result<Memory> {
    let pid = |daemon: &Option<crate::lab::process::Daemon>| {
        daemon
            .as_ref()
            .map(|d| d.pid())
            .ok_or_else(|| io::Error::other("engarde is not running"))
    };
    let (client_pid, server_pid) = (pid(&lab.engarde_client)?, pid(&lab.engarde_server)?);
    let rate_pps = 1000;
    let streams = Bidirectional::start(
        lab,
        StreamSpec {
            rate_pps,
            duration,
            payload_len: 500,
        },
    )?;
    let every = (duration / 20).max(Duration::from_secs(1));
    let start = Instant::now();
    let mut memory = Memory {
        seconds: duration.as_secs(),
        rate_pps,
        client: RssSeries::default(),
        server: RssSeries::default(),
    };
    std::thread::sleep(Duration::from_millis(500));
    while start.elapsed() < duration {
        memory.client.push(rss_bytes(client_pid)?);
        memory.server.push(rss_bytes(server_pid)?);
        std::thread::sleep(
            every
                .min(duration.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(100)),
        );
    }
    streams.finish()?;
    Ok(memory)
}
