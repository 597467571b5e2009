//! A lab with several clients behind one server port (issue 5): one server
//! namespace running one wireguard-go interface with a peer per client and
//! one engarde-server; one namespace per client, each with its own
//! wireguard-go (its own keys), its own engarde-client and its own veth
//! links to the server namespace, which holds every link's far end. An
//! optional attacker namespace, on a link of its own, can send from
//! spoofed addresses ([`super::flood`]).
//!
//! ```text
//!  client k namespace                                     server namespace
//!  wg 10.99.0.(k+2) -> engarde-client  wan0 10.(k+1).0.2 ── c{k}l0 10.(k+1).0.1   engarde-server :59501
//!                                      wan1 10.(k+1).1.2 ── c{k}l1 10.(k+1).1.1     -> wg 10.99.0.1 (one peer per client)
//!  attacker namespace   atk0 10.250.0.2 ── atk 10.250.0.1, route 10.200.0.0/16 via 10.250.0.2
//! ```
//!
//! Counters that do not depend on engarde: the server namespace counts,
//! by WireGuard message type, every datagram its WireGuard receives; each
//! client namespace can count what arrives from the server's port per
//! link and per UDP length ([`MultiLab::count_return_lengths`]); the
//! attacker namespace counts whatever reaches it.

use super::cmd::{ip, run, run_in, run_with_input};
use super::netns::{Netns, sweep_stale, unique_name};
use super::process::Daemon;
use super::topology::{CLIENT_PORT, SERVER_PORT, WIREGUARD_PORT};
use super::wireguard::{KeyPair, Peer, WireGuard};
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Links each client's configuration has overrides for.
const MAX_LINKS: usize = 8;

/// The attacker's side of its link, and the network it spoofs (routed to it).
pub const ATTACKER_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 2);
/// The server's address on the attacker's link.
pub const SERVER_ATTACK_IP: Ipv4Addr = Ipv4Addr::new(10, 250, 0, 1);
/// The spoofed sources: 10.200.0.0/16, routed from the server to the attacker.
pub const SPOOFED_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 0);

/// How to build a multi-client lab.
#[derive(Debug, Clone)]
pub struct MultiOptions {
    /// Links of each client (one client per element).
    pub links: Vec<usize>,
    /// The engarde-client binary.
    pub client_binary: PathBuf,
    /// The engarde-server binary.
    pub server_binary: PathBuf,
    /// Server `clientTimeout` in seconds.
    pub client_timeout_secs: u64,
    /// `RUST_LOG` for the daemons.
    pub rust_log: String,
    /// Extra environment for the daemons.
    pub env: Vec<(String, String)>,
    /// Extra YAML lines for the server section.
    pub server_extra: Vec<String>,
    /// An attacker namespace on a link of its own to the server.
    pub attacker: bool,
}

impl MultiOptions {
    /// Clients with `links` links each, the given binaries, info logs.
    pub fn new(
        client_binary: impl Into<PathBuf>,
        server_binary: impl Into<PathBuf>,
        links: &[usize],
    ) -> Self {
        Self {
            links: links.to_vec(),
            client_binary: client_binary.into(),
            server_binary: server_binary.into(),
            client_timeout_secs: 30,
            rust_log: "info".into(),
            env: Vec::new(),
            server_extra: Vec::new(),
            attacker: false,
        }
    }
}

/// One client's namespace and what runs in it. Field order is teardown order.
pub struct ClientSite {
    /// Its engarde-client, while running.
    pub engarde: Option<Daemon>,
    /// Its WireGuard.
    pub wireguard: WireGuard,
    /// Its namespace.
    pub ns: Netns,
    index: usize,
    links: usize,
    /// Host part of each link's address (10.(k+1).i.HOST).
    hosts: BTreeMap<usize, u8>,
    config: PathBuf,
    /// engarde-client starts so far (each gets its own log).
    starts: usize,
}

impl ClientSite {
    /// Its tunnel address.
    pub fn tunnel_ip(&self) -> Ipv4Addr {
        client_tunnel_ip(self.index)
    }

    /// Its number of links.
    pub fn links(&self) -> usize {
        self.links
    }

    /// Its current address on link `i`.
    pub fn link_ip(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(
            10,
            self.index as u8 + 1,
            i as u8,
            *self.hosts.get(&i).unwrap_or(&2),
        )
    }
}

/// The server's tunnel address.
pub fn server_tunnel_ip() -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, 1)
}

/// Client `k`'s tunnel address.
pub fn client_tunnel_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 99, 0, k as u8 + 2)
}

/// The server's address on client `k`'s link `i`.
pub fn server_link_ip(k: usize, i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, k as u8 + 1, i as u8, 1)
}

/// Client `k`'s link `i`: its interface in the server namespace.
pub fn server_interface(k: usize, i: usize) -> String {
    format!("c{k}l{i}")
}

/// Link `i`'s interface in a client namespace.
pub fn client_interface(i: usize) -> String {
    format!("wan{i}")
}

/// A running multi-client lab; everything is torn down on drop.
pub struct MultiLab {
    /// Lab name (namespace prefix).
    pub name: String,
    options: MultiOptions,
    dir: PathBuf,
    // Field order is teardown order: clients, the server's daemons, namespaces.
    /// The clients.
    pub clients: Vec<ClientSite>,
    /// engarde-server, while running.
    pub engarde_server: Option<Daemon>,
    /// The server's WireGuard, one peer per client.
    pub wireguard_server: WireGuard,
    /// The attacker's namespace, when asked for.
    pub attacker: Option<Netns>,
    /// The server namespace.
    pub server: Netns,
}

impl MultiLab {
    /// Builds every namespace and link, starts WireGuard and engarde, and
    /// waits until every client's ping crosses the tunnel.
    pub fn start(options: MultiOptions) -> io::Result<Self> {
        super::check_prerequisites()?;
        sweep_stale();
        let name = unique_name();
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir)?;
        let server = Netns::create(&format!("{name}-s"))?;
        let wireguard_server = WireGuard::start(
            server.name(),
            &format!("{}/24", server_tunnel_ip()),
            WIREGUARD_PORT,
            KeyPair::generate()?,
            &dir,
        )?;
        let mut clients = Vec::new();
        for (k, &links) in options.links.iter().enumerate() {
            assert!(links <= MAX_LINKS, "at most {MAX_LINKS} links per client");
            let ns = Netns::create(&format!("{name}-c{k}"))?;
            // As systemd configures hosts: a removed primary address promotes
            // a secondary one instead of taking it along (a roam adds the
            // new address before removing the old one).
            for scope in ["all", "default"] {
                run_in(
                    ns.name(),
                    "sysctl",
                    &[
                        "-q",
                        "-w",
                        &format!("net.ipv4.conf.{scope}.promote_secondaries=1"),
                    ],
                )?;
            }
            let wireguard = WireGuard::start(
                ns.name(),
                &format!("{}/24", client_tunnel_ip(k)),
                WIREGUARD_PORT,
                KeyPair::generate()?,
                &dir,
            )?;
            clients.push(ClientSite {
                engarde: None,
                wireguard,
                ns,
                index: k,
                links,
                hosts: BTreeMap::new(),
                config: dir.join(format!("client-{k}.yml")),
                starts: 0,
            });
        }
        let attacker = if options.attacker {
            Some(Netns::create(&format!("{name}-a"))?)
        } else {
            None
        };
        let mut lab = Self {
            name,
            options,
            dir,
            clients,
            engarde_server: None,
            wireguard_server,
            attacker,
            server,
        };
        for k in 0..lab.clients.len() {
            for i in 0..lab.clients[k].links {
                lab.add_link(k, i)?;
            }
        }
        lab.connect_attacker()?;
        lab.install_counters()?;
        lab.start_server()?;
        for k in 0..lab.clients.len() {
            lab.write_client_config(k)?;
            lab.start_client(k)?;
        }
        lab.connect_wireguard()?;
        lab.wait_for_tunnels(Duration::from_secs(30))?;
        Ok(lab)
    }

    /// The directory holding configs and logs.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn add_link(&mut self, k: usize, i: usize) -> io::Result<()> {
        let (wan, far) = (client_interface(i), server_interface(k, i));
        let client_ns = self.clients[k].ns.name().to_string();
        run(
            "ip",
            &[
                "link",
                "add",
                &wan,
                "netns",
                &client_ns,
                "type",
                "veth",
                "peer",
                "name",
                &far,
                "netns",
                self.server.name(),
            ],
        )?;
        self.clients[k].hosts.insert(i, 2);
        let address = self.clients[k].link_ip(i);
        ip(&client_ns, &format!("addr add {address}/24 dev {wan}"))?;
        ip(
            self.server.name(),
            &format!("addr add {}/24 dev {far}", server_link_ip(k, i)),
        )?;
        ip(self.server.name(), &format!("link set {far} up"))?;
        ip(&client_ns, &format!("link set {wan} up"))?;
        Ok(())
    }

    fn connect_attacker(&self) -> io::Result<()> {
        let Some(attacker) = &self.attacker else {
            return Ok(());
        };
        run(
            "ip",
            &[
                "link",
                "add",
                "atk0",
                "netns",
                attacker.name(),
                "type",
                "veth",
                "peer",
                "name",
                "atk",
                "netns",
                self.server.name(),
            ],
        )?;
        ip(
            attacker.name(),
            &format!("addr add {ATTACKER_IP}/24 dev atk0"),
        )?;
        ip(
            self.server.name(),
            &format!("addr add {SERVER_ATTACK_IP}/24 dev atk"),
        )?;
        ip(self.server.name(), "link set atk up")?;
        ip(attacker.name(), "link set atk0 up")?;
        ip(
            attacker.name(),
            &format!("route add default via {SERVER_ATTACK_IP}"),
        )?;
        // Whatever the server sends to a spoofed source goes to the attacker's link.
        ip(
            self.server.name(),
            &format!("route add {SPOOFED_NETWORK}/16 via {ATTACKER_IP}"),
        )?;
        // Everything that reaches the attacker from the server, before any
        // routing decision (nothing there is addressed to it).
        let script = "table inet attackcount {\n counter ip_in {}\n counter udp_in {}\n counter icmp_in {}\n chain pre { type filter hook prerouting priority -300;\n  iifname \"atk0\" ip saddr != 10.250.0.2 counter name ip_in\n  iifname \"atk0\" meta l4proto udp counter name udp_in\n  iifname \"atk0\" meta l4proto icmp counter name icmp_in\n }\n}\n";
        nft(attacker.name(), script)
    }

    fn install_counters(&self) -> io::Result<()> {
        // What the server's WireGuard receives from engarde, by message type
        // (the first byte after the UDP header).
        let mut script = format!(
            "table inet multicount {{\n counter wg_all {{}}\n{} chain in {{ type filter hook input priority 0;\n  iifname \"lo\" udp dport {WIREGUARD_PORT} counter name wg_all\n",
            (1..=4)
                .map(|t| format!(" counter wg_type{t} {{}}\n"))
                .collect::<String>()
        );
        for t in 1..=4 {
            script.push_str(&format!(
                "  iifname \"lo\" udp dport {WIREGUARD_PORT} @th,64,8 {t} counter name wg_type{t}\n"
            ));
        }
        script.push_str(" }\n}\n");
        nft(self.server.name(), &script)
    }

    /// In every client namespace, counts per link the datagrams arriving
    /// from the server's port with each UDP length in `lengths` (and in
    /// all), before any routing decision: a datagram for another client's
    /// address would be counted here whatever became of it.
    pub fn count_return_lengths(&self, lengths: &[u16]) -> io::Result<()> {
        for site in &self.clients {
            let mut counters = String::new();
            let mut rules = String::new();
            for i in 0..MAX_LINKS {
                let wan = client_interface(i);
                counters.push_str(&format!(" counter l{i}_all {{}}\n"));
                rules.push_str(&format!(
                    "  iifname \"{wan}\" udp sport {SERVER_PORT} counter name l{i}_all\n"
                ));
                for length in lengths {
                    counters.push_str(&format!(" counter l{i}_{length} {{}}\n"));
                    rules.push_str(&format!(
                        "  iifname \"{wan}\" udp sport {SERVER_PORT} udp length {length} counter name l{i}_{length}\n"
                    ));
                }
            }
            let script = format!(
                "table inet returncount {{\n{counters} chain pre {{ type filter hook prerouting priority -300;\n{rules} }}\n}}\n"
            );
            nft(site.ns.name(), &script)?;
        }
        Ok(())
    }

    /// Client `k`'s counts from [`Self::count_return_lengths`]: (link, UDP
    /// length or `None` for all) → datagrams.
    pub fn return_length_counts(
        &self,
        k: usize,
        lengths: &[u16],
    ) -> io::Result<BTreeMap<(usize, Option<u16>), u64>> {
        let ns = self.clients[k].ns.name();
        let mut counts = BTreeMap::new();
        for i in 0..self.clients[k].links {
            counts.insert((i, None), counter(ns, "returncount", &format!("l{i}_all"))?);
            for length in lengths {
                counts.insert(
                    (i, Some(*length)),
                    counter(ns, "returncount", &format!("l{i}_{length}"))?,
                );
            }
        }
        Ok(counts)
    }

    /// Datagrams the server's WireGuard received from engarde: in all, and
    /// of each message type 1 to 4.
    pub fn wireguard_input(&self) -> io::Result<(u64, [u64; 4])> {
        let ns = self.server.name();
        let mut types = [0; 4];
        for (t, count) in types.iter_mut().enumerate() {
            *count = counter(ns, "multicount", &format!("wg_type{}", t + 1))?;
        }
        Ok((counter(ns, "multicount", "wg_all")?, types))
    }

    /// What reached the attacker's namespace from the server: (IP packets,
    /// UDP datagrams, ICMP messages).
    pub fn attacker_received(&self) -> io::Result<(u64, u64, u64)> {
        let attacker = self
            .attacker
            .as_ref()
            .ok_or_else(|| io::Error::other("this lab has no attacker"))?;
        let ns = attacker.name();
        Ok((
            counter(ns, "attackcount", "ip_in")?,
            counter(ns, "attackcount", "udp_in")?,
            counter(ns, "attackcount", "icmp_in")?,
        ))
    }

    fn env(&self) -> Vec<(&str, &str)> {
        let mut env = vec![("RUST_LOG", self.options.rust_log.as_str())];
        env.extend(
            self.options
                .env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        env
    }

    fn start_server(&mut self) -> io::Result<()> {
        let mut config = format!(
            "server:\n  description: \"multi-client lab server\"\n  listenAddr: \"0.0.0.0:{SERVER_PORT}\"\n  dstAddr: \"127.0.0.1:{WIREGUARD_PORT}\"\n  clientTimeout: {}\n",
            self.options.client_timeout_secs
        );
        for line in &self.options.server_extra {
            config.push_str(&format!("  {line}\n"));
        }
        let path = self.dir.join("server.yml");
        std::fs::write(&path, config)?;
        let mut server = Daemon::start(
            "engarde-server",
            self.server.name(),
            &self.options.server_binary,
            &[path.to_str().expect("UTF-8 path")],
            &self.env(),
            self.dir.join("engarde-server.log"),
        )?;
        server.wait_for_log("listening for clients", Duration::from_secs(10))?;
        self.engarde_server = Some(server);
        Ok(())
    }

    fn write_client_config(&self, k: usize) -> io::Result<()> {
        let mut config = format!(
            "client:\n  description: \"lab client {k}\"\n  listenAddr: \"127.0.0.1:{CLIENT_PORT}\"\n  dstAddr: \"{}\"\n  dstOverrides:\n",
            SocketAddr::from((server_link_ip(k, 0), SERVER_PORT))
        );
        for i in 0..MAX_LINKS {
            config.push_str(&format!(
                "    - ifName: \"{}\"\n      dstAddr: \"{}\"\n",
                client_interface(i),
                SocketAddr::from((server_link_ip(k, i), SERVER_PORT))
            ));
        }
        std::fs::write(&self.clients[k].config, config)
    }

    /// Starts client `k`'s engarde-client and waits until its links are up.
    pub fn start_client(&mut self, k: usize) -> io::Result<()> {
        let env: Vec<(String, String)> = self
            .env()
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let site = &mut self.clients[k];
        site.starts += 1;
        let mut daemon = Daemon::start(
            &format!("engarde-client {k}"),
            site.ns.name(),
            &self.options.client_binary,
            &[site.config.to_str().expect("UTF-8 path")],
            &env,
            self.dir
                .join(format!("engarde-client-{k}-{}.log", site.starts)),
        )?;
        for i in 0..site.links {
            daemon.wait_for_log(
                &format!("link {}/IPv4 up", client_interface(i)),
                Duration::from_secs(10),
            )?;
        }
        site.engarde = Some(daemon);
        Ok(())
    }

    /// Kills client `k`'s engarde-client at once (SIGKILL, as a crash would).
    pub fn kill_client(&mut self, k: usize) -> io::Result<()> {
        if let Some(mut daemon) = self.clients[k].engarde.take() {
            daemon.signal_and_wait(libc::SIGKILL, Duration::from_secs(5))?;
        }
        Ok(())
    }

    fn connect_wireguard(&self) -> io::Result<()> {
        for site in &self.clients {
            self.wireguard_server.add_peer(&Peer {
                public_key: site.wireguard.keys.public.clone(),
                allowed_ips: format!("{}/32", site.tunnel_ip()),
                endpoint: None,
                keepalive: 0,
            })?;
            site.wireguard.add_peer(&Peer {
                public_key: self.wireguard_server.keys.public.clone(),
                allowed_ips: format!("{}/32", server_tunnel_ip()),
                endpoint: Some(format!("127.0.0.1:{CLIENT_PORT}")),
                keepalive: 5,
            })?;
        }
        Ok(())
    }

    /// Pings the server's tunnel address from every client until it answers.
    pub fn wait_for_tunnels(&self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        let target = server_tunnel_ip().to_string();
        for site in &self.clients {
            while run_in(site.ns.name(), "ping", &["-c", "1", "-W", "1", &target]).is_err() {
                if Instant::now() > deadline {
                    return Err(io::Error::other(format!(
                        "client {}: no ping through the tunnel within {timeout:?}\n{}",
                        site.index,
                        self.logs()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Brings client `k`'s link `i` down or up on the client side.
    pub fn set_client_link(&self, k: usize, i: usize, up: bool) -> io::Result<()> {
        ip(
            self.clients[k].ns.name(),
            &format!(
                "link set {} {}",
                client_interface(i),
                if up { "up" } else { "down" }
            ),
        )
        .map(|_| ())
    }

    /// Brings client `k`'s link `i` down or up on the server side.
    pub fn set_server_link(&self, k: usize, i: usize, up: bool) -> io::Result<()> {
        ip(
            self.server.name(),
            &format!(
                "link set {} {}",
                server_interface(k, i),
                if up { "up" } else { "down" }
            ),
        )
        .map(|_| ())
    }

    /// Gives client `k`'s link `i` a new address (host part `host`): the
    /// client roams, as a re-dialled modem would.
    pub fn readdress_client_link(&mut self, k: usize, i: usize, host: u8) -> io::Result<()> {
        let site = &mut self.clients[k];
        let old = site.link_ip(i);
        site.hosts.insert(i, host);
        let new = site.link_ip(i);
        let wan = client_interface(i);
        ip(site.ns.name(), &format!("addr add {new}/24 dev {wan}"))?;
        ip(site.ns.name(), &format!("addr del {old}/24 dev {wan}"))?;
        Ok(())
    }

    /// The server WireGuard's peers: (public key, endpoint, latest
    /// handshake in seconds since the Unix epoch, 0 if none), from `wg show dump`.
    pub fn server_peers(&self) -> io::Result<Vec<(String, String, u64)>> {
        let dump = self.wireguard_server.dump()?;
        Ok(dump
            .lines()
            .skip(1) // the interface's own line
            .filter_map(|line| {
                let fields: Vec<&str> = line.split('\t').collect();
                Some((
                    fields.first()?.to_string(),
                    fields.get(2)?.to_string(),
                    fields.get(4)?.parse().ok()?,
                ))
            })
            .collect())
    }

    /// The daemons' logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Some(server) = &self.engarde_server {
            out.push_str(&format!(
                "----- engarde-server log -----\n{}\n",
                server.log()
            ));
        }
        for site in &self.clients {
            for start in 1..=site.starts {
                let path = self
                    .dir
                    .join(format!("engarde-client-{}-{start}.log", site.index));
                let log = std::fs::read_to_string(&path).unwrap_or_default();
                out.push_str(&format!(
                    "----- engarde-client {} (start {start}) log -----\n{log}\n",
                    site.index
                ));
            }
        }
        out
    }
}

impl Drop for MultiLab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "lab {} failed; daemon logs follow\n{}",
                self.name,
                self.logs()
            );
        }
        // The logs are read above; the namespaces go with the fields.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn nft(ns: &str, script: &str) -> io::Result<()> {
    run_with_input("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script)).map(|_| ())
}

/// The packets of named counter `name` in table `inet TABLE` of `ns`.
fn counter(ns: &str, table: &str, name: &str) -> io::Result<u64> {
    let listing = run_in(ns, "nft", &["list", "counter", "inet", table, name])?;
    listing
        .split_whitespace()
        .skip_while(|word| *word != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("no counter {name} in:\n{listing}")))
}
