//! Waiting for SIGINT or SIGTERM, for a clean exit.

use log::info;

/// Resolves when the process is asked to stop; returns the signal's name.
pub async fn wait_for_signal() -> std::io::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let name = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    info!("{name} received: shutting down");
    Ok(name)
}
