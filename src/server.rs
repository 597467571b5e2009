//! Starting engarde-server: the listener (which starts an endpoint per
//! client) and, when configured, the management interface.

use crate::actors::server_listener::{ListenerOptions, ServerListener};
use crate::config::ServerConfig;
use crate::error::StartError;
use crate::net::socket::{shared_listen_socket, upstream_socket};
use crate::stats::EndpointStats;
use crate::web::{self, Daemon, Facts, WebServer};
use actix::prelude::*;
use log::info;
use std::net::SocketAddr;
use std::sync::Arc;

/// A started server.
pub struct RunningServer {
    /// The address clients send to (the bound `listenAddr`).
    pub listen_addr: SocketAddr,
    /// Where WireGuard sees the server when it is not WireGuard-aware (one
    /// shared socket); a WireGuard-aware server has a socket per client.
    pub upstream_addr: Option<SocketAddr>,
    /// The counters of the sockets facing WireGuard, over every client.
    pub endpoint_stats: Arc<EndpointStats>,
    /// The listener and registry of client addresses.
    pub listener: Addr<ServerListener>,
    /// The management interface, when `webManager` enables it.
    pub web: Option<WebServer>,
    /// When the server started (kept across a restart of the management
    /// interface by a reload).
    pub started: std::time::SystemTime,
}

impl RunningServer {
    /// What the management interface is started with, for `config`.
    pub fn web_context(&self, config: &ServerConfig) -> web::Context {
        web::Context {
            facts: Facts {
                description: config.description.clone(),
                listen_address: self.listen_addr.to_string(),
                dst_address: config.dst_addr.text.clone(),
                started: self.started,
            },
            daemon: Daemon::Server {
                listener: self.listener.clone(),
                wireguard: Arc::clone(&self.endpoint_stats),
            },
        }
    }
}

/// Starts the server's actors; call from within a running actix `System`.
pub fn start_server(config: &ServerConfig) -> Result<RunningServer, StartError> {
    let listen_error = |source| StartError::Socket {
        what: "the clients' socket (server.listenAddr)",
        addr: config.listen_addr,
        source,
    };
    let upstream_error = |source| StartError::Socket {
        what: "the socket towards WireGuard (server.dstAddr)",
        addr: config.dst_addr.addr,
        source,
    };
    let listen_socket = shared_listen_socket(config.listen_addr)
        .and_then(tokio::net::UdpSocket::from_std)
        .map_err(listen_error)?;
    let listen_addr = listen_socket.local_addr().map_err(listen_error)?;
    // Each client gets its own socket towards WireGuard when it arrives; one
    // opened now shows at start whether WireGuard's address can be used.
    drop(upstream_socket(config.dst_addr.addr).map_err(upstream_error)?);
    let endpoint_stats = Arc::new(EndpointStats::default());
    let listener = ServerListener::new(
        listen_socket,
        listen_addr,
        ListenerOptions {
            client_timeout: config.client_timeout,
            wireguard: config.dst_addr.addr,
            dedup: config.dedup,
            aware: config.wireguard_aware.clone(),
        },
        Arc::clone(&endpoint_stats),
    );
    let upstream_addr = listener.shared_upstream();
    let listener = listener.start();
    info!(
        "engarde-server {} listening for clients on {listen_addr}, WireGuard at {}, clients expire after {} s, {}",
        crate::VERSION,
        config.dst_addr.text,
        config.client_timeout.as_secs(),
        match &config.wireguard_aware {
            Some(limits) => format!(
                "WireGuard-aware (at most {} clients of {} addresses each)",
                limits.max_clients, limits.max_addresses_per_client
            ),
            None => "not WireGuard-aware: every datagram goes to WireGuard and every reply to every client address".into(),
        }
    );
    let mut running = RunningServer {
        listen_addr,
        upstream_addr,
        endpoint_stats,
        listener,
        web: None,
        started: std::time::SystemTime::now(),
    };
    if let Some(web_config) = &config.web_manager {
        running.web = Some(web::start(web_config, running.web_context(config))?);
    }
    Ok(running)
}
