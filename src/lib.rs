//! engarde: a WireGuard relay that sends every datagram over every network
//! link at once, so the tunnel loses nothing while one link works.
//!
//! engarde-client listens where WireGuard's peer endpoint points and sends
//! each datagram once through every usable interface; engarde-server hands
//! every copy to its local WireGuard (whose replay protection drops the
//! duplicates) and sends every reply to every live client address.
//!
//! # Layout
//! - [`config`]: the `engarde.yml` file, compatible with the Go engarde.
//! - [`error`]: the one-line errors users see.
//! - [`interfaces`]: discovering interfaces; the pure survey and diff of links.
//! - [`packet`]: recycled batches of datagrams, the unit of the data path.
//! - [`wireguard`], [`dedup`]: reading WireGuard headers; dropping duplicate copies.
//! - [`registry`]: which client each address of a WireGuard-aware server belongs to.
//! - [`net`]: socket builders and batched, non-blocking datagram I/O.
//! - [`stats`]: lock-free counters of the data path; [`analytics`]: what
//!   each path is worth (first copies, rescued, lost, delay).
//! - [`actors`]: the actor graph (docs/architecture.md).
//! - [`client`], [`server`]: starting each daemon's actors.
//! - [`web`]: the management interface (page, JSON API, Prometheus metrics).
//! - [`cli`], [`list_interfaces`], [`shutdown`]: what the binaries share.
//! - [`reload`]: SIGHUP reads the configuration again and applies it live.
//! - [`log_limit`]: rate-limited logging of per-packet problems.
//! - [`lab`]: the network-namespace lab used by tests, the demo and benchmarks.
//! - [`bench`]: the measurements of `engarde-bench`.

pub mod actors;
pub mod analytics;
pub mod bench;
pub mod cli;
pub mod client;
pub mod config;
pub mod dedup;
pub mod error;
pub mod interfaces;
pub mod lab;
pub mod list_interfaces;
pub mod log_limit;
pub mod net;
pub mod packet;
pub mod registry;
pub mod reload;
pub mod server;
pub mod shutdown;
pub mod stats;
pub mod web;
pub mod wireguard;

/// This build's version, as `-v` prints it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
