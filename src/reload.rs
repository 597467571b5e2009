//! Live reload: on SIGHUP a daemon reads its configuration file again and
//! applies what can change while it runs, without touching what the change
//! does not concern.
//!
//! The file is read and checked by the same loader as at start, on a
//! blocking thread (it may resolve host names), so the actors carrying
//! packets never wait for it. A file that cannot be used is refused with the
//! same one-line error as at start, and the running configuration stays.
//!
//! What changes live:
//! - client: `excludedInterfaces`, `dstAddr`, `dstOverrides`,
//!   `interfaceLabels`, `linkSilenceTimeout`, `resolveInterval` (the
//!   InterfaceWatcher takes them and re-scans: only links whose
//!   destination, exclusion or label changed are touched);
//! - server: `clientTimeout` (the listener and every live client address);
//! - both: `description` and `webManager` (the management interface is
//!   restarted; if the new one cannot start, the previous one is started
//!   again).
//!
//! What needs a restart, and is logged as such: `listenAddr` on both,
//! the server's `dstAddr`, `dedup`, and the server's WireGuard awareness
//! (`wireguardAware`, `maxClients`, `maxAddressesPerClient`,
//! `allowedSources`). `writeTimeout` has no effect.

use crate::actors::interface_watcher::Reconfigure;
use crate::actors::server_listener::SetClientTimeout;
use crate::client::RunningClient;
use crate::config::{ClientConfig, ServerConfig, WebManagerConfig, load_client, load_server};
use crate::error::ConfigError;
use crate::interfaces::LinkPolicy;
use crate::server::RunningServer;
use crate::web::{self, WebServer};
use log::{error, info, warn};
use std::future::Future;
use std::path::{Path, PathBuf};

/// A running daemon that can take its configuration again.
pub trait Reload {
    /// Reads the configuration file again and applies it. Never fails: a
    /// file that cannot be used is reported and the running configuration stays.
    fn reload(&mut self) -> impl Future<Output = ()>;
}

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Keys whose new value is in force.
    pub changed: Vec<String>,
    /// Keys whose new value needs a restart (the old one stays in force).
    pub need_restart: Vec<String>,
}

impl Applied {
    fn log(&self) {
        if self.changed.is_empty() {
            info!("configuration reloaded: nothing to change");
        } else {
            info!(
                "configuration reloaded: {} applied",
                self.changed.join(", ")
            );
        }
        for key in &self.need_restart {
            warn!("{key} changed in the file: that needs a restart; the running value stays");
        }
    }
}

/// Reads `path` with `load` on a blocking thread.
async fn read<T: Send + 'static>(
    path: &Path,
    load: fn(&Path) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let path = path.to_path_buf();
    match tokio::task::spawn_blocking(move || load(&path)).await {
        Ok(result) => result,
        Err(join) => panic!("reading the configuration panicked: {join}"),
    }
}

/// Says that `error` made the reload fail, as at start (one line on
/// standard error, not through the logger), and that nothing changed.
fn refused(program: &str, error: &ConfigError) {
    eprintln!("{program}: {error}");
    warn!("configuration not reloaded (see the error above); the running configuration stays");
}

/// Restarts the management interface when its configuration or what it
/// shows changed; returns the configuration now in force.
async fn restart_web(
    web: &mut Option<WebServer>,
    old: &Option<WebManagerConfig>,
    new: &Option<WebManagerConfig>,
    context: impl Fn() -> web::Context,
) -> Option<WebManagerConfig> {
    if let Some(server) = web.take() {
        server.stop().await;
    }
    let Some(config) = new else {
        info!("management interface stopped");
        return None;
    };
    match web::start(config, context()) {
        Ok(server) => {
            *web = Some(server);
            new.clone()
        }
        Err(start_error) => {
            error!("the new management interface cannot start: {start_error}");
            let old_config = old.as_ref()?;
            match web::start(old_config, context()) {
                Ok(server) => {
                    warn!("the previous management interface runs again");
                    *web = Some(server);
                }
                Err(again) => {
                    error!("the previous management interface cannot start again: {again}")
                }
            }
            old.clone()
        }
    }
}

/// engarde-client with the configuration it runs with.
pub struct ClientDaemon {
    program: &'static str,
    path: PathBuf,
    config: ClientConfig,
    /// The running client.
    pub running: RunningClient,
}

impl ClientDaemon {
    /// A started client, `config` read from `path`.
    pub fn new(
        program: &'static str,
        path: PathBuf,
        config: ClientConfig,
        running: RunningClient,
    ) -> Self {
        Self {
            program,
            path,
            config,
            running,
        }
    }

    /// Applies `new` (already checked) in place of the running configuration.
    pub async fn apply(&mut self, new: ClientConfig) -> Applied {
        let old = &self.config;
        let mut applied = Applied::default();
        if new.listen_addr != old.listen_addr {
            applied.need_restart.push(format!(
                "client.listenAddr (still {})",
                self.running.listen_addr
            ));
        }
        if new.dedup != old.dedup {
            applied.need_restart.push("client.dedup".into());
        }
        let mut policy = LinkPolicy::from_config(&new);
        policy.excluded = new.excluded_interfaces.clone();
        match self
            .running
            .watcher
            .send(Reconfigure {
                policy,
                silence_timeout: new.link_silence_timeout,
                resolve_interval: new.resolve_interval,
            })
            .await
        {
            Ok(changed) => applied
                .changed
                .extend(changed.into_iter().map(|key| format!("client.{key}"))),
            Err(mailbox) => {
                error!("the interface watcher did not take the new configuration: {mailbox}")
            }
        }
        let mut effective = new.clone();
        if new.description != old.description {
            applied.changed.push("client.description".into());
        }
        if new.web_manager != old.web_manager || new.description != old.description {
            let mut web = self.running.web.take();
            let running = &self.running;
            effective.web_manager =
                restart_web(&mut web, &old.web_manager, &new.web_manager, || {
                    running.web_context(&new)
                })
                .await;
            self.running.web = web;
            if effective.web_manager == new.web_manager && new.web_manager != old.web_manager {
                applied.changed.push("client.webManager".into());
            }
        }
        effective.listen_addr = old.listen_addr;
        effective.dedup = old.dedup;
        self.config = effective;
        applied
    }
}

impl Reload for ClientDaemon {
    async fn reload(&mut self) {
        match read(&self.path, load_client).await {
            Ok(new) => self.apply(new).await.log(),
            Err(error) => refused(self.program, &error),
        }
    }
}

/// engarde-server with the configuration it runs with.
pub struct ServerDaemon {
    program: &'static str,
    path: PathBuf,
    config: ServerConfig,
    /// The running server.
    pub running: RunningServer,
}

impl ServerDaemon {
    /// A started server, `config` read from `path`.
    pub fn new(
        program: &'static str,
        path: PathBuf,
        config: ServerConfig,
        running: RunningServer,
    ) -> Self {
        Self {
            program,
            path,
            config,
            running,
        }
    }

    /// Applies `new` (already checked) in place of the running configuration.
    pub async fn apply(&mut self, new: ServerConfig) -> Applied {
        let old = &self.config;
        let mut applied = Applied::default();
        if new.listen_addr != old.listen_addr {
            applied.need_restart.push(format!(
                "server.listenAddr (still {})",
                self.running.listen_addr
            ));
        }
        if new.dst_addr != old.dst_addr {
            applied
                .need_restart
                .push(format!("server.dstAddr (still {})", old.dst_addr.text));
        }
        if new.dedup != old.dedup {
            applied.need_restart.push("server.dedup".into());
        }
        if new.wireguard_aware != old.wireguard_aware {
            applied.need_restart.push(
                "server.wireguardAware, maxClients, maxAddressesPerClient or allowedSources".into(),
            );
        }
        if new.client_timeout != old.client_timeout {
            self.running
                .listener
                .do_send(SetClientTimeout(new.client_timeout));
            applied.changed.push(format!(
                "server.clientTimeout ({} s)",
                new.client_timeout.as_secs()
            ));
        }
        let mut effective = new.clone();
        if new.description != old.description {
            applied.changed.push("server.description".into());
        }
        if new.web_manager != old.web_manager || new.description != old.description {
            let mut web = self.running.web.take();
            let running = &self.running;
            effective.web_manager =
                restart_web(&mut web, &old.web_manager, &new.web_manager, || {
                    running.web_context(&new)
                })
                .await;
            self.running.web = web;
            if effective.web_manager == new.web_manager && new.web_manager != old.web_manager {
                applied.changed.push("server.webManager".into());
            }
        }
        effective.listen_addr = old.listen_addr;
        effective.dst_addr = old.dst_addr.clone();
        effective.dedup = old.dedup;
        effective.wireguard_aware = old.wireguard_aware.clone();
        self.config = effective;
        applied
    }
}

impl Reload for ServerDaemon {
    async fn reload(&mut self) {
        match read(&self.path, load_server).await {
            Ok(new) => self.apply(new).await.log(),
            Err(error) => refused(self.program, &error),
        }
    }
}
