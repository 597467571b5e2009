//! What the management interface reads, and how: actor requests bounded by
//! a timeout, and the data path's relaxed-atomic counters. It never takes a
//! lock the data path takes, and runs on its own thread, so a slow or
//! hostile HTTP client cannot slow the packet path.

use super::error::ApiError;
use crate::actors::interface_report::{
    ChangeExclusion, ExclusionOutcome, ExclusionRequest, InterfaceReport, ListInterfaces,
};
use crate::actors::interface_watcher::InterfaceWatcher;
use crate::actors::server_listener::{ClientSnapshot, ListClients, ServerListener};
use crate::stats::EndpointStats;
use actix::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// Longest wait for an actor's answer; past it the request gets a 503.
pub const ACTOR_TIMEOUT: Duration = Duration::from_secs(2);

/// Facts about the daemon that do not change while it runs.
#[derive(Debug, Clone)]
pub struct Facts {
    /// `description` from the configuration.
    pub description: String,
    /// The bound `listenAddr`.
    pub listen_address: String,
    /// The server's `dstAddr` as written (empty on the client).
    pub dst_address: String,
    /// When the process started (for `process_start_time_seconds`).
    pub started: SystemTime,
}

/// The daemon behind the interface.
#[derive(Clone)]
pub enum Daemon {
    /// engarde-client.
    Client {
        /// Owns the links and the exclusions.
        watcher: Addr<InterfaceWatcher>,
        /// The WireGuard-facing socket's counters.
        wireguard: Arc<EndpointStats>,
    },
    /// engarde-server.
    Server {
        /// Owns the client addresses.
        listener: Addr<ServerListener>,
        /// The WireGuard-facing socket's counters.
        wireguard: Arc<EndpointStats>,
    },
}

/// Everything a route needs.
#[derive(Clone)]
pub struct Context {
    /// Fixed facts.
    pub facts: Facts,
    /// Where live state comes from.
    pub daemon: Daemon,
}

/// The live state at one moment.
pub enum Snapshot {
    /// The client's interfaces.
    Client {
        /// Every interface, used or not.
        interfaces: Vec<InterfaceReport>,
        /// WireGuard-side counters.
        wireguard: Arc<EndpointStats>,
    },
    /// The server's client addresses.
    Server {
        /// Every live client address.
        clients: Vec<ClientSnapshot>,
        /// WireGuard-side counters.
        wireguard: Arc<EndpointStats>,
    },
}

impl Daemon {
    /// `client` or `server`.
    pub fn role(&self) -> &'static str {
        match self {
            Self::Client { .. } => "client",
            Self::Server { .. } => "server",
        }
    }

    /// Asks the owning actor for the current state.
    pub async fn snapshot(&self) -> Result<Snapshot, ApiError> {
        match self {
            Self::Client { watcher, wireguard } => {
                let mut interfaces = watcher
                    .send(ListInterfaces)
                    .timeout(ACTOR_TIMEOUT)
                    .await
                    .map_err(|_| ApiError::unavailable("the interface watcher"))?;
                interfaces.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(Snapshot::Client {
                    interfaces,
                    wireguard: Arc::clone(wireguard),
                })
            }
            Self::Server {
                listener,
                wireguard,
            } => {
                let mut clients = listener
                    .send(ListClients)
                    .timeout(ACTOR_TIMEOUT)
                    .await
                    .map_err(|_| ApiError::unavailable("the client listener"))?;
                clients.sort_by_key(|c| c.peer);
                Ok(Snapshot::Server {
                    clients,
                    wireguard: Arc::clone(wireguard),
                })
            }
        }
    }

    /// Changes exclusions (client only).
    pub async fn change_exclusion(
        &self,
        request: ExclusionRequest,
    ) -> Result<ExclusionOutcome, ApiError> {
        let Self::Client { watcher, .. } = self else {
            return Err(ApiError::not_found(
                "engarde-server has no interfaces to include or exclude",
            ));
        };
        watcher
            .send(ChangeExclusion(request))
            .timeout(ACTOR_TIMEOUT)
            .await
            .map_err(|_| ApiError::unavailable("the interface watcher"))?
            .map_err(|unknown| ApiError::not_found(unknown.to_string()))
    }
}

/// Shortest interval between two actor requests for a snapshot: a flood of
/// HTTP requests costs the actors' thread at most this many answers.
pub const SNAPSHOT_REUSE: Duration = Duration::from_millis(100);

/// Exclusion changes accepted per second; more get a 429.
pub const CHANGES_PER_SECOND: u32 = 20;

/// The [`Context`] with the limits that protect the actors from the web.
///
/// The mutexes are only ever taken on the web worker thread, never held
/// across an await, and never seen by the data path.
pub struct Shared {
    /// Facts and where live state comes from.
    pub context: Context,
    recent: Mutex<Option<(Instant, Arc<Snapshot>)>>,
    changes: Mutex<RateLimit>,
}

/// At most `limit` events per one-second window.
#[derive(Debug)]
pub struct RateLimit {
    limit: u32,
    window_start: Instant,
    count: u32,
}

impl RateLimit {
    /// `limit` events per second, starting at `now`.
    pub fn new(limit: u32, now: Instant) -> Self {
        Self {
            limit,
            window_start: now,
            count: 0,
        }
    }

    /// Counts an event at `now`; false when over the limit.
    pub fn allow(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.count = 0;
        }
        self.count < self.limit && {
            self.count += 1;
            true
        }
    }
}

impl Shared {
    /// Limits around `context`.
    pub fn new(context: Context) -> Self {
        Self {
            context,
            recent: Mutex::new(None),
            changes: Mutex::new(RateLimit::new(CHANGES_PER_SECOND, Instant::now())),
        }
    }

    /// The live state, reusing one taken less than [`SNAPSHOT_REUSE`] ago.
    /// Counters are read when rendered, so they are always current; only
    /// which links exist can be that old.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, ApiError> {
        if let Some((taken, snapshot)) = &*self.recent.lock().expect("not poisoned") {
            if taken.elapsed() < SNAPSHOT_REUSE {
                return Ok(Arc::clone(snapshot));
            }
        }
        let snapshot = Arc::new(self.context.daemon.snapshot().await?);
        *self.recent.lock().expect("not poisoned") = Some((Instant::now(), Arc::clone(&snapshot)));
        Ok(snapshot)
    }

    /// Changes exclusions, at most [`CHANGES_PER_SECOND`] times a second.
    pub async fn change_exclusion(
        &self,
        request: ExclusionRequest,
    ) -> Result<ExclusionOutcome, ApiError> {
        let allowed = self
            .changes
            .lock()
            .expect("not poisoned")
            .allow(Instant::now());
        if !allowed {
            return Err(ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                format!("more than {CHANGES_PER_SECOND} changes a second; slow down"),
            ));
        }
        let outcome = self.context.daemon.change_exclusion(request).await;
        // The next read must show the change.
        *self.recent.lock().expect("not poisoned") = None;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_a_burst_per_second() {
        let start = Instant::now();
        let mut limit = RateLimit::new(3, start);
        assert!((0..3).all(|_| limit.allow(start)));
        assert!(!limit.allow(start + Duration::from_millis(999)));
        assert!(limit.allow(start + Duration::from_secs(1)), "a new window");
        assert!(limit.allow(start + Duration::from_millis(1500)));
        assert!(limit.allow(start + Duration::from_millis(1900)));
        assert!(!limit.allow(start + Duration::from_millis(1950)));
    }
}
