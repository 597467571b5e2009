//! Process-wide switches for the batched system calls and UDP GSO.
//!
//! Both are on by default and can be turned off with `ENGARDE_BATCH_IO=0`
//! and `ENGARDE_GSO=0`, for kernels or sandboxes where they misbehave.
//! GSO is also turned off per socket, automatically, when the kernel
//! refuses it (see `send`).

use std::sync::atomic::{AtomicBool, Ordering};

static BATCHING: AtomicBool = AtomicBool::new(true);
static GSO: AtomicBool = AtomicBool::new(true);

/// Turns `recvmmsg`/`sendmmsg` batching on or off (one datagram per call when off).
pub fn set_batching(enabled: bool) {
    BATCHING.store(enabled, Ordering::Relaxed);
}

/// Whether batched system calls are in use.
pub fn batching() -> bool {
    BATCHING.load(Ordering::Relaxed)
}

/// Turns UDP generic segmentation offload on or off for new sends.
pub fn set_gso(enabled: bool) {
    GSO.store(enabled, Ordering::Relaxed);
}

/// Whether UDP GSO may be used.
pub fn gso() -> bool {
    GSO.load(Ordering::Relaxed)
}

/// Applies `ENGARDE_BATCH_IO` and `ENGARDE_GSO` (`0`, `off`, `false`, `no`
/// disable) from the environment.
pub fn configure_from_env() {
    let disabled = |name: &str| {
        std::env::var(name).is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false" | "no"))
    };
    if disabled("ENGARDE_BATCH_IO") {
        set_batching(false);
    }
    if disabled("ENGARDE_GSO") {
        set_gso(false);
    }
}
