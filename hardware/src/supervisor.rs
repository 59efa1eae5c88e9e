//! One task per configured scanner, all reporting on one channel.
//!
//! Each task follows the UnifiedPOS life cycle: **claim** the device (exclusive open or
//! grab), **enable** it (settings applied, stale input discarded), report
//! [`ScannerEvent::Connected`], then deliver scans until the device goes away. On an unplug
//! (end of file, hang-up, EIO, ENODEV) it reports [`ScannerEvent::Disconnected`] with the
//! reason, reports any scan cut short as a partial scan, and reopens the same configured
//! path (a stable by-id link) with capped, jittered exponential backoff. An open failure is
//! reported once per kind of failure with a hint for the technician, not on every retry.
//!
//! Shutdown is graceful: [`SupervisorHandle::shutdown`] stops every task, which releases its
//! device (joining a serial reader thread takes at most one 100 ms read tick), reports
//! `Disconnected { reason: Shutdown }` for connected devices, and returns. Dropping the
//! handle stops the tasks too, without waiting for them.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::backoff::Backoff;
use crate::clock::Timestamp;
use crate::config::{self, ConfigError, DeviceConfig, ScannerConfig};
use crate::event::{DisconnectReason, OpenProblem, Scan, ScannerError, ScannerEvent};
use crate::pipeline::{Input, Output, Pipeline};
use crate::transport::{self, Chunk, Connection, DeviceState};

/// Starts device tasks.
#[derive(Debug)]
pub struct Supervisor;

/// Why the supervisor could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A configuration value is not acceptable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `start` was called outside a tokio runtime.
    #[error("Supervisor::start must be called inside a tokio runtime")]
    NoRuntime,
}

/// The running device tasks.
#[derive(Debug)]
pub struct SupervisorHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<(String, JoinHandle<()>)>,
}

impl Supervisor {
    /// Validates `configs` and starts one task per scanner, each sending its
    /// [`ScannerEvent`]s to `events`. A task stops when the handle stops it or when the
    /// receiving side of `events` is dropped.
    ///
    /// # Errors
    /// A configuration error (naming the scanner and field), or no tokio runtime.
    pub fn start(
        configs: Vec<ScannerConfig>,
        events: mpsc::Sender<ScannerEvent>,
    ) -> Result<SupervisorHandle, StartError> {
        config::validate_all(&configs)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let (stop, stop_rx) = watch::channel(false);
        let tasks = configs
            .into_iter()
            .map(|config| {
                for warning in config.warnings() {
                    tracing::warn!("{warning}");
                }
                let name = config.name.clone();
                let task = runtime.spawn(run_device(config, events.clone(), stop_rx.clone()));
                (name, task)
            })
            .collect();
        Ok(SupervisorHandle { stop, tasks })
    }
}

impl SupervisorHandle {
    /// The configured scanner names.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.tasks.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Whether every device task has ended (stdin closed, or the event receiver dropped).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().all(|(_, t)| t.is_finished())
    }

    /// Stops every device task and waits for them to release their devices.
    pub async fn shutdown(self) {
        self.shutdown_within(Duration::from_secs(5)).await;
    }

    /// Like [`SupervisorHandle::shutdown`], aborting tasks that take longer than `grace`.
    pub async fn shutdown_within(self, grace: Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (name, mut task) in self.tasks {
            if tokio::time::timeout_at(deadline, &mut task).await.is_err() {
                tracing::warn!(scanner = %name, "did not stop in time; aborted");
                task.abort();
            }
        }
    }
}

/// Resolves when stop is requested (or the handle is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Sleeps `delay` unless stopped first; false if stopped.
async fn pause(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = stopped(stop) => false,
        () = tokio::time::sleep(delay) => true,
    }
}

/// Delivers events for one device.
struct Reporter {
    device: String,
    events: mpsc::Sender<ScannerEvent>,
}

impl Reporter {
    /// Sends an event; false if nobody listens any more.
    async fn send(&self, event: ScannerEvent) -> bool {
        self.events.send(event).await.is_ok()
    }

    async fn error(&self, error: ScannerError) -> bool {
        self.send(ScannerEvent::Error {
            device: self.device.clone(),
            error,
            at: SystemTime::now(),
        })
        .await
    }

    /// Sends pipeline outputs, forwarding a person's keys; false if nobody listens.
    async fn outputs(&self, outputs: &mut Vec<Output>, conn: Option<&mut Connection>) -> bool {
        let mut conn = conn;
        for output in outputs.drain(..) {
            let event = match output {
                Output::Scan {
                    label,
                    raw,
                    input_at,
                } => {
                    tracing::debug!(scanner = %self.device, symbology = %label.symbology, len = label.text.len(), "scan");
                    ScannerEvent::Scan(Scan {
                        device: self.device.clone(),
                        label: label.text,
                        raw,
                        symbology: label.symbology,
                        aim: label.aim,
                        at: SystemTime::now(),
                        input_at,
                    })
                }
                Output::Error(error) => {
                    tracing::warn!(scanner = %self.device, %error, "unreadable scan");
                    ScannerEvent::Error {
                        device: self.device.clone(),
                        error,
                        at: SystemTime::now(),
                    }
                }
                Output::Forward(key) => {
                    if let Some(forward) = conn.as_deref_mut().and_then(|c| c.forward.as_mut()) {
                        forward.forward(key);
                    }
                    continue;
                }
            };
            if !self.send(event).await {
                return false;
            }
        }
        true
    }
}

/// Decides which open failures become events: each kind once until the device opens again.
/// After an unplug, "not found" is expected until the scanner is back, and the first failure
/// of another kind is forgiven (udev may not have applied its permissions to the new node).
#[derive(Debug, Default)]
struct OpenFailures {
    last: Option<OpenProblem>,
    after_unplug: bool,
    forgiven: bool,
}

impl OpenFailures {
    fn report(&mut self, problem: Option<OpenProblem>) -> bool {
        if self.after_unplug && problem == Some(OpenProblem::NotFound) {
            return false;
        }
        if self.after_unplug && !self.forgiven {
            self.forgiven = true;
            return false;
        }
        if self.last == problem {
            return false;
        }
        self.last = problem;
        true
    }

    fn opened(&mut self) {
        *self = OpenFailures::default();
    }

    fn unplugged(&mut self) {
        *self = OpenFailures {
            after_unplug: true,
            ..OpenFailures::default()
        };
    }
}

fn jitter_seed(name: &str) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    SystemTime::now().hash(&mut h);
    h.finish()
}

async fn run_device(
    config: ScannerConfig,
    events: mpsc::Sender<ScannerEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let reporter = Reporter {
        device: config.name.clone(),
        events,
    };
    let mut backoff = Backoff::new(
        Duration::from_millis(config.reconnect.initial_ms),
        Duration::from_millis(config.reconnect.max_ms),
        jitter_seed(&config.name),
    );
    let mut pipeline = Pipeline::new(&config);
    let mut state = DeviceState::default();
    let mut failures = OpenFailures::default();
    let mut outputs = Vec::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let opened = tokio::select! {
            () = stopped(&mut stop) => return,
            opened = transport::open(&config, &mut state) => opened,
        };
        let mut conn = match opened {
            Ok(conn) => conn,
            Err(error) => {
                let problem = match &error {
                    ScannerError::Open { problem, .. } => Some(*problem),
                    _ => None,
                };
                if failures.report(problem) {
                    tracing::warn!(scanner = %config.name, %error, "cannot open");
                    if !reporter.error(error).await {
                        return;
                    }
                } else {
                    tracing::debug!(scanner = %config.name, %error, "still cannot open");
                }
                if !pause(backoff.next_delay(), &mut stop).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        failures.opened();
        if let Some(caps) = conn.caps_lock {
            pipeline.set_caps_lock(caps);
        }
        tracing::info!(scanner = %config.name, detail = %conn.detail, "connected");
        let connected = ScannerEvent::Connected {
            device: config.name.clone(),
            path: config.device.path(),
            target: conn.target.clone(),
            detail: conn.detail.clone(),
            at: SystemTime::now(),
        };
        if !reporter.send(connected).await {
            conn.close().await;
            return;
        }
        let reason = pump(&mut conn, &mut pipeline, &reporter, &mut outputs, &mut stop).await;
        conn.close().await;
        pipeline.flush(Timestamp::now(), &mut outputs);
        let Some(reason) = reason else {
            return; // nobody listens any more
        };
        if !reporter.outputs(&mut outputs, None).await {
            return;
        }
        tracing::info!(scanner = %config.name, %reason, "disconnected");
        let disconnected = ScannerEvent::Disconnected {
            device: config.name.clone(),
            reason: reason.clone(),
            at: SystemTime::now(),
        };
        if !reporter.send(disconnected).await || reason == DisconnectReason::Shutdown {
            return;
        }
        if matches!(config.device, DeviceConfig::Stdin) && reason == DisconnectReason::EndOfFile {
            return; // standard input does not come back
        }
        failures.unplugged();
        if !pause(backoff.next_delay(), &mut stop).await {
            return;
        }
    }
}

/// Moves input through the pipeline until the device goes away (`Some(reason)`) or nobody
/// listens (`None`).
async fn pump(
    conn: &mut Connection,
    pipeline: &mut Pipeline,
    reporter: &Reporter,
    outputs: &mut Vec<Output>,
    stop: &mut watch::Receiver<bool>,
) -> Option<DisconnectReason> {
    loop {
        let deadline = pipeline.deadline();
        let wake = deadline.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            |d| tokio::time::Instant::from_std(d.to_instant()),
        );
        tokio::select! {
            biased;
            () = stopped(stop) => return Some(DisconnectReason::Shutdown),
            item = conn.rx.recv() => match item {
                Some(Ok(chunk)) => match chunk {
                    Chunk::Bytes(bytes, at) => pipeline.push(Input::Bytes(&bytes), at, outputs),
                    Chunk::Report(report, at) => pipeline.push(Input::Report(&report), at, outputs),
                    Chunk::Keys(keys) => {
                        for key in keys {
                            pipeline.push(Input::Key(key), key.at, outputs);
                        }
                    }
                },
                Some(Err(reason)) => return Some(reason),
                None => return Some(DisconnectReason::EndOfFile),
            },
            () = tokio::time::sleep_until(wake), if deadline.is_some() => {
                pipeline.on_idle(Timestamp::now(), outputs);
            }
        }
        if !reporter.outputs(outputs, Some(conn)).await {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_failures_are_reported_once_per_kind() {
        let mut f = OpenFailures::default();
        let denied = Some(OpenProblem::PermissionDenied);
        let missing = Some(OpenProblem::NotFound);
        assert!(f.report(missing), "at start, a missing scanner is news");
        assert!(!f.report(missing));
        assert!(f.report(denied));
        assert!(!f.report(denied));
        f.opened();
        f.unplugged();
        assert!(!f.report(missing), "expected while unplugged");
        assert!(!f.report(denied), "forgiven once: udev may be late");
        assert!(f.report(denied), "but not twice");
        assert!(!f.report(missing));
    }
}
