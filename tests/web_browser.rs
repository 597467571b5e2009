//! A real browser: headless Chromium (through chromedriver) opens the page
//! of a running client with two links, sees both, clicks "Exclude" on one
//! and sees its status change, while the fake WireGuard behind the server
//! confirms on the wire that the link stopped carrying packets. The server's
//! replies are shaped as WireGuard data messages, so the client's cards show
//! what each link is worth next to the other (path analytics). Screenshots
//! of the client (desktop and phone width) and the server page are left in
//! target/test-artifacts/.

mod common;

use common::daemons::{Daemons, Options, interface};
use common::webdriver::{Chromedriver, Screen, Session, artifacts_dir};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PAGE_WAIT: Duration = Duration::from_secs(15);
const USER: &str = "operator";
const PASSWORD: &str = "tunnel";

/// WireGuard-like traffic both ways every 10 ms; counts the copies of each
/// numbered datagram that reach the server's WireGuard. Upstream datagrams
/// are not valid WireGuard (so the server does not deduplicate them and
/// their copies can be counted); the replies are data messages with a
/// growing counter (so the client's analytics compare its links).
struct Traffic {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    copies: Arc<Mutex<HashMap<u64, u32>>>,
    thread: Option<JoinHandle<()>>,
}

impl Traffic {
    fn start(daemons: &Daemons) -> Self {
        let client = daemons.wireguard_client.try_clone().unwrap();
        let server = daemons.wireguard_server.try_clone().unwrap();
        for socket in [&client, &server] {
            socket.set_nonblocking(true).unwrap();
        }
        let (to_client, to_server) = (daemons.client_listen, daemons.server_upstream);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let copies = Arc::new(Mutex::new(HashMap::new()));
        let (s, n, c) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&copies));
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !s.load(Ordering::Relaxed) {
                let mut datagram = [0x04u8; 148];
                let seq = n.load(Ordering::Relaxed);
                datagram[4..12].copy_from_slice(&seq.to_le_bytes());
                client.send_to(&datagram, to_client).unwrap();
                n.fetch_add(1, Ordering::Relaxed);
                let mut reply = [0u8; 96];
                reply[0] = 4;
                reply[4..8].copy_from_slice(&7u32.to_le_bytes());
                reply[8..16].copy_from_slice(&seq.to_le_bytes());
                server.send_to(&reply, to_server).unwrap();
                std::thread::sleep(Duration::from_millis(10));
                while let Ok((len, _)) = server.recv_from(&mut buf) {
                    if len == 148 {
                        let seq = u64::from_le_bytes(buf[4..12].try_into().unwrap());
                        *c.lock().unwrap().entry(seq).or_default() += 1;
                    }
                }
                while client.recv_from(&mut buf).is_ok() {}
            }
        });
        Self {
            stop,
            sent,
            copies,
            thread: Some(thread),
        }
    }

    /// Sends for `window`, then asserts that each datagram sent in it
    /// reached the server's WireGuard exactly `expected` times; returns how
    /// many were sent.
    fn expect_copies(&self, window: Duration, expected: u32) -> u64 {
        let first = self.sent.load(Ordering::Relaxed);
        std::thread::sleep(window);
        let end = self.sent.load(Ordering::Relaxed);
        // Copies of the last datagrams may still be in flight: let them land
        // (generously: other tests may load both CPUs meanwhile).
        std::thread::sleep(Duration::from_millis(600));
        let copies = self.copies.lock().unwrap();
        let wrong: Vec<(u64, u32)> = (first..end)
            .map(|seq| (seq, copies.get(&seq).copied().unwrap_or(0)))
            .filter(|(_, n)| *n != expected)
            .collect();
        assert!(
            wrong.is_empty(),
            "datagrams {first}..{end} should arrive {expected} times each; these did not (seq, copies): {wrong:?}"
        );
        assert!(end - first > 20, "traffic flows: {} sent", end - first);
        end - first
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn card(name: &str, status: &str) -> String {
    format!("article[data-interface=\"{name}\"][data-status=\"{status}\"]")
}

#[test]
fn a_browser_excludes_a_link_and_the_wire_shows_it() {
    let daemons = Daemons::start(Options {
        credentials: Some((USER.into(), PASSWORD.into())),
    });
    let traffic = Traffic::start(&daemons);
    let driver = Chromedriver::start();
    let browser = Session::new(&driver, Screen::Desktop(1280, 860));
    // The browser is given the credentials in the address, as a user types them in its prompt.
    let client_page = format!("http://{USER}:{PASSWORD}@{}/", daemons.client_web);
    browser.goto(&client_page);

    // Both links appear, with their labels, and hear the server.
    for name in ["link-a", "link-b"] {
        browser.wait_for(
            &format!("{}[data-health=\"ok\"]", card(name, "active")),
            PAGE_WAIT,
        );
    }
    let text = browser.page_text();
    for expected in [
        "Truck 7 (test)",
        "Fiber",
        "LTE modem",
        "link-a",
        "link-b",
        "2 / 2",
    ] {
        assert!(
            text.contains(expected),
            "the page shows {expected:?}:\n{text}"
        );
    }
    // Each link's route: family, bound address and port, destination.
    let route = browser.wait_for("div.route[data-link=\"link-a/IPv4\"]", PAGE_WAIT);
    let route = browser.text(&route);
    assert!(
        route.starts_with("IPv4 127.0.0.1:") && route.contains(" → 127.0.0.1:"),
        "{route}"
    );
    let sent = traffic.expect_copies(Duration::from_secs(1), 2);
    println!("both links: {sent} datagrams, two copies each");
    // Each card compares its link with the other: first copies, losses, delay.
    for name in ["link-a", "link-b"] {
        let text = browser.text_of(&format!("{} dl.analytics", card(name, "active")), PAGE_WAIT);
        for expected in ["FIRST COPY", "RESCUED", "LOST", "BEHIND FASTEST"] {
            assert!(
                text.to_uppercase().contains(expected),
                "{name}'s analytics show {expected:?}: {text}"
            );
        }
    }
    let dir = artifacts_dir();
    browser.screenshot(&dir.join("web-client-desktop-both-links.png"));

    let clicked = Instant::now();
    let label = browser.click_selector(
        &format!(
            "{} button[data-action=\"exclude\"]",
            card("link-b", "active")
        ),
        PAGE_WAIT,
    );
    assert_eq!(label, "Exclude");
    browser.wait_for(&card("link-b", "excluded"), PAGE_WAIT);
    println!(
        "the page showed link-b excluded {:.0} ms after the click",
        clicked.elapsed().as_secs_f64() * 1e3
    );
    let card_text = browser.text_of(&card("link-b", "excluded"), PAGE_WAIT);
    assert!(
        card_text.contains("EXCLUDED") || card_text.contains("excluded"),
        "{card_text}"
    );
    assert!(card_text.contains("Excluded from this page"), "{card_text}");
    assert!(
        browser
            .find_all(&format!(
                "{} button[data-action=\"include\"]",
                card("link-b", "excluded")
            ))
            .len()
            == 1,
        "an Include button replaces Exclude"
    );
    assert!(browser.find_all(&card("link-a", "active")).len() == 1);

    // On the wire: from now on the server's WireGuard gets one copy per datagram.
    std::thread::sleep(Duration::from_millis(200));
    let sent = traffic.expect_copies(Duration::from_secs(1), 1);
    println!("link-b excluded: {sent} datagrams, one copy each");
    let list = daemons.client_list();
    let b_sent = interface(&list, "link-b")["counters"]["sentPackets"].clone();
    std::thread::sleep(Duration::from_millis(300));
    let list = daemons.client_list();
    assert_eq!(
        interface(&list, "link-b")["counters"]["sentPackets"],
        b_sent,
        "link-b's counter stopped"
    );
    assert_eq!(interface(&list, "link-b")["status"], "excluded");
    // Let the page redraw once more with link-b's counters frozen.
    std::thread::sleep(Duration::from_millis(1200));
    browser.screenshot(&dir.join("web-client-desktop.png"));

    let phone = Session::new(&driver, Screen::Phone(390, 844));
    phone.goto(&client_page);
    phone.wait_for(&card("link-b", "excluded"), PAGE_WAIT);
    phone.wait_for(
        &format!("{}[data-health=\"ok\"]", card("link-a", "active")),
        PAGE_WAIT,
    );
    std::thread::sleep(Duration::from_millis(1200));
    phone.screenshot(&dir.join("web-client-phone.png"));

    // Include it again from the page.
    browser.click_selector(
        &format!(
            "{} button[data-action=\"include\"]",
            card("link-b", "excluded")
        ),
        PAGE_WAIT,
    );
    browser.wait_for(&card("link-b", "active"), PAGE_WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let sent = traffic.expect_copies(Duration::from_secs(1), 2);
    println!("link-b included again: {sent} datagrams, two copies each");

    // The server's page lists both client addresses.
    browser.goto(&format!("http://{USER}:{PASSWORD}@{}/", daemons.server_web));
    for ip in ["127.0.0.1:", "127.0.0.2:"] {
        browser.wait_for(
            &format!("article[data-address^=\"{ip}\"][data-health=\"ok\"]"),
            PAGE_WAIT,
        );
    }
    assert!(
        browser
            .page_text()
            .to_lowercase()
            .contains("client addresses")
    );
    // link-b's first address (its socket closed at the exclusion) went silent
    // while the others talk: the page calls it dead.
    let dead = browser.text_of(
        "article[data-address^=\"127.0.0.2:\"][data-health=\"dead\"]",
        PAGE_WAIT,
    );
    assert!(dead.contains("looks dead"), "{dead}");
    std::thread::sleep(Duration::from_millis(1200));
    browser.screenshot(&dir.join("web-server-desktop.png"));
}
