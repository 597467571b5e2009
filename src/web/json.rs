//! The JSON shapes of `GET /api/v1/get-list`, built from a [`Snapshot`].
//!
//! The fields of the Go engarde keep their names and meanings (`type`,
//! `version`, `description`, `listenAddress`, `interfaces[].name`,
//! `status`, `senderAddress`, `dstAddress`, `last`; on the server
//! `dstAddress` and `sockets[].address`, `last`); everything else is an
//! addition, documented in docs/api.md.

use super::state::{Facts, Snapshot};
use crate::actors::interface_report::{InterfaceReport, LinkReport, LinkStatus};
use crate::actors::server_listener::ClientSnapshot;
use crate::analytics::PathAnalytics;
use crate::registry::Refusal;
use crate::stats::{EndpointStats, PathStats, get};
use serde::Serialize;
use std::time::Duration;

/// The client's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientList {
    /// Always `client`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// This build's version.
    pub version: &'static str,
    /// `description` from the configuration.
    pub description: String,
    /// Where WireGuard sends to.
    pub listen_address: String,
    /// Every interface.
    pub interfaces: Vec<InterfaceEntry>,
    /// Counters of the WireGuard-facing socket.
    pub wireguard: WireGuardCounters,
}

/// One interface of the client.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceEntry {
    /// Interface name.
    pub name: String,
    /// Its `interfaceLabels` entry, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// `active`, `idle` or `excluded`.
    pub status: &'static str,
    /// The link's source address (or the one it would use); `""` if none.
    pub sender_address: String,
    /// Where its link sends (or would send), as configured; `""` if nowhere.
    pub dst_address: String,
    /// Whole seconds since the server was last heard on this link; `null`
    /// when not active or never heard (the Go meaning).
    pub last: Option<u64>,
    /// Milliseconds since the server was last heard on this interface, by
    /// any link it had; `null` if never.
    pub last_ms: Option<u64>,
    /// Why it carries no link; `null` when active.
    pub reason: Option<String>,
    /// The same as one word (`excluded`, `excluded-at-run-time`, `down`,
    /// `loopback`, `wireguard`, `no-address`, `link-local-only`,
    /// `no-address-of-family`, `socket`); `null` when active.
    pub reason_code: Option<&'static str>,
    /// Its exclusion differs from the configuration (changed at run time).
    pub changed_at_run_time: bool,
    /// Its addresses.
    pub addresses: Vec<String>,
    /// Totals of every link it had since start, all families together;
    /// `null` if it never had one.
    pub counters: Option<Counters>,
    /// What its busiest link was worth next to the others, since start, for
    /// the server's datagrams; `null` if it never had a link.
    pub analytics: Option<Analytics>,
    /// Its links, one per address family it has or had (IPv4 first).
    pub links: Vec<LinkEntry>,
}

/// One link of a client interface: one address family.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkEntry {
    /// `wan0/IPv4`: how the logs name the link.
    pub name: String,
    /// `IPv4` or `IPv6`.
    pub family: &'static str,
    /// `active` (a socket is open for it) or `idle`.
    pub status: &'static str,
    /// Its source address (or the one it would use); `""` if none.
    pub sender_address: String,
    /// The address and port its socket is bound to; `null` unless active.
    pub local_address: Option<String>,
    /// Where it sends, as configured (a host name stays a name); `""` if nowhere.
    pub dst_address: String,
    /// The address it sends to (what a host name resolved to); `null` if none.
    pub resolved_dst_address: Option<String>,
    /// Whole seconds since the server was last heard on it; `null` when not
    /// active or never heard.
    pub last: Option<u64>,
    /// Milliseconds since the server was last heard on it; `null` if never.
    pub last_ms: Option<u64>,
    /// Times it was re-created in a row because it heard nothing while the
    /// other links heard the server (0 once it hears the server).
    pub silent_recreations: u32,
    /// Totals of this link since start; `null` if it never ran.
    pub counters: Option<Counters>,
    /// What this link was worth next to the others, since start, for the
    /// server's datagrams; `null` if it never ran.
    pub analytics: Option<Analytics>,
}

/// The server's answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerList {
    /// Always `server`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// This build's version.
    pub version: &'static str,
    /// `description` from the configuration.
    pub description: String,
    /// Where clients send to.
    pub listen_address: String,
    /// The local WireGuard, as configured.
    pub dst_address: String,
    /// Every live client address.
    pub sockets: Vec<SocketEntry>,
    /// Clients (engarde-clients, WireGuard peers) with a live address.
    pub clients: usize,
    /// Counters of the WireGuard-facing sockets, over every client.
    pub wireguard: WireGuardCounters,
    /// Datagrams from the network dropped before WireGuard, by reason.
    pub refused: Refused,
}

/// Datagrams a WireGuard-aware server dropped before WireGuard, by reason.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Refused {
    /// Not one of WireGuard's four message shapes.
    pub not_wireguard: u64,
    /// From a source outside `allowedSources`.
    pub not_allowed: u64,
    /// Data, a response or a cookie naming a session no client (or not the
    /// sender's client) has.
    pub unknown_session: u64,
    /// A new client while `maxClients` clients are live.
    pub too_many_clients: u64,
    /// A new address of a client that has `maxAddressesPerClient`.
    pub too_many_addresses: u64,
    /// Handshake initiations beyond the few a client may send before its
    /// WireGuard answered it once.
    pub too_many_initiations: u64,
}

/// One client address on the server.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SocketEntry {
    /// `IP:port` of the client's link.
    pub address: String,
    /// The client (WireGuard peer) it belongs to; 0 when the server is not
    /// WireGuard-aware.
    pub client: u64,
    /// Whole seconds since it was last heard (the Go meaning).
    pub last: Option<u64>,
    /// The same in milliseconds.
    pub last_ms: Option<u64>,
    /// Its counters since it became live.
    pub counters: Counters,
    /// What it was worth next to its client's other addresses, for the
    /// client's datagrams, since it became live.
    pub analytics: Analytics,
}

/// A path's analytics: what it did for the datagrams received from the
/// other engarde, next to the other paths (docs/api.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analytics {
    /// Data messages whose first copy came on this path.
    pub wins: u64,
    /// Data messages that came on this path alone while another was up.
    pub rescued: u64,
    /// Data messages another path delivered and this one did not.
    pub lost: u64,
    /// Data messages judged while this path was up.
    pub expected: u64,
    /// `lost / expected`; `null` while nothing was expected.
    pub loss_ratio: Option<f64>,
    /// Median delay of its copies behind the first copy, in ms; `null`
    /// before any copy.
    pub delay_median_ms: Option<f64>,
    /// 99th percentile of the same.
    pub delay_p99_ms: Option<f64>,
    /// Copies whose delay was measured.
    pub delay_samples: u64,
}

impl Analytics {
    /// Reads `analytics` now.
    pub fn read(analytics: &PathAnalytics) -> Self {
        let snapshot = analytics.snapshot();
        let millis = |q| {
            snapshot
                .delay_quantile(q)
                .map(|d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3)
        };
        Self {
            wins: snapshot.wins,
            rescued: snapshot.rescued,
            lost: snapshot.lost,
            expected: snapshot.expected,
            loss_ratio: snapshot.loss_ratio(),
            delay_median_ms: millis(0.5),
            delay_p99_ms: millis(0.99),
            delay_samples: snapshot.delay_count(),
        }
    }
}

impl Refused {
    /// Reads `stats` now.
    pub fn read(stats: &EndpointStats) -> Self {
        let read = |refusal| get(stats.refused(refusal));
        Self {
            not_wireguard: read(Refusal::NotWireGuard),
            not_allowed: read(Refusal::NotAllowed),
            unknown_session: read(Refusal::UnknownSession),
            too_many_clients: read(Refusal::TooManyClients),
            too_many_addresses: read(Refusal::TooManyAddresses),
            too_many_initiations: read(Refusal::TooManyInitiations),
        }
    }
}

/// A path's counters ("sent" is towards the other engarde).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Datagrams sent.
    pub sent_packets: u64,
    /// Their bytes.
    pub sent_bytes: u64,
    /// Datagrams received.
    pub received_packets: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// Outgoing datagrams dropped: queue or socket buffer full.
    pub send_dropped: u64,
    /// Outgoing datagrams the kernel refused with an error.
    pub send_errors: u64,
    /// Received datagrams dropped: the way to WireGuard was congested.
    pub receive_dropped: u64,
    /// Received copies of WireGuard data messages another path delivered
    /// first, dropped before WireGuard (`dedup`).
    pub receive_duplicates: u64,
}

/// The WireGuard-facing socket's counters.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireGuardCounters {
    /// Datagrams received from WireGuard.
    pub received_packets: u64,
    /// Their bytes.
    pub received_bytes: u64,
    /// Datagrams delivered to WireGuard.
    pub sent_packets: u64,
    /// Their bytes.
    pub sent_bytes: u64,
    /// From WireGuard, dropped: no link or client address was up.
    pub dropped_no_path: u64,
    /// For WireGuard, dropped: its socket buffer was full.
    pub dropped_full: u64,
    /// For WireGuard, dropped: its address is not known yet (client).
    pub dropped_unknown_peer: u64,
    /// For WireGuard, refused by the kernel with an error.
    pub send_errors: u64,
    /// For WireGuard, dropped: a copy of a data message already delivered (`dedup`).
    pub dropped_duplicates: u64,
    /// From WireGuard, dropped: data for another client's session (server).
    pub dropped_other_client: u64,
}

impl Counters {
    /// Reads `stats` now.
    pub fn read(stats: &PathStats) -> Self {
        Self {
            sent_packets: get(&stats.tx_packets),
            sent_bytes: get(&stats.tx_bytes),
            received_packets: get(&stats.rx_packets),
            received_bytes: get(&stats.rx_bytes),
            send_dropped: get(&stats.tx_dropped),
            send_errors: get(&stats.tx_errors),
            receive_dropped: get(&stats.rx_dropped),
            receive_duplicates: get(&stats.rx_duplicates),
        }
    }

    /// The sum of several paths' counters; `None` when there are none.
    pub fn sum<'a>(stats: impl IntoIterator<Item = &'a PathStats>) -> Option<Self> {
        stats.into_iter().map(Self::read).reduce(|a, b| Self {
            sent_packets: a.sent_packets + b.sent_packets,
            sent_bytes: a.sent_bytes + b.sent_bytes,
            received_packets: a.received_packets + b.received_packets,
            received_bytes: a.received_bytes + b.received_bytes,
            send_dropped: a.send_dropped + b.send_dropped,
            send_errors: a.send_errors + b.send_errors,
            receive_dropped: a.receive_dropped + b.receive_dropped,
            receive_duplicates: a.receive_duplicates + b.receive_duplicates,
        })
    }
}

impl WireGuardCounters {
    /// Reads `stats` now.
    pub fn read(stats: &EndpointStats) -> Self {
        Self {
            received_packets: get(&stats.from_wireguard_packets),
            received_bytes: get(&stats.from_wireguard_bytes),
            sent_packets: get(&stats.to_wireguard_packets),
            sent_bytes: get(&stats.to_wireguard_bytes),
            dropped_no_path: get(&stats.no_path_dropped),
            dropped_full: get(&stats.to_wireguard_dropped),
            dropped_unknown_peer: get(&stats.to_wireguard_no_peer),
            send_errors: get(&stats.to_wireguard_errors),
            dropped_duplicates: get(&stats.duplicates_dropped),
            dropped_other_client: get(&stats.foreign_dropped),
        }
    }
}

/// The get-list answer for `snapshot`, as a JSON value.
pub fn get_list(facts: &Facts, snapshot: &Snapshot) -> serde_json::Value {
    let value = match snapshot {
        Snapshot::Client {
            interfaces,
            wireguard,
        } => serde_json::to_value(ClientList {
            kind: "client",
            version: crate::VERSION,
            description: facts.description.clone(),
            listen_address: facts.listen_address.clone(),
            interfaces: interfaces.iter().map(interface_entry).collect(),
            wireguard: WireGuardCounters::read(wireguard),
        }),
        Snapshot::Server { clients, wireguard } => serde_json::to_value(ServerList {
            kind: "server",
            version: crate::VERSION,
            description: facts.description.clone(),
            listen_address: facts.listen_address.clone(),
            dst_address: facts.dst_address.clone(),
            sockets: clients.iter().map(socket_entry).collect(),
            clients: distinct_clients(clients),
            wireguard: WireGuardCounters::read(wireguard),
            refused: Refused::read(wireguard),
        }),
    };
    value.expect("these types always serialize")
}

fn interface_entry(report: &InterfaceReport) -> InterfaceEntry {
    // The freshest of its links: the server was heard on the interface then.
    let age = report.stats().filter_map(|s| s.last_rx.age()).min();
    let active = report.status == LinkStatus::Active;
    InterfaceEntry {
        name: report.name.clone(),
        label: report.label.clone(),
        status: report.status.as_str(),
        sender_address: report
            .sender_address
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        dst_address: report.destination.clone().unwrap_or_default(),
        last: age.filter(|_| active).map(|age| age.as_secs()),
        last_ms: age.map(millis),
        reason: report.reason.clone(),
        reason_code: report.reason_code,
        changed_at_run_time: report.changed_at_run_time,
        addresses: report.addresses.iter().map(ToString::to_string).collect(),
        counters: Counters::sum(report.stats().map(|s| &**s)),
        // The busiest link speaks for the interface; each link has its own below.
        analytics: report
            .stats()
            .max_by_key(|stats| get(&stats.rx_packets))
            .map(|stats| Analytics::read(&stats.analytics)),
        links: report.links.iter().map(link_entry).collect(),
    }
}

fn link_entry(link: &LinkReport) -> LinkEntry {
    let age = link.stats.as_ref().and_then(|s| s.last_rx.age());
    LinkEntry {
        name: link.key.to_string(),
        family: link.key.family.name(),
        status: if link.active { "active" } else { "idle" },
        sender_address: link.source.map(|ip| ip.to_string()).unwrap_or_default(),
        local_address: link.local.map(|a| a.to_string()),
        dst_address: link.destination_text.clone().unwrap_or_default(),
        resolved_dst_address: link.destination.map(|a| a.to_string()),
        last: age.filter(|_| link.active).map(|age| age.as_secs()),
        last_ms: age.map(millis),
        silent_recreations: link.silent_recreations,
        counters: link.stats.as_deref().map(Counters::read),
        analytics: link
            .stats
            .as_deref()
            .map(|stats| Analytics::read(&stats.analytics)),
    }
}

/// Clients with at least one live address.
pub fn distinct_clients(clients: &[ClientSnapshot]) -> usize {
    let mut ids: Vec<u64> = clients.iter().map(|c| c.client).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

fn socket_entry(client: &ClientSnapshot) -> SocketEntry {
    let age = client.stats.last_rx.age();
    SocketEntry {
        address: crate::net::sockaddr::unmap_socket(client.peer).to_string(),
        client: client.client,
        last: age.map(|age| age.as_secs()),
        last_ms: age.map(millis),
        counters: Counters::read(&client.stats),
        analytics: Analytics::read(&client.stats.analytics),
    }
}

fn millis(age: Duration) -> u64 {
    u64::try_from(age.as_millis()).unwrap_or(u64::MAX)
}
