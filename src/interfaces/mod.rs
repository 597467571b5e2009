//! Which interfaces carry links, and what must change when they change.
//!
//! [`discover`] reads the host; [`survey`] decides for each interface
//! whether it is usable (and if not, why) and which source address and
//! destination its link uses; [`diff`] compares the wanted links with the
//! running ones. The last two are pure functions, unit-tested without
//! sockets; the InterfaceWatcher actor only applies their result.
//! [`Exclusions`] keeps the exclusions changed at run time.

mod discover;
mod exclusions;

pub use discover::discover;
pub use exclusions::Exclusions;

use crate::config::{ClientConfig, Destination};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// One interface as read from the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Interface name, e.g. `eth0`.
    pub name: String,
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
            up: false,
            addresses: Vec::new(),
            wireguard: false,
        }
    }
}

/// The link an interface should carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// Interface name; also the link's name.
    pub name: String,
    /// Interface to bind to with SO_BINDTODEVICE (`None` only for links
    /// given explicitly, as in tests).
    pub device: Option<String>,
    /// Source address of the link's socket.
    pub source: IpAddr,
    /// Where the link sends.
    pub destination: SocketAddr,
    /// The destination as the user wrote it (for logs).
    pub destination_text: String,
    /// The user's label from `interfaceLabels`, if any.
    pub label: Option<String>,
}

impl LinkSpec {
    /// True when `other` needs a different socket (label changes do not).
    pub fn needs_new_socket(&self, other: &LinkSpec) -> bool {
        self.source != other.source
            || self.destination != other.destination
            || self.device != other.device
    }

    /// `eth0 ("Fiber")` or `eth0`.
    pub fn display_name(&self) -> String {
        match &self.label {
            Some(label) => format!("{} (\"{label}\")", self.name),
            None => self.name.clone(),
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
    /// Addresses, but none of the destination's family.
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
    /// Per-interface destinations.
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

    /// Where a link on `name` sends, if anywhere.
    pub fn destination_for(&self, name: &str) -> Option<&Destination> {
        self.overrides.get(name).or(self.destination.as_ref())
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

fn family(ip: &IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Decides whether `interface` carries a link and with which addresses.
///
/// `current` is the source address of the link running on it, if any: it
/// is kept while still present, so adding a second address to an interface
/// does not disturb its link.
pub fn evaluate(
    interface: &InterfaceInfo,
    policy: &LinkPolicy,
    current: Option<IpAddr>,
) -> Result<LinkSpec, Unusable> {
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
    let usable: Vec<&IpAddr> = interface
        .addresses
        .iter()
        .filter(|ip| is_usable_address(ip))
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
    let wanted_family = family(&destination.addr.ip());
    let same_family: Vec<&IpAddr> = usable
        .into_iter()
        .filter(|ip| family(ip) == wanted_family)
        .collect();
    let source = current
        .filter(|ip| same_family.contains(&ip))
        .or_else(|| same_family.first().map(|ip| **ip))
        .ok_or(Unusable::NoAddressOfFamily(wanted_family))?;
    Ok(LinkSpec {
        name: interface.name.clone(),
        device: Some(interface.name.clone()),
        source,
        destination: destination.addr,
        destination_text: destination.text.clone(),
        label: policy.labels.get(&interface.name).cloned(),
    })
}

/// Each interface with its verdict.
pub type Survey = Vec<(InterfaceInfo, Result<LinkSpec, Unusable>)>;

/// Evaluates every interface; `running` supplies the current source addresses.
pub fn survey(
    interfaces: Vec<InterfaceInfo>,
    policy: &LinkPolicy,
    running: &BTreeMap<String, LinkSpec>,
) -> Survey {
    interfaces
        .into_iter()
        .map(|interface| {
            let current = running.get(&interface.name).map(|spec| spec.source);
            let verdict = evaluate(&interface, policy, current);
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
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vanished => write!(f, "the interface is gone"),
            Self::Unusable(reason) => write!(f, "{reason}"),
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

/// The changes that turn `running` into what `survey` wants. Links that
/// are unchanged do not appear, so applying the result never touches them.
pub fn diff(running: &BTreeMap<String, LinkSpec>, survey: &Survey) -> Vec<Change> {
    let mut changes = Vec::new();
    let mut seen = BTreeSet::new();
    for (interface, verdict) in survey {
        seen.insert(interface.name.as_str());
        match (running.get(&interface.name), verdict) {
            (None, Ok(wanted)) => changes.push(Change::Start(wanted.clone())),
            (Some(old), Ok(wanted)) if old.needs_new_socket(wanted) => {
                changes.push(Change::Replace {
                    old: old.clone(),
                    new: wanted.clone(),
                })
            }
            (Some(old), Ok(wanted)) if old.label != wanted.label => {
                changes.push(Change::Relabel(wanted.clone()))
            }
            (Some(old), Err(reason)) => changes.push(Change::Stop(
                old.clone(),
                StopReason::Unusable(reason.clone()),
            )),
            _ => {}
        }
    }
    for (name, old) in running {
        if !seen.contains(name.as_str()) {
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
            up,
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            wireguard: false,
        }
    }

    fn destination(text: &str) -> Destination {
        Destination {
            text: text.into(),
            addr: text.parse().unwrap(),
        }
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

    #[test]
    fn a_usable_interface_gets_its_first_address_of_the_destination_family() {
        let spec = evaluate(
            &interface(
                "eth0",
                true,
                &["2001:db8::5", "fe80::1", "192.0.2.5", "192.0.2.6"],
            ),
            &policy(),
            None,
        )
        .unwrap();
        assert_eq!(spec.source, "192.0.2.5".parse::<IpAddr>().unwrap());
        assert_eq!(spec.destination, "203.0.113.1:59501".parse().unwrap());
        assert_eq!(spec.device.as_deref(), Some("eth0"));
        assert_eq!(spec.label.as_deref(), Some("Fiber"));
    }

    #[test]
    fn overrides_pick_the_destination() {
        let spec = evaluate(&interface("eth1", true, &["10.0.0.2"]), &policy(), None).unwrap();
        assert_eq!(spec.destination, "198.51.100.1:59501".parse().unwrap());
    }

    #[test]
    fn the_running_source_is_kept_while_present() {
        let eth0 = interface("eth0", true, &["192.0.2.5", "192.0.2.6"]);
        let spec = evaluate(&eth0, &policy(), Some("192.0.2.6".parse().unwrap())).unwrap();
        assert_eq!(spec.source, "192.0.2.6".parse::<IpAddr>().unwrap());
        let spec = evaluate(&eth0, &policy(), Some("192.0.2.99".parse().unwrap())).unwrap();
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
                evaluate(&interface, &policy(), None),
                Err(expected),
                "{}",
                interface.name
            );
        }
    }

    fn running(specs: &[LinkSpec]) -> BTreeMap<String, LinkSpec> {
        specs.iter().map(|s| (s.name.clone(), s.clone())).collect()
    }

    #[test]
    fn diff_touches_only_what_changed() {
        let policy = policy();
        let before = vec![
            interface("eth0", true, &["192.0.2.5"]),
            interface("eth1", true, &["10.0.0.2"]),
            interface("eth2", true, &["192.0.2.7"]),
            interface("eth3", true, &["192.0.2.8"]),
        ];
        let first = survey(before, &policy, &BTreeMap::new());
        let started: Vec<LinkSpec> = diff(&BTreeMap::new(), &first)
            .into_iter()
            .map(|change| match change {
                Change::Start(spec) => spec,
                other => panic!("only starts expected, got {other:?}"),
            })
            .collect();
        assert_eq!(started.len(), 4);
        let running = running(&started);
        assert!(
            diff(&running, &first).is_empty(),
            "a stable host produces no change"
        );

        let after = vec![
            interface("eth0", true, &["192.0.2.5"]),  // unchanged
            interface("eth1", true, &["10.0.0.3"]),   // re-addressed
            interface("eth2", false, &["192.0.2.7"]), // cable pulled
            // eth3 vanished
            interface("eth4", true, &["192.0.2.10"]), // new modem
        ];
        let changes = diff(&running, &survey(after, &policy, &running));
        assert_eq!(changes.len(), 4, "{changes:?}");
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
    }

    #[test]
    fn a_label_change_keeps_the_socket() {
        let mut policy = policy();
        let eth0 = vec![interface("eth0", true, &["192.0.2.5"])];
        let first = survey(eth0.clone(), &policy, &BTreeMap::new());
        let running = running(&[first[0].1.clone().unwrap()]);
        policy.labels.insert("eth0".into(), "Copper".into());
        let changes = diff(&running, &survey(eth0, &policy, &running));
        assert!(
            matches!(&changes[..], [Change::Relabel(spec)] if spec.label.as_deref() == Some("Copper"))
        );
    }
}
