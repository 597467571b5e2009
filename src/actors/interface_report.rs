//! What the InterfaceWatcher tells and lets the management interface do:
//! a report of every interface (used or not, and why), and run-time
//! exclusions (include, exclude, swap, reset) that take effect at once.
//!
//! Kept apart from the watcher's polling logic; both are the same actor.

use super::interface_watcher::{InterfaceWatcher, LinkSource};
use crate::interfaces::{Family, LinkKey, LinkSpec, Unusable, is_usable_address};
use crate::stats::PathStats;
use actix::prelude::*;
use log::info;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Whether an interface carries a link, with the Go engarde's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStatus {
    /// A link runs on it.
    Active,
    /// Not excluded, but not usable now (down, no address, loopback, …).
    Idle,
    /// Excluded, by the configuration or at run time.
    Excluded,
}

impl LinkStatus {
    /// `active`, `idle` or `excluded`, as the Go API says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Idle => "idle",
            Self::Excluded => "excluded",
        }
    }
}

/// One interface as the management interface shows it.
#[derive(Debug, Clone)]
pub struct InterfaceReport {
    /// Interface name.
    pub name: String,
    /// Its `interfaceLabels` entry.
    pub label: Option<String>,
    /// Active, idle or excluded.
    pub status: LinkStatus,
    /// Why it carries no link (`None` when active).
    pub reason: Option<String>,
    /// The same as one word ([`Unusable::code`], or `socket` when its
    /// socket could not be opened yet).
    pub reason_code: Option<&'static str>,
    /// Its exclusion was changed at run time (differs from the configuration).
    pub changed_at_run_time: bool,
    /// Its addresses (for fixed links, the link's source address).
    pub addresses: Vec<IpAddr>,
    /// Its first link's source address (IPv4 first), or the address it would use.
    pub sender_address: Option<IpAddr>,
    /// Where its links send, as configured (`dstAddr` or its override).
    pub destination: Option<String>,
    /// Its links, one per family it has or had (IPv4 first).
    pub links: Vec<LinkReport>,
}

impl InterfaceReport {
    /// The counters of every link it has had (empty if it never had one).
    pub fn stats(&self) -> impl Iterator<Item = &Arc<PathStats>> {
        self.links.iter().filter_map(|link| link.stats.as_ref())
    }
}

/// One link (interface and family) as the management interface shows it.
#[derive(Debug, Clone)]
pub struct LinkReport {
    /// Its identity.
    pub key: LinkKey,
    /// A socket is open for it now.
    pub active: bool,
    /// Its source address (running, or the one it would use); `None` when
    /// the interface has no usable address of the family now.
    pub source: Option<IpAddr>,
    /// The address its socket is bound to, port included (running only).
    pub local: Option<SocketAddr>,
    /// Its destination as configured (a host name stays a name).
    pub destination_text: Option<String>,
    /// The address it sends to.
    pub destination: Option<SocketAddr>,
    /// Counters of every link it has had (`None` if it never had one).
    pub stats: Option<Arc<PathStats>>,
    /// Times it was re-created in a row for hearing nothing while other
    /// links heard the server (0 once it hears the server).
    pub silent_recreations: u32,
}

/// Asks the watcher for every interface it knows.
#[derive(Message)]
#[rtype(result = "Vec<InterfaceReport>")]
pub struct ListInterfaces;

/// A change of run-time exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExclusionRequest {
    /// Use the interface again.
    Include(String),
    /// Stop using the interface.
    Exclude(String),
    /// Flip its state (the Go `swap-exclusion`).
    Swap(String),
    /// Forget every run-time change.
    Reset,
}

/// Asks the watcher to change exclusions; it re-scans at once.
#[derive(Message)]
#[rtype(result = "Result<ExclusionOutcome, UnknownInterface>")]
pub struct ChangeExclusion(pub ExclusionRequest);

/// What an exclusion request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExclusionOutcome {
    /// One interface's state after the request.
    Interface {
        /// The interface.
        name: String,
        /// Excluded now.
        excluded: bool,
        /// The request changed its state.
        changed: bool,
    },
    /// Interfaces a reset changed.
    Reset {
        /// Their names.
        changed: Vec<String>,
    },
}

/// An exclusion request named an interface the watcher does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownInterface(pub String);

impl fmt::Display for UnknownInterface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown interface {:?}", self.0)
    }
}

/// Why a usable interface has no link: opening its socket failed (retried each poll).
const NO_SOCKET: &str = "its socket could not be opened yet";

impl InterfaceWatcher {
    fn report(&self) -> Vec<InterfaceReport> {
        let mut reports = Vec::new();
        match &self.source {
            LinkSource::Discovered { policy, .. } => {
                for (interface, verdict) in &self.last_survey {
                    let name = &interface.name;
                    let active = self.is_active(name);
                    let usable = interface.addresses.iter().copied().find(is_usable_address);
                    let wanted: &[LinkSpec] = verdict.as_deref().unwrap_or_default();
                    let links = self.link_reports(name, wanted);
                    reports.push(InterfaceReport {
                        name: name.clone(),
                        label: policy.labels.get(name).cloned(),
                        status: self.status(name),
                        reason: match (active, verdict) {
                            (true, _) => None,
                            (false, Err(reason)) => Some(reason.to_string()),
                            (false, Ok(_)) => Some(NO_SOCKET.into()),
                        },
                        reason_code: match (active, verdict) {
                            (true, _) => None,
                            (false, Err(reason)) => Some(reason.code()),
                            (false, Ok(_)) => Some("socket"),
                        },
                        changed_at_run_time: self.exclusions.is_swapped(name),
                        addresses: interface.addresses.clone(),
                        sender_address: links.iter().find_map(|l| l.source).or(usable),
                        destination: links
                            .iter()
                            .find_map(|l| l.destination_text.clone())
                            .or_else(|| policy.destination_for(name).map(|d| d.text.clone())),
                        links,
                    });
                }
            }
            LinkSource::Fixed(specs) => {
                for spec in specs {
                    let running = self.is_active(&spec.name);
                    let verdict: Option<Unusable> = self.exclusions.verdict(&spec.name);
                    reports.push(InterfaceReport {
                        name: spec.name.clone(),
                        label: spec.label.clone(),
                        status: self.status(&spec.name),
                        reason: match &verdict {
                            _ if running => None,
                            Some(reason) => Some(reason.to_string()),
                            None => Some(NO_SOCKET.into()),
                        },
                        reason_code: match &verdict {
                            _ if running => None,
                            Some(reason) => Some(reason.code()),
                            None => Some("socket"),
                        },
                        changed_at_run_time: self.exclusions.is_swapped(&spec.name),
                        addresses: vec![spec.source],
                        sender_address: Some(spec.source),
                        destination: Some(spec.destination_text.clone()),
                        links: self.link_reports(&spec.name, std::slice::from_ref(spec)),
                    });
                }
            }
        }
        reports
    }

    /// The links of interface `name`: running ones, those the survey wants
    /// (`wanted`) but could not open, and those it had before.
    fn link_reports(&self, name: &str, wanted: &[LinkSpec]) -> Vec<LinkReport> {
        let mut links = Vec::new();
        for family in Family::ALL {
            let key = LinkKey::new(name, family);
            let running = self.running.get(&key);
            let spec = running
                .map(|link| &link.spec)
                .or_else(|| wanted.iter().find(|spec| spec.key() == key));
            let stats = self.totals.get(&key).cloned();
            if spec.is_none() && stats.is_none() {
                continue;
            }
            links.push(LinkReport {
                active: running.is_some(),
                source: spec.map(|spec| spec.source),
                local: running.and_then(|link| link.local),
                destination_text: spec.map(|spec| spec.destination_text.clone()),
                destination: spec.map(|spec| spec.destination),
                stats,
                silent_recreations: self.silence.get(&key).map_or(0, |w| w.failures()),
                key,
            });
        }
        links
    }

    /// True when a link runs on interface `name` (any family).
    fn is_active(&self, name: &str) -> bool {
        Family::ALL
            .into_iter()
            .any(|family| self.running.contains_key(&LinkKey::new(name, family)))
    }

    fn status(&self, name: &str) -> LinkStatus {
        if self.is_active(name) {
            LinkStatus::Active
        } else if self.exclusions.is_excluded(name) {
            LinkStatus::Excluded
        } else {
            LinkStatus::Idle
        }
    }

    /// Names an exclusion request may use: interfaces seen, and names the
    /// exclusions already mention (an interface may be gone for a moment).
    fn known(&self, name: &str) -> bool {
        let seen = match &self.source {
            LinkSource::Discovered { .. } => self.last_survey.iter().any(|(i, _)| i.name == name),
            LinkSource::Fixed(specs) => specs.iter().any(|spec| spec.name == name),
        };
        seen || self.is_active(name) || self.exclusions.names().any(|n| n == name)
    }

    fn change(&mut self, request: ExclusionRequest) -> Result<ExclusionOutcome, UnknownInterface> {
        let mut exclusions = self.exclusions.clone();
        let outcome = match request {
            ExclusionRequest::Reset => {
                let changed = exclusions.reset();
                if changed.is_empty() {
                    info!("management interface: exclusions reset; nothing had changed");
                } else {
                    info!(
                        "management interface: exclusions reset to the configuration for {}",
                        changed.join(", ")
                    );
                }
                ExclusionOutcome::Reset { changed }
            }
            ExclusionRequest::Include(name)
            | ExclusionRequest::Exclude(name)
            | ExclusionRequest::Swap(name)
                if !self.known(&name) =>
            {
                return Err(UnknownInterface(name));
            }
            ExclusionRequest::Include(name) => {
                let changed = exclusions.include(&name);
                one(name, false, changed)
            }
            ExclusionRequest::Exclude(name) => {
                let changed = exclusions.exclude(&name);
                one(name, true, changed)
            }
            ExclusionRequest::Swap(name) => {
                let excluded = exclusions.swap(&name);
                one(name, excluded, true)
            }
        };
        self.set_exclusions(exclusions);
        self.scan();
        Ok(outcome)
    }
}

/// Logs and describes the new state of one interface.
fn one(name: String, excluded: bool, changed: bool) -> ExclusionOutcome {
    let what = if excluded { "excluded" } else { "included" };
    if changed {
        info!("interface {name} {what} from the management interface (until restart or reset)");
    } else {
        info!("interface {name}: already {what}; the management interface changed nothing");
    }
    ExclusionOutcome::Interface {
        name,
        excluded,
        changed,
    }
}

impl Handler<ListInterfaces> for InterfaceWatcher {
    type Result = Vec<InterfaceReport>;

    fn handle(&mut self, _: ListInterfaces, _: &mut Self::Context) -> Vec<InterfaceReport> {
        self.report()
    }
}

impl Handler<ChangeExclusion> for InterfaceWatcher {
    type Result = Result<ExclusionOutcome, UnknownInterface>;

    fn handle(&mut self, message: ChangeExclusion, _: &mut Self::Context) -> Self::Result {
        self.change(message.0)
    }
}
