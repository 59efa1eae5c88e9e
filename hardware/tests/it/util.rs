//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tillpass_hardware::clock::Timestamp;
use tillpass_hardware::config::{DeviceConfig, ReconnectConfig, ScannerConfig};
use tillpass_hardware::pipeline::{Input, Output, Pipeline};
use tillpass_hardware::wedge::KeyEvent;
use tillpass_hardware::{ScannerEvent, Supervisor, SupervisorHandle};
use tokio::sync::mpsc;

/// How long any test waits for an event before failing.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// A scanner config with fast reconnects for tests.
pub fn scanner(name: &str, device: DeviceConfig) -> ScannerConfig {
    let mut config = ScannerConfig::new(name, device);
    config.reconnect = ReconnectConfig {
        initial_ms: 20,
        max_ms: 200,
    };
    config
}

/// A running supervisor and its events.
pub struct Running {
    pub handle: Option<SupervisorHandle>,
    pub events: mpsc::Receiver<ScannerEvent>,
    pub seen: Vec<ScannerEvent>,
}

impl Running {
    pub fn start(configs: Vec<ScannerConfig>) -> Running {
        let (tx, events) = mpsc::channel(64);
        let handle = Supervisor::start(configs, tx).expect("start");
        Running {
            handle: Some(handle),
            events,
            seen: Vec::new(),
        }
    }

    /// Waits for the first event (after those already taken) that `want` accepts.
    pub async fn wait_for(
        &mut self,
        what: &str,
        want: impl Fn(&ScannerEvent) -> bool,
    ) -> ScannerEvent {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if want(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!(
                    "event stream ended waiting for {what}; seen {:#?}",
                    self.seen
                ),
                Err(_) => panic!("no {what} within {DEADLINE:?}; seen {:#?}", self.seen),
            }
        }
    }

    pub async fn connected(&mut self) -> ScannerEvent {
        self.wait_for("Connected", |e| matches!(e, ScannerEvent::Connected { .. }))
            .await
    }

    pub async fn disconnected(&mut self) -> ScannerEvent {
        self.wait_for("Disconnected", |e| {
            matches!(e, ScannerEvent::Disconnected { .. })
        })
        .await
    }

    /// The next scan's label.
    pub async fn scan(&mut self) -> String {
        match self
            .wait_for("Scan", |e| matches!(e, ScannerEvent::Scan(_)))
            .await
        {
            ScannerEvent::Scan(scan) => scan.label,
            _ => unreachable!(),
        }
    }

    pub async fn error(&mut self) -> ScannerEvent {
        self.wait_for("Error", |e| matches!(e, ScannerEvent::Error { .. }))
            .await
    }

    pub async fn shutdown(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown().await;
        }
    }
}

/// Replays inputs through a pipeline in simulated time: idle deadlines that fall before an
/// input are handled before it, and everything pending is handled at the end.
pub fn replay(pipeline: &mut Pipeline, keys: &[KeyEvent]) -> Vec<Output> {
    let mut out = Vec::new();
    for key in keys {
        while let Some(deadline) = pipeline.deadline().filter(|d| *d <= key.at) {
            pipeline.on_idle(deadline, &mut out);
        }
        pipeline.push(Input::Key(*key), key.at, &mut out);
    }
    while let Some(deadline) = pipeline.deadline() {
        pipeline.on_idle(deadline, &mut out);
    }
    out
}

/// Same, for HID reports with their times.
pub fn replay_reports(pipeline: &mut Pipeline, reports: &[(Duration, Vec<u8>)]) -> Vec<Output> {
    let mut out = Vec::new();
    for (time, report) in reports {
        let at = Timestamp::from_duration(*time);
        while let Some(deadline) = pipeline.deadline().filter(|d| *d <= at) {
            pipeline.on_idle(deadline, &mut out);
        }
        pipeline.push(Input::Report(report), at, &mut out);
    }
    while let Some(deadline) = pipeline.deadline() {
        pipeline.on_idle(deadline, &mut out);
    }
    out
}

/// The labels of the scans among `outputs`.
pub fn labels(outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Scan { label, .. } => Some(label.text.clone()),
            _ => None,
        })
        .collect()
}

/// The committed fixtures directory.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A token-shaped text: an upper-case prefix and `digits` decimal digits (deterministic).
pub fn token(prefix: &str, digits: usize, seed: u64) -> String {
    let mut x = seed | 1;
    let mut s = String::from(prefix);
    for _ in 0..digits {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push(char::from(b'0' + (x % 10) as u8));
    }
    s
}
