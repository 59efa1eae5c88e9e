//! What the supervisor reports: scans, connection changes and everything it could not read.
//!
//! Every event names the configured device it came from. Events are plain data
//! (`Clone`, `Serialize`) so the agent can log them, count them and push them to the POS.

use std::io;
use std::path::PathBuf;
use std::time::SystemTime;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::label::LabelError;
use crate::symbology::{AimId, Symbology};

/// One event from one configured scanner.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub enum ScannerEvent {
    /// The device was claimed and enabled: scans from it will now arrive.
    Connected {
        /// The configured scanner name.
        device: String,
        /// The configured path (or address) it was opened through.
        path: PathBuf,
        /// What the path resolved to (e.g. `/dev/ttyACM0` behind a by-id link).
        target: Option<PathBuf>,
        /// How it was opened, e.g. `serial 9600 8N1, exclusive`.
        detail: String,
        /// Wall-clock time of the event.
        at: SystemTime,
    },
    /// The device went away (or was released at shutdown). Unless the reason is
    /// [`DisconnectReason::Shutdown`] the supervisor keeps trying to reopen it.
    Disconnected {
        /// The configured scanner name.
        device: String,
        /// Why.
        reason: DisconnectReason,
        /// Wall-clock time of the event.
        at: SystemTime,
    },
    /// A scan, decoded, framed and parsed.
    Scan(Scan),
    /// Something went wrong: a scan that could not be read (with its raw bytes) or a device
    /// that could not be opened (with a hint for the technician).
    Error {
        /// The configured scanner name.
        device: String,
        /// What went wrong.
        error: ScannerError,
        /// Wall-clock time of the event.
        at: SystemTime,
    },
}

impl ScannerEvent {
    /// The configured name of the scanner this event came from.
    #[must_use]
    pub fn device(&self) -> &str {
        match self {
            ScannerEvent::Connected { device, .. }
            | ScannerEvent::Disconnected { device, .. }
            | ScannerEvent::Error { device, .. } => device,
            ScannerEvent::Scan(scan) => &scan.device,
        }
    }
}

/// A successful scan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scan {
    /// The configured scanner name.
    pub device: String,
    /// The label: prefix, suffix, AIM identifier and terminator removed, ECI escapes undone.
    pub label: String,
    /// The frame exactly as it arrived, terminator removed (for keyboard-wedge scanners: the
    /// decoded text as UTF-8).
    pub raw: Vec<u8>,
    /// The symbology named by the AIM identifier, or [`Symbology::Unknown`].
    pub symbology: Symbology,
    /// The AIM identifier, if the scanner sent one.
    pub aim: Option<AimId>,
    /// Wall-clock time the scan was delivered.
    pub at: SystemTime,
    /// Monotonic time of the last input of this scan (the kernel's timestamp for keyboard-wedge
    /// scanners), for measuring the delay added by this crate.
    pub input_at: Timestamp,
}

/// Why a scan could not be read, or why a device could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum ScannerError {
    /// More than `limit` bytes arrived without a terminator. `raw` holds the first `limit`
    /// bytes; the rest is skipped up to the next terminator (or silence).
    #[error("scan longer than {limit} bytes without a terminator (first {} bytes kept)", raw.len())]
    Oversized {
        /// The configured maximum length.
        limit: usize,
        /// The first `limit` bytes.
        raw: Vec<u8>,
    },
    /// Bytes arrived, then silence, and no terminator: a scan cut short, or a scanner
    /// configured with another suffix than the one configured here.
    #[error("partial scan: {} bytes then {idle_ms} ms of silence without a terminator", raw.len())]
    Partial {
        /// What arrived.
        raw: Vec<u8>,
        /// The silence that ended it.
        idle_ms: u64,
    },
    /// Input that the decoder could not turn into characters (a key with no character in
    /// the configured keymap, a malformed HID-POS report, ...).
    #[error("unreadable input: {detail}")]
    Undecodable {
        /// What was wrong, in words.
        detail: String,
        /// What did decode, or the raw report.
        raw: Vec<u8>,
    },
    /// A frame arrived but its label could not be parsed.
    #[error("{error}")]
    Label {
        /// What was wrong.
        error: LabelError,
        /// The frame.
        raw: Vec<u8>,
    },
    /// The device could not be opened, claimed or enabled.
    #[error("cannot open {}: {problem}: {detail}. {hint}", path.display())]
    Open {
        /// The configured path or address.
        path: PathBuf,
        /// The kind of problem.
        problem: OpenProblem,
        /// The operating system's words.
        detail: String,
        /// What a technician can do about it.
        hint: String,
    },
}

impl ScannerError {
    /// The bytes that arrived, for errors about a scan.
    #[must_use]
    pub fn raw(&self) -> Option<&[u8]> {
        match self {
            ScannerError::Oversized { raw, .. }
            | ScannerError::Partial { raw, .. }
            | ScannerError::Undecodable { raw, .. }
            | ScannerError::Label { raw, .. } => Some(raw),
            ScannerError::Open { .. } => None,
        }
    }

    /// The technician's hint, for errors about a device.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        match self {
            ScannerError::Open { hint, .. } => Some(hint),
            _ => None,
        }
    }
}

/// Why a device could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum OpenProblem {
    /// No such path (unplugged, or never there).
    #[error("not found")]
    NotFound,
    /// The service user may not open it.
    #[error("permission denied")]
    PermissionDenied,
    /// Another process holds it (exclusive open, grab or lock).
    #[error("busy")]
    Busy,
    /// This kind of device is not supported on this operating system.
    #[error("unsupported here")]
    Unsupported,
    /// The path exists but is not the kind of device configured.
    #[error("wrong kind of device")]
    WrongKind,
    /// Any other I/O failure.
    #[error("I/O error")]
    Io,
}

impl OpenProblem {
    /// Classifies an I/O error from opening a device.
    #[must_use]
    pub fn from_io(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => OpenProblem::NotFound,
            io::ErrorKind::PermissionDenied => OpenProblem::PermissionDenied,
            io::ErrorKind::ResourceBusy | io::ErrorKind::WouldBlock => OpenProblem::Busy,
            io::ErrorKind::Unsupported => OpenProblem::Unsupported,
            _ => match errno::classify(err) {
                Some(errno::Errno::Busy) => OpenProblem::Busy,
                Some(errno::Errno::NoDevice) => OpenProblem::NotFound,
                Some(errno::Errno::NotTty) => OpenProblem::WrongKind,
                _ => OpenProblem::Io,
            },
        }
    }
}

/// Why a connected device stopped delivering input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The device reported end of file (USB serial gone, TCP peer closed, stdin closed).
    #[error("end of file")]
    EndOfFile,
    /// The line hung up (POLLHUP: a pseudo-terminal's master closed, a modem line dropped).
    #[error("hang-up")]
    Hangup,
    /// The device node no longer has a device behind it (ENODEV, ENXIO: unplugged).
    #[error("device removed")]
    NoDevice,
    /// The kernel reported an I/O error (EIO: typically an unplugged USB device).
    #[error("I/O error (EIO)")]
    IoError,
    /// Any other read failure.
    #[error("read failed: {0}")]
    Other(String),
    /// The supervisor is shutting down.
    #[error("shutdown")]
    Shutdown,
}

impl DisconnectReason {
    /// Classifies a read error.
    #[must_use]
    pub fn from_io(err: &io::Error) -> Self {
        match errno::classify(err) {
            Some(errno::Errno::NoDevice) => return DisconnectReason::NoDevice,
            Some(errno::Errno::Io) => return DisconnectReason::IoError,
            _ => {}
        }
        match err.kind() {
            io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted => DisconnectReason::Hangup,
            io::ErrorKind::UnexpectedEof => DisconnectReason::EndOfFile,
            _ => DisconnectReason::Other(err.to_string()),
        }
    }
}

/// The few errno values whose meaning we act on, without depending on `libc` everywhere.
pub(crate) mod errno {
    use std::io;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Errno {
        Io,
        NoDevice,
        Busy,
        NotTty,
    }

    /// Classifies the raw OS error of `err` (Linux and the BSDs agree on these numbers:
    /// EIO 5, ENXIO 6, EBUSY 16, ENODEV 19, ENOTTY 25).
    pub(crate) fn classify(err: &io::Error) -> Option<Errno> {
        if cfg!(not(unix)) {
            return None;
        }
        match err.raw_os_error()? {
            5 => Some(Errno::Io),
            6 | 19 => Some(Errno::NoDevice),
            16 => Some(Errno::Busy),
            25 => Some(Errno::NotTty),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_unplug_errors() {
        let eio = io::Error::from_raw_os_error(5);
        let enodev = io::Error::from_raw_os_error(19);
        assert_eq!(DisconnectReason::from_io(&eio), DisconnectReason::IoError);
        assert_eq!(
            DisconnectReason::from_io(&enodev),
            DisconnectReason::NoDevice
        );
        let pipe = io::Error::new(io::ErrorKind::BrokenPipe, "hup");
        assert_eq!(DisconnectReason::from_io(&pipe), DisconnectReason::Hangup);
        let busy = io::Error::from_raw_os_error(16);
        assert_eq!(OpenProblem::from_io(&busy), OpenProblem::Busy);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(OpenProblem::from_io(&denied), OpenProblem::PermissionDenied);
    }
}
