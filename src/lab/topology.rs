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
//!
//! [`Families`] chooses the links' address families: IPv4 as above; IPv6
//! only (`fd00:i::2` — `fd00:i::1`, the routed server at `fd00:ff::1`, and
//! engarde and WireGuard talking over `[::1]`); or both, with every
//! destination written as a host name that resolves to both families
//! (`linkI.server.lab`, `server.lab`) through a hosts file that `ip netns
//! exec` mounts over `/etc/hosts` for the client (`/etc/netns/NS/hosts`).

use super::cmd::{ip, run_in};
use super::netns::{Netns, sweep_stale, unique_name};
use super::process::Daemon;
use super::wireguard::{KeyPair, Peer, WireGuard};
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Port engarde-server listens on in the lab.
pub const SERVER_PORT: u16 = 59501;
/// Port engarde-client listens on (WireGuard's peer endpoint).
pub const CLIENT_PORT: u16 = 59401;
/// WireGuard's listen port on both sides.
pub const WIREGUARD_PORT: u16 = 51820;
/// The tunnel's MTU: wireguard-go's default, which the lab keeps. A packet
/// this large becomes a 1,452-byte data message, not a multiple of 16.
pub const TUNNEL_MTU: usize = 1420;
/// The server's single address in [`Scenario::Routed`].
pub const ROUTED_SERVER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's single IPv6 address in [`Scenario::Routed`].
pub const ROUTED_SERVER_IP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xff, 0, 0, 0, 0, 0, 1);
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

/// The address families of the links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// IPv4 addresses only (10.0.i.x).
    V4,
    /// IPv6 addresses only (fd00:i::x); engarde and WireGuard talk over `[::1]`.
    V6,
    /// Both, each link carrying an IPv4 and an IPv6 engarde link; the
    /// destinations are host names with both kinds of address.
    Dual,
}

impl Families {
    /// The lab gives links IPv4 addresses.
    pub fn ipv4(self) -> bool {
        self != Self::V6
    }

    /// The lab gives links IPv6 addresses.
    pub fn ipv6(self) -> bool {
        self != Self::V4
    }
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
    /// The links' address families.
    pub families: Families,
    /// Write destinations as host names (`linkI.server.lab`), resolved
    /// through the client namespace's hosts file (always so with
    /// [`Families::Dual`]).
    pub host_names: bool,
    /// A command engarde-client is started through (its program and
    /// arguments, then the binary and its arguments follow), e.g. `setpriv`
    /// dropping root; empty: started directly.
    pub client_wrapper: Vec<String>,
    /// The same for engarde-server.
    pub server_wrapper: Vec<String>,
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
            families: Families::V4,
            host_names: false,
            client_wrapper: Vec::new(),
            server_wrapper: Vec::new(),
        }
    }

    /// Destinations are written as host names.
    pub fn uses_host_names(&self) -> bool {
        self.host_names || self.families == Families::Dual
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

/// The server's IPv6 address on link `i`.
pub fn server_link_ip6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, i as u16, 0, 0, 0, 0, 0, 1)
}

/// The host name of the server's addresses on link `i` (both families).
pub fn server_link_name(i: usize) -> String {
    format!("link{i}.server.lab")
}

/// The host name of the routed server's address (both families).
pub const ROUTED_SERVER_NAME: &str = "server.lab";

/// Where the lab's hosts file for namespace `ns` lives (`ip netns exec`
/// mounts it over `/etc/hosts`; [`Netns`] removes the directory).
fn hosts_dir(ns: &str) -> PathBuf {
    super::netns::etc_dir(ns)
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
        // Static IPv6 addresses stay while a link is down, as IPv4 ones do
        // (otherwise the kernel deletes them and nothing would add them back).
        for ns in [client.name(), server.name()] {
            for scope in ["all", "default"] {
                run_in(
                    ns,
                    "sysctl",
                    &[
                        "-q",
                        "-w",
                        &format!("net.ipv6.conf.{scope}.keep_addr_on_down=1"),
                    ],
                )?;
            }
        }
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
            if lab.options.families.ipv4() {
                ip(
                    lab.server.name(),
                    &format!("addr add {ROUTED_SERVER_IP}/32 dev lo"),
                )?;
            }
            if lab.options.families.ipv6() {
                ip(
                    lab.server.name(),
                    &format!("addr add {ROUTED_SERVER_IP6}/128 dev lo"),
                )?;
            }
        }
        if lab.options.uses_host_names() {
            lab.write_hosts_file()?;
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

    /// The options, to change before [`Lab::write_configs`] (a reload).
    pub fn options_mut(&mut self) -> &mut LabOptions {
        &mut self.options
    }

    /// Where engarde-client's IPv4 links send (the `dstAddr` of link `i`).
    pub fn destination(&self, i: usize) -> SocketAddr {
        match self.options.scenario {
            Scenario::Overrides => SocketAddr::new(IpAddr::V4(server_link_ip(i)), SERVER_PORT),
            Scenario::Routed => SocketAddr::new(IpAddr::V4(ROUTED_SERVER_IP), SERVER_PORT),
        }
    }

    /// Where engarde-client's IPv6 links send.
    pub fn destination6(&self, i: usize) -> SocketAddr {
        match self.options.scenario {
            Scenario::Overrides => SocketAddr::new(IpAddr::V6(server_link_ip6(i)), SERVER_PORT),
            Scenario::Routed => SocketAddr::new(IpAddr::V6(ROUTED_SERVER_IP6), SERVER_PORT),
        }
    }

    /// The `dstAddr` text of link `i`, as the configuration writes it.
    pub fn destination_text(&self, i: usize) -> String {
        match (self.options.uses_host_names(), self.options.scenario) {
            (true, Scenario::Overrides) => format!("{}:{SERVER_PORT}", server_link_name(i)),
            (true, Scenario::Routed) => format!("{ROUTED_SERVER_NAME}:{SERVER_PORT}"),
            (false, _) if self.options.families == Families::V6 => self.destination6(i).to_string(),
            (false, _) => self.destination(i).to_string(),
        }
    }

    /// The client's current address on link `i`.
    pub fn client_link_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, i as u8, *self.client_hosts.get(&i).unwrap_or(&2))
    }

    /// The client's IPv6 address on link `i`.
    pub fn client_link_ip6(&self, i: usize) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, i as u16, 0, 0, 0, 0, 0, 2)
    }

    /// The names of the engarde links the client should run: `wanI/IPv4`
    /// and/or `wanI/IPv6` for each link.
    pub fn expected_links(&self, i: usize) -> Vec<String> {
        let mut links = Vec::new();
        if self.options.families.ipv4() {
            links.push(format!("{}/IPv4", client_interface(i)));
        }
        if self.options.families.ipv6() {
            links.push(format!("{}/IPv6", client_interface(i)));
        }
        links
    }

    /// Writes (again) the client namespace's hosts file: each link's server
    /// name with the addresses of the lab's families. `ip netns exec` mounts
    /// it for processes started afterwards; writing it again in place
    /// changes what a running engarde-client resolves.
    pub fn write_hosts_file(&self) -> io::Result<()> {
        let mut hosts = String::from("127.0.0.1 localhost\n::1 localhost\n");
        let mut entry = |v4: IpAddr, v6: IpAddr, name: &str| {
            if self.options.families.ipv4() {
                hosts.push_str(&format!("{v4} {name}\n"));
            }
            if self.options.families.ipv6() {
                hosts.push_str(&format!("{v6} {name}\n"));
            }
        };
        for i in 0..MAX_LINKS {
            entry(
                server_link_ip(i).into(),
                server_link_ip6(i).into(),
                &server_link_name(i),
            );
        }
        entry(
            ROUTED_SERVER_IP.into(),
            ROUTED_SERVER_IP6.into(),
            ROUTED_SERVER_NAME,
        );
        self.write_hosts(&hosts)
    }

    /// Replaces the client namespace's hosts file with `text` (in place,
    /// so a running engarde-client sees it).
    pub fn write_hosts(&self, text: &str) -> io::Result<()> {
        let dir = hosts_dir(self.client.name());
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("hosts"), text)
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
        if self.options.families.ipv4() {
            ip(
                self.client.name(),
                &format!("addr add {}/24 dev {wan}", self.client_link_ip(i)),
            )?;
            ip(
                self.server.name(),
                &format!("addr add {}/24 dev {lan}", server_link_ip(i)),
            )?;
        }
        if self.options.families.ipv6() {
            // nodad: usable at once, as a static address after its check.
            ip(
                self.client.name(),
                &format!("addr add {}/64 dev {wan} nodad", self.client_link_ip6(i)),
            )?;
            ip(
                self.server.name(),
                &format!("addr add {}/64 dev {lan} nodad", server_link_ip6(i)),
            )?;
        }
        ip(self.server.name(), &format!("link set {lan} up"))?;
        ip(self.client.name(), &format!("link set {wan} up"))?;
        self.add_route(i)
    }

    fn add_route(&self, i: usize) -> io::Result<()> {
        if self.options.scenario == Scenario::Routed {
            if self.options.families.ipv4() {
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
            if self.options.families.ipv6() {
                ip(
                    self.client.name(),
                    &format!(
                        "-6 route replace default via {} dev {} metric {}",
                        server_link_ip6(i),
                        client_interface(i),
                        100 + i
                    ),
                )?;
            }
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

    /// Puts link `i` behind a NAT, as a modem in router mode or a carrier's
    /// NAT would: datagrams from the client to the server's port leave
    /// `wanI` with the source address 10.0.i.`public` (a second address of
    /// `wanI`, so the server's ARP finds it), engarde's own address staying
    /// what it was. Connection tracking keeps each flow's mapping for as long
    /// as the flow sends. Only flows that start afterwards are translated.
    pub fn nat_client_link(&mut self, i: usize, public: u8) -> io::Result<()> {
        let wan = client_interface(i);
        ip(
            self.client.name(),
            &format!("addr add 10.0.{i}.{public}/24 dev {wan}"),
        )?;
        let script = format!(
            "table ip labnat {{\n chain post {{ type nat hook postrouting priority srcnat; }}\n}}\n\
             flush chain ip labnat post\n\
             add rule ip labnat post oifname \"{wan}\" udp dport {SERVER_PORT} snat to 10.0.{i}.{public}\n"
        );
        super::cmd::run_with_input(
            "ip",
            &["netns", "exec", self.client.name(), "nft", "-f", "-"],
            Some(&script),
        )
        .map(|_| ())
    }

    /// The NAT of link `i` (see [`Lab::nat_client_link`]) "re-dials": its
    /// public address changes from 10.0.i.`old` to 10.0.i.`new`, and the old
    /// one leads nowhere any more (a blackhole route on the server). New
    /// flows get the new address; a socket that keeps sending keeps its old
    /// mapping, so it still reaches the server but hears nothing back —
    /// while the client's interface and address do not change at all.
    pub fn redial_nat(&mut self, i: usize, old: u8, new: u8) -> io::Result<()> {
        let wan = client_interface(i);
        ip(
            self.client.name(),
            &format!("addr add 10.0.{i}.{new}/24 dev {wan}"),
        )?;
        let script = format!(
            "flush chain ip labnat post\n\
             add rule ip labnat post oifname \"{wan}\" udp dport {SERVER_PORT} snat to 10.0.{i}.{new}\n"
        );
        super::cmd::run_with_input(
            "ip",
            &["netns", "exec", self.client.name(), "nft", "-f", "-"],
            Some(&script),
        )?;
        ip(
            self.client.name(),
            &format!("addr del 10.0.{i}.{old}/24 dev {wan}"),
        )?;
        ip(
            self.server.name(),
            &format!("route add blackhole 10.0.{i}.{old}/32"),
        )
        .map(|_| ())
    }

    /// Makes the server unable to answer the client's address on link `i`
    /// (`deaf`), or able again: a blackhole route on the server. The client
    /// still reaches the server; every reply over that link is lost, whatever
    /// socket the client uses.
    pub fn set_server_cannot_answer(&mut self, i: usize, deaf: bool) -> io::Result<()> {
        let verb = if deaf { "add" } else { "del" };
        ip(
            self.server.name(),
            &format!("route {verb} blackhole {}/32", self.client_link_ip(i)),
        )
        .map(|_| ())
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

    /// The loopback address engarde and WireGuard talk over on each side.
    fn local_ip(&self) -> IpAddr {
        if self.options.families == Families::V6 {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        } else {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }

    /// The client's configuration file.
    pub fn client_config_path(&self) -> PathBuf {
        self.dir.join("client.yml")
    }

    /// The server's configuration file.
    pub fn server_config_path(&self) -> PathBuf {
        self.dir.join("server.yml")
    }

    /// Writes both configuration files from the options (again, after a
    /// test changed them through [`Lab::options_mut`], e.g. before a reload).
    pub fn write_configs(&self) -> io::Result<(PathBuf, PathBuf)> {
        let mut client = format!(
            "client:\n  description: \"lab client\"\n  listenAddr: \"{}\"\n  dstAddr: \"{}\"\n  writeTimeout: 10\n",
            SocketAddr::new(self.local_ip(), CLIENT_PORT),
            self.destination_text(0)
        );
        if self.options.scenario == Scenario::Overrides {
            client.push_str("  dstOverrides:\n");
            for i in 0..MAX_LINKS {
                client.push_str(&format!(
                    "    - ifName: \"{}\"\n      dstAddr: \"{}\"\n",
                    client_interface(i),
                    self.destination_text(i)
                ));
            }
        }
        for line in &self.options.client_extra {
            client.push_str(&format!("  {line}\n"));
        }
        let listen = if self.options.families.ipv6() {
            "[::]"
        } else {
            "0.0.0.0"
        };
        let mut server = format!(
            "server:\n  description: \"lab server\"\n  listenAddr: \"{listen}:{SERVER_PORT}\"\n  dstAddr: \"{}\"\n  clientTimeout: {}\n",
            SocketAddr::new(self.local_ip(), WIREGUARD_PORT),
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
        let client_path = self.client_config_path();
        let server_path = self.server_config_path();
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
        let start =
            |name: &str, ns: &str, wrapper: &[String], binary: &PathBuf, config: &PathBuf| {
                let config = config.to_str().expect("UTF-8 path");
                let log = self.dir.join(format!("{name}.log"));
                match wrapper.split_first() {
                    None => Daemon::start(name, ns, binary, &[config], &env, log),
                    Some((program, arguments)) => {
                        let mut args: Vec<&str> = arguments.iter().map(String::as_str).collect();
                        args.push(binary.to_str().expect("UTF-8 path"));
                        args.push(config);
                        Daemon::start(name, ns, std::path::Path::new(program), &args, &env, log)
                    }
                }
            };
        let mut server = start(
            "engarde-server",
            self.server.name(),
            &self.options.server_wrapper,
            &self.options.server_binary,
            &server_config,
        )?;
        server.wait_for_log("listening for clients", Duration::from_secs(10))?;
        let mut client = start(
            "engarde-client",
            self.client.name(),
            &self.options.client_wrapper,
            &self.options.client_binary,
            &client_config,
        )?;
        for i in 0..self.options.links {
            for link in self.expected_links(i) {
                client.wait_for_log(&format!("link {link} up"), Duration::from_secs(10))?;
            }
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
            SocketAddr::new(self.local_ip(), CLIENT_PORT).to_string()
        } else if self.options.families == Families::V6 {
            SocketAddr::new(self.destination6(0).ip(), WIREGUARD_PORT).to_string()
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

    /// `ping -c COUNT` through the tunnel: what ping printed (each reply,
    /// so a failure shows which one was lost, and the summary).
    pub fn ping(&self, count: u32) -> io::Result<String> {
        self.ping_sized(count, 56)
    }

    /// [`Lab::ping`] with `payload` bytes of ICMP payload, never fragmented
    /// (`-M do`): `TUNNEL_MTU - 28` makes every packet as large as the
    /// tunnel carries.
    pub fn ping_sized(&self, count: u32, payload: usize) -> io::Result<String> {
        let target = tunnel_ips().1.to_string();
        run_in(
            self.client.name(),
            "ping",
            &[
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                &payload.to_string(),
                &target,
            ],
        )
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
        for (name, wireguard) in [
            ("wireguard-go (client)", &self.wireguard_client),
            ("wireguard-go (server)", &self.wireguard_server),
        ] {
            if let Some(wireguard) = wireguard {
                out.push_str(&format!("----- {name} log -----\n{}\n", wireguard.log()));
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
