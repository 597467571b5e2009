//! Waiting for SIGINT or SIGTERM (a clean exit) and SIGHUP (reload the
//! configuration).

use log::info;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalRequest {
    /// SIGINT or SIGTERM: stop (the signal's name).
    Stop(&'static str),
    /// SIGHUP: read the configuration again.
    Reload,
}

/// Handlers for SIGINT, SIGTERM and SIGHUP. Installed before the daemon
/// announces it is listening, so a signal sent right after that line is
/// never met by the default action (death by signal instead of a clean
/// exit, or of a reload).
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
    hangup: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers; call from within the runtime.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Resolves at the next signal.
    pub async fn next(&mut self) -> SignalRequest {
        let request = tokio::select! {
            _ = self.interrupt.recv() => SignalRequest::Stop("SIGINT"),
            _ = self.terminate.recv() => SignalRequest::Stop("SIGTERM"),
            _ = self.hangup.recv() => SignalRequest::Reload,
        };
        match request {
            SignalRequest::Stop(name) => info!("{name} received: shutting down"),
            SignalRequest::Reload => info!("SIGHUP received: reloading the configuration"),
        }
        request
    }

    /// Resolves when the process is asked to stop (SIGHUP is ignored);
    /// returns the signal's name.
    pub async fn wait(mut self) -> &'static str {
        loop {
            if let SignalRequest::Stop(name) = self.next().await {
                return name;
            }
        }
    }
}
