//! Network namespaces: created with `ip netns add`, deleted on drop, and
//! entered by threads (setns) so the lab's traffic sockets live inside them.

use super::cmd::{ip, run};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

/// Prefix of every namespace the lab creates, so stale ones can be found.
pub const PREFIX: &str = "eglab-";

/// A unique lab name for this process: `eglab-<pid>-<n>`.
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A network namespace owned by the lab; deleted (with its interfaces) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with its loopback up.
    pub fn create(name: &str) -> io::Result<Self> {
        run("ip", &["netns", "add", name])?;
        let ns = Self {
            name: name.to_string(),
        };
        ip(name, "link set lo up")?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `f` on a new thread inside the namespace; sockets it creates
    /// stay in the namespace when handed back.
    pub fn spawn<T, F>(&self, f: F) -> io::Result<JoinHandle<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let file = File::open(format!("/var/run/netns/{}", self.name))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            // SAFETY: setns on this thread only; the fd is a namespace file.
            let entered = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            let _ = ready_tx.send(if entered == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            });
            if entered != 0 {
                // Never run the caller's code in the wrong namespace.
                std::process::abort();
            }
            f()
        });
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("namespace thread died"))??;
        Ok(handle)
    }

    /// Runs `f` inside the namespace and returns its result.
    pub fn run<T, F>(&self, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.spawn(f)?
            .join()
            .map_err(|_| io::Error::other("code run inside the namespace panicked"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        kill_processes_in(&self.name);
        let _ = run("ip", &["netns", "del", &self.name]);
        let _ = std::fs::remove_dir_all(etc_dir(&self.name));
    }
}

/// `/etc/netns/NAME`: files there (a `hosts`, say) are mounted over
/// `/etc` for programs started with `ip netns exec NAME`.
pub fn etc_dir(name: &str) -> std::path::PathBuf {
    std::path::Path::new("/etc/netns").join(name)
}

/// Kills whatever still runs in namespace `name`.
fn kill_processes_in(name: &str) {
    if let Ok(pids) = run("ip", &["netns", "pids", name]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: plain kill(2) on a PID the kernel listed in our namespace.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Deletes lab namespaces left behind by processes that no longer exist
/// (a test run that was killed cannot clean up after itself).
pub fn sweep_stale() {
    let Ok(list) = run("ip", &["netns", "list"]) else {
        return;
    };
    for name in list
        .lines()
        .filter_map(|line| line.split_whitespace().next())
    {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            kill_processes_in(name);
            let _ = run("ip", &["netns", "del", name]);
            let _ = std::fs::remove_dir_all(etc_dir(name));
        }
    }
}
