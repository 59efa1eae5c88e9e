//! Scanner configuration, as the agent reads it from its TOML file.
//!
//! ```toml
//! [[scanner]]
//! name = "front"
//! device = { kind = "serial", path = "/dev/serial/by-id/usb-Honeywell_Imaging___Mobility_1900-if00", baud = 115200 }
//! framing = { terminator = "cr", max_len = 4096 }
//! label = { prefix = "", suffix = "", aim = "auto" }
//!
//! [[scanner]]
//! name = "wedge"
//! device = { kind = "keyboard", path = "/dev/input/by-id/usb-Datalogic_Scanner-event-kbd", keymap = "es" }
//!
//! [[scanner]]
//! name = "hidpos"
//! device = { kind = "hidpos", path = "/dev/tillpass/scanner0", layout = "honeywell" }
//!
//! [[scanner]]
//! name = "demo"
//! device = { kind = "tcp", addr = "127.0.0.1:7010", listen = true }
//! ```
//!
//! Every field but `name` and the device's `kind` and `path` (or `addr`) has a default;
//! [`ScannerConfig::validate`] checks the values and names the field at fault. Unknown keys are
//! errors, so a typo never silently falls back to a default.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::burst::BurstRule;
use crate::framer::{FramerSettings, Terminator};
use crate::hidpos::HidPosLayout;
use crate::keymap::Country;
use crate::label::{AimMode, LabelParser};

mod validate;

pub use validate::{ConfigError, validate_all};

/// One scanner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScannerConfig {
    /// A name for logs, events and the dashboard (unique among scanners).
    pub name: String,
    /// Where it is and how to talk to it.
    pub device: DeviceConfig,
    /// How scans are delimited.
    #[serde(default)]
    pub framing: FramingConfig,
    /// What to strip from each scan.
    #[serde(default)]
    pub label: LabelConfig,
    /// How to retry after an unplug.
    #[serde(default)]
    pub reconnect: ReconnectConfig,
}

/// The device, by kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DeviceConfig {
    /// RS-232 or USB-CDC serial.
    Serial(SerialConfig),
    /// USB keyboard wedge (an evdev input device, grabbed exclusively). Linux only.
    Keyboard(KeyboardConfig),
    /// USB HID-POS through hidraw. Linux only.
    HidPos(HidPosConfig),
    /// Lines on standard input (development).
    Stdin,
    /// A TCP byte stream (development, demos, serial-over-IP servers).
    Tcp(TcpConfig),
}

impl DeviceConfig {
    /// The kind, as written in the configuration.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceConfig::Serial(_) => "serial",
            DeviceConfig::Keyboard(_) => "keyboard",
            DeviceConfig::HidPos(_) => "hidpos",
            DeviceConfig::Stdin => "stdin",
            DeviceConfig::Tcp(_) => "tcp",
        }
    }

    /// The configured path, or the address for TCP and `stdin` for standard input.
    #[must_use]
    pub fn path(&self) -> PathBuf {
        match self {
            DeviceConfig::Serial(c) => c.path.clone(),
            DeviceConfig::Keyboard(c) => c.path.clone(),
            DeviceConfig::HidPos(c) => c.path.clone(),
            DeviceConfig::Stdin => PathBuf::from("stdin"),
            DeviceConfig::Tcp(c) => PathBuf::from(&c.addr),
        }
    }

    /// The terminator a scanner of this kind usually ends scans with.
    #[must_use]
    pub fn default_terminator(&self) -> Terminator {
        match self {
            DeviceConfig::Serial(_) | DeviceConfig::Keyboard(_) => Terminator::Cr,
            DeviceConfig::HidPos(_) => Terminator::None,
            DeviceConfig::Stdin | DeviceConfig::Tcp(_) => Terminator::Lf,
        }
    }
}

/// Serial port settings (defaults: 9600 8N1, no flow control).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialConfig {
    /// Prefer `/dev/serial/by-id/...`: it survives replugging into another port.
    pub path: PathBuf,
    /// Bits per second.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// Parity; `none` when left out.
    #[serde(default)]
    pub parity: Parity,
    /// Data bits, 5 to 8.
    #[serde(default = "default_data_bits")]
    pub data_bits: u8,
    /// Stop bits, 1 or 2.
    #[serde(default = "default_stop_bits")]
    pub stop_bits: u8,
    /// Flow control; `none` when left out.
    #[serde(default)]
    pub flow_control: FlowControl,
}

/// Serial parity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    /// None (the usual).
    #[default]
    None,
    /// Odd.
    Odd,
    /// Even.
    Even,
}

/// Serial flow control.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowControl {
    /// None (the usual).
    #[default]
    None,
    /// XON/XOFF.
    Software,
    /// RTS/CTS.
    Hardware,
}

/// Keyboard-wedge settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyboardConfig {
    /// Prefer `/dev/input/by-id/...-event-kbd`.
    pub path: PathBuf,
    /// The keyboard country the scanner is set to: `us uk de fr es it pt`, or any xkb
    /// layout name the generated tables cover (`cz`, `sk(qwerty)`, `us(dvorak)`, `ru`, ...).
    #[serde(default)]
    pub keymap: Country,
    /// The device also carries a person's keyboard: keep only fast bursts and hand the rest
    /// back to the POS through a virtual keyboard (needs `/dev/uinput`). See [`crate::burst`].
    #[serde(default)]
    pub shared_with_keyboard: bool,
    /// With `shared_with_keyboard`: key presses that make a burst a machine.
    #[serde(default = "default_machine_keys")]
    pub machine_keys: usize,
    /// With `shared_with_keyboard`: the largest gap between presses of a burst.
    #[serde(default = "default_machine_gap_ms")]
    pub machine_gap_ms: u64,
}

impl KeyboardConfig {
    /// The timing rule for a shared device.
    #[must_use]
    pub fn burst_rule(&self) -> BurstRule {
        BurstRule {
            min_keys: self.machine_keys,
            max_gap: Duration::from_millis(self.machine_gap_ms),
        }
    }
}

/// HID-POS settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HidPosConfig {
    /// The hidraw node. `/dev/hidrawN` numbers change across replugs: prefer a udev
    /// `SYMLINK` (the installer's rules make `/dev/tillpass/...`).
    pub path: PathBuf,
    /// The report layout: `"honeywell"`, `"newland"` or a table of offsets.
    #[serde(default)]
    pub layout: LayoutChoice,
}

/// A built-in HID-POS layout, or explicit offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LayoutChoice {
    /// A built-in layout by vendor.
    Named(HidPosVendor),
    /// Explicit offsets.
    Custom(HidPosLayout),
}

impl Default for LayoutChoice {
    fn default() -> Self {
        LayoutChoice::Named(HidPosVendor::Honeywell)
    }
}

impl LayoutChoice {
    /// The offsets.
    #[must_use]
    pub fn layout(&self) -> HidPosLayout {
        match self {
            LayoutChoice::Named(HidPosVendor::Honeywell) => HidPosLayout::HONEYWELL,
            LayoutChoice::Named(HidPosVendor::Newland) => HidPosLayout::NEWLAND,
            LayoutChoice::Custom(layout) => *layout,
        }
    }
}

/// Vendors with a built-in HID-POS layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HidPosVendor {
    /// Honeywell (and Metrologic, Hand Held Products).
    Honeywell,
    /// Newland.
    Newland,
}

/// TCP settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// `host:port`.
    pub addr: String,
    /// Listen on `addr` for one client at a time instead of connecting to it.
    #[serde(default)]
    pub listen: bool,
}

/// Framing settings; unset fields take the device kind's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramingConfig {
    /// `"cr"`, `"lf"`, `"crlf"`, `"tab"` or `"none"`. Default: `cr` for serial and keyboard,
    /// `none` for HID-POS (each report sequence is a scan), `lf` for stdin and TCP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminator: Option<Terminator>,
    /// The longest scan accepted, in bytes.
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// With `terminator = "none"`, the silence that ends a scan (default 100 ms). Otherwise
    /// the silence after which an unterminated scan is reported as partial (default 1000 ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_gap_ms: Option<u64>,
}

impl Default for FramingConfig {
    fn default() -> Self {
        FramingConfig {
            terminator: None,
            max_len: default_max_len(),
            idle_gap_ms: None,
        }
    }
}

/// Label settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelConfig {
    /// Removed from the start of each scan when present (TOML escapes such as `"\u0002"`
    /// work).
    #[serde(default)]
    pub prefix: String,
    /// Removed from the end of each scan when present.
    #[serde(default)]
    pub suffix: String,
    /// `"auto"` (read an AIM identifier when there is one), `"require"` or `"ignore"`.
    #[serde(default)]
    pub aim: AimMode,
    /// Undo ECI escapes when the AIM identifier says they are used.
    #[serde(default = "default_true")]
    pub eci: bool,
}

impl Default for LabelConfig {
    fn default() -> Self {
        LabelConfig {
            prefix: String::new(),
            suffix: String::new(),
            aim: AimMode::Auto,
            eci: true,
        }
    }
}

/// Reconnection backoff: doubles from `initial_ms` up to `max_ms`, with jitter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReconnectConfig {
    /// First delay after a failure.
    #[serde(default = "default_initial_ms")]
    pub initial_ms: u64,
    /// Largest delay.
    #[serde(default = "default_reconnect_max_ms")]
    pub max_ms: u64,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            initial_ms: default_initial_ms(),
            max_ms: default_reconnect_max_ms(),
        }
    }
}

fn default_baud() -> u32 {
    9600
}
fn default_data_bits() -> u8 {
    8
}
fn default_stop_bits() -> u8 {
    1
}
fn default_machine_keys() -> usize {
    BurstRule::default().min_keys
}
fn default_machine_gap_ms() -> u64 {
    20
}
fn default_max_len() -> usize {
    4096
}
fn default_true() -> bool {
    true
}
fn default_initial_ms() -> u64 {
    250
}
fn default_reconnect_max_ms() -> u64 {
    5000
}

impl ScannerConfig {
    /// A configuration with default settings for `device`.
    #[must_use]
    pub fn new(name: impl Into<String>, device: DeviceConfig) -> Self {
        ScannerConfig {
            name: name.into(),
            device,
            framing: FramingConfig::default(),
            label: LabelConfig::default(),
            reconnect: ReconnectConfig::default(),
        }
    }

    /// The framer settings, defaults filled in for the device kind.
    #[must_use]
    pub fn framer_settings(&self) -> FramerSettings {
        let terminator = self
            .framing
            .terminator
            .unwrap_or_else(|| self.device.default_terminator());
        let default_gap = match (&self.device, terminator) {
            (DeviceConfig::HidPos(_), _) => 500,
            (_, Terminator::None) => 100,
            _ => 1000,
        };
        FramerSettings {
            terminator,
            max_len: self.framing.max_len,
            idle_gap: Duration::from_millis(self.framing.idle_gap_ms.unwrap_or(default_gap)),
        }
    }

    /// The label parser.
    #[must_use]
    pub fn label_parser(&self) -> LabelParser {
        LabelParser::new(
            &self.label.prefix,
            &self.label.suffix,
            self.label.aim,
            self.label.eci,
        )
    }
}

impl fmt::Display for DeviceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceConfig::Serial(c) => {
                let parity = match c.parity {
                    Parity::None => 'N',
                    Parity::Odd => 'O',
                    Parity::Even => 'E',
                };
                write!(
                    f,
                    "serial {} {} {}{}{}",
                    c.path.display(),
                    c.baud,
                    c.data_bits,
                    parity,
                    c.stop_bits
                )
            }
            DeviceConfig::Keyboard(c) => write!(f, "keyboard {} ({})", c.path.display(), c.keymap),
            DeviceConfig::HidPos(c) => write!(f, "hidpos {}", c.path.display()),
            DeviceConfig::Stdin => f.write_str("stdin"),
            DeviceConfig::Tcp(c) => {
                write!(
                    f,
                    "tcp {} {}",
                    if c.listen { "listen" } else { "connect" },
                    c.addr
                )
            }
        }
    }
}
