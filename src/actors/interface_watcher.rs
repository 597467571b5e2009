//! The InterfaceWatcher actor: keeps one LinkActor per usable interface and
//! address family.
//!
//! It reads the host's interfaces, asks the pure functions of
//! [`crate::interfaces`] what should run, and applies only the difference: a
//! link whose interface vanished, went down, lost its address or was
//! excluded is stopped; a new or re-addressed interface gets a new link.
//! Links that did not change are never touched.
//!
//! It reads the interfaces when the kernel says something changed (an
//! rtnetlink socket, [`crate::interfaces::netlink`]; a burst of messages
//! is one read, [`NETLINK_DEBOUNCE`] after the first), and every
//! `poll_interval` as a safety net (and the only way on other systems). The
//! netlink path decides nothing itself: every read goes through the same
//! survey and diff.
//!
//! Three more jobs share the actor because they change the same links:
//! host names of the destinations are resolved again every
//! `resolveInterval` (off the actor's thread), re-creating only the links
//! whose destination changed; links that hear nothing while others hear the
//! server are re-created ([`crate::interfaces::silence`]); and a reloaded
//! configuration ([`Reconfigure`]) replaces the policy.
//!
//! It also owns the exclusions changed at run time (a change re-scans at
//! once, so an excluded link stops within the call) and one set of counters
//! per link (interface and family) that outlives the links started for it;
//! `super::interface_report` answers the management interface's questions
//! and requests.

use super::link::LinkActor;
use super::messages::{PacketSender, PathId, Relabel, Stop};
use super::wireguard_endpoint::WireGuardEndpoint;
use crate::config::Destination;
use crate::interfaces::silence::SilenceWatch;
use crate::interfaces::{
    Change, Exclusions, InterfaceInfo, LinkKey, LinkPolicy, LinkSpec, StopReason, Survey, diff,
    survey,
};
use crate::log_limit::{LogLimiter, suppressed_note};
use crate::net::socket::link_socket;
use crate::stats::{PathStats, get};
use actix::prelude::*;
use log::{debug, info, warn};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often the host's interfaces are read when nothing announces a change.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often the carrier of the interfaces that carry links is read from
/// sysfs (a few bytes each). The kernel sets the carrier at once but may
/// publish its netlink message up to a second later (linkwatch batches
/// carrier changes of physical NICs at most once a second): this notices a
/// pulled cable within this interval even then, and only triggers a read of
/// every interface, as a netlink message does.
pub const CARRIER_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// How long after the first netlink message the interfaces are read, so a
/// burst of messages (an interface going down drops its routes, addresses
/// and neighbours in one go) costs one read.
pub const NETLINK_DEBOUNCE: Duration = Duration::from_millis(5);

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

/// How the watcher works, beyond what decides links.
#[derive(Debug, Clone, Copy)]
pub struct WatcherSettings {
    /// How often the interfaces are read without a netlink message.
    pub poll_interval: Duration,
    /// Listen for netlink messages (Linux; discovered links only).
    pub netlink: bool,
    /// A link silent this long while others hear the server is re-created
    /// (zero: never).
    pub silence_timeout: Duration,
    /// How often host names are resolved again (zero: never).
    pub resolve_interval: Duration,
}

impl Default for WatcherSettings {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            netlink: true,
            silence_timeout: crate::config::DEFAULT_LINK_SILENCE_TIMEOUT,
            resolve_interval: crate::config::DEFAULT_RESOLVE_INTERVAL,
        }
    }
}

/// A link the watcher started.
pub struct RunningLink {
    /// What it runs with.
    pub spec: LinkSpec,
    /// The address its socket is bound to (the port chosen by the kernel).
    pub local: Option<SocketAddr>,
    /// The actor.
    pub actor: Addr<LinkActor>,
    /// Its counters.
    pub stats: Arc<PathStats>,
}

/// The actor.
pub struct InterfaceWatcher {
    pub(super) source: LinkSource,
    settings: WatcherSettings,
    endpoint: Addr<WireGuardEndpoint>,
    to_wireguard: PacketSender,
    pub(super) running: BTreeMap<LinkKey, RunningLink>,
    next_id: PathId,
    /// The configured exclusions and those swapped at run time.
    pub(super) exclusions: Exclusions,
    /// The last survey of the host's interfaces (discovered links only),
    /// kept to tell the management interface why an interface is unused.
    pub(super) last_survey: Survey,
    /// Per link (interface and family): counters shared by every link
    /// started for it, so totals survive a link being stopped and started again.
    pub(super) totals: BTreeMap<LinkKey, Arc<PathStats>>,
    /// Per running link: how long it has heard nothing, and its backoff.
    pub(super) silence: BTreeMap<LinkKey, SilenceWatch>,
    /// Per link: socket-opening failures, logged at most once per interval.
    open_failures: BTreeMap<LinkKey, LogLimiter>,
    discover_error_log: LogLimiter,
    resolve_error_log: LogLimiter,
    /// A read of the interfaces is scheduled (netlink debounce).
    scan_pending: bool,
    /// A resolution of host names is under way.
    resolving: bool,
    /// The timers that depend on settings, to replace them on a reload.
    silence_timer: Option<SpawnHandle>,
    resolve_timer: Option<SpawnHandle>,
}

impl InterfaceWatcher {
    /// A watcher that will start links sending through `endpoint`.
    pub fn new(
        source: LinkSource,
        settings: WatcherSettings,
        endpoint: Addr<WireGuardEndpoint>,
        to_wireguard: PacketSender,
    ) -> Self {
        let exclusions = match &source {
            LinkSource::Discovered { policy, .. } => Exclusions::new(policy.excluded.clone()),
            LinkSource::Fixed(_) => Exclusions::default(),
        };
        Self {
            source,
            settings,
            endpoint,
            to_wireguard,
            running: BTreeMap::new(),
            next_id: 1,
            exclusions,
            last_survey: Vec::new(),
            totals: BTreeMap::new(),
            silence: BTreeMap::new(),
            open_failures: BTreeMap::new(),
            discover_error_log: LogLimiter::default(),
            resolve_error_log: LogLimiter::default(),
            scan_pending: false,
            resolving: false,
            silence_timer: None,
            resolve_timer: None,
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

    /// The links running now, by identity, as the survey and diff see them.
    fn running_specs(&self) -> BTreeMap<LinkKey, LinkSpec> {
        self.running
            .iter()
            .map(|(key, link)| (key.clone(), link.spec.clone()))
            .collect()
    }

    pub(super) fn scan(&mut self) {
        let running = self.running_specs();
        let changes = match &mut self.source {
            LinkSource::Fixed(specs) => {
                let mut changes = Vec::new();
                for spec in specs.iter() {
                    let running = self.running.contains_key(&spec.key());
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

    /// Reads the interfaces soon if an interface that carries a link lost
    /// its carrier (see [`CARRIER_CHECK_INTERVAL`]).
    fn check_carriers(&mut self, ctx: &mut Context<Self>) {
        if !matches!(self.source, LinkSource::Discovered { .. }) {
            return;
        }
        let mut checked: Option<&str> = None;
        for key in self.running.keys() {
            if checked == Some(key.interface.as_str()) {
                continue;
            }
            checked = Some(key.interface.as_str());
            if crate::interfaces::has_carrier(&key.interface) == Some(false) {
                self.schedule_scan(ctx);
                return;
            }
        }
    }

    /// Reads the interfaces soon: a burst of netlink messages is one read.
    fn schedule_scan(&mut self, ctx: &mut Context<Self>) {
        if !self.scan_pending {
            self.scan_pending = true;
            ctx.run_later(NETLINK_DEBOUNCE, |watcher, _| {
                watcher.scan_pending = false;
                watcher.scan();
            });
        }
    }

    fn apply(&mut self, change: Change) {
        match change {
            Change::Start(spec) => self.start_link(spec, "new usable interface"),
            Change::Stop(spec, reason) => {
                info!("link {} removed: {reason}", spec.display_name());
                self.stop_link(&spec.key(), reason.to_string());
            }
            Change::Replace { old, new } => {
                let why = Change::replace_reason(&old, &new);
                info!("link {} re-created: {why}", new.display_name());
                self.stop_link(&old.key(), why);
                self.start_link(new, "re-created");
            }
            Change::Relabel(spec) => {
                if let Some(link) = self.running.get_mut(&spec.key()) {
                    link.actor.do_send(Relabel {
                        label: spec.label.clone(),
                    });
                    link.spec = spec;
                }
            }
        }
    }

    fn start_link(&mut self, spec: LinkSpec, why: &str) {
        let key = spec.key();
        let socket = link_socket(spec.source, spec.device.as_deref())
            .and_then(tokio::net::UdpSocket::from_std);
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                // The interface may be mid-change (address still tentative, …): retried next poll.
                let limiter = self.open_failures.entry(key).or_default();
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
        self.open_failures.remove(&key);
        let id = self.next_id;
        self.next_id += 1;
        let local = socket.local_addr().ok();
        info!(
            "link {} up ({why}): {} -> {}",
            spec.display_name(),
            local.map_or_else(|| spec.source.to_string(), |a| a.to_string()),
            spec.destination_display()
        );
        let totals = Arc::clone(
            self.totals
                .entry(key.clone())
                .or_insert_with(|| Arc::new(PathStats::new())),
        );
        let link = LinkActor::new(
            id,
            spec.clone(),
            socket,
            self.endpoint.clone(),
            self.to_wireguard.clone(),
        )
        .with_stats(Arc::clone(&totals));
        let stats = link.stats();
        let actor = link.start();
        let (own, others) = self.received(&key);
        self.silence
            .insert(key.clone(), SilenceWatch::new(Instant::now(), own, others));
        self.running.insert(
            key,
            RunningLink {
                spec,
                local,
                actor,
                stats,
            },
        );
    }

    fn stop_link(&mut self, key: &LinkKey, reason: String) {
        self.silence.remove(key);
        if let Some(link) = self.running.remove(key) {
            link.actor.do_send(Stop { reason });
        }
    }

    /// Datagrams received from the server by link `key`, and by every other
    /// link, since start (totals never go down, so differences are meaningful).
    fn received(&self, key: &LinkKey) -> (u64, u64) {
        let mut own = 0;
        let mut others = 0;
        for (k, stats) in &self.totals {
            if k == key {
                own = get(&stats.rx_packets);
            } else {
                others += get(&stats.rx_packets);
            }
        }
        (own, others)
    }

    /// Re-creates the links that heard nothing while the others heard the server.
    fn check_silence(&mut self) {
        let timeout = self.settings.silence_timeout;
        let now = Instant::now();
        let mut zombies = Vec::new();
        let keys: Vec<LinkKey> = self.running.keys().cloned().collect();
        for key in keys {
            let (own, others) = self.received(&key);
            let Some(watch) = self.silence.get_mut(&key) else {
                continue;
            };
            if let Some(silence) = watch.check(now, own, others, timeout) {
                zombies.push((key, silence));
            }
        }
        for (key, silence) in zombies {
            let Some(link) = self.running.get(&key) else {
                continue;
            };
            let spec = link.spec.clone();
            let mut watch = self.silence.remove(&key).expect("checked above");
            let (own, others) = self.received(&key);
            watch.recreated(now, own, others);
            let why = format!(
                "heard nothing from the server for {:.1} s while the other links received {} datagrams from it{}",
                silence.silent_for.as_secs_f64(),
                silence.others_heard,
                if silence.failures > 0 {
                    format!(
                        " (again: re-created {} time{} in a row already; next try after {} s of silence)",
                        silence.failures,
                        if silence.failures == 1 { "" } else { "s" },
                        watch.threshold(timeout).as_secs()
                    )
                } else {
                    String::new()
                }
            );
            info!("link {} re-created: {why}", spec.display_name());
            self.stop_link(&key, why);
            self.start_link(spec, "re-created after silence");
            // Keep the backoff across the re-creation.
            if self.silence.contains_key(&key) {
                self.silence.insert(key, watch);
            }
        }
    }

    /// Starts (or restarts) the timers that depend on the settings.
    fn start_timers(&mut self, ctx: &mut Context<Self>) {
        if let Some(timer) = self.silence_timer.take() {
            ctx.cancel_future(timer);
        }
        if let Some(timer) = self.resolve_timer.take() {
            ctx.cancel_future(timer);
        }
        let timeout = self.settings.silence_timeout;
        if !timeout.is_zero() {
            let every = (timeout / 8).clamp(Duration::from_millis(100), Duration::from_secs(1));
            self.silence_timer =
                Some(ctx.run_interval(every, |watcher, _| watcher.check_silence()));
        }
        let interval = self.settings.resolve_interval;
        if !interval.is_zero() && !self.host_names().is_empty() {
            self.resolve_timer = Some(ctx.run_interval(interval, Self::resolve));
        }
    }

    /// Destination texts that are host names.
    fn host_names(&self) -> BTreeSet<String> {
        match &self.source {
            LinkSource::Discovered { policy, .. } => policy
                .destination
                .iter()
                .chain(policy.overrides.values())
                .filter(|d| d.is_host_name())
                .map(|d| d.text.clone())
                .collect(),
            LinkSource::Fixed(_) => BTreeSet::new(),
        }
    }

    /// Resolves every host name again, off the actor's thread.
    fn resolve(&mut self, ctx: &mut Context<Self>) {
        if self.resolving {
            return;
        }
        let names = self.host_names();
        if names.is_empty() {
            return;
        }
        self.resolving = true;
        let lookups = async move {
            let mut answers = Vec::new();
            for name in names {
                let answer = tokio::net::lookup_host(name.as_str())
                    .await
                    .map(crate::config::distinct);
                answers.push((name, answer));
            }
            answers
        };
        ctx.spawn(lookups.into_actor(self).map(|answers, watcher, _| {
            watcher.resolving = false;
            watcher.resolved(answers);
        }));
    }

    /// Takes new resolver answers; re-scans if a destination changed.
    fn resolved(&mut self, answers: Vec<(String, io::Result<Vec<SocketAddr>>)>) {
        let LinkSource::Discovered { policy, .. } = &mut self.source else {
            return;
        };
        let mut changed = false;
        for (name, answer) in answers {
            let answer = match answer {
                Ok(answer) if !answer.is_empty() => answer,
                Ok(_) | Err(_) => {
                    if let Some(suppressed) = self.resolve_error_log.allow() {
                        let why = answer
                            .err()
                            .map_or("no address".to_string(), |e| e.to_string());
                        warn!(
                            "cannot resolve {name} again ({why}); its links keep the last answer{}",
                            suppressed_note(suppressed)
                        );
                    }
                    continue;
                }
            };
            for destination in policy.destinations_mut() {
                if destination.text != name {
                    continue;
                }
                let refreshed = destination.refreshed(answer.clone());
                if refreshed.addrs != destination.addrs {
                    info!(
                        "{name} now resolves to {} (was {}); re-creating only the links whose destination changed",
                        list(&refreshed.addrs),
                        list(&destination.addrs)
                    );
                    *destination = refreshed;
                    changed = true;
                }
            }
        }
        if changed {
            self.scan();
        } else {
            debug!("host names resolved again; nothing changed");
        }
    }

    /// Applies a reloaded configuration; returns what it changed, in words.
    fn reconfigure(&mut self, new: Reconfigure, ctx: &mut Context<Self>) -> Vec<String> {
        let mut changed = Vec::new();
        if let LinkSource::Discovered { policy, .. } = &mut self.source {
            let keep_choice = |old: Option<&Destination>, new: Destination| match old {
                Some(old) if old.text == new.text => old.refreshed(new.addrs),
                _ => new,
            };
            let destination = new
                .policy
                .destination
                .map(|d| keep_choice(policy.destination.as_ref(), d));
            if destination.as_ref().map(|d| &d.text) != policy.destination.as_ref().map(|d| &d.text)
            {
                changed.push("dstAddr".to_string());
            }
            let overrides: BTreeMap<String, Destination> = new
                .policy
                .overrides
                .into_iter()
                .map(|(name, d)| {
                    let d = keep_choice(policy.overrides.get(&name), d);
                    (name, d)
                })
                .collect();
            if overrides
                .iter()
                .map(|(n, d)| (n, &d.text))
                .ne(policy.overrides.iter().map(|(n, d)| (n, &d.text)))
            {
                changed.push("dstOverrides".to_string());
            }
            if new.policy.labels != policy.labels {
                changed.push("interfaceLabels".to_string());
            }
            policy.destination = destination;
            policy.overrides = overrides;
            policy.labels = new.policy.labels;
        }
        let mut exclusions = self.exclusions.clone();
        let forgotten = exclusions.reconfigure(new.policy.excluded);
        if exclusions != self.exclusions {
            changed.push("excludedInterfaces".to_string());
            if !forgotten.is_empty() {
                info!(
                    "the reloaded excludedInterfaces decide again for {} (their change from the management interface is forgotten)",
                    forgotten.join(", ")
                );
            }
        }
        self.set_exclusions(exclusions);
        if new.silence_timeout != self.settings.silence_timeout {
            changed.push("linkSilenceTimeout".to_string());
        }
        if new.resolve_interval != self.settings.resolve_interval {
            changed.push("resolveInterval".to_string());
        }
        self.settings.silence_timeout = new.silence_timeout;
        self.settings.resolve_interval = new.resolve_interval;
        self.start_timers(ctx);
        self.scan();
        changed
    }
}

/// `a, b, c` for a log line.
fn list(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Actor for InterfaceWatcher {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        #[cfg(target_os = "linux")]
        if self.settings.netlink && matches!(self.source, LinkSource::Discovered { .. }) {
            // Subscribe before the first read, so no change falls in between.
            match crate::interfaces::netlink::InterfaceEvents::open() {
                Ok(events) => {
                    ctx.add_stream(events);
                }
                Err(error) => warn!(
                    "cannot listen for interface changes ({error}); reading the interfaces every {} ms only",
                    self.settings.poll_interval.as_millis()
                ),
            }
        }
        self.scan();
        // Fixed links poll too: a socket that failed to open is retried.
        ctx.run_interval(self.settings.poll_interval, |watcher, _| watcher.scan());
        ctx.run_interval(CARRIER_CHECK_INTERVAL, Self::check_carriers);
        self.start_timers(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (_, link) in std::mem::take(&mut self.running) {
            link.actor.do_send(Stop {
                reason: "shutting down".into(),
            });
        }
    }
}

#[cfg(target_os = "linux")]
impl StreamHandler<crate::interfaces::netlink::NetlinkEvent> for InterfaceWatcher {
    fn handle(&mut self, event: crate::interfaces::netlink::NetlinkEvent, ctx: &mut Self::Context) {
        if event == crate::interfaces::netlink::NetlinkEvent::Overflow {
            debug!("interface change notifications overflowed; reading every interface again");
        }
        self.schedule_scan(ctx);
    }

    /// The notifications stopped (logged by the stream): the poll carries on.
    fn finished(&mut self, _: &mut Self::Context) {}
}

/// A reloaded client configuration, for the watcher.
#[derive(Message)]
#[rtype(result = "Vec<String>")]
pub struct Reconfigure {
    /// Destinations, overrides, labels and configured exclusions.
    pub policy: LinkPolicy,
    /// `linkSilenceTimeout`.
    pub silence_timeout: Duration,
    /// `resolveInterval`.
    pub resolve_interval: Duration,
}

impl Handler<Reconfigure> for InterfaceWatcher {
    type Result = Vec<String>;

    fn handle(&mut self, message: Reconfigure, ctx: &mut Self::Context) -> Vec<String> {
        self.reconfigure(message, ctx)
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
    /// The address its socket is bound to.
    pub local: Option<SocketAddr>,
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
                local: link.local,
                stats: Arc::clone(&link.stats),
            })
            .collect()
    }
}
