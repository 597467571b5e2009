//! Which interfaces carry links, and what must change when they change.
//!
//! [`discover`] reads the host; [`survey`] decides for each interface
//! whether it is usable (and if not, why) and which links it carries: one
//! per address family (IPv4, IPv6) for which it has a usable address and the
//! destination has an address, each with its source address and
//! destination; [`diff`] compares the wanted links with the running ones.
//! The last two are pure functions, unit-tested without sockets; the
//! InterfaceWatcher actor only applies their result. [`Exclusions`] keeps
//! the exclusions changed at run time; [`silence`] decides which running
//! links hear nothing while others do; [`netlink`] (Linux) says when the
//! host's interfaces change, so that the watcher reads them again at once.

mod discover;
mod exclusions;
#[cfg(target_os = "linux")]
pub mod netlink;
pub mod silence;

pub use discover::{discover, has_carrier};
pub use exclusions::Exclusions;

use crate::config::{ClientConfig, Destination};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// An IP address family. A link is one interface and one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// Both families, IPv4 first (the order links are listed in).
    pub const ALL: [Family; 2] = [Family::V4, Family::V6];

    /// The family of `ip` (a v4-mapped IPv6 address is IPv6 here: sources
    /// and destinations are canonical before they get this far).
    pub fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Self::V4 } else { Self::V6 }
    }

    /// `IPv4` or `IPv6`.
    pub fn name(self) -> &'static str {
        match self {
            Self::V4 => "IPv4",
            Self::V6 => "IPv6",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which link: an interface and an address family.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkKey {
    /// The interface (or a fixed link's name).
    pub interface: String,
    /// The family of its source and destination addresses.
    pub family: Family,
}

impl LinkKey {
    /// The link of `family` on `interface`.
    pub fn new(interface: impl Into<String>, family: Family) -> Self {
        Self {
            interface: interface.into(),
            family,
        }
    }
}

/// `wan0/IPv4`: how logs and the management interface name a link.
impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.interface, self.family)
    }
}

/// One interface as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// The kernel's interface index (0 when unknown). An interface deleted
    /// and created again under the same name (a PPP or USB modem re-dialling)
    /// gets a new index, and a socket bound to the old one hears nothing.
    pub index: u32,
    /// Administratively up with a carrier.
    pub up: bool,
    /// All its addresses, primary first.
    pub addresses: Vec<IpAddr>,
    /// A WireGuard interface (never used as a link).
    pub wireguard: bool,
}

impl InterfaceInfo {
    /// An interface with no address, down.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            index: 0,
            up: false,
            addresses: Vec::new(),
            wireguard: false,
        }
    }
}

/// A link an interface should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// Interface name (or a fixed link's name); with the family of `source`,
    /// the link's identity ([`LinkSpec::key`]).
    pub name: String,
    /// Interface to bind to with SO_BINDTODEVICE (`None` only for links
    /// given explicitly, as in tests).
    pub device: Option<String>,
    /// The interface's index when discovered: a new index needs a new socket.
    pub index: Option<u32>,
    /// Source address of the link's socket.
    pub source: IpAddr,
    /// Where the link sends (same family as `source`).
    pub destination: SocketAddr,
    /// The destination as the user wrote it (for logs).
    pub destination_text: String,
    /// The user's label from `interfaceLabels`, if any.
    pub label: Option<String>,
}

impl LinkSpec {
    /// A link given explicitly (no interface to bind to), sending from
    /// `source` to `destination`.
    pub fn fixed(name: impl Into<String>, source: IpAddr, destination: SocketAddr) -> Self {
        Self {
            name: name.into(),
            device: None,
            index: None,
            source,
            destination,
            destination_text: destination.to_string(),
            label: None,
        }
    }

    /// The link's identity: its interface and family.
    pub fn key(&self) -> LinkKey {
        LinkKey::new(self.name.clone(), self.family())
    }

    /// The family of its addresses.
    pub fn family(&self) -> Family {
        Family::of(&self.source)
    }

    /// True when `other` needs a different socket (label changes do not).
    pub fn needs_new_socket(&self, other: &LinkSpec) -> bool {
        self.source != other.source
            || self.destination != other.destination
            || self.device != other.device
            || self.index != other.index
    }

    /// `eth0/IPv4 ("Fiber")` or `eth0/IPv4`.
    pub fn display_name(&self) -> String {
        match &self.label {
            Some(label) => format!("{} (\"{label}\")", self.key()),
            None => self.key().to_string(),
        }
    }

    /// `10.0.0.1:59501`, or `server.example:59501 (10.0.0.1:59501)` when
    /// the destination was written as a host name.
    pub fn destination_display(&self) -> String {
        let resolved = self.destination.to_string();
        if self.destination_text == resolved {
            resolved
        } else {
            format!("{} ({resolved})", self.destination_text)
        }
    }
}

/// Why an interface carries no link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Listed in `excludedInterfaces`.
    Excluded,
    /// Excluded at run time from the management interface.
    ExcludedAtRunTime,
    /// A WireGuard interface: sending through it would loop.
    WireGuard,
    /// A loopback interface.
    Loopback,
    /// Administratively down or without carrier.
    Down,
    /// No address at all.
    NoAddress,
    /// Only link-local addresses.
    LinkLocalOnly,
    /// Addresses, but none of a family the destination has (`IPv4`,
    /// `IPv6`, or `IPv4 or IPv6`).
    NoAddressOfFamily(&'static str),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Excluded => write!(f, "excluded in the configuration"),
            Self::ExcludedAtRunTime => write!(f, "excluded from the management interface"),
            Self::WireGuard => write!(
                f,
                "a WireGuard interface (excluded automatically to avoid a loop)"
            ),
            Self::Loopback => write!(f, "loopback"),
            Self::Down => write!(f, "down (no carrier or disabled)"),
            Self::NoAddress => write!(f, "no usable address"),
            Self::LinkLocalOnly => write!(f, "only link-local addresses"),
            Self::NoAddressOfFamily(family) => {
                write!(f, "no usable {family} address for the destination")
            }
        }
    }
}

impl Unusable {
    /// A short stable word for scripts and the web page.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Excluded => "excluded",
            Self::ExcludedAtRunTime => "excluded-at-run-time",
            Self::WireGuard => "wireguard",
            Self::Loopback => "loopback",
            Self::Down => "down",
            Self::NoAddress => "no-address",
            Self::LinkLocalOnly => "link-local-only",
            Self::NoAddressOfFamily(_) => "no-address-of-family",
        }
    }
}

/// What decides links, taken from the client configuration.
#[derive(Debug, Clone, Default)]
pub struct LinkPolicy {
    /// Interfaces never used (`excludedInterfaces`, less those included at run time).
    pub excluded: BTreeSet<String>,
    /// Interfaces excluded at run time from the management interface.
    pub excluded_at_run_time: BTreeSet<String>,
    /// Destination of links without an override.
    pub destination: Option<Destination>,
    /// Per-interface destinations: they replace `destination` for every
    /// family (an override written as an IPv4 address gives its interface
    /// no IPv6 link).
    pub overrides: BTreeMap<String, Destination>,
    /// Per-interface labels.
    pub labels: BTreeMap<String, String>,
}

impl LinkPolicy {
    /// The policy a client configuration describes.
    pub fn from_config(config: &ClientConfig) -> Self {
        Self {
            excluded: config.excluded_interfaces.clone(),
            excluded_at_run_time: BTreeSet::new(),
            destination: Some(config.dst_addr.clone()),
            overrides: config.dst_overrides.clone(),
            labels: config.interface_labels.clone(),
        }
    }

    /// Takes the exclusions in force from `exclusions`.
    pub fn apply(&mut self, exclusions: &Exclusions) {
        self.excluded = exclusions.by_configuration();
        self.excluded_at_run_time = exclusions.at_run_time();
    }

    /// Where links on `name` send, if anywhere.
    pub fn destination_for(&self, name: &str) -> Option<&Destination> {
        self.overrides.get(name).or(self.destination.as_ref())
    }

    /// Every destination with the text it was written as (to resolve again).
    pub fn destinations_mut(&mut self) -> impl Iterator<Item = &mut Destination> {
        self.destination
            .iter_mut()
            .chain(self.overrides.values_mut())
    }
}

/// An address a link may use as its source (not loopback, unspecified,
/// multicast or link-local).
pub fn is_usable_address(ip: &IpAddr) -> bool {
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || is_link_local(ip))
}

fn is_link_local(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// The families of `destination`, in words.
fn families_of(destination: &Destination) -> &'static str {
    match (
        destination.for_family(true).is_some(),
        destination.for_family(false).is_some(),
    ) {
        (true, false) => "IPv4",
        (false, true) => "IPv6",
        _ => "IPv4 or IPv6",
    }
}

/// What an interface carries: its links (at least one, IPv4 first), or why none.
pub type Verdict = Result<Vec<LinkSpec>, Unusable>;

/// Decides whether `interface` carries links and with which addresses:
/// one link per family for which it has a usable address and its
/// destination has an address.
///
/// `running` supplies the source addresses of the links running now: a
/// source is kept while still present, so adding a second address to an
/// interface does not disturb its link.
pub fn evaluate(
    interface: &InterfaceInfo,
    policy: &LinkPolicy,
    running: &BTreeMap<LinkKey, LinkSpec>,
) -> Verdict {
    if policy.excluded.contains(&interface.name) {
        return Err(Unusable::Excluded);
    }
    if policy.excluded_at_run_time.contains(&interface.name) {
        return Err(Unusable::ExcludedAtRunTime);
    }
    if interface.wireguard {
        return Err(Unusable::WireGuard);
    }
    if !interface.addresses.is_empty() && interface.addresses.iter().all(IpAddr::is_loopback) {
        return Err(Unusable::Loopback);
    }
    if interface.addresses.is_empty() {
        return Err(Unusable::NoAddress);
    }
    if !interface.up {
        return Err(Unusable::Down);
    }
    let usable: Vec<IpAddr> = interface
        .addresses
        .iter()
        .copied()
        .filter(is_usable_address)
        .collect();
    if usable.is_empty() {
        return Err(if interface.addresses.iter().any(is_link_local) {
            Unusable::LinkLocalOnly
        } else {
            Unusable::NoAddress
        });
    }
    let destination = policy
        .destination_for(&interface.name)
        .ok_or(Unusable::NoAddress)?;
    let mut links = Vec::new();
    for family in Family::ALL {
        let Some(to) = destination.for_family(family == Family::V4) else {
            continue;
        };
        let candidates: Vec<IpAddr> = usable
            .iter()
            .copied()
            .filter(|ip| Family::of(ip) == family)
            .collect();
        let current = running
            .get(&LinkKey::new(interface.name.clone(), family))
            .map(|spec| spec.source);
        let Some(source) = current
            .filter(|ip| candidates.contains(ip))
            .or_else(|| candidates.first().copied())
        else {
            continue;
        };
        links.push(LinkSpec {
            name: interface.name.clone(),
            device: Some(interface.name.clone()),
            index: (interface.index != 0).then_some(interface.index),
            source,
            destination: to,
            destination_text: destination.text.clone(),
            label: policy.labels.get(&interface.name).cloned(),
        });
    }
    if links.is_empty() {
        return Err(Unusable::NoAddressOfFamily(families_of(destination)));
    }
    Ok(links)
}

/// Each interface with its verdict.
pub type Survey = Vec<(InterfaceInfo, Verdict)>;

/// Evaluates every interface; `running` supplies the current source addresses.
pub fn survey(
    interfaces: Vec<InterfaceInfo>,
    policy: &LinkPolicy,
    running: &BTreeMap<LinkKey, LinkSpec>,
) -> Survey {
    interfaces
        .into_iter()
        .map(|interface| {
            let verdict = evaluate(&interface, policy, running);
            (interface, verdict)
        })
        .collect()
}

/// Why a running link must stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The interface no longer exists.
    Vanished,
    /// The interface exists but can no longer carry a link.
    Unusable(Unusable),
    /// The interface still carries a link of another family, but none of
    /// this one: it lost its last usable address of the family.
    NoAddressOfFamily(Family),
    /// The destination no longer has an address of the link's family.
    NoDestinationOfFamily(Family),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vanished => write!(f, "the interface is gone"),
            Self::Unusable(reason) => write!(f, "{reason}"),
            Self::NoAddressOfFamily(family) => {
                write!(f, "the interface has no usable {family} address any more")
            }
            Self::NoDestinationOfFamily(family) => {
                write!(f, "the destination has no {family} address any more")
            }
        }
    }
}

/// One change to apply to the running links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Open a link that does not run yet.
    Start(LinkSpec),
    /// Close a running link.
    Stop(LinkSpec, StopReason),
    /// Close a link and open it again with other addresses.
    Replace {
        /// What runs now.
        old: LinkSpec,
        /// What should run.
        new: LinkSpec,
    },
    /// Same socket, new label: only the bookkeeping changes.
    Relabel(LinkSpec),
}

impl Change {
    /// Why a link is re-created, in words (for a [`Change::Replace`]).
    pub fn replace_reason(old: &LinkSpec, new: &LinkSpec) -> String {
        if old.source != new.source {
            format!("address changed from {} to {}", old.source, new.source)
        } else if old.destination != new.destination {
            format!(
                "destination changed from {} to {}",
                old.destination, new.destination
            )
        } else if old.index != new.index {
            format!(
                "the interface was created again (index {} now {})",
                old.index.unwrap_or(0),
                new.index.unwrap_or(0)
            )
        } else {
            "its interface binding changed".to_string()
        }
    }
}

/// The changes that turn `running` into what `survey` wants. Links that
/// are unchanged do not appear, so applying the result never touches them.
pub fn diff(running: &BTreeMap<LinkKey, LinkSpec>, survey: &Survey) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    for (interface, verdict) in survey {
        seen.insert(interface.name.as_str());
        let wanted: &[LinkSpec] = verdict.as_deref().unwrap_or_default();
        for spec in wanted {
            match running.get(&spec.key()) {
                None => changes.push(Change::Start(spec.clone())),
                Some(old) if old.needs_new_socket(spec) => changes.push(Change::Replace {
                    old: old.clone(),
                    new: spec.clone(),
                }),
                Some(old) if old.label != spec.label => changes.push(Change::Relabel(spec.clone())),
                Some(_) => {}
            }
        }
        let on_interface = running
            .range(LinkKey::new(interface.name.clone(), Family::V4)..)
            .take_while(|(key, _)| key.interface == interface.name);
        for (key, old) in on_interface {
            if wanted.iter().any(|spec| spec.key() == *key) {
                continue;
            }
            let reason = match verdict {
                Err(reason) => StopReason::Unusable(reason.clone()),
                Ok(_)
                    if interface
                        .addresses
                        .iter()
                        .any(|ip| is_usable_address(ip) && Family::of(ip) == key.family) =>
                {
                    StopReason::NoDestinationOfFamily(key.family)
                }
                Ok(_) => StopReason::NoAddressOfFamily(key.family),
            };
            changes.push(Change::Stop(old.clone(), reason));
        }
    }
    for (key, old) in running {
        if !seen.contains(key.interface.as_str()) {
            changes.push(Change::Stop(old.clone(), StopReason::Vanished));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interface(name: &str, up: bool, addresses: &[&str]) -> InterfaceInfo {
        InterfaceInfo {
            name: name.into(),
            index: 7,
            up,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            wireguard: false,
        }
    }

    fn destination(text: &str) -> Destination {
        Destination::literal(text.parse().unwrap())
    }

    fn dual_stack() -> Destination {
        Destination::new(
            "server.example:59501",
            vec![
                "[2001:db8::1]:59501".parse().unwrap(),
                "203.0.113.1:59501".parse().unwrap(),
            ],
        )
    }

    fn policy() -> LinkPolicy {
        LinkPolicy {
            excluded: ["eth9".to_string()].into(),
            excluded_at_run_time: ["eth8".to_string()].into(),
            destination: Some(destination("203.0.113.1:59501")),
            overrides: [("eth1".to_string(), destination("198.51.100.1:59501"))].into(),
            labels: [("eth0".to_string(), "Fiber".to_string())].into(),
        }
    }

    fn none() -> BTreeMap<LinkKey, LinkSpec> {
        BTreeMap::new()
    }

    fn one(verdict: Verdict) -> LinkSpec {
        let links = verdict.unwrap();
        assert_eq!(links.len(), 1, "{links:?}");
        links.into_iter().next().unwrap()
    }

    #[test]
    fn a_usable_interface_gets_its_first_address_of_the_destination_family() {
        let spec = one(evaluate(
            &interface(
                "eth0",
                true,
                &["2001:db8::5", "fe80::1", "192.0.2.5", "192.0.2.6"],
            ),
            &policy(),
            &none(),
        ));
        assert_eq!(spec.source, "192.0.2.5".parse::<IpAddr>().unwrap());
        assert_eq!(spec.destination, "203.0.113.1:59501".parse().unwrap());
        assert_eq!(spec.device.as_deref(), Some("eth0"));
        assert_eq!(spec.index, Some(7));
        assert_eq!(spec.label.as_deref(), Some("Fiber"));
        assert_eq!(spec.key().to_string(), "eth0/IPv4");
        assert_eq!(spec.display_name(), "eth0/IPv4 (\"Fiber\")");
    }

    #[test]
    fn a_dual_stack_destination_gives_one_link_per_family() {
        let mut policy = policy();
        policy.destination = Some(dual_stack());
        let links = evaluate(
            &interface(
                "eth0",
                true,
                &["fe80::1", "2001:db8:5::5", "192.0.2.5", "2001:db8:5::6"],
            ),
            &policy,
            &none(),
        )
        .unwrap();
        let summary: Vec<String> = links
            .iter()
            .map(|l| format!("{} {} -> {}", l.key(), l.source, l.destination))
            .collect();
        assert_eq!(
            summary,
            [
                "eth0/IPv4 192.0.2.5 -> 203.0.113.1:59501",
                "eth0/IPv6 2001:db8:5::5 -> [2001:db8::1]:59501"
            ]
        );
        assert_eq!(
            links[1].destination_display(),
            "server.example:59501 ([2001:db8::1]:59501)"
        );
        // An interface with only one family gets only that link.
        let v6 = one(evaluate(
            &interface("eth2", true, &["2001:db8:5::9"]),
            &policy,
            &none(),
        ));
        assert_eq!(v6.family(), Family::V6);
        // An override replaces the destination for every family.
        let eth1 = one(evaluate(
            &interface("eth1", true, &["10.0.0.2", "2001:db8:5::2"]),
            &policy,
            &none(),
        ));
        assert_eq!(eth1.destination, "198.51.100.1:59501".parse().unwrap());
    }

    #[test]
    fn overrides_pick_the_destination() {
        let spec = one(evaluate(
            &interface("eth1", true, &["10.0.0.2"]),
            &policy(),
            &none(),
        ));
        assert_eq!(spec.destination, "198.51.100.1:59501".parse().unwrap());
    }

    #[test]
    fn the_running_source_is_kept_while_present() {
        let eth0 = interface("eth0", true, &["192.0.2.5", "192.0.2.6"]);
        let mut running = none();
        let mut current = one(evaluate(&eth0, &policy(), &none()));
        current.source = "192.0.2.6".parse().unwrap();
        running.insert(current.key(), current.clone());
        let spec = one(evaluate(&eth0, &policy(), &running));
        assert_eq!(spec.source, "192.0.2.6".parse::<IpAddr>().unwrap());
        current.source = "192.0.2.99".parse().unwrap();
        running.insert(current.key(), current);
        let spec = one(evaluate(&eth0, &policy(), &running));
        assert_eq!(spec.source, "192.0.2.5".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn unusable_interfaces_say_why() {
        let mut wg = interface("wg0", true, &["10.10.0.1"]);
        wg.wireguard = true;
        let cases = [
            (interface("eth9", true, &["192.0.2.9"]), Unusable::Excluded),
            (
                interface("eth8", true, &["192.0.2.8"]),
                Unusable::ExcludedAtRunTime,
            ),
            (wg, Unusable::WireGuard),
            (
                interface("lo", true, &["127.0.0.1", "::1"]),
                Unusable::Loopback,
            ),
            (interface("eth2", false, &["192.0.2.7"]), Unusable::Down),
            (interface("eth3", true, &[]), Unusable::NoAddress),
            (
                interface("eth4", true, &["169.254.3.3", "fe80::3"]),
                Unusable::LinkLocalOnly,
            ),
            (
                interface("eth5", true, &["2001:db8::5"]),
                Unusable::NoAddressOfFamily("IPv4"),
            ),
        ];
        for (interface, expected) in cases {
            assert_eq!(
                evaluate(&interface, &policy(), &none()),
                Err(expected),
                "{}",
                interface.name
            );
        }
    }

    fn running(specs: &[LinkSpec]) -> BTreeMap<LinkKey, LinkSpec> {
        specs.iter().map(|s| (s.key(), s.clone())).collect()
    }

    fn started(changes: Vec<Change>) -> Vec<LinkSpec> {
        changes
            .into_iter()
            .map(|change| match change {
                Change::Start(spec) => spec,
                other => panic!("only starts expected, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn diff_touches_only_what_changed() {
        let policy = policy();
        let before = vec![
            interface("eth0", true, &["192.0.2.5"]),
            interface("eth1", true, &["10.0.0.2"]),
            interface("eth2", true, &["192.0.2.7"]),
            interface("eth3", true, &["192.0.2.8"]),
            interface("eth6", true, &["192.0.2.9"]),
        ];
        let first = survey(before, &policy, &none());
        let started = started(diff(&none(), &first));
        assert_eq!(started.len(), 5);
        let running = running(&started);
        assert!(
            diff(&running, &first).is_empty(),
            "a stable host produces no change"
        );

        let mut recreated = interface("eth6", true, &["192.0.2.9"]);
        recreated.index = 8;
        let after = vec![
            interface("eth0", true, &["192.0.2.5"]),  // unchanged
            interface("eth1", true, &["10.0.0.3"]),   // re-addressed
            interface("eth2", false, &["192.0.2.7"]), // cable pulled
            // eth3 vanished
            interface("eth4", true, &["192.0.2.10"]), // new modem
            recreated,                                // re-dialled: same name, new index
        ];
        let changes = diff(&running, &survey(after, &policy, &running));
        assert_eq!(changes.len(), 5, "{changes:?}");
        assert!(changes.iter().any(|c| matches!(c, Change::Replace { old, new } if old.name == "eth1" && new.source.to_string() == "10.0.0.3")));
        assert!(changes.iter().any(|c| matches!(c, Change::Stop(s, StopReason::Unusable(Unusable::Down)) if s.name == "eth2")));
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::Stop(s, StopReason::Vanished) if s.name == "eth3"))
        );
        assert!(
            changes
                .iter()
                .any(|c| matches!(c, Change::Start(s) if s.name == "eth4"))
        );
        let replaced = changes
            .iter()
            .find_map(|c| match c {
                Change::Replace { old, new } if old.name == "eth6" => Some((old, new)),
                _ => None,
            })
            .expect("a re-created interface gets a new socket");
        assert_eq!(
            Change::replace_reason(replaced.0, replaced.1),
            "the interface was created again (index 7 now 8)"
        );
    }

    #[test]
    fn families_come_and_go_independently() {
        let mut policy = policy();
        policy.destination = Some(dual_stack());
        let both = vec![interface("eth0", true, &["192.0.2.5", "2001:db8:5::5"])];
        let running = running(&started(diff(&none(), &survey(both, &policy, &none()))));
        assert_eq!(running.len(), 2);

        // The IPv6 address goes: only the IPv6 link stops.
        let v4_only = vec![interface("eth0", true, &["192.0.2.5", "fe80::5"])];
        let changes = diff(&running, &survey(v4_only.clone(), &policy, &running));
        assert!(
            matches!(&changes[..], [Change::Stop(s, StopReason::NoAddressOfFamily(Family::V6))] if s.family() == Family::V6),
            "{changes:?}"
        );

        // The name stops resolving to IPv6: the IPv6 link stops, saying why.
        let mut v4_name = policy.clone();
        v4_name.destination = Some(Destination::new(
            "server.example:59501",
            vec!["203.0.113.1:59501".parse().unwrap()],
        ));
        let both = vec![interface("eth0", true, &["192.0.2.5", "2001:db8:5::5"])];
        let changes = diff(&running, &survey(both, &v4_name, &running));
        assert!(
            matches!(&changes[..], [Change::Stop(s, StopReason::NoDestinationOfFamily(Family::V6))] if s.family() == Family::V6),
            "{changes:?}"
        );
    }

    #[test]
    fn a_label_change_keeps_the_socket() {
        let mut policy = policy();
        let eth0 = vec![interface("eth0", true, &["192.0.2.5"])];
        let first = survey(eth0.clone(), &policy, &none());
        let running = running(&first[0].1.clone().unwrap());
        policy.labels.insert("eth0".into(), "Copper".into());
        let changes = diff(&running, &survey(eth0, &policy, &running));
        assert!(
            matches!(&changes[..], [Change::Relabel(spec)] if spec.label.as_deref() == Some("Copper"))
        );
    }
}
