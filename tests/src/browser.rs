//! A real headless Chromium driven over chromedriver (`fantoccini`): Debian's `chromium`
//! and `chromium-driver`, as the dashboard's and the demo's phone page tests drive it.
//!
//! Without them a test that asks [`available`] is skipped, loudly; with
//! `TILLPASS_REQUIRE_BROWSER=1` (set by `.ci/run`) a missing browser is a failure.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

/// How long chromedriver may take to say its port.
pub const START: Duration = Duration::from_secs(30);

/// What to install when the browser is missing.
const MISSING_BROWSER: &str = "the real-browser tests need Debian's `chromium` and \
    `chromium-driver` (apt-get install -y chromium chromium-driver; .ci/run installs them)";

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

/// The Chromium binary, if one is installed where Debian (or Chrome) puts it.
pub fn chromium_binary() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Whether `test` (e.g. "the dashboard test") can run here. Without Chromium and
/// chromedriver it says loudly that it is skipped and how to enable it, or fails under
/// `TILLPASS_REQUIRE_BROWSER=1`.
#[allow(clippy::print_stderr)] // the skip must be seen in the test run's output
pub fn available(test: &str) -> bool {
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
            "\n*** SKIPPED {test} in a real browser: {MISSING_BROWSER}. \
             Set TILLPASS_REQUIRE_BROWSER=1 to make this a failure. ***\n"
        );
    }
    found
}

/// Starts chromedriver on a free port.
///
/// # Panics
/// When chromedriver cannot run or does not say its port within [`START`].
#[allow(clippy::panic, clippy::unwrap_used)]
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
        .recv_timeout(START)
        .unwrap_or_else(|_| panic!("chromedriver did not say its port within {START:?}"));
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        profile: tempfile::tempdir().unwrap(),
    }
}

/// A headless Chromium with a window of `width` × `height` pixels.
///
/// # Panics
/// When chromedriver cannot start Chromium.
#[allow(clippy::panic)]
pub async fn browser(driver: &Driver, (width, height): (u32, u32)) -> Client {
    let profile = driver.profile.path().display().to_string();
    let mut options = json!({
        "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", format!("--window-size={width},{height}"),
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
