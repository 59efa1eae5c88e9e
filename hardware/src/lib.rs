//! # tillpass-hardware
//!
//! Reads scans from the till's barcode scanners and delivers them, with everything that went
//! wrong, as one stream of [`ScannerEvent`]s.
//!
//! ## The pipeline
//!
//! ```text
//!  transport ──▶ decoder ──▶ framer ──▶ label ──▶ supervisor ──▶ ScannerEvent (mpsc)
//!  serial        bytes        CR/LF/     prefix,    claim, enable,
//!  evdev (grab)  keymap       CRLF/Tab/  suffix,    reconnect with
//!  hidraw        HID-POS      idle gap,  AIM id,    backoff, hints
//!  stdin, tcp    joiner       max len    ECI
//! ```
//!
//! Everything between the transport and the supervisor is pure (no I/O, no clock, no
//! panics): `push(input, t)` in, outputs out, and `on_idle(now)` when the deadline it asked
//! for has passed. That is what the tests, the benchmarks and the recorded-stream replays
//! drive directly.
//!
//! ## Use
//!
//! ```no_run
//! use tillpass_hardware::{ScannerConfig, ScannerEvent, Supervisor};
//!
//! # async fn run(configs: Vec<ScannerConfig>) -> Result<(), Box<dyn std::error::Error>> {
//! // `configs` come from the agent's TOML (`[[scanner]]` tables, see `config`).
//! let (tx, mut events) = tokio::sync::mpsc::channel(64);
//! let scanners = Supervisor::start(configs, tx)?; // validates, then one task per scanner
//! while let Some(event) = events.recv().await {
//!     match event {
//!         ScannerEvent::Scan(scan) => println!("{}: {} ({})", scan.device, scan.label, scan.symbology),
//!         ScannerEvent::Error { device, error, .. } => eprintln!("{device}: {error}"),
//!         ScannerEvent::Connected { .. } | ScannerEvent::Disconnected { .. } => {}
//!         _ => {}
//!     }
//! }
//! scanners.shutdown().await; // releases every device
//! # Ok(())
//! # }
//! ```
//!
//! [`discover`] lists what is plugged in (for `tillpass scanners`), each candidate with a
//! ready [`DeviceConfig`].
//!
//! ## Modules
//!
//! | module | holds |
//! |---|---|
//! | [`config`] | [`ScannerConfig`]: the TOML the agent reads, defaults and validation |
//! | [`supervisor`] | [`Supervisor::start`]: one task per scanner, claim → enable → scans, reconnect on unplug |
//! | `transport` (private) | the device readers: serial (`serialport`), keyboard wedge (`evdev`, exclusive grab), HID-POS (`hidraw`), stdin, TCP |
//! | [`pipeline`] | decoder → framer → label for one device, pure |
//! | [`wedge`] | key events → characters (Shift, AltGr, Caps Lock, dead keys, Alt+numpad) |
//! | [`keymap`] | the keyboard countries: Windows tables for `us uk de fr es it pt` (one file each), every other layout by its xkb name from `keymap/xkb.rs` (generated from xkeyboard-config by `protocol/xkbgen`), and [`keymap::typing`], their inverse |
//! | [`burst`] | the timing rule that tells a scanner from a person on one shared input device |
//! | [`hidpos`] | HID-POS report layouts (Honeywell, Newland) and the continued-report joiner |
//! | [`framer`] | bytes → frames: terminators, idle gap, maximum length, partial and oversized scans |
//! | [`label`] | frames → labels: prefix/suffix, AIM identifier, ECI escapes, text |
//! | [`symbology`] | AIM identifiers and symbologies |
//! | [`event`] | [`ScannerEvent`], [`ScannerError`], [`DisconnectReason`] |
//! | [`discovery`] | [`discover`]: candidate scanners from sysfs and the by-id links |
//! | [`hint`] | what a technician can do about an open error (groups, udev rules, who holds a device) |
//! | [`recording`] | evemu-record and hid-recorder text formats, for replaying scanners |
//! | [`backoff`], [`clock`], [`charset`], [`keycode`] | small supporting pieces |
//!
//! ## Platforms
//!
//! The pure modules, serial, stdin and TCP work everywhere `serialport` and `tokio` do. The
//! keyboard-wedge and HID-POS transports are Linux only (`cfg(target_os = "linux")`);
//! elsewhere opening one reports [`OpenProblem::Unsupported`]. Discovery reads Linux sysfs
//! and finds nothing elsewhere.
//!
//! ## What the tests can and cannot show
//!
//! The development machines have no USB, no uinput and no uhid. Serial is tested end to end
//! through pseudo-terminals and the real `serialport` code path (unplug = closing the
//! master). Keyboard-wedge and HID-POS decoding is tested by replaying recorded event streams
//! committed under `tests/fixtures/` in the evemu-record and hid-recorder text formats; those
//! recordings were written by a generator (`tests/it/fixtures.rs`), not captured from real
//! scanners, because there is no USB here. The evdev and hidraw readers themselves compile
//! and are exercised only on real tills.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod burst;
pub mod charset;
pub mod clock;
pub mod config;
pub mod discovery;
pub mod event;
pub mod framer;
pub mod hidpos;
pub mod hint;
pub mod keycode;
pub mod keymap;
pub mod label;
pub mod pipeline;
pub mod recording;
pub mod supervisor;
pub mod symbology;
mod transport;
pub mod wedge;

pub use clock::Timestamp;
pub use config::{DeviceConfig, ScannerConfig};
pub use discovery::{Candidate, discover};
pub use event::{DisconnectReason, OpenProblem, Scan, ScannerError, ScannerEvent};
pub use supervisor::{StartError, Supervisor, SupervisorHandle};
pub use symbology::{AimId, Symbology};
