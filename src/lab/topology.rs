//! The lab's topology: a client and a server namespace joined by several
//! veth pairs ("ISP links"), real WireGuard on both ends, and the engarde
//! binaries between them.
//!
//! ```text
//!  client namespace                                   server namespace
//!  wg (10.99.0.1) -> 127.0.0.1:59401 engarde-client   engarde-server :59501 -> 127.0.0.1:51820 wg (10.99.0.2)
//!                    wan0 10.0.0.2 ─────────────────── lan0 10.0.0.1
//!                    wan1 10.0.1.2 ─────────────────── lan1 10.0.1.1
//!                    wan2 10.0.2.2 ─────────────────── lan2 10.0.2.1
//! ```
//!
//! With [`Scenario::Overrides`] each link sends to the server's address on
//! its own subnet (`dstOverrides`); with [`Scenario::Routed`] every link
//! sends to one server address (192.0.2.1 on the server's loopback) through a
//! default route per link, as on a multi-WAN host.

use super::cmd::{ip, run_in};
use super::netns::{Netns, sweep_stale, unique_name};
use super::process::Daemon;
use super::wireguard::{KeyPair, Peer, WireGuard};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Port engarde-server listens on in the lab.
pub const SERVER_PORT: u16 = 59501;
/// Port engarde-client listens on (WireGuard's peer endpoint).
pub const CLIENT_PORT: u16 = 59401;
/// WireGuard's listen port on both sides.
pub const WIREGUARD_PORT: u16 = 51820;
/// The server's single address in [`Scenario::Routed`].
pub const ROUTED_SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Links the configuration has overrides for, so links added later work.
const MAX_LINKS: usize = 8;

/// How the client reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// README scenario 2: one server address per link, via `dstOverrides`.
    Overrides,
    /// README scenario 1: one server address, reached through a default route per link.
    Routed,
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// Number of links at start.
    pub links: usize,
    /// Addressing scenario.
    pub scenario: Scenario,
    /// The engarde-client binary.
    pub client_binary: PathBuf,
    /// The engarde-server binary.
    pub server_binary: PathBuf,
    /// Server `clientTimeout` in seconds.
    pub client_timeout_secs: u64,
    /// `RUST_LOG` for both daemons.
    pub rust_log: String,
    /// Extra environment for both daemons.
    pub env: Vec<(String, String)>,
    /// Run engarde between the WireGuards; `false` points WireGuard
    /// directly at the server over link 0 (the baseline of benchmarks).
    pub with_engarde: bool,
    /// Run WireGuard on both ends; `false` leaves engarde's ends free for
    /// a load generator and a sink (forwarding benchmarks).
    pub with_wireguard: bool,
    /// Extra YAML lines for the client section (indented by the lab).
    pub client_extra: Vec<String>,
    /// Extra YAML lines for the server section.
    pub server_extra: Vec<String>,
}

impl LabOptions {
    /// Three links, scenario 2, the given binaries, info logs.
    pub fn new(client_binary: impl Into<PathBuf>, server_binary: impl Into<PathBuf>) -> Self {
        Self {
            links: 3,
            scenario: Scenario::Overrides,
            client_binary: client_binary.into(),
            server_binary: server_binary.into(),
            client_timeout_secs: 30,
            rust_log: "info".into(),
            env: Vec::new(),
            with_engarde: true,
            with_wireguard: true,
            client_extra: Vec::new(),
            server_extra: Vec::new(),
        }
    }
}

/// A faulty behaviour injected on a link (client side, both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Every packet silently dropped.
    Blackhole,
    /// This percentage of packets dropped at random.
    RandomDrop(u8),
}

/// A running lab; everything is torn down on drop, even when a test fails.
pub struct Lab {
    /// Lab name (namespace prefix).
    pub name: String,
    options: LabOptions,
    dir: PathBuf,
    // Field order is teardown order: daemons, then WireGuard, then namespaces.
    /// engarde-client, when running.
    pub engarde_client: Option<Daemon>,
    /// engarde-server, when running.
    pub engarde_server: Option<Daemon>,
    /// WireGuard in the client namespace (unless `with_wireguard` is off).
    pub wireguard_client: Option<WireGuard>,
    /// WireGuard in the server namespace (unless `with_wireguard` is off).
    pub wireguard_server: Option<WireGuard>,
    /// The client namespace.
    pub client: Netns,
    /// The server namespace.
    pub server: Netns,
    faults: BTreeMap<usize, Fault>,
    /// Client-side host part of each link's address (10.0.i.HOST).
    client_hosts: BTreeMap<usize, u8>,
}

/// Link `i`'s interface in the client namespace.
pub fn client_interface(i: usize) -> String {
    format!("wan{i}")
}

/// Link `i`'s interface in the server namespace.
pub fn server_interface(i: usize) -> String {
    format!("lan{i}")
}

/// The server's address on link `i`.
pub fn server_link_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, i as u8, 1)
}

/// The tunnel addresses: (client, server).
pub fn tunnel_ips() -> (Ipv4Addr, Ipv4Addr) {
    (Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 2))
}

impl Lab {
    /// Builds the namespaces and links, starts engarde and WireGuard, and
    /// waits until a ping crosses the tunnel.
    pub fn start(options: LabOptions) -> io::Result<Self> {
        super::check_prerequisites()?;
        sweep_stale();
        let name = unique_name();
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let client = Netns::create(&format!("{name}-c"))?;
        // As systemd configures hosts: a removed primary address promotes a
        // secondary one instead of deleting it (see readdress_client_link).
        for scope in ["all", "default"] {
            run_in(
                client.name(),
                "sysctl",
                &[
                    "-q",
                    "-w",
                    &format!("net.ipv4.conf.{scope}.promote_secondaries=1"),
                ],
            )?;
        }
        let server = Netns::create(&format!("{name}-s"))?;
        let (client_tunnel, server_tunnel) = tunnel_ips();
        let (wireguard_client, wireguard_server) = if options.with_wireguard {
            let keys = (KeyPair::generate()?, KeyPair::generate()?);
            let client_address = format!("{client_tunnel}/24");
            let server_address = format!("{server_tunnel}/24");
            (
                Some(WireGuard::start(
                    client.name(),
                    &client_address,
                    WIREGUARD_PORT,
                    keys.0,
                    &dir,
                )?),
                Some(WireGuard::start(
                    server.name(),
                    &server_address,
                    WIREGUARD_PORT,
                    keys.1,
                    &dir,
                )?),
            )
        } else {
            (None, None)
        };
        let mut lab = Self {
            name,
            options,
            dir,
            engarde_client: None,
            engarde_server: None,
            wireguard_client,
            wireguard_server,
            client,
            server,
            faults: BTreeMap::new(),
            client_hosts: BTreeMap::new(),
        };
        if lab.options.scenario == Scenario::Routed {
            // On lo rather than a dummy interface: not every kernel has the dummy driver.
            ip(
                lab.server.name(),
                &format!("addr add {ROUTED_SERVER_IP}/32 dev lo"),
            )?;
        }
        for i in 0..lab.options.links {
            lab.add_link(i)?;
        }
        lab.install_nft_table()?;
        if lab.options.with_engarde {
            lab.start_engarde()?;
        }
        if lab.options.with_wireguard {
            lab.connect_wireguard()?;
            lab.wait_for_tunnel(Duration::from_secs(20))?;
        }
        Ok(lab)
    }

    /// The directory holding configs and logs.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The options the lab was built with.
    pub fn options(&self) -> &LabOptions {
        &self.options
    }

    /// Where engarde-client's links send (the `dstAddr` of link `i`).
    pub fn destination(&self, i: usize) -> SocketAddr {
        match self.options.scenario {
            Scenario::Overrides => SocketAddr::new(IpAddr::V4(server_link_ip(i)), SERVER_PORT),
            Scenario::Routed => SocketAddr::new(IpAddr::V4(ROUTED_SERVER_IP), SERVER_PORT),
        }
    }

    /// The client's current address on link `i`.
    pub fn client_link_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, i as u8, *self.client_hosts.get(&i).unwrap_or(&2))
    }

    /// Creates link `i` (a veth pair with addresses, and a route in the
    /// routed scenario). Works while everything runs: a "new modem".
    pub fn add_link(&mut self, i: usize) -> io::Result<()> {
        assert!(
            i < MAX_LINKS,
            "the lab configures at most {MAX_LINKS} links"
        );
        let (wan, lan) = (client_interface(i), server_interface(i));
        super::cmd::run(
            "ip",
            &[
                "link",
                "add",
                &wan,
                "netns",
                self.client.name(),
                "type",
                "veth",
                "peer",
                "name",
                &lan,
                "netns",
                self.server.name(),
            ],
        )?;
        self.client_hosts.insert(i, 2);
        ip(
            self.client.name(),
            &format!("addr add {}/24 dev {wan}", self.client_link_ip(i)),
        )?;
        ip(
            self.server.name(),
            &format!("addr add {}/24 dev {lan}", server_link_ip(i)),
        )?;
        ip(self.server.name(), &format!("link set {lan} up"))?;
        ip(self.client.name(), &format!("link set {wan} up"))?;
        self.add_route(i)
    }

    fn add_route(&self, i: usize) -> io::Result<()> {
        if self.options.scenario == Scenario::Routed {
            ip(
                self.client.name(),
                &format!(
                    "route replace default via {} dev {} metric {}",
                    server_link_ip(i),
                    client_interface(i),
                    100 + i
                ),
            )?;
        }
        Ok(())
    }

    /// Brings link `i` down or up on the client side (cable pulled / plugged).
    pub fn set_client_link(&mut self, i: usize, up: bool) -> io::Result<()> {
        ip(
            self.client.name(),
            &format!(
                "link set {} {}",
                client_interface(i),
                if up { "up" } else { "down" }
            ),
        )?;
        if up {
            // A DHCP client or NetworkManager would restore the route; the kernel drops it on down.
            self.add_route(i)?;
        }
        Ok(())
    }

    /// Brings link `i` down or up on the server side (the client sees its carrier go).
    pub fn set_server_link(&mut self, i: usize, up: bool) -> io::Result<()> {
        ip(
            self.server.name(),
            &format!(
                "link set {} {}",
                server_interface(i),
                if up { "up" } else { "down" }
            ),
        )?;
        Ok(())
    }

    /// Gives link `i` a new client address (host part `host`), as a re-dialled modem would.
    pub fn readdress_client_link(&mut self, i: usize, host: u8) -> io::Result<()> {
        let old = self.client_link_ip(i);
        let wan = client_interface(i);
        self.client_hosts.insert(i, host);
        ip(
            self.client.name(),
            &format!("addr add {}/24 dev {wan}", self.client_link_ip(i)),
        )?;
        ip(self.client.name(), &format!("addr del {old}/24 dev {wan}"))?;
        self.add_route(i)
    }

    /// Routes all of the client's traffic into WireGuard the way wg-quick
    /// does for `AllowedIPs = 0.0.0.0/0`: WireGuard's own packets carry a
    /// firewall mark and use the main table; everything else goes into the
    /// tunnel, except through the more specific routes of the main table.
    pub fn route_everything_through_wireguard(&self) -> io::Result<()> {
        const TABLE: &str = "51820";
        let ns = self.client.name();
        let (wireguard_client, wireguard_server) = self.wireguards()?;
        let wg = &wireguard_client.interface;
        wireguard_client.add_peer(&Peer {
            public_key: wireguard_server.keys.public.clone(),
            allowed_ips: "0.0.0.0/0".into(),
            endpoint: None,
            keepalive: 5,
        })?;
        run_in(ns, "wg", &["set", wg, "fwmark", TABLE])?;
        ip(ns, &format!("route add default dev {wg} table {TABLE}"))?;
        ip(ns, &format!("rule add not fwmark {TABLE} table {TABLE}"))?;
        ip(ns, "rule add table main suppress_prefixlength 0")?;
        Ok(())
    }

    /// Injects (`Some`) or clears (`None`) a fault on link `i`, both directions.
    pub fn set_fault(&mut self, i: usize, fault: Option<Fault>) -> io::Result<()> {
        match fault {
            Some(fault) => self.faults.insert(i, fault),
            None => self.faults.remove(&i),
        };
        self.apply_faults()
    }

    fn install_nft_table(&self) -> io::Result<()> {
        let script = "table inet lab {\n chain out { type filter hook output priority 0; }\n chain in { type filter hook input priority 0; }\n}\n";
        super::cmd::run_with_input(
            "ip",
            &["netns", "exec", self.client.name(), "nft", "-f", "-"],
            Some(script),
        )?;
        // Counts, independently of engarde, the datagrams each WireGuard receives from it.
        let counter = format!(
            "table inet labcount {{\n chain in {{ type filter hook input priority 0; iifname \"lo\" udp dport {WIREGUARD_PORT} counter;\n }}\n}}\n"
        );
        for ns in [self.client.name(), self.server.name()] {
            super::cmd::run_with_input(
                "ip",
                &["netns", "exec", ns, "nft", "-f", "-"],
                Some(&counter),
            )?;
        }
        Ok(())
    }

    /// Datagrams the WireGuard of the server (or, with `client`, of the
    /// client) has received from engarde since the lab started, counted by
    /// the kernel's firewall rather than by engarde.
    pub fn wireguard_datagrams_received(&self, client: bool) -> io::Result<u64> {
        let ns = if client {
            self.client.name()
        } else {
            self.server.name()
        };
        let listing = run_in(ns, "nft", &["list", "chain", "inet", "labcount", "in"])?;
        listing
            .split_whitespace()
            .skip_while(|word| *word != "packets")
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no counter in:\n{listing}")))
    }

    fn apply_faults(&self) -> io::Result<()> {
        let mut script = String::from("flush chain inet lab out\nflush chain inet lab in\n");
        for (i, fault) in &self.faults {
            let wan = client_interface(*i);
            let verdict = match fault {
                Fault::Blackhole => "drop".to_string(),
                Fault::RandomDrop(percent) => format!("numgen random mod 100 < {percent} drop"),
            };
            script.push_str(&format!(
                "add rule inet lab out oifname \"{wan}\" {verdict}\n"
            ));
            script.push_str(&format!(
                "add rule inet lab in iifname \"{wan}\" {verdict}\n"
            ));
        }
        super::cmd::run_with_input(
            "ip",
            &["netns", "exec", self.client.name(), "nft", "-f", "-"],
            Some(&script),
        )
        .map(|_| ())
    }

    /// Rate-limits link `i` (client egress and server egress) with tbf, or removes the limit.
    pub fn set_rate_limit(
        &mut self,
        i: usize,
        rate: Option<&str>,
        queue_limit: &str,
    ) -> io::Result<()> {
        for (ns, dev) in [
            (self.client.name(), client_interface(i)),
            (self.server.name(), server_interface(i)),
        ] {
            match rate {
                Some(rate) => ip_tc(
                    ns,
                    &format!(
                        "qdisc replace dev {dev} root tbf rate {rate} burst 16kb limit {queue_limit}"
                    ),
                )?,
                None => {
                    let _ = ip_tc(ns, &format!("qdisc del dev {dev} root"));
                }
            }
        }
        Ok(())
    }

    fn write_configs(&self) -> io::Result<(PathBuf, PathBuf)> {
        let mut client = format!(
            "client:\n  description: \"lab client\"\n  listenAddr: \"127.0.0.1:{CLIENT_PORT}\"\n  dstAddr: \"{}\"\n  writeTimeout: 10\n",
            self.destination(0)
        );
        if self.options.scenario == Scenario::Overrides {
            client.push_str("  dstOverrides:\n");
            for i in 0..MAX_LINKS {
                client.push_str(&format!(
                    "    - ifName: \"{}\"\n      dstAddr: \"{}\"\n",
                    client_interface(i),
                    self.destination(i)
                ));
            }
        }
        for line in &self.options.client_extra {
            client.push_str(&format!("  {line}\n"));
        }
        let mut server = format!(
            "server:\n  description: \"lab server\"\n  listenAddr: \"0.0.0.0:{SERVER_PORT}\"\n  dstAddr: \"127.0.0.1:{WIREGUARD_PORT}\"\n  clientTimeout: {}\n",
            self.options.client_timeout_secs
        );
        if !self.options.with_wireguard {
            // Load generators stand in for WireGuard and send arbitrary
            // datagrams, which only a server that is not WireGuard-aware passes.
            server.push_str("  wireguardAware: false\n");
        }
        for line in &self.options.server_extra {
            server.push_str(&format!("  {line}\n"));
        }
        let client_path = self.dir.join("client.yml");
        let server_path = self.dir.join("server.yml");
        std::fs::write(&client_path, client)?;
        std::fs::write(&server_path, server)?;
        Ok((client_path, server_path))
    }

    fn daemon_env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![("RUST_LOG", self.options.rust_log.as_str())];
        env.extend(
            self.options
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        env
    }

    /// Starts engarde-server and engarde-client and waits until every link is up.
    pub fn start_engarde(&mut self) -> io::Result<()> {
        let (client_config, server_config) = self.write_configs()?;
        let env = self.daemon_env();
        let mut server = Daemon::start(
            "engarde-server",
            self.server.name(),
            &self.options.server_binary,
            &[server_config.to_str().expect("UTF-8 path")],
            &env,
            self.dir.join("engarde-server.log"),
        )?;
        server.wait_for_log("listening for clients", Duration::from_secs(10))?;
        let mut client = Daemon::start(
            "engarde-client",
            self.client.name(),
            &self.options.client_binary,
            &[client_config.to_str().expect("UTF-8 path")],
            &env,
            self.dir.join("engarde-client.log"),
        )?;
        for i in 0..self.options.links {
            client.wait_for_log(
                &format!("link {} up", client_interface(i)),
                Duration::from_secs(10),
            )?;
        }
        self.engarde_server = Some(server);
        self.engarde_client = Some(client);
        Ok(())
    }

    /// Both WireGuards; an error when the lab runs without them.
    pub fn wireguards(&self) -> io::Result<(&WireGuard, &WireGuard)> {
        match (&self.wireguard_client, &self.wireguard_server) {
            (Some(client), Some(server)) => Ok((client, server)),
            _ => Err(io::Error::other("this lab runs without WireGuard")),
        }
    }

    fn connect_wireguard(&self) -> io::Result<()> {
        let (client_tunnel, server_tunnel) = tunnel_ips();
        let (wireguard_client, wireguard_server) = self.wireguards()?;
        let endpoint = if self.options.with_engarde {
            format!("127.0.0.1:{CLIENT_PORT}")
        } else {
            SocketAddr::new(self.destination(0).ip(), WIREGUARD_PORT).to_string()
        };
        wireguard_server.add_peer(&Peer {
            public_key: wireguard_client.keys.public.clone(),
            allowed_ips: format!("{client_tunnel}/32"),
            endpoint: None,
            keepalive: 0,
        })?;
        wireguard_client.add_peer(&Peer {
            public_key: wireguard_server.keys.public.clone(),
            allowed_ips: format!("{server_tunnel}/32"),
            endpoint: Some(endpoint),
            keepalive: 5,
        })
    }

    /// Pings the server's tunnel address until it answers.
    pub fn wait_for_tunnel(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let target = tunnel_ips().1.to_string();
        loop {
            if run_in(self.client.name(), "ping", &["-c", "1", "-W", "1", &target]).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "no ping through the tunnel within {timeout:?}\n{}",
                    self.logs()
                )));
            }
        }
    }

    /// `ping -c COUNT` through the tunnel; the summary line on success.
    pub fn ping(&self, count: u32) -> io::Result<String> {
        let target = tunnel_ips().1.to_string();
        let output = run_in(
            self.client.name(),
            "ping",
            &["-c", &count.to_string(), "-i", "0.2", "-W", "2", &target],
        )?;
        Ok(output
            .lines()
            .filter(|l| l.contains("packet loss"))
            .collect())
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (name, daemon) in [
            ("engarde-client", &self.engarde_client),
            ("engarde-server", &self.engarde_server),
        ] {
            if let Some(daemon) = daemon {
                out.push_str(&format!("----- {name} log -----\n{}\n", daemon.log()));
            }
        }
        out
    }
}

fn ip_tc(ns: &str, args: &str) -> io::Result<()> {
    let mut full = vec!["netns", "exec", ns, "tc"];
    full.extend(args.split_whitespace());
    super::cmd::run("ip", &full).map(|_| ())
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "lab {} failed; daemon logs follow\n{}",
                self.name,
                self.logs()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
