//! engarde-client and engarde-server in this process, on a thread of their
//! own with their own actix `System`, each with its management interface:
//! the test thread is then free to block on HTTP (the tiny client, or
//! chromedriver) and on fake WireGuard sockets without stalling the daemons.
//!
//! The client has two loopback "links", `link-a` on 127.0.0.1 and `link-b`
//! on 127.0.0.2, so every datagram its WireGuard sends reaches the server's
//! WireGuard twice while both links run.

use super::http;
use super::inprocess::{client_config, loopback_link, server_config};
use engarde::client::{ClientLinks, start_client};
use engarde::config::WebManagerConfig;
use engarde::server::start_server;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every wait here is bounded by this.
pub const WAIT: Duration = Duration::from_secs(10);

/// How to start the pair.
#[derive(Default, Clone)]
pub struct Options {
    /// Basic-auth user and password for both management interfaces.
    pub credentials: Option<(String, String)>,
}

/// The running pair and the fake WireGuards at both ends.
pub struct Daemons {
    /// Where the client's WireGuard sends.
    pub client_listen: SocketAddr,
    /// The server's socket towards its WireGuard (replies go to it).
    pub server_upstream: SocketAddr,
    /// The client's management interface.
    pub client_web: SocketAddr,
    /// The server's management interface.
    pub server_web: SocketAddr,
    /// Fake WireGuard on the client side.
    pub wireguard_client: UdpSocket,
    /// Fake WireGuard on the server side.
    pub wireguard_server: UdpSocket,
    /// The Authorization header the helpers send, when credentials are set.
    pub auth: Option<String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

struct Started {
    client_listen: SocketAddr,
    server_upstream: SocketAddr,
    client_web: SocketAddr,
    server_web: SocketAddr,
}

impl Daemons {
    pub fn start(options: Options) -> Self {
        let wireguard_server = fake_wireguard();
        let wireguard_client = fake_wireguard();
        let server_wireguard_addr = wireguard_server.local_addr().unwrap();
        let web = WebManagerConfig {
            listen_addr: "127.0.0.1:0".parse().unwrap(),
            username: options.credentials.clone().unwrap_or_default().0,
            password: options.credentials.clone().unwrap_or_default().1,
        };
        let (started_tx, started_rx) = mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let system = actix::System::new();
            system.block_on(async move {
                let mut server_config = server_config(
                    "127.0.0.1:0".parse().unwrap(),
                    server_wireguard_addr,
                    Duration::from_secs(30),
                );
                server_config.web_manager = Some(web.clone());
                let server = start_server(&server_config).expect("server starts");
                let mut links = vec![
                    loopback_link("link-a", "127.0.0.1", server.listen_addr),
                    loopback_link("link-b", "127.0.0.2", server.listen_addr),
                ];
                links[0].label = Some("Fiber".into());
                links[1].label = Some("LTE modem".into());
                let mut client_config =
                    client_config("127.0.0.1:0".parse().unwrap(), server.listen_addr);
                client_config.description = "Truck 7 (test)".into();
                client_config.web_manager = Some(web);
                let client =
                    start_client(&client_config, ClientLinks::Fixed(links)).expect("client starts");
                started_tx
                    .send(Started {
                        client_listen: client.listen_addr,
                        server_upstream: server.upstream_addr.unwrap(),
                        client_web: client.web.as_ref().unwrap().addr,
                        server_web: server.web.as_ref().unwrap().addr,
                    })
                    .unwrap();
                let _ = stopped.await;
                drop((client, server));
            });
        });
        let started = started_rx
            .recv_timeout(WAIT)
            .expect("the daemons start within the timeout");
        let daemons = Self {
            client_listen: started.client_listen,
            server_upstream: started.server_upstream,
            client_web: started.client_web,
            server_web: started.server_web,
            wireguard_client,
            wireguard_server,
            auth: options
                .credentials
                .as_ref()
                .map(|(user, password)| http::basic(user, password)),
            stop: Some(stop),
            thread: Some(thread),
        };
        daemons.wait_until("both links are active", |list| {
            active_links(list) == ["link-a", "link-b"]
        });
        daemons
    }

    /// The client's get-list.
    pub fn client_list(&self) -> serde_json::Value {
        let headers: Vec<(&str, &str)> = self
            .auth
            .as_deref()
            .map(|a| ("Authorization", a))
            .into_iter()
            .collect();
        let response = http::request(self.client_web, "GET", "/api/v1/get-list", &headers, b"")
            .expect("get-list answers");
        assert_eq!(response.status, 200, "{}", response.text());
        response.json()
    }

    /// Polls the client's get-list until `condition` holds, failing after [`WAIT`].
    pub fn wait_until(&self, what: &str, condition: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let list = self.client_list();
            if condition(&list) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}: {list:#}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The client's WireGuard sends `count` datagrams of `size` bytes.
    pub fn send_from_client_wireguard(&self, count: usize, size: usize) {
        for i in 0..count {
            let payload = vec![(i % 251) as u8; size];
            self.wireguard_client
                .send_to(&payload, self.client_listen)
                .unwrap();
            // A little pacing keeps loopback queues far from full.
            if i % 16 == 15 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// The server's WireGuard sends `count` datagrams of `size` bytes.
    pub fn send_from_server_wireguard(&self, count: usize, size: usize) {
        for i in 0..count {
            let payload = vec![(i % 251) as u8; size];
            self.wireguard_server
                .send_to(&payload, self.server_upstream)
                .unwrap();
            if i % 16 == 15 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

impl Drop for Daemons {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fake_wireguard() -> UdpSocket {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    socket
}

/// Counts the datagrams `socket` receives until it has been silent for
/// `quiet`; returns the count and the bytes.
pub fn drain(socket: &UdpSocket, quiet: Duration) -> (usize, usize) {
    socket.set_read_timeout(Some(quiet)).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (mut count, mut bytes) = (0, 0);
    let deadline = Instant::now() + WAIT;
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        count += 1;
        bytes += n;
        assert!(Instant::now() < deadline, "{socket:?} never went quiet");
    }
    (count, bytes)
}

/// Names of the active interfaces in a client get-list, sorted.
pub fn active_links(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> = list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["status"] == "active")
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// The entry of interface `name` in a client get-list.
pub fn interface<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .unwrap_or_else(|| panic!("no interface {name} in {list:#}"))
}
