//! A real headless Chromium driven over chromedriver (`fantoccini`), as the dashboard's
//! browser test drives it: Debian's `chromium` and `chromium-driver`. Without them the test
//! is skipped loudly, unless `TILLPASS_REQUIRE_BROWSER=1` (CI) makes that a failure.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free port, with a fresh profile; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium_binary() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

const MISSING_BROWSER: &str = "the phone page's browser test needs Debian's `chromium` and \
    `chromium-driver` (apt-get install -y chromium chromium-driver; .ci/run installs them)";

/// Whether the browser test can run here.
#[allow(clippy::print_stderr)] // the skip must be seen in the test run's output
pub fn available() -> bool {
    let found = chromium_binary().is_some()
        && Command::new("chromedriver")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("TILLPASS_REQUIRE_BROWSER").is_none_or(|v| v != "1"),
            "TILLPASS_REQUIRE_BROWSER=1 and no Chromium/ChromeDriver found: {MISSING_BROWSER}"
        );
        eprintln!(
            "\n*** SKIPPED the real-browser phone page test: {MISSING_BROWSER}. \
             Set TILLPASS_REQUIRE_BROWSER=1 to make this a failure. ***\n"
        );
    }
    found
}

pub fn start_driver() -> Driver {
    let mut child = Command::new("chromedriver")
        .args(["--port=0", "--log-level=WARNING"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run chromedriver ({e}): {MISSING_BROWSER}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                let _ = tx.send(rest.trim_end_matches('.').trim().to_owned());
            }
        }
    });
    let port = rx
        .recv_timeout(WAIT)
        .unwrap_or_else(|_| panic!("chromedriver did not say its port within {WAIT:?}"));
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
    }
}

/// A headless Chromium with a phone-sized window.
pub async fn browser(driver: &Driver) -> Client {
    let profile = driver.profile.path().display().to_string();
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=430,900",
            format!("--user-data-dir={profile}"),
        ],
    });
    if let Some(binary) = chromium_binary() {
        options["binary"] = json!(binary.display().to_string());
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("chromedriver could not start Chromium: {e}"))
}

/// Where screenshots go: `<target>/phone-screenshots/`.
fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("phone-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Keeps a screenshot of the page as `<name>.png`.
pub async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// Waits until the last element matching `css` holds `needle`; returns its text.
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    wait_text_for(c, css, needle, WAIT).await
}

/// [`wait_text`] with its own deadline.
pub async fn wait_text_for(c: &Client, css: &str, needle: &str, wait: Duration) -> String {
    let deadline = Instant::now() + wait;
    loop {
        let mut text = String::new();
        if let Ok(all) = c.find_all(Locator::Css(css)).await {
            for e in all.iter().rev() {
                let t = e.text().await.unwrap_or_default();
                if t.contains(needle) {
                    text = t;
                    break;
                }
            }
        }
        if text.contains(needle) {
            return text;
        }
        if Instant::now() > deadline {
            let source = c.source().await.unwrap_or_default();
            panic!("{css} never showed {needle:?}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until an element matches `css`.
pub async fn wait_for(c: &Client, css: &str) -> fantoccini::elements::Element {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            return e;
        }
        if Instant::now() > deadline {
            let source = c.source().await.unwrap_or_default();
            panic!("nothing matched {css}\n{source}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `text` into the phone's composer and sends it.
pub async fn say(c: &Client, text: &str) {
    let input = wait_for(c, "#composer input[name=text]").await;
    input.send_keys(text).await.unwrap();
    c.find(Locator::Css("#send"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}
