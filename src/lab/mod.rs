//! The network-namespace lab: real WireGuard, real links, real faults.
//!
//! Used by the real-network tests, `engarde-demo` and the benchmark. It
//! builds a client and a server namespace joined by veth pairs, runs
//! wireguard-go on both ends and the engarde binaries between them, injects
//! link failures (down, blackhole, random loss, rate limit, new interface,
//! new address) and counts every packet of sequenced streams; [`multi`]
//! puts several clients behind one server port, and [`flood`] sends
//! spoofed garbage at it. It needs root, iproute2, wireguard-go,
//! wireguard-tools and nftables, and fails loudly when one is missing.

pub mod clock;
pub mod cmd;
pub mod demo;
pub mod flood;
pub mod load;
pub mod multi;
pub mod netns;
pub mod process;
pub mod stream;
pub mod topology;
pub mod wireguard;

pub use topology::{Fault, Lab, LabOptions, Scenario};

use std::io;

/// Fails with a message naming every missing prerequisite and how to get it.
pub fn check_prerequisites() -> io::Result<()> {
    let mut missing = Vec::new();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        missing.push(
            "root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN): run as root"
                .to_string(),
        );
    }
    for (program, package) in [
        ("ip", "iproute2"),
        ("tc", "iproute2"),
        ("wg", "wireguard-tools"),
        ("wireguard-go", "wireguard-go"),
        ("nft", "nftables"),
        ("ping", "iputils-ping"),
    ] {
        if !cmd::exists(program) {
            missing.push(format!("{program} (apt-get install {package})"));
        }
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun (wireguard-go needs the tun device)".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "the network lab cannot run; missing: {}",
            missing.join("; ")
        )))
    }
}
