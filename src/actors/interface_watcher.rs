//! The InterfaceWatcher actor: keeps one LinkActor per usable interface.
//!
//! Every `poll_interval` it reads the host's interfaces, asks the pure
//! functions of [`crate::interfaces`] what should run, and applies only the
//! difference: a link whose interface vanished, went down, lost its address
//! or was excluded is stopped; a new or re-addressed interface gets a new
//! link. Links that did not change are never touched.

use super::link::LinkActor;
use super::messages::{PacketSender, PathId, Relabel, Stop};
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::interfaces::{Change, InterfaceInfo, LinkPolicy, LinkSpec, diff, survey};
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::socket::link_socket;
use crate::stats::PathStats;
use actix::prelude::*;
use log::{info, warn};
use std::collections::BTreeMap;
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
    source: LinkSource,
    poll_interval: Duration,
    endpoint: Addr<WireGuardEndpoint>,
    to_wireguard: PacketSender,
    running: BTreeMap<String, RunningLink>,
    next_id: PathId,
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
        Self {
            source,
            poll_interval,
            endpoint,
            to_wireguard,
            running: BTreeMap::new(),
            next_id: 1,
            open_failures: BTreeMap::new(),
            discover_error_log: LogLimiter::default(),
        }
    }

    fn scan(&mut self) {
        let changes = match &mut self.source {
            LinkSource::Fixed(specs) => {
                let wanted: Vec<LinkSpec> = specs
                    .iter()
                    .filter(|s| !self.running.contains_key(&s.name))
                    .cloned()
                    .collect();
                wanted.into_iter().map(Change::Start).collect()
            }
            LinkSource::Discovered { discover, policy } => match discover() {
                Ok(interfaces) => {
                    let running: BTreeMap<String, LinkSpec> = self
                        .running
                        .iter()
                        .map(|(name, link)| (name.clone(), link.spec.clone()))
                        .collect();
                    diff(&running, &survey(interfaces, policy, &running))
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
        let link = LinkActor::new(
            id,
            spec.clone(),
            socket,
            self.endpoint.clone(),
            self.to_wireguard.clone(),
        );
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
