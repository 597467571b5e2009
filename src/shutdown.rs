//! Waiting for SIGINT or SIGTERM, for a clean exit.

use log::info;
use tokio::signal::unix::{Signal, SignalKind, signal};

/// Handlers for SIGINT and SIGTERM. Installed before the daemon announces
/// it is listening, so a signal sent right after that line is never met by
/// the default action (death by signal instead of a clean exit).
pub struct ShutdownSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl ShutdownSignals {
    /// Installs the handlers; call from within the runtime.
    pub fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves when the process is asked to stop; returns the signal's name.
    pub async fn wait(mut self) -> &'static str {
        let name = tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        };
        info!("{name} received: shutting down");
        name
    }
}
