//! Starting engarde-client: the WireGuard endpoint, the interface watcher
//! and, when configured, the management interface.

use crate::actors::interface_watcher::{
    DEFAULT_POLL_INTERVAL, InterfaceWatcher, LinkSource, WatcherSettings,
};
use crate::actors::wireguard_endpoint::{WireGuardEndpoint, WireGuardPeer};
use crate::config::ClientConfig;
use crate::error::StartError;
use crate::interfaces::{LinkPolicy, LinkSpec, discover};
use crate::net::socket::listen_socket;
use crate::stats::EndpointStats;
use crate::web::{self, Daemon, Facts, WebServer};
use actix::prelude::*;
use log::info;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How the client finds its links.
pub enum ClientLinks {
    /// The host's interfaces, as the configuration selects them.
    Discovered {
        /// How often to read the interfaces.
        poll_interval: Duration,
    },
    /// Exactly these links (tests drive the client over loopback this way).
    Fixed(Vec<LinkSpec>),
}

impl Default for ClientLinks {
    fn default() -> Self {
        Self::Discovered {
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }
}

/// A started client.
pub struct RunningClient {
    /// The address WireGuard should send to (the bound `listenAddr`).
    pub listen_addr: SocketAddr,
    /// The WireGuard-facing actor.
    pub endpoint: Addr<WireGuardEndpoint>,
    /// Its counters.
    pub endpoint_stats: Arc<EndpointStats>,
    /// The actor keeping the links.
    pub watcher: Addr<InterfaceWatcher>,
    /// The management interface, when `webManager` enables it.
    pub web: Option<WebServer>,
    /// When the client started (the metrics say so, across a restart of
    /// the management interface by a reload).
    pub started: std::time::SystemTime,
}

impl RunningClient {
    /// What the management interface is started with, for `config`.
    pub fn web_context(&self, config: &ClientConfig) -> web::Context {
        web::Context {
            facts: Facts {
                description: config.description.clone(),
                listen_address: self.listen_addr.to_string(),
                dst_address: String::new(),
                started: self.started,
            },
            daemon: Daemon::Client {
                watcher: self.watcher.clone(),
                wireguard: Arc::clone(&self.endpoint_stats),
            },
        }
    }
}

/// Starts the client's actors; call from within a running actix `System`.
pub fn start_client(
    config: &ClientConfig,
    links: ClientLinks,
) -> Result<RunningClient, StartError> {
    let socket_error = |source| StartError::Socket {
        what: "the WireGuard-facing socket (client.listenAddr)",
        addr: config.listen_addr,
        source,
    };
    let socket = listen_socket(config.listen_addr)
        .and_then(tokio::net::UdpSocket::from_std)
        .map_err(socket_error)?;
    let listen_addr = socket.local_addr().map_err(socket_error)?;
    let endpoint = WireGuardEndpoint::new(socket, WireGuardPeer::Learned(None), config.dedup);
    let to_wireguard = endpoint.inbound_sender();
    let endpoint_stats = endpoint.stats();
    let endpoint = endpoint.start();
    let mut settings = WatcherSettings {
        silence_timeout: config.link_silence_timeout,
        resolve_interval: config.resolve_interval,
        ..WatcherSettings::default()
    };
    let source = match links {
        ClientLinks::Discovered { poll_interval } => {
            settings.poll_interval = poll_interval;
            LinkSource::Discovered {
                discover: Box::new(discover),
                policy: LinkPolicy::from_config(config),
            }
        }
        ClientLinks::Fixed(specs) => LinkSource::Fixed(specs),
    };
    let watcher = InterfaceWatcher::new(source, settings, endpoint.clone(), to_wireguard)
        .with_configured_exclusions(config.excluded_interfaces.clone())
        .start();
    info!(
        "engarde-client {} listening for WireGuard on {listen_addr}, server {}",
        crate::VERSION,
        config.dst_addr.text
    );
    let mut running = RunningClient {
        listen_addr,
        endpoint,
        endpoint_stats,
        watcher,
        web: None,
        started: std::time::SystemTime::now(),
    };
    if let Some(web_config) = &config.web_manager {
        running.web = Some(web::start(web_config, running.web_context(config))?);
    }
    Ok(running)
}
