//! Which client each source address belongs to, for a WireGuard-aware
//! server (issue 5): a pure bookkeeping structure, unit-tested without
//! sockets; the ServerListener actor applies its decisions.
//!
//! A *client* is one engarde-client (one WireGuard peer) with several source
//! addresses, one per link. Addresses are grouped without a byte added to
//! any packet, from WireGuard's clear-text header (GUIDE §2):
//! - a handshake initiation from a new address starts a new client, unless
//!   the same initiation (same sender index and ephemeral key) just came
//!   from another address: then it is that client's other link;
//! - a data message names the server-side session index it is for; the
//!   server's WireGuard chose that index in a handshake with one client
//!   (each client's endpoint reports the indices its WireGuard emits), so
//!   the index names the client;
//! - a handshake response or cookie from a client names a server-side index
//!   the same way.
//!
//! What an address may receive is decided elsewhere (the client's
//! endpoint): only handshake answers until it has sent data for a session
//! of its client. Here: which client, or why the datagram is refused.

use crate::wireguard::Message;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Identifies a client for its whole life.
pub type ClientId = u64;

/// How long a handshake initiation is remembered to match its copies.
const INITIATION_MEMORY: Duration = Duration::from_secs(10);
/// Initiations remembered at most (a flood of initiations cannot grow it).
const MAX_INITIATIONS: usize = 4096;

/// An IP network, e.g. `192.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

impl Network {
    /// Parses `ADDRESS/PREFIX` (or a bare address: the host alone).
    pub fn parse(text: &str) -> Result<Self, String> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let address: IpAddr = address.parse().map_err(|_| {
            format!("\"{text}\" is not a network: expected ADDRESS/PREFIX, e.g. \"192.0.2.0/24\"")
        })?;
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("\"{text}\": the prefix must be a number from 0 to {max}")
            })?,
        };
        Ok(Self { address, prefix })
    }

    /// Whether `ip` is inside (IPv4 clients of a dual-stack socket appear
    /// as `::ffff:a.b.c.d` and match IPv4 networks).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = crate::net::sockaddr::unmap(ip);
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The bounds a registry enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Clients at once.
    pub max_clients: usize,
    /// Addresses per client at once.
    pub max_addresses_per_client: usize,
    /// Source networks allowed (empty: any).
    pub allowed_sources: Vec<Network>,
}

/// What to do with a datagram from an address without a ClientAddr yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// The address belongs to this client (already, or from now on).
    Client(ClientId),
    /// A new client: start its endpoint, then attach the address.
    NewClient(ClientId),
    /// Drop the datagram; the address gets nothing.
    Refuse(Refusal),
}

/// Why a datagram was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Not one of WireGuard's four message shapes.
    NotWireGuard,
    /// The source is outside `allowedSources`.
    NotAllowed,
    /// A data message, response or cookie naming a session no client has.
    UnknownSession,
    /// `maxClients` reached.
    TooManyClients,
    /// The client already has `maxAddressesPerClient` addresses.
    TooManyAddresses,
    /// A handshake initiation beyond the few a client may send before its
    /// WireGuard answered it once (counted by the client's endpoint).
    TooManyInitiations,
}

impl Refusal {
    /// A short label for logs and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Self::NotWireGuard => "not_wireguard",
            Self::NotAllowed => "not_allowed",
            Self::UnknownSession => "unknown_session",
            Self::TooManyClients => "too_many_clients",
            Self::TooManyAddresses => "too_many_addresses",
            Self::TooManyInitiations => "too_many_initiations",
        }
    }

    /// Every refusal, in the order the API and metrics list them.
    pub const ALL: [Refusal; 6] = [
        Self::NotWireGuard,
        Self::NotAllowed,
        Self::UnknownSession,
        Self::TooManyClients,
        Self::TooManyAddresses,
        Self::TooManyInitiations,
    ];
}

/// What the registry keeps per client.
#[derive(Debug, Clone, Copy)]
struct ClientState {
    addresses: usize,
    /// When the client appeared, while no session is known for it.
    unproven_since: Option<Instant>,
}

/// The registry.
pub struct Registry {
    limits: Limits,
    /// Client of each known address.
    addresses: HashMap<SocketAddr, ClientId>,
    /// Per client: its number of addresses, and when it started if its
    /// WireGuard has not completed a handshake with it yet.
    clients: HashMap<ClientId, ClientState>,
    /// Server-side session index → client.
    sessions: HashMap<u32, ClientId>,
    /// Recent initiations (sender index, ephemeral key prefix) → client and when.
    initiations: HashMap<(u32, [u8; 16]), (ClientId, Instant)>,
    next_client: ClientId,
}

impl Registry {
    /// An empty registry.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            addresses: HashMap::new(),
            clients: HashMap::new(),
            sessions: HashMap::new(),
            initiations: HashMap::new(),
            next_client: 1,
        }
    }

    /// The client of `address`, if it has one.
    pub fn client_of(&self, address: &SocketAddr) -> Option<ClientId> {
        self.addresses.get(address).copied()
    }

    /// Live clients.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    /// Decides what `source`'s datagram `data` (parsed as `message`) means,
    /// and records the address's client when it is admitted.
    pub fn admit(
        &mut self,
        source: SocketAddr,
        message: Option<Message>,
        data: &[u8],
        now: Instant,
    ) -> Admission {
        if !self.limits.allowed_sources.is_empty()
            && !self
                .limits
                .allowed_sources
                .iter()
                .any(|net| net.contains(source.ip()))
        {
            return Admission::Refuse(Refusal::NotAllowed);
        }
        let Some(message) = message else {
            return Admission::Refuse(Refusal::NotWireGuard);
        };
        if let Some(client) = self.client_of(&source) {
            return Admission::Client(client);
        }
        let client = match message {
            Message::HandshakeInitiation { sender_index } => {
                let key = (sender_index, ephemeral_prefix(data));
                self.forget_old_initiations(now);
                match self.initiations.get(&key) {
                    Some((client, _)) if self.clients.contains_key(client) => *client,
                    _ => {
                        if self.clients.len() >= self.limits.max_clients {
                            return Admission::Refuse(Refusal::TooManyClients);
                        }
                        let client = self.next_client;
                        self.next_client += 1;
                        self.clients.insert(
                            client,
                            ClientState {
                                addresses: 1,
                                unproven_since: Some(now),
                            },
                        );
                        if self.initiations.len() < MAX_INITIATIONS {
                            self.initiations.insert(key, (client, now));
                        }
                        self.addresses.insert(source, client);
                        return Admission::NewClient(client);
                    }
                }
            }
            Message::TransportData { receiver_index, .. }
            | Message::HandshakeResponse { receiver_index, .. }
            | Message::CookieReply { receiver_index } => match self.sessions.get(&receiver_index) {
                Some(client) => *client,
                None => return Admission::Refuse(Refusal::UnknownSession),
            },
        };
        let Some(state) = self.clients.get_mut(&client) else {
            return Admission::Refuse(Refusal::UnknownSession);
        };
        if state.addresses >= self.limits.max_addresses_per_client {
            return Admission::Refuse(Refusal::TooManyAddresses);
        }
        state.addresses += 1;
        self.addresses.insert(source, client);
        Admission::Client(client)
    }

    /// `index` is a server-side session index of `client` (its WireGuard
    /// emitted it in a handshake).
    pub fn learn_session(&mut self, client: ClientId, index: u32) {
        if let Some(state) = self.clients.get_mut(&client) {
            state.unproven_since = None;
            self.sessions.insert(index, client);
        }
    }

    /// Clients that appeared more than `patience` ago with a handshake
    /// initiation their WireGuard never answered: forged or lost
    /// handshakes, which must not hold a place among `maxClients`.
    pub fn unproven_clients(&self, now: Instant, patience: Duration) -> Vec<ClientId> {
        self.clients
            .iter()
            .filter(|(_, state)| {
                state
                    .unproven_since
                    .is_some_and(|since| now.duration_since(since) > patience)
            })
            .map(|(client, _)| *client)
            .collect()
    }

    /// The addresses of `client`.
    pub fn addresses_of(&self, client: ClientId) -> Vec<SocketAddr> {
        self.addresses
            .iter()
            .filter(|(_, owner)| **owner == client)
            .map(|(address, _)| *address)
            .collect()
    }

    /// `index` is no longer in use.
    pub fn forget_session(&mut self, client: ClientId, index: u32) {
        if self.sessions.get(&index) == Some(&client) {
            self.sessions.remove(&index);
        }
    }

    /// The client owning server-side session `index`.
    pub fn session_owner(&self, index: u32) -> Option<ClientId> {
        self.sessions.get(&index).copied()
    }

    /// `address` left its client (expired, or moved); returns the client if
    /// that was its last address, so the caller can end it.
    pub fn remove_address(&mut self, address: &SocketAddr) -> Option<ClientId> {
        let client = self.addresses.remove(address)?;
        let state = self.clients.get_mut(&client)?;
        state.addresses = state.addresses.saturating_sub(1);
        if state.addresses == 0 {
            self.clients.remove(&client);
            self.sessions.retain(|_, owner| *owner != client);
            self.initiations.retain(|_, (owner, _)| *owner != client);
            return Some(client);
        }
        None
    }

    fn forget_old_initiations(&mut self, now: Instant) {
        if self.initiations.len() >= MAX_INITIATIONS / 2 {
            self.initiations
                .retain(|_, (_, seen)| now.duration_since(*seen) < INITIATION_MEMORY);
        }
    }
}

/// The first 16 bytes of an initiation's ephemeral key: with the sender
/// index, what tells one initiation from another.
fn ephemeral_prefix(data: &[u8]) -> [u8; 16] {
    let mut prefix = [0u8; 16];
    if let Some(bytes) = data.get(8..24) {
        prefix.copy_from_slice(bytes);
    }
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wireguard::parse;

    fn limits() -> Limits {
        Limits {
            max_clients: 2,
            max_addresses_per_client: 3,
            allowed_sources: Vec::new(),
        }
    }

    fn initiation(sender: u32, ephemeral: u8) -> Vec<u8> {
        let mut data = vec![0u8; 148];
        data[0] = 1;
        data[4..8].copy_from_slice(&sender.to_le_bytes());
        data[8..40].fill(ephemeral);
        data
    }

    fn data_message(receiver: u32) -> Vec<u8> {
        let mut data = vec![0u8; 32];
        data[0] = 4;
        data[4..8].copy_from_slice(&receiver.to_le_bytes());
        data
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn admit(registry: &mut Registry, source: &str, data: &[u8]) -> Admission {
        registry.admit(addr(source), parse(data), data, Instant::now())
    }

    #[test]
    fn copies_of_one_initiation_group_addresses_into_one_client() {
        let mut registry = Registry::new(limits());
        let first = initiation(7, 1);
        let Admission::NewClient(client) = admit(&mut registry, "192.0.2.1:1000", &first) else {
            panic!("a new client")
        };
        assert_eq!(
            admit(&mut registry, "198.51.100.1:2000", &first),
            Admission::Client(client)
        );
        assert_eq!(
            admit(&mut registry, "192.0.2.1:1000", &data_message(99)),
            Admission::Client(client),
            "known address"
        );
        let other = admit(&mut registry, "203.0.113.9:3000", &initiation(7, 2));
        assert!(
            matches!(other, Admission::NewClient(c) if c != client),
            "another ephemeral key: another client"
        );
    }

    #[test]
    fn data_names_its_client_through_the_session_index() {
        let mut registry = Registry::new(limits());
        let Admission::NewClient(client) =
            admit(&mut registry, "192.0.2.1:1000", &initiation(7, 1))
        else {
            panic!()
        };
        assert_eq!(
            admit(&mut registry, "192.0.2.2:1000", &data_message(42)),
            Admission::Refuse(Refusal::UnknownSession)
        );
        registry.learn_session(client, 42);
        assert_eq!(
            admit(&mut registry, "192.0.2.2:1000", &data_message(42)),
            Admission::Client(client),
            "a new link, or a roaming client"
        );
        registry.forget_session(client, 42);
        assert_eq!(
            admit(&mut registry, "192.0.2.3:1000", &data_message(42)),
            Admission::Refuse(Refusal::UnknownSession)
        );
    }

    #[test]
    fn garbage_and_strangers_are_refused() {
        let mut registry = Registry::new(Limits {
            allowed_sources: vec![Network::parse("192.0.2.0/24").unwrap()],
            ..limits()
        });
        assert_eq!(
            admit(&mut registry, "192.0.2.1:1", b"hello"),
            Admission::Refuse(Refusal::NotWireGuard)
        );
        assert_eq!(
            admit(&mut registry, "10.0.0.1:1", &initiation(1, 1)),
            Admission::Refuse(Refusal::NotAllowed)
        );
        assert_eq!(
            admit(&mut registry, "[::ffff:192.0.2.9]:1", &initiation(1, 1)),
            Admission::NewClient(1),
            "v4-mapped sources match IPv4 networks"
        );
    }

    #[test]
    fn limits_hold() {
        let mut registry = Registry::new(limits());
        let Admission::NewClient(client) = admit(&mut registry, "192.0.2.1:1", &initiation(1, 1))
        else {
            panic!()
        };
        assert!(matches!(
            admit(&mut registry, "192.0.2.2:1", &initiation(2, 2)),
            Admission::NewClient(_)
        ));
        assert_eq!(
            admit(&mut registry, "192.0.2.3:1", &initiation(3, 3)),
            Admission::Refuse(Refusal::TooManyClients)
        );
        registry.learn_session(client, 5);
        assert_eq!(
            admit(&mut registry, "192.0.2.4:1", &data_message(5)),
            Admission::Client(client)
        );
        assert_eq!(
            admit(&mut registry, "192.0.2.5:1", &data_message(5)),
            Admission::Client(client)
        );
        assert_eq!(
            admit(&mut registry, "192.0.2.6:1", &data_message(5)),
            Admission::Refuse(Refusal::TooManyAddresses)
        );
    }

    #[test]
    fn a_client_ends_with_its_last_address() {
        let mut registry = Registry::new(limits());
        let Admission::NewClient(client) = admit(&mut registry, "192.0.2.1:1", &initiation(1, 1))
        else {
            panic!()
        };
        registry.learn_session(client, 5);
        assert_eq!(
            admit(&mut registry, "192.0.2.2:1", &data_message(5)),
            Admission::Client(client)
        );
        assert_eq!(registry.remove_address(&addr("192.0.2.1:1")), None);
        assert_eq!(registry.remove_address(&addr("192.0.2.2:1")), Some(client));
        assert_eq!(registry.clients(), 0);
        assert_eq!(
            registry.session_owner(5),
            None,
            "its sessions are forgotten"
        );
    }

    #[test]
    fn a_handshake_never_answered_is_forgotten_after_a_while() {
        let mut registry = Registry::new(limits());
        let start = Instant::now();
        let Admission::NewClient(forged) = registry.admit(
            addr("192.0.2.1:1"),
            parse(&initiation(1, 1)),
            &initiation(1, 1),
            start,
        ) else {
            panic!()
        };
        let Admission::NewClient(real) = registry.admit(
            addr("192.0.2.2:1"),
            parse(&initiation(2, 2)),
            &initiation(2, 2),
            start,
        ) else {
            panic!()
        };
        registry.learn_session(real, 9);
        let later = start + Duration::from_secs(6);
        assert_eq!(
            registry.unproven_clients(later, Duration::from_secs(5)),
            vec![forged]
        );
        assert_eq!(registry.addresses_of(forged), vec![addr("192.0.2.1:1")]);
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("2001:db8::/32").unwrap();
        assert!(net.contains("2001:db8::1".parse().unwrap()));
        assert!(!net.contains("2001:db9::1".parse().unwrap()));
        assert!(
            Network::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("nonsense").is_err());
        assert!(
            Network::parse("10.0.0.7")
                .unwrap()
                .contains("10.0.0.7".parse().unwrap())
        );
    }
}
