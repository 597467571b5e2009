//! `engarde-demo`: engarde doing its job on this machine, no other host
//! needed. Three links, real WireGuard, a stream both ways, links cut one
//! after another; a table shows that nothing was lost, then the same cut
//! on plain WireGuard over one link shows what engarde saves.

use super::clock::monotonic_ns;
use super::stream::{Bidirectional, StreamReport, StreamSpec};
use super::{Fault, Lab, LabOptions};
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// What happens to the links during one phase.
struct Phase {
    title: &'static str,
    seconds: u64,
    apply: fn(&mut Lab) -> io::Result<()>,
}

const PHASES: &[Phase] = &[
    Phase {
        title: "all three links up",
        seconds: 4,
        apply: |_| Ok(()),
    },
    Phase {
        title: "wan0 cable pulled",
        seconds: 4,
        apply: |lab| lab.set_client_link(0, false),
    },
    Phase {
        title: "wan1 down too: only wan2 left",
        seconds: 4,
        apply: |lab| lab.set_server_link(1, false),
    },
    Phase {
        title: "wan0 back; wan2 silently drops everything",
        seconds: 4,
        apply: |lab| {
            lab.set_client_link(0, true)?;
            std::thread::sleep(Duration::from_millis(500));
            lab.set_fault(2, Some(Fault::Blackhole))
        },
    },
    Phase {
        title: "wan1 back; wan0 loses 30% at random",
        seconds: 4,
        apply: |lab| {
            lab.set_server_link(1, true)?;
            std::thread::sleep(Duration::from_millis(500));
            lab.set_fault(0, Some(Fault::RandomDrop(30)))
        },
    },
    Phase {
        title: "all links healthy again",
        seconds: 3,
        apply: |lab| {
            lab.set_fault(0, None)?;
            lab.set_fault(2, None)
        },
    },
];

const RATE: u32 = 500;

/// Runs the demo with the given daemons; returns true when nothing was lost.
pub fn run(client_binary: PathBuf, server_binary: PathBuf) -> io::Result<bool> {
    println!(
        "engarde demo: client and server namespaces joined by three links (wan0, wan1, wan2),"
    );
    println!("wireguard-go on both ends, engarde-client and engarde-server between them.");
    println!(
        "A stream of {RATE} packets/s runs through the tunnel in each direction while links fail.\n"
    );
    let mut lab = Lab::start(LabOptions::new(&client_binary, &server_binary))?;
    let total: u64 = PHASES.iter().map(|p| p.seconds).sum();
    let streams = Bidirectional::start(&lab, spec(Duration::from_secs(total)))?;
    let mut bounds = Vec::new();
    for phase in PHASES {
        let from = monotonic_ns();
        (phase.apply)(&mut lab)?;
        let elapsed = Duration::from_nanos(monotonic_ns() - from);
        std::thread::sleep(Duration::from_secs(phase.seconds).saturating_sub(elapsed));
        bounds.push((phase.title, from, monotonic_ns()));
    }
    let (up, down) = streams.finish()?;
    println!("{}", table(&bounds, &up, &down));
    let engarde_lost = up.lost().len() + down.lost().len();
    drop(lab);

    println!("\nThe same cut without engarde: plain WireGuard over wan0 only.");
    let mut options = LabOptions::new(&client_binary, &server_binary);
    options.with_engarde = false;
    let mut plain = Lab::start(options)?;
    let streams = Bidirectional::start(&plain, spec(Duration::from_secs(6)))?;
    let healthy = monotonic_ns();
    std::thread::sleep(Duration::from_secs(2));
    let cut = monotonic_ns();
    plain.set_client_link(0, false)?;
    std::thread::sleep(Duration::from_secs(2));
    let restored = monotonic_ns();
    plain.set_client_link(0, true)?;
    std::thread::sleep(Duration::from_secs(2));
    let (up, down) = streams.finish()?;
    let bounds = [
        ("wan0 up", healthy, cut),
        ("wan0 cable pulled", cut, restored),
        ("wan0 back", restored, monotonic_ns()),
    ];
    println!("{}", table(&bounds, &up, &down));
    println!(
        "\nWith engarde: {engarde_lost} packets lost while links failed. Without: {} lost in a 2-second cut.",
        up.lost().len() + down.lost().len()
    );
    Ok(engarde_lost == 0)
}

fn spec(duration: Duration) -> StreamSpec {
    StreamSpec {
        rate_pps: RATE,
        duration,
        payload_len: 200,
    }
}

/// The per-phase table of sent and lost packets in both directions.
fn table(bounds: &[(&str, u64, u64)], up: &StreamReport, down: &StreamReport) -> String {
    let width = bounds
        .iter()
        .map(|(title, _, _)| title.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let mut out = format!(
        "{:<width$}  {:>16}  {:>16}\n",
        "phase", "client->server", "server->client"
    );
    out.push_str(&format!(
        "{:<width$}  {:>16}  {:>16}\n",
        "", "sent / lost", "sent / lost"
    ));
    for (title, from, to) in bounds {
        let (up_sent, up_lost) = up.window(*from, *to);
        let (down_sent, down_lost) = down.window(*from, *to);
        out.push_str(&format!(
            "{title:<width$}  {:>16}  {:>16}\n",
            format!("{up_sent} / {up_lost}"),
            format!("{down_sent} / {down_lost}")
        ));
    }
    out.push_str(&format!(
        "{:<width$}  {:>16}  {:>16}",
        "total",
        format!("{} / {}", up.sent(), up.lost().len()),
        format!("{} / {}", down.sent(), down.lost().len())
    ));
    out
}
