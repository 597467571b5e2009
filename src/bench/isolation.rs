//! One slow link must not hurt the others: a link rate-limited to 1 Mbit/s
//! with a long queue while the tunnel carries 4 Mbit/s; every packet must
//! still arrive both ways, and quickly.

use crate::lab::Lab;
use crate::lab::stream::{Bidirectional, StreamReport, StreamSpec};
use serde::Serialize;
use std::io;
use std::time::Duration;

/// One direction of one run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Direction {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams lost.
    pub lost: u64,
    /// 99th percentile one-way delay, milliseconds.
    pub p99_ms: f64,
}

impl Direction {
    fn of(report: &StreamReport) -> Self {
        Self {
            sent: report.sent(),
            lost: report.lost().len() as u64,
            p99_ms: report
                .delay_percentile(99.0)
                .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
        }
    }
}

/// Unshaped baseline and shaped run, both directions.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Isolation {
    /// Client to server, all links healthy.
    pub baseline_up: Direction,
    /// Server to client, all links healthy.
    pub baseline_down: Direction,
    /// Client to server, link 1 at 1 Mbit/s.
    pub shaped_up: Direction,
    /// Server to client, link 1 at 1 Mbit/s.
    pub shaped_down: Direction,
}

/// 500 datagrams/s of 1,000 bytes: 4 Mbit/s of payload.
fn spec(duration: Duration) -> StreamSpec {
    StreamSpec {
        rate_pps: 500,
        duration,
        payload_len: 1000,
    }
}

/// Runs the baseline, shapes link 1 (both ends), runs again, unshapes.
pub fn measure(lab: &mut Lab, duration: Duration) -> io::Result<Isolation> {
    let (baseline_up, baseline_down) = Bidirectional::start(lab, spec(duration))?.finish()?;
    lab.set_rate_limit(1, Some("1mbit"), "10mb")?;
    let shaped = Bidirectional::start(lab, spec(duration))?.finish();
    lab.set_rate_limit(1, None, "")?;
    let (shaped_up, shaped_down) = shaped?;
    Ok(Isolation {
        baseline_up: Direction::of(&baseline_up),
        baseline_down: Direction::of(&baseline_down),
        shaped_up: Direction::of(&shaped_up),
        shaped_down: Direction::of(&shaped_down),
    })
}
