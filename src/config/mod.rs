//! The configuration file: loading, checking, and the checked values the
//! daemons run on.
//!
//! The keys are those of the Go engarde (GUIDE §3), so an existing
//! `engarde.yml` works unchanged. Loading is two steps, as in rathole:
//! serde reads the file into [`raw`] structs (rejecting unknown keys), then
//! one validation pass turns them into [`ClientConfig`] / [`ServerConfig`]
//! or returns a [`ConfigError`] naming the file, the key and the problem.

mod address;
mod raw;
mod yaml_error;

pub use address::{AddressRole, distinct, is_host_name, parse_address, parse_addresses, preferred};

use crate::error::ConfigError;
use crate::registry::{Limits, Network};
use raw::{RawClient, RawServer, RawWebManager};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the binaries look when no path is given (the Go version's default).
pub const DEFAULT_CONFIG_PATH: &str = "engarde.yml";

/// `maxClients` when the key is missing.
pub const DEFAULT_MAX_CLIENTS: usize = 64;

/// `maxAddressesPerClient` when the key is missing.
pub const DEFAULT_MAX_ADDRESSES_PER_CLIENT: usize = 16;

/// `clientTimeout` when the key is missing or 0, as in the Go version.
pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// `linkSilenceTimeout` when the key is missing.
pub const DEFAULT_LINK_SILENCE_TIMEOUT: Duration = Duration::from_secs(15);

/// `resolveInterval` when the key is missing.
pub const DEFAULT_RESOLVE_INTERVAL: Duration = Duration::from_secs(60);

/// A destination as written in the file and as resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The text from the file, kept for logs (a host name says more than its address).
    pub text: String,
    /// Where packets go when one address is wanted: the first IPv4 address,
    /// else the first (what the Go engarde used; the server's `dstAddr`).
    pub addr: SocketAddr,
    /// Every address the text stands for, in the resolver's order (one for
    /// an IP literal). Client links use the first of each family.
    pub addrs: Vec<SocketAddr>,
}

impl Destination {
    /// A destination written as the literal address `addr`.
    pub fn literal(addr: SocketAddr) -> Self {
        Self {
            text: addr.to_string(),
            addr,
            addrs: vec![addr],
        }
    }

    /// `text` and the addresses it stands for (at least one).
    pub fn new(text: impl Into<String>, addrs: Vec<SocketAddr>) -> Self {
        Self {
            text: text.into(),
            addr: preferred(&addrs),
            addrs,
        }
    }

    /// Where links of the given family send: its first address of that family.
    pub fn for_family(&self, ipv4: bool) -> Option<SocketAddr> {
        self.addrs.iter().copied().find(|a| a.is_ipv4() == ipv4)
    }

    /// True when the text is a host name, which is resolved again from time to time.
    pub fn is_host_name(&self) -> bool {
        is_host_name(&self.text)
    }

    /// This destination after the resolver gave `answer` (not empty): for
    /// each family, the address in use stays first while the answer still
    /// holds it, so a name with several addresses in rotating order does not
    /// re-create links at every resolution.
    pub fn refreshed(&self, answer: Vec<SocketAddr>) -> Self {
        let mut addrs = distinct(answer);
        for ipv4 in [true, false] {
            if let Some(current) = self.for_family(ipv4) {
                if let Some(at) = addrs.iter().position(|a| *a == current) {
                    let first = addrs.iter().position(|a| a.is_ipv4() == ipv4);
                    if let Some(first) = first.filter(|first| *first < at) {
                        addrs.swap(first, at);
                    }
                }
            }
        }
        Self::new(self.text.clone(), addrs)
    }
}

/// The checked `client:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Free text shown at start and in the management interface.
    pub description: String,
    /// Where WireGuard's peer endpoint points: engarde-client listens here.
    pub listen_addr: SocketAddr,
    /// The engarde-server every link sends to unless overridden.
    pub dst_addr: Destination,
    /// Accepted for compatibility; engarde never blocks on a write, so it
    /// has no effect (a full socket buffer drops that link's copy at once).
    pub write_timeout_ms: u64,
    /// Interfaces never used as links.
    pub excluded_interfaces: BTreeSet<String>,
    /// Human names for interfaces, shown in logs and the management interface.
    pub interface_labels: BTreeMap<String, String>,
    /// Per-interface destinations replacing `dst_addr`.
    pub dst_overrides: BTreeMap<String, Destination>,
    /// The management interface, when enabled.
    pub web_manager: Option<WebManagerConfig>,
    /// Drop duplicate copies of the server's data messages before WireGuard
    /// decrypts them (`dedup`, default on; see [`crate::dedup`]).
    pub dedup: bool,
    /// A link that hears nothing from the server for this long while other
    /// links do is re-created (`linkSilenceTimeout`); zero turns that off.
    pub link_silence_timeout: Duration,
    /// How often host names in `dstAddr` and `dstOverrides` are resolved
    /// again (`resolveInterval`); zero means only at start.
    pub resolve_interval: Duration,
}

/// The checked `server:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Free text shown at start and in the management interface.
    pub description: String,
    /// Where engarde-clients send to.
    pub listen_addr: SocketAddr,
    /// The local WireGuard's listening address.
    pub dst_addr: Destination,
    /// A client address that sent nothing for this long stops receiving replies.
    pub client_timeout: Duration,
    /// Accepted for compatibility; see [`ClientConfig::write_timeout_ms`].
    pub write_timeout_ms: u64,
    /// The management interface, when enabled.
    pub web_manager: Option<WebManagerConfig>,
    /// Drop duplicate copies of clients' data messages before WireGuard
    /// decrypts them (`dedup`, default on; see [`crate::dedup`]).
    pub dedup: bool,
    /// Group addresses into clients by WireGuard's headers, answer each
    /// client only, and refuse what is not WireGuard (`wireguardAware`,
    /// default on); `None` when off (the Go engarde's behaviour).
    pub wireguard_aware: Option<crate::registry::Limits>,
}

/// `webManager:` with a non-empty `listenAddr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebManagerConfig {
    /// Address of the HTTP listener.
    pub listen_addr: SocketAddr,
    /// Basic-auth user name; empty (with `password`) means no authentication.
    pub username: String,
    /// Basic-auth password; empty (with `username`) means no authentication.
    pub password: String,
}

/// Reads and checks the `client:` section of `file`.
pub fn load_client(file: &Path) -> Result<ClientConfig, ConfigError> {
    parse_client(&read(file)?, file)
}

/// Reads and checks the `server:` section of `file`.
pub fn load_server(file: &Path) -> Result<ServerConfig, ConfigError> {
    parse_server(&read(file)?, file)
}

fn read(file: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
        file: file.to_path_buf(),
        source,
    })
}

/// Checks the `client:` section of `text`; `file` only names it in errors.
pub fn parse_client(text: &str, file: &Path) -> Result<ClientConfig, ConfigError> {
    let document: raw::ClientDocument = parse_yaml(text, file)?;
    let raw = document
        .client
        .ok_or_else(|| missing_section(file, "client", "engarde-client"))?;
    // `client:` with nothing under it is an empty section, not a missing one.
    Checker { file }.client(raw.unwrap_or_default())
}

/// Checks the `server:` section of `text`; `file` only names it in errors.
pub fn parse_server(text: &str, file: &Path) -> Result<ServerConfig, ConfigError> {
    let document: raw::ServerDocument = parse_yaml(text, file)?;
    let raw = document
        .server
        .ok_or_else(|| missing_section(file, "server", "engarde-server"))?;
    Checker { file }.server(raw.unwrap_or_default())
}

fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    // An empty file is an empty document, not a YAML error: report the missing section instead.
    let text = if text.trim().is_empty() { "{}" } else { text };
    serde_yaml::from_str(text).map_err(|e| yaml_error::from_yaml_error(file, &e))
}

fn missing_section(file: &Path, section: &str, binary: &str) -> ConfigError {
    ConfigError::invalid(
        file,
        section,
        format!("missing section: {binary} needs a \"{section}:\" section in this file"),
    )
}

/// One validation pass over the raw structs; `file` names the file in errors.
struct Checker<'a> {
    file: &'a Path,
}

impl Checker<'_> {
    fn client(&self, raw: RawClient) -> Result<ClientConfig, ConfigError> {
        let listen_addr = self.required_address(
            raw.listen_addr,
            "client.listenAddr",
            AddressRole::Listen,
            "127.0.0.1:59401",
        )?;
        let dst_addr = self.destination(raw.dst_addr, "client.dstAddr", "203.0.113.7:59501")?;
        let mut dst_overrides = BTreeMap::new();
        for (i, over) in raw
            .dst_overrides
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let key = format!("client.dstOverrides[{i}]");
            let if_name = self.required(
                over.if_name,
                &format!("{key}.ifName"),
                "the interface name, e.g. \"eth1\"",
            )?;
            let dst = self.destination(
                over.dst_addr,
                &format!("{key}.dstAddr"),
                "198.51.100.7:59501",
            )?;
            if dst_overrides.insert(if_name.clone(), dst).is_some() {
                return Err(ConfigError::invalid(
                    self.file,
                    format!("{key}.ifName"),
                    format!("interface \"{if_name}\" has more than one override"),
                ));
            }
        }
        Ok(ClientConfig {
            description: raw.description.unwrap_or_default(),
            listen_addr,
            dst_addr,
            write_timeout_ms: raw.write_timeout.unwrap_or(0),
            // yaml.v2 read a `null` item as "": neither names an interface.
            excluded_interfaces: raw
                .excluded_interfaces
                .unwrap_or_default()
                .into_iter()
                .flatten()
                .filter(|name| !name.is_empty())
                .collect(),
            // An empty label would show as a blank; no label shows as "-".
            interface_labels: raw
                .interface_labels
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, label)| Some((name, label.filter(|l| !l.is_empty())?)))
                .collect(),
            dst_overrides,
            web_manager: self.web_manager(raw.web_manager, "client.webManager")?,
            dedup: raw.dedup.unwrap_or(true),
            link_silence_timeout: raw
                .link_silence_timeout
                .map_or(DEFAULT_LINK_SILENCE_TIMEOUT, Duration::from_secs),
            resolve_interval: raw
                .resolve_interval
                .map_or(DEFAULT_RESOLVE_INTERVAL, Duration::from_secs),
        })
    }

    fn server(&self, raw: RawServer) -> Result<ServerConfig, ConfigError> {
        let wireguard_aware = self.wireguard_awareness(&raw)?;
        let listen_addr = self.required_address(
            raw.listen_addr,
            "server.listenAddr",
            AddressRole::Listen,
            "0.0.0.0:59501",
        )?;
        let dst_addr = self.destination(raw.dst_addr, "server.dstAddr", "127.0.0.1:51820")?;
        let client_timeout = match raw.client_timeout {
            None | Some(0) => DEFAULT_CLIENT_TIMEOUT,
            Some(seconds) => Duration::from_secs(seconds),
        };
        Ok(ServerConfig {
            description: raw.description.unwrap_or_default(),
            listen_addr,
            dst_addr,
            client_timeout,
            write_timeout_ms: raw.write_timeout.unwrap_or(0),
            web_manager: self.web_manager(raw.web_manager, "server.webManager")?,
            dedup: raw.dedup.unwrap_or(true),
            wireguard_aware,
        })
    }

    fn wireguard_awareness(&self, raw: &RawServer) -> Result<Option<Limits>, ConfigError> {
        if raw.wireguard_aware == Some(false) {
            return Ok(None);
        }
        let positive = |value: Option<u64>, key: &str, default: usize| match value {
            None => Ok(default),
            Some(0) => Err(ConfigError::invalid(self.file, key, "must be at least 1")),
            Some(n) => Ok(n as usize),
        };
        let mut allowed_sources = Vec::new();
        for (i, text) in raw.allowed_sources.iter().flatten().enumerate() {
            let Some(text) = text else { continue };
            let network = Network::parse(text).map_err(|message| {
                ConfigError::invalid(self.file, format!("server.allowedSources[{i}]"), message)
            })?;
            allowed_sources.push(network);
        }
        Ok(Some(Limits {
            max_clients: positive(raw.max_clients, "server.maxClients", DEFAULT_MAX_CLIENTS)?,
            max_addresses_per_client: positive(
                raw.max_addresses_per_client,
                "server.maxAddressesPerClient",
                DEFAULT_MAX_ADDRESSES_PER_CLIENT,
            )?,
            allowed_sources,
        }))
    }

    fn web_manager(
        &self,
        raw: Option<RawWebManager>,
        key: &str,
    ) -> Result<Option<WebManagerConfig>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let listen = raw.listen_addr.unwrap_or_default();
        if listen.trim().is_empty() {
            return Ok(None);
        }
        let listen_addr = parse_address(&listen, AddressRole::Listen).map_err(|message| {
            ConfigError::invalid(self.file, format!("{key}.listenAddr"), message)
        })?;
        let username = raw.username.unwrap_or_default();
        let password = raw.password.unwrap_or_default();
        // The Go engarde silently served without authentication when only
        // one was set; a half-configured password is a mistake to report.
        let missing = match (username.is_empty(), password.is_empty()) {
            (false, true) => Some(("password", "username")),
            (true, false) => Some(("username", "password")),
            _ => None,
        };
        if let Some((missing, given)) = missing {
            return Err(ConfigError::invalid(
                self.file,
                format!("{key}.{missing}"),
                format!(
                    "is empty but {given} is set: set both to require a password, or neither for none"
                ),
            ));
        }
        Ok(Some(WebManagerConfig {
            listen_addr,
            username,
            password,
        }))
    }

    fn required(
        &self,
        value: Option<String>,
        key: &str,
        what: &str,
    ) -> Result<String, ConfigError> {
        match value {
            Some(v) if !v.trim().is_empty() => Ok(v),
            Some(_) => Err(ConfigError::invalid(
                self.file,
                key,
                format!("is empty but required ({what})"),
            )),
            None => Err(ConfigError::invalid(
                self.file,
                key,
                format!("missing required key ({what})"),
            )),
        }
    }

    fn required_address(
        &self,
        value: Option<String>,
        key: &str,
        role: AddressRole,
        example: &str,
    ) -> Result<SocketAddr, ConfigError> {
        let text = self.required(value, key, &format!("an address such as \"{example}\""))?;
        parse_address(&text, role).map_err(|message| ConfigError::invalid(self.file, key, message))
    }

    fn destination(
        &self,
        value: Option<String>,
        key: &str,
        example: &str,
    ) -> Result<Destination, ConfigError> {
        let text = self.required(value, key, &format!("an address such as \"{example}\""))?;
        let addrs = parse_addresses(&text, AddressRole::Destination)
            .map_err(|message| ConfigError::invalid(self.file, key, message))?;
        Ok(Destination::new(text.trim(), addrs))
    }
}

/// The path a binary should read: the argument if given, else [`DEFAULT_CONFIG_PATH`].
pub fn config_path(argument: Option<&str>) -> PathBuf {
    PathBuf::from(argument.unwrap_or(DEFAULT_CONFIG_PATH))
}

#[cfg(test)]
mod tests;
