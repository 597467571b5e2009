//! The InterfaceWatcher actor: keeps one LinkActor per usable interface.
//!
//! Every `poll_interval` it reads the host's interfaces, asks the pure
//! functions of [`crate::interfaces`] what should run, and applies only the
//! difference: a link whose interface vanished, went down, lost its address
//! or was excluded is stopped; a new or re-addressed interface gets a new
//! link. Links that did not change are never touched.
//!
//! It also owns the exclusions changed at run time (a change re-scans at
//! once, so an excluded link stops within the call) and one set of counters
//! per interface that outlives the links on it; `super::interface_report`
//! answers the management interface's questions and requests.

use super::link::LinkActor;
use super::messages::{PacketSender, PathId, Relabel, Stop};
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::interfaces::{
    Change, Exclusions, InterfaceInfo, LinkPolicy, LinkSpec, StopReason, Survey, diff, survey,
};
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::socket::link_socket;
use crate::stats::PathStats;
use actix::prelude::*;
use log::{info, warn};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// How often the host's interfaces are read.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Where the watcher's links come from.
pub enum LinkSource {
    /// The host's interfaces, read with `discover` every poll.
    Discovered {
        /// Reads the interfaces (the real one is [`crate::interfaces::discover`]).
        discover: Box<dyn FnMut() -> io::Result<Vec<InterfaceInfo>>>,
        /// What decides which interfaces carry links.
        policy: LinkPolicy,
    },
    /// A fixed set of links, opened once (tests, or hosts without interface discovery).
    Fixed(Vec<LinkSpec>),
}

/// A link the watcher started.
pub struct RunningLink {
    /// What it runs with.
    pub spec: LinkSpec,
    /// The actor.
    pub actor: Addr<LinkActor>,
    /// Its counters.
    pub stats: Arc<PathStats>,
}

/// The actor.
pub struct InterfaceWatcher {
    pub(super) source: LinkSource,
    poll_interval: Duration,
    endpoint: Addr<WireGuardEndpoint>,
    to_wireguard: PacketSender,
    pub(super) running: BTreeMap<String, RunningLink>,
    next_id: PathId,
    /// The configured exclusions and those swapped at run time.
    pub(super) exclusions: Exclusions,
    /// The last survey of the host's interfaces (discovered links only),
    /// kept to tell the management interface why an interface is unused.
    pub(super) last_survey: Survey,
    /// Per interface: counters shared by every link it has had, so totals
    /// survive a link being stopped and started again.
    pub(super) totals: BTreeMap<String, Arc<PathStats>>,
    /// Per interface: socket-opening failures, logged at most once per interval.
    open_failures: BTreeMap<String, LogLimiter>,
    discover_error_log: LogLimiter,
}

impl InterfaceWatcher {
    /// A watcher that will start links sending through `endpoint`.
    pub fn new(
        source: LinkSource,
        poll_interval: Duration,
        endpoint: Addr<WireGuardEndpoint>,
        to_wireguard: PacketSender,
    ) -> Self {
        let exclusions = match &source {
            LinkSource::Discovered { policy, .. } => Exclusions::new(policy.excluded.clone()),
            LinkSource::Fixed(_) => Exclusions::default(),
        };
        Self {
            source,
            poll_interval,
            endpoint,
            to_wireguard,
            running: BTreeMap::new(),
            next_id: 1,
            exclusions,
            last_survey: Vec::new(),
            totals: BTreeMap::new(),
            open_failures: BTreeMap::new(),
            discover_error_log: LogLimiter::default(),
        }
    }

    /// Excludes fixed links too (tests drive exclusions over loopback this way).
    pub fn with_configured_exclusions(mut self, excluded: BTreeSet<String>) -> Self {
        self.set_exclusions(Exclusions::new(excluded));
        self
    }

    /// Puts `exclusions` in force; the caller re-scans.
    pub(super) fn set_exclusions(&mut self, exclusions: Exclusions) {
        if let LinkSource::Discovered { policy, .. } = &mut self.source {
            policy.apply(&exclusions);
        }
        self.exclusions = exclusions;
    }

    pub(super) fn scan(&mut self) {
        let changes = match &mut self.source {
            LinkSource::Fixed(specs) => {
                let mut changes = Vec::new();
                for spec in specs.iter() {
                    let running = self.running.contains_key(&spec.name);
                    match self.exclusions.verdict(&spec.name) {
                        Some(reason) if running => {
                            changes.push(Change::Stop(spec.clone(), StopReason::Unusable(reason)))
                        }
                        None if !running => changes.push(Change::Start(spec.clone())),
                        _ => {}
                    }
                }
                changes
            }
            LinkSource::Discovered { discover, policy } => match discover() {
                Ok(interfaces) => {
                    let running: BTreeMap<String, LinkSpec> = self
                        .running
                        .iter()
                        .map(|(name, link)| (name.clone(), link.spec.clone()))
                        .collect();
                    self.last_survey = survey(interfaces, policy, &running);
                    diff(&running, &self.last_survey)
                }
                Err(error) => {
                    if let Some(suppressed) = self.discover_error_log.allow() {
                        warn!(
                            "cannot read the network interfaces: {error}{}",
                            suppressed_note(suppressed)
                        );
                    }
                    return;
                }
            },
        };
        for change in changes {
            self.apply(change);
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Start(spec) => self.start_link(spec, "new usable interface"),
            Change::Stop(spec, reason) => {
                info!("link {} removed: {reason}", spec.display_name());
                self.stop_link(&spec.name, reason.to_string());
            }
            Change::Replace { old, new } => {
                let why = if old.source != new.source {
                    format!("address changed from {} to {}", old.source, new.source)
                } else {
                    format!(
                        "destination changed from {} to {}",
                        old.destination, new.destination
                    )
                };
                info!("link {} re-created: {why}", new.display_name());
                self.stop_link(&old.name, why);
                self.start_link(new, "re-created");
            }
            Change::Relabel(spec) => {
                if let Some(link) = self.running.get_mut(&spec.name) {
                    link.actor.do_send(Relabel {
                        label: spec.label.clone(),
                    });
                    link.spec = spec;
                }
            }
        }
    }

    fn start_link(&mut self, spec: LinkSpec, why: &str) {
        let socket = link_socket(spec.source, spec.device.as_deref())
            .and_then(tokio::net::UdpSocket::from_std);
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                // The interface may be mid-change (address still tentative, …): retried next poll.
                let limiter = self.open_failures.entry(spec.name.clone()).or_default();
                if let Some(suppressed) = limiter.allow() {
                    warn!(
                        "link {}: cannot open a socket on {}: {error}; retrying{}",
                        spec.display_name(),
                        spec.source,
                        suppressed_note(suppressed)
                    );
                }
                return;
            }
        };
        self.open_failures.remove(&spec.name);
        let id = self.next_id;
        self.next_id += 1;
        info!(
            "link {} up ({why}): {} -> {}{}",
            spec.display_name(),
            socket
                .local_addr()
                .map_or_else(|_| spec.source.to_string(), |a| a.to_string()),
            spec.destination,
            if spec.destination_text != spec.destination.to_string() {
                format!(" ({})", spec.destination_text)
            } else {
                String::new()
            }
        );
        let totals = self
            .totals
            .entry(spec.name.clone())
            .or_insert_with(|| Arc::new(PathStats::new()));
        let link = LinkActor::new(
            id,
            spec.clone(),
            socket,
            self.endpoint.clone(),
            self.to_wireguard.clone(),
        )
        .with_stats(Arc::clone(totals));
        let stats = link.stats();
        let actor = link.start();
        self.running
            .insert(spec.name.clone(), RunningLink { spec, actor, stats });
    }

    fn stop_link(&mut self, name: &str, reason: String) {
        if let Some(link) = self.running.remove(name) {
            link.actor.do_send(Stop { reason });
        }
    }
}

impl Actor for InterfaceWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.scan();
        // Fixed links poll too: a socket that failed to open is retried.
        ctx.run_interval(self.poll_interval, |watcher, _| watcher.scan());
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (_, link) in std::mem::take(&mut self.running) {
            link.actor.do_send(Stop {
                reason: "shutting down".into(),
            });
        }
    }
}

/// Asks the watcher which links run now.
#[derive(Message)]
#[rtype(result = "Vec<LinkSnapshot>")]
pub struct ListLinks;

/// One running link as seen from outside.
#[derive(Debug, Clone)]
pub struct LinkSnapshot {
    /// What it runs with.
    pub spec: LinkSpec,
    /// Its counters.
    pub stats: Arc<PathStats>,
}

impl Handler<ListLinks> for InterfaceWatcher {
    type Result = Vec<LinkSnapshot>;

    fn handle(&mut self, _: ListLinks, _: &mut Self::Context) -> Vec<LinkSnapshot> {
        self.running
            .values()
            .map(|link| LinkSnapshot {
                spec: link.spec.clone(),
                stats: Arc::clone(&link.stats),
            })
            .collect()
    }
}
