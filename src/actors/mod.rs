//! The actors: who owns which socket and which messages flow between them.
//! docs/architecture.md walks through the graph.
//!
//! Client: [`InterfaceWatcher`](interface_watcher::InterfaceWatcher) starts and
//! stops one [`LinkActor`](link::LinkActor) per usable interface; links and the
//! [`WireGuardEndpoint`](wireguard_endpoint::WireGuardEndpoint) exchange
//! [`WgPacket`](messages::WgPacket)s. Server: the
//! [`ServerListener`](server_listener::ServerListener) starts one
//! [`ClientAddr`](client_addr::ClientAddr) per client source address; they
//! and the endpoint exchange `WgPacket`s the same way. The management
//! interface asks the watcher and the listener for reports
//! ([`interface_report`], [`ListClients`](server_listener::ListClients)).

pub mod client_addr;
pub mod inspection;
pub mod interface_report;
pub mod interface_watcher;
pub mod link;
pub mod messages;
mod queue_stream;
pub mod server_listener;
pub mod wireguard_endpoint;
