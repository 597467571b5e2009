//! Heap allocations per forwarded datagram, in steady state.
//!
//! Client and server run in this process (loopback links), so the bench
//! binary's counting global allocator sees every allocation they make. The
//! fake WireGuards on both ends use plain sockets and preallocated buffers,
//! so they allocate nothing while the count runs.

use crate::client::{ClientLinks, start_client};
use crate::config::{ClientConfig, Destination, ServerConfig};
use crate::interfaces::LinkSpec;
use crate::server::start_server;
use serde::Serialize;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Allocations counted while datagrams crossed client and server.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Allocations {
    /// Datagrams sent through the client during the count.
    pub packets: u64,
    /// Allocations made by the whole process during the count.
    pub allocations: u64,
    /// `allocations / packets`.
    pub per_packet: f64,
}

fn destination(addr: SocketAddr) -> Destination {
    Destination::literal(addr)
}

/// Warms up with `warmup` datagrams, then counts allocations over `packets`
/// more; `allocations()` reads the process-wide allocation counter.
pub fn measure(allocations: fn() -> u64, warmup: u64, packets: u64) -> io::Result<Allocations> {
    let wireguard_server = UdpSocket::bind("127.0.0.1:0")?;
    let wireguard_client = UdpSocket::bind("127.0.0.1:0")?;
    wireguard_server.set_read_timeout(Some(Duration::from_millis(100)))?;
    let server_config = ServerConfig {
        description: String::new(),
        listen_addr: "127.0.0.1:0".parse().expect("literal"),
        dst_addr: destination(wireguard_server.local_addr()?),
        client_timeout: Duration::from_secs(30),
        write_timeout_ms: 0,
        web_manager: None,
        dedup: true,
        wireguard_aware: None,
    };
    let system = actix::System::new();
    system.block_on(async move {
        let server = start_server(&server_config).map_err(io::Error::other)?;
        let client_config = ClientConfig {
            description: String::new(),
            listen_addr: "127.0.0.1:0".parse().expect("literal"),
            dst_addr: destination(server.listen_addr),
            write_timeout_ms: 0,
            excluded_interfaces: Default::default(),
            interface_labels: Default::default(),
            dst_overrides: Default::default(),
            web_manager: None,
            dedup: true,
            link_silence_timeout: Duration::ZERO,
            resolve_interval: Duration::ZERO,
        };
        let links = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                LinkSpec::fixed(
                    format!("loop{i}"),
                    ip.parse().expect("literal"),
                    server.listen_addr,
                )
            })
            .collect();
        let client =
            start_client(&client_config, ClientLinks::Fixed(links)).map_err(io::Error::other)?;
        tokio::time::sleep(Duration::from_millis(300)).await;

        let received = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let sink = {
            let (received, done) = (Arc::clone(&received), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 2048];
                while !done.load(Ordering::Relaxed) {
                    if wireguard_server.recv(&mut buf).is_ok() {
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let to = client.listen_addr;
        let counted = Arc::new(AtomicU64::new(0));
        let generator = {
            let counted = Arc::clone(&counted);
            std::thread::spawn(move || -> io::Result<()> {
                let payload = [0x5au8; 200];
                for i in 0..warmup + packets {
                    if i == warmup {
                        counted.store(allocations(), Ordering::SeqCst);
                    }
                    wireguard_client.send_to(&payload, to)?;
                    if i % 64 == 63 {
                        // About 30,000 datagrams/s: well below the ceiling, so nothing is dropped.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                Ok(())
            })
        };
        while !generator.is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let the last datagrams drain before reading the counter.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = allocations();
        done.store(true, Ordering::Relaxed);
        generator
            .join()
            .map_err(|_| io::Error::other("generator panicked"))??;
        let _ = sink.join();
        let counted_allocations = after - counted.load(Ordering::SeqCst);
        drop(client);
        drop(server);
        Ok::<_, io::Error>(Allocations {
            packets,
            allocations: counted_allocations,
            per_packet: counted_allocations as f64 / packets as f64,
        })
    })
}
