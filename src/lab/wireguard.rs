//! Real WireGuard for the lab: wireguard-go instances configured with `wg`.
//!
//! wireguard-go's control socket is `/var/run/wireguard/NAME.sock` whatever
//! the namespace, so every instance gets a unique interface name; it runs in
//! the foreground (`-f`) so the lab owns its PID and ends it (GUIDE §5).

use super::cmd::{ip, run, run_in, run_with_input};
use super::process::Daemon;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A WireGuard key pair (base64, as `wg` prints them).
#[derive(Debug, Clone)]
pub struct KeyPair {
    /// The private key.
    pub private: String,
    /// Its public key.
    pub public: String,
}

impl KeyPair {
    /// A fresh key pair from `wg genkey` / `wg pubkey`.
    pub fn generate() -> io::Result<Self> {
        let private = run("wg", &["genkey"])?.trim().to_string();
        let public = run_with_input("wg", &["pubkey"], Some(&private))?
            .trim()
            .to_string();
        Ok(Self { private, public })
    }
}

/// A unique interface name of at most 15 bytes: `egw<pid mod 100000>x<n>`.
pub fn unique_interface_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "egw{}x{}",
        std::process::id() % 100_000,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One WireGuard peer of an instance.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The peer's public key.
    pub public_key: String,
    /// Its allowed IPs, e.g. `10.99.0.2/32`.
    pub allowed_ips: String,
    /// Its endpoint, if known in advance.
    pub endpoint: Option<String>,
    /// Persistent keepalive in seconds (0: off).
    pub keepalive: u16,
}

/// A running wireguard-go interface inside a namespace.
#[derive(Debug)]
pub struct WireGuard {
    /// Interface name.
    pub interface: String,
    /// Namespace it lives in.
    pub ns: String,
    /// Its UDP listen port.
    pub listen_port: u16,
    /// Its keys.
    pub keys: KeyPair,
    process: Daemon,
}

impl WireGuard {
    /// Starts wireguard-go in `ns`, gives it `address` (CIDR) and `keys`, and
    /// brings it up. Peers are added with [`WireGuard::add_peer`].
    pub fn start(
        ns: &str,
        address: &str,
        listen_port: u16,
        keys: KeyPair,
        dir: &Path,
    ) -> io::Result<Self> {
        let interface = unique_interface_name();
        let process = Daemon::start(
            &format!("wireguard-go {interface}"),
            ns,
            Path::new("wireguard-go"),
            &["-f", &interface],
            &[("LOG_LEVEL", "verbose")],
            dir.join(format!("{interface}.log")),
        )?;
        let mut wireguard = Self {
            interface,
            ns: ns.to_string(),
            listen_port,
            keys,
            process,
        };
        wireguard.wait_for_control_socket()?;
        let key_file = write_private_key(dir, &wireguard.interface, &wireguard.keys.private)?;
        run_in(
            ns,
            "wg",
            &[
                "set",
                &wireguard.interface,
                "private-key",
                key_file.to_str().expect("lab paths are UTF-8"),
                "listen-port",
                &listen_port.to_string(),
            ],
        )?;
        ip(
            ns,
            &format!("addr add {address} dev {}", wireguard.interface),
        )?;
        ip(ns, &format!("link set {} up", wireguard.interface))?;
        Ok(wireguard)
    }

    /// What wireguard-go printed.
    pub fn log(&self) -> String {
        self.process.log()
    }

    fn wait_for_control_socket(&mut self) -> io::Result<()> {
        let socket = PathBuf::from(format!("/var/run/wireguard/{}.sock", self.interface));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            self.process.check_running()?;
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "wireguard-go {} did not create {}",
                    self.interface,
                    socket.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Adds (or updates) a peer.
    pub fn add_peer(&self, peer: &Peer) -> io::Result<()> {
        let keepalive = peer.keepalive.to_string();
        let mut args = vec![
            "set",
            &self.interface,
            "peer",
            &peer.public_key,
            "allowed-ips",
            &peer.allowed_ips,
        ];
        if let Some(endpoint) = &peer.endpoint {
            args.extend(["endpoint", endpoint]);
        }
        if peer.keepalive > 0 {
            args.extend(["persistent-keepalive", &keepalive]);
        }
        run_in(&self.ns, "wg", &args).map(|_| ())
    }

    /// `wg show INTERFACE dump`: for tests that inspect endpoints and handshakes.
    pub fn dump(&self) -> io::Result<String> {
        run_in(&self.ns, "wg", &["show", &self.interface, "dump"])
    }

    /// PID of the wireguard-go process (for CPU accounting).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }
}

fn write_private_key(dir: &Path, interface: &str, key: &str) -> io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("{interface}.key"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    std::io::Write::write_all(&mut file, key.as_bytes())?;
    Ok(path)
}
