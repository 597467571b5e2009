//! Starting engarde-server: the WireGuard endpoint, the listener and, when
//! configured, the management interface.

use crate::actors::server_listener::ServerListener;
use crate::actors::wireguard_endpoint::{WireGuardEndpoint, WireGuardPeer};
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
    /// The local address of the socket WireGuard sees datagrams come from.
    pub upstream_addr: SocketAddr,
    /// The WireGuard-facing actor.
    pub endpoint: Addr<WireGuardEndpoint>,
    /// Its counters.
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
    let upstream = upstream_socket(config.dst_addr.addr)
        .and_then(tokio::net::UdpSocket::from_std)
        .map_err(upstream_error)?;
    let upstream_addr = upstream.local_addr().map_err(upstream_error)?;
    let endpoint = WireGuardEndpoint::new(
        upstream,
        WireGuardPeer::Connected(config.dst_addr.addr),
        config.dedup,
    );
    let to_wireguard = endpoint.inbound_sender();
    let endpoint_stats = endpoint.stats();
    let endpoint = endpoint.start();
    let listener = ServerListener::new(
        listen_socket,
        listen_addr,
        config.client_timeout,
        endpoint.clone(),
        to_wireguard,
    )
    .start();
    info!(
        "engarde-server {} listening for clients on {listen_addr}, WireGuard at {} (from {upstream_addr}), clients expire after {} s",
        crate::VERSION,
        config.dst_addr.text,
        config.client_timeout.as_secs()
    );
    let mut running = RunningServer {
        listen_addr,
        upstream_addr,
        endpoint,
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
