//! Driving the system's headless Chromium through chromedriver's WebDriver
//! protocol (W3C, plain HTTP and JSON) with the tiny HTTP client.
//!
//! Missing chromium or chromedriver fails the test with how to install
//! them: a browser test that silently skips proves nothing.

use super::http;
use super::process::TempDir;
use serde_json::{Value, json};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running chromedriver; killed on drop.
pub struct Chromedriver {
    child: Child,
    addr: SocketAddr,
}

impl Chromedriver {
    pub fn start() -> Self {
        for (path, package) in [(CHROMEDRIVER, "chromium-driver"), (CHROMIUM, "chromium")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser test needs it (apt-get install {package}; .ci/run installs chromium and chromium-driver)"
            );
        }
        // A free port: chromedriver cannot report the one it picks.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let driver = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(response) = http::request(driver.addr, "GET", "/status", &[], b"") {
                if response.json()["value"]["ready"] == true {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let response = http::request(
            self.addr,
            method,
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
        .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let json = response.json();
        assert_eq!(
            response.status, 200,
            "chromedriver {method} {path} {body}: {json:#}"
        );
        json["value"].clone()
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the browser window looks.
#[derive(Clone, Copy)]
pub enum Screen {
    /// A desktop window of this size.
    Desktop(u32, u32),
    /// A phone: this viewport in CSS pixels, at twice the pixel density.
    Phone(u32, u32),
}

/// One browser session (one Chromium); ended on drop.
pub struct Session<'a> {
    driver: &'a Chromedriver,
    id: String,
    _profile: TempDir,
}

impl<'a> Session<'a> {
    pub fn new(driver: &'a Chromedriver, screen: Screen) -> Self {
        let profile = TempDir::new("chromium-profile");
        // No network here: these flags keep Chromium from waiting on services it cannot reach.
        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--hide-scrollbars".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let mut options = json!({ "binary": CHROMIUM });
        match screen {
            Screen::Desktop(width, height) => args.push(format!("--window-size={width},{height}")),
            Screen::Phone(width, height) => {
                options["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": width, "height": height, "pixelRatio": 2.0, "touch": true }
                });
            }
        }
        options["args"] = json!(args);
        let value = driver.call(
            "POST",
            "/session",
            Some(json!({
                "capabilities": { "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": options,
                    "timeouts": { "pageLoad": 20000, "script": 10000 },
                }}
            })),
        );
        Self {
            driver,
            id: value["sessionId"]
                .as_str()
                .expect("a session id")
                .to_string(),
            _profile: profile,
        }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.driver
            .call(method, &format!("/session/{}{path}", self.id), body)
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Every element matching the CSS `selector`.
    pub fn find_all(&self, selector: &str) -> Vec<String> {
        let found = self.call(
            "POST",
            "/elements",
            Some(json!({ "using": "css selector", "value": selector })),
        );
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_string())
            .collect()
    }

    /// Waits until exactly one element matches `selector`, failing after `limit`.
    pub fn wait_for(&self, selector: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            if let [one] = self.find_all(selector).as_slice() {
                return one.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no element {selector} within {limit:?}; the page shows:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, element: &str) {
        self.call(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// Clicks the element matching `selector` from inside the page and
    /// returns its text, waiting up to `limit` for it to exist. The page
    /// redraws its cards every second: an element found by one WebDriver
    /// call can be replaced before the next one clicks it, a script cannot.
    pub fn click_selector(&self, selector: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.call(
                "POST",
                "/execute/sync",
                Some(json!({
                    "script": "const e = document.querySelector(arguments[0]); if (!e) return null; e.click(); return e.textContent;",
                    "args": [selector],
                })),
            );
            if let Some(text) = text.as_str() {
                return text.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {selector} to click within {limit:?}; the page shows:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The visible text of the element matching `selector`, read from inside
    /// the page (see [`Self::click_selector`]), waiting up to `limit` for it.
    pub fn text_of(&self, selector: &str, limit: Duration) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let text = self.call(
                "POST",
                "/execute/sync",
                Some(json!({
                    "script": "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                    "args": [selector],
                })),
            );
            if let Some(text) = text.as_str() {
                return text.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no element {selector} within {limit:?}; the page shows:\n{}",
                self.page_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The visible text of the whole page.
    pub fn page_text(&self) -> String {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": "return document.body.innerText", "args": [] })),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Saves a PNG of the viewport to `path`.
    pub fn screenshot(&self, path: &Path) {
        let encoded = self.call("GET", "/screenshot", None);
        let png = engarde::web::base64::decode(encoded.as_str().unwrap()).expect("base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = http::request(
            self.driver.addr,
            "DELETE",
            &format!("/session/{}", self.id),
            &[],
            b"",
        );
    }
}

/// Where tests leave screenshots: `target/test-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("test-artifacts")
}
