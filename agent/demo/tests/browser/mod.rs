//! The phone page in a real headless Chromium: the shared driver
//! (`tillpass_tests::browser`: skipped loudly without Chromium, a failure under
//! `TILLPASS_REQUIRE_BROWSER=1`) with a phone-sized window, and the page's own waits.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

pub use tillpass_tests::browser::{Driver, start_driver};

pub const WAIT: Duration = Duration::from_secs(30);

/// Whether the browser test can run here (`tillpass_tests::browser::available`).
pub fn available() -> bool {
    tillpass_tests::browser::available("the phone page's test")
}

/// A headless Chromium with a phone-sized window.
pub async fn browser(driver: &Driver) -> Client {
    tillpass_tests::browser::browser(driver, (430, 900)).await
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
