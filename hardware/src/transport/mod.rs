//! Device readers: each opens (claims and enables) one kind of device and feeds what it reads,
//! timestamped, into a channel that the supervisor's device task drains.
//!
//! Blocking reads (serial) run on a dedicated thread that checks a stop flag at every read
//! timeout; readers built on non-blocking descriptors (evdev, hidraw, TCP, stdin) run as
//! tokio tasks and are aborted on stop. Either way [`Connection::close`] returns once the
//! device is released.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use crate::clock::Timestamp;
use crate::config::{DeviceConfig, ScannerConfig};
use crate::event::{DisconnectReason, OpenProblem, ScannerError};
use crate::hint::{self, NodeKind};
use crate::wedge::KeyEvent;

#[cfg(target_os = "linux")]
mod evdev;
#[cfg(target_os = "linux")]
mod hidraw;
mod serial;
mod stream;

/// What a reader delivers.
#[derive(Debug)]
pub(crate) enum Chunk {
    /// Bytes (serial, TCP, stdin) and when they arrived.
    Bytes(Vec<u8>, Timestamp),
    /// Key events, each with its kernel time.
    Keys(Vec<KeyEvent>),
    /// One HID input report and when it arrived.
    Report(Vec<u8>, Timestamp),
}

/// A chunk, or the reason the reader stopped.
pub(crate) type ReaderItem = Result<Chunk, DisconnectReason>;

/// Room for chunks between a reader and its device task.
const CHANNEL_DEPTH: usize = 256;

/// How a reader is stopped.
enum Stopper {
    Thread {
        flag: Arc<AtomicBool>,
        handle: std::thread::JoinHandle<()>,
    },
    Task(tokio::task::JoinHandle<()>),
    /// A thread blocked in a read that nothing can interrupt (standard input): left to end
    /// at its next read, or with the process.
    Detached,
}

/// Hands a person's keys back to the POS (shared keyboard only).
pub(crate) trait Forward: Send {
    fn forward(&mut self, event: KeyEvent);
}

/// An open, claimed and enabled device.
pub(crate) struct Connection {
    pub(crate) rx: mpsc::Receiver<ReaderItem>,
    pub(crate) target: Option<PathBuf>,
    pub(crate) detail: String,
    pub(crate) caps_lock: Option<bool>,
    pub(crate) forward: Option<Box<dyn Forward>>,
    stopper: Stopper,
}

impl Connection {
    /// Stops the reader and releases the device.
    pub(crate) async fn close(self) {
        let Connection {
            rx,
            stopper,
            forward,
            ..
        } = self;
        // Drop the receiver first so that a reader blocked on a full channel wakes up.
        drop(rx);
        drop(forward);
        match stopper {
            Stopper::Thread { flag, handle } => {
                flag.store(true, Ordering::Relaxed);
                let joined = tokio::task::spawn_blocking(move || handle.join()).await;
                if !matches!(joined, Ok(Ok(()))) {
                    tracing::warn!("a scanner reader thread ended abnormally");
                }
            }
            Stopper::Task(task) => {
                task.abort();
                let _ = task.await;
            }
            Stopper::Detached => {}
        }
    }
}

/// What a device keeps between connections (a TCP listener, whether stdin ended).
#[derive(Debug, Default)]
pub(crate) struct DeviceState {
    listener: Option<tokio::net::TcpListener>,
}

/// Opens, claims and enables the configured device.
pub(crate) async fn open(
    config: &ScannerConfig,
    state: &mut DeviceState,
) -> Result<Connection, ScannerError> {
    match &config.device {
        DeviceConfig::Serial(c) => serial::open(c).await,
        DeviceConfig::Tcp(c) => stream::open_tcp(c, state).await,
        DeviceConfig::Stdin => stream::open_stdin(),
        #[cfg(target_os = "linux")]
        DeviceConfig::Keyboard(c) => evdev::open(c).await,
        #[cfg(target_os = "linux")]
        DeviceConfig::HidPos(c) => hidraw::open(c).await,
        #[cfg(not(target_os = "linux"))]
        DeviceConfig::Keyboard(_) | DeviceConfig::HidPos(_) => Err(open_error(
            NodeKind::Input,
            &config.device.path(),
            OpenProblem::Unsupported,
            "no evdev or hidraw on this operating system".to_owned(),
        )),
    }
}

/// An open error with its hint.
pub(crate) fn open_error(
    kind: NodeKind,
    path: &Path,
    problem: OpenProblem,
    detail: String,
) -> ScannerError {
    ScannerError::Open {
        path: path.to_path_buf(),
        problem,
        hint: hint::open_hint(kind, path, problem),
        detail,
    }
}

/// An open error from an I/O error.
pub(crate) fn io_open_error(kind: NodeKind, path: &Path, err: &std::io::Error) -> ScannerError {
    open_error(kind, path, OpenProblem::from_io(err), err.to_string())
}

/// Runs `read` on a dedicated thread that stops when the returned flag is set; `read` gets
/// the flag and the sender.
fn spawn_reader_thread<F>(
    name: String,
    read: F,
) -> std::io::Result<(mpsc::Receiver<ReaderItem>, Stopper)>
where
    F: FnOnce(Arc<AtomicBool>, mpsc::Sender<ReaderItem>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let flag = Arc::new(AtomicBool::new(false));
    let thread_flag = Arc::clone(&flag);
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || read(thread_flag, tx))?;
    Ok((rx, Stopper::Thread { flag, handle }))
}

/// Runs `read` on a thread nobody waits for (for reads that cannot be interrupted).
fn spawn_detached_reader<F>(
    name: String,
    read: F,
) -> std::io::Result<(mpsc::Receiver<ReaderItem>, Stopper)>
where
    F: FnOnce(mpsc::Sender<ReaderItem>) + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || read(tx))?;
    Ok((rx, Stopper::Detached))
}

/// Runs `read` as a tokio task.
fn spawn_reader_task<F, Fut>(read: F) -> (mpsc::Receiver<ReaderItem>, Stopper)
where
    F: FnOnce(mpsc::Sender<ReaderItem>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
    let task = tokio::spawn(read(tx));
    (rx, Stopper::Task(task))
}
