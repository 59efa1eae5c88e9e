//! Lists the scanners that could be configured, for `tillpass scanners`.
//!
//! Reads Linux sysfs and the udev by-id links, nothing else (no libudev):
//!
//! * serial ports from `/sys/class/tty` that have a device behind them (USB CDC-ACM and
//!   USB-serial adapters, and on-board UARTs whose type is known), with the USB vendor,
//!   product and serial number of the device they belong to;
//! * keyboard-like input devices from `/sys/class/input` (the ones a keyboard-wedge scanner
//!   creates);
//! * hidraw nodes from `/sys/class/hidraw` whose report descriptor declares usage page 0x8C
//!   (HID-POS), or that belong to a known scanner vendor;
//!
//! each with its stable path from `/dev/serial/by-id` or `/dev/input/by-id` when there is
//! one. Candidates from a known scanner vendor, or whose names say "scanner" or "barcode",
//! are marked [`Candidate::likely_scanner`] and listed first. Both roots are injectable so
//! tests build a fake tree in a temporary directory.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{
    DeviceConfig, HidPosConfig, HidPosVendor, KeyboardConfig, LayoutChoice, SerialConfig,
};
use crate::hidpos;
use crate::keymap::Country;

/// USB vendor ids of scanner makers.
pub const KNOWN_VENDORS: &[(u16, &str)] = &[
    (0x0c2e, "Honeywell (Metrologic)"),
    (0x0536, "Honeywell (Hand Held Products)"),
    (0x067e, "Intermec (Honeywell)"),
    (0x05e0, "Zebra (Symbol)"),
    (0x05f9, "Datalogic"),
    (0x080c, "Datalogic"),
    (0x1eab, "Newland"),
    (0x065a, "Opticon"),
];

const KEYWORDS: &[&str] = &[
    "scanner",
    "barcode",
    "bar code",
    "bar_code",
    "imager",
    "honeywell",
    "metrologic",
    "hand held products",
    "zebra",
    "symbol",
    "datalogic",
    "newland",
    "opticon",
];

/// Where to look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscoveryRoots {
    /// The sysfs mount (`/sys`).
    pub sys: PathBuf,
    /// The device directory (`/dev`).
    pub dev: PathBuf,
}

impl DiscoveryRoots {
    /// The real system.
    #[must_use]
    pub fn system() -> Self {
        DiscoveryRoots {
            sys: PathBuf::from("/sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

/// The kind of candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateKind {
    /// A serial port.
    Serial,
    /// A keyboard-like input device (keyboard wedge).
    Keyboard,
    /// A HID-POS hidraw node.
    HidPos,
}

/// The USB device a candidate belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsbInfo {
    /// `idVendor`.
    pub vendor_id: u16,
    /// `idProduct`.
    pub product_id: u16,
    /// `serial`.
    pub serial: Option<String>,
    /// `manufacturer`.
    pub manufacturer: Option<String>,
    /// `product`.
    pub product: Option<String>,
}

/// A device that could be a scanner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// What kind of device.
    pub kind: CandidateKind,
    /// The path to configure: the by-id link when there is one, else the device node.
    pub path: PathBuf,
    /// The device node (`/dev/ttyACM0`).
    pub dev_node: PathBuf,
    /// The by-id link, if udev made one.
    pub by_id: Option<PathBuf>,
    /// The device's own name (input devices, HID devices) or USB product name.
    pub name: Option<String>,
    /// The USB device, if it is one.
    pub usb: Option<UsbInfo>,
    /// The maker, if the vendor id is a known scanner maker.
    pub vendor: Option<&'static str>,
    /// Known scanner vendor, HID-POS usage page, or "scanner"/"barcode" in its names.
    pub likely_scanner: bool,
    /// Why it is (or is not) thought to be a scanner.
    pub reasons: Vec<String>,
}

impl Candidate {
    /// A device configuration for it, with default settings.
    #[must_use]
    pub fn device_config(&self) -> DeviceConfig {
        let path = self.path.clone();
        match self.kind {
            CandidateKind::Serial => DeviceConfig::Serial(SerialConfig {
                path,
                baud: 9600,
                parity: crate::config::Parity::None,
                data_bits: 8,
                stop_bits: 1,
                flow_control: crate::config::FlowControl::None,
            }),
            CandidateKind::Keyboard => DeviceConfig::Keyboard(KeyboardConfig {
                path,
                keymap: Country::Us,
                shared_with_keyboard: false,
                machine_keys: 4,
                machine_gap_ms: 20,
            }),
            CandidateKind::HidPos => {
                let newland = self.usb.as_ref().is_some_and(|u| u.vendor_id == 0x1eab);
                DeviceConfig::HidPos(HidPosConfig {
                    path,
                    layout: LayoutChoice::Named(if newland {
                        HidPosVendor::Newland
                    } else {
                        HidPosVendor::Honeywell
                    }),
                })
            }
        }
    }
}

/// Candidates on this machine.
#[must_use]
pub fn discover() -> Vec<Candidate> {
    discover_in(&DiscoveryRoots::system())
}

/// Candidates under `roots`.
#[must_use]
pub fn discover_in(roots: &DiscoveryRoots) -> Vec<Candidate> {
    let mut found = Vec::new();
    found.extend(serial_ports(roots));
    found.extend(input_devices(roots));
    found.extend(hidraw_nodes(roots));
    found.sort_by(|a, b| {
        (!a.likely_scanner, a.kind, &a.path).cmp(&(!b.likely_scanner, b.kind, &b.path))
    });
    found
}

fn read_trimmed(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn read_hex(path: &Path) -> Option<u16> {
    u16::from_str_radix(&read_trimmed(path)?, 16).ok()
}

/// Entries of a class directory, sorted by name.
fn class_entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
        .collect();
    out.sort();
    out
}

/// by-id link for each device node name (`ttyACM0` → `/dev/serial/by-id/usb-...`).
fn by_id_links(dir: &Path) -> HashMap<String, PathBuf> {
    let mut links = HashMap::new();
    for (_, link) in class_entries(dir) {
        if let Ok(target) = fs::canonicalize(&link)
            && let Some(name) = target.file_name().and_then(|n| n.to_str())
        {
            // Several links can name one node (if00, if01 ...): keep the first by name.
            links.entry(name.to_owned()).or_insert(link);
        }
    }
    links
}

/// The USB device above `device_dir`: the nearest ancestor with an `idVendor` file.
fn usb_info(device_dir: &Path, sys: &Path) -> Option<UsbInfo> {
    let sys = fs::canonicalize(sys).ok()?;
    let mut dir = Some(device_dir);
    while let Some(d) = dir {
        if !d.starts_with(&sys) {
            return None;
        }
        if let Some(vendor_id) = read_hex(&d.join("idVendor")) {
            return Some(UsbInfo {
                vendor_id,
                product_id: read_hex(&d.join("idProduct")).unwrap_or(0),
                serial: read_trimmed(&d.join("serial")),
                manufacturer: read_trimmed(&d.join("manufacturer")),
                product: read_trimmed(&d.join("product")),
            });
        }
        dir = d.parent();
    }
    None
}

fn known_vendor(id: u16) -> Option<&'static str> {
    KNOWN_VENDORS
        .iter()
        .find(|(v, _)| *v == id)
        .map(|(_, n)| *n)
}

/// Fills in `vendor`, `likely_scanner` and `reasons` from the names and ids gathered.
fn judge(mut c: Candidate, vendor_id: Option<u16>, extra_reason: Option<String>) -> Candidate {
    if let Some(id) = vendor_id.or(c.usb.as_ref().map(|u| u.vendor_id)) {
        c.vendor = known_vendor(id);
        if let Some(v) = c.vendor {
            c.reasons.push(format!("USB vendor {id:04x} is {v}"));
        }
    }
    let mut names: Vec<String> = Vec::new();
    names.extend(c.name.clone());
    names.extend(c.by_id.as_ref().map(|p| p.display().to_string()));
    if let Some(usb) = &c.usb {
        names.extend(usb.manufacturer.clone());
        names.extend(usb.product.clone());
    }
    let haystack = names.join(" ").to_lowercase();
    if let Some(word) = KEYWORDS.iter().find(|w| haystack.contains(*w)) {
        c.reasons.push(format!("its name mentions \"{word}\""));
    }
    c.reasons.extend(extra_reason);
    c.likely_scanner = !c.reasons.is_empty();
    if !c.likely_scanner {
        c.reasons
            .push("no sign of a scanner maker in its ids or names".to_owned());
    }
    c
}

fn serial_ports(roots: &DiscoveryRoots) -> Vec<Candidate> {
    let by_id = by_id_links(&roots.dev.join("serial/by-id"));
    let mut out = Vec::new();
    for (name, entry) in class_entries(&roots.sys.join("class/tty")) {
        let Ok(device) = fs::canonicalize(entry.join("device")) else {
            continue; // virtual terminals, pseudo-terminals, consoles
        };
        if name.starts_with("ttyS") && read_trimmed(&entry.join("type")).is_none_or(|t| t == "0") {
            continue; // an on-board UART slot with no port behind it
        }
        let usb = usb_info(&device, &roots.sys);
        let dev_node = roots.dev.join(&name);
        let link = by_id.get(&name).cloned();
        let candidate = Candidate {
            kind: CandidateKind::Serial,
            path: link.clone().unwrap_or_else(|| dev_node.clone()),
            dev_node,
            by_id: link,
            name: usb.as_ref().and_then(|u| u.product.clone()),
            usb,
            vendor: None,
            likely_scanner: false,
            reasons: Vec::new(),
        };
        out.push(judge(candidate, None, None));
    }
    out
}

/// Whether an input device's `capabilities/key` bitmap has the digit, letter and Enter
/// keys of a keyboard. The kernel prints the bitmap as words of its `long`, most significant
/// first, every word after the first zero-padded to full width: 16 hex digits on 64-bit
/// kernels, 8 on 32-bit ones.
fn is_keyboard(caps: &str) -> bool {
    let words: Vec<&str> = caps.split_whitespace().collect();
    let parse = |w: &str| u64::from_str_radix(w, 16).ok();
    let low = match words.as_slice() {
        [] => return false,
        [only] => parse(only),
        [.., high, last] if last.len() == 8 => {
            parse(last).zip(parse(high)).map(|(l, h)| l | (h << 32))
        }
        [.., last] => parse(last),
    };
    let Some(bits) = low else {
        return false;
    };
    let needed = [2u16, 11, 16, 28, 30, 44, 50]
        .iter()
        .fold(0u64, |m, &k| m | (1u64 << k));
    bits & needed == needed
}

fn input_devices(roots: &DiscoveryRoots) -> Vec<Candidate> {
    let by_id = by_id_links(&roots.dev.join("input/by-id"));
    let mut out = Vec::new();
    for (name, entry) in class_entries(&roots.sys.join("class/input")) {
        if !name.starts_with("event") {
            continue;
        }
        let Ok(device) = fs::canonicalize(entry.join("device")) else {
            continue;
        };
        let caps = read_trimmed(&device.join("capabilities/key")).unwrap_or_default();
        if !is_keyboard(&caps) {
            continue;
        }
        let vendor_id = read_hex(&device.join("id/vendor"));
        let dev_node = roots.dev.join("input").join(&name);
        let link = by_id.get(&name).cloned();
        let candidate = Candidate {
            kind: CandidateKind::Keyboard,
            path: link.clone().unwrap_or_else(|| dev_node.clone()),
            dev_node,
            by_id: link,
            name: read_trimmed(&device.join("name")),
            usb: usb_info(&device, &roots.sys),
            vendor: None,
            likely_scanner: false,
            reasons: Vec::new(),
        };
        out.push(judge(candidate, vendor_id, None));
    }
    out
}

fn hidraw_nodes(roots: &DiscoveryRoots) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (name, entry) in class_entries(&roots.sys.join("class/hidraw")) {
        let Ok(device) = fs::canonicalize(entry.join("device")) else {
            continue;
        };
        let descriptor = fs::read(device.join("report_descriptor")).unwrap_or_default();
        let pos = hidpos::descriptor_has_barcode_page(&descriptor);
        let uevent = fs::read_to_string(device.join("uevent")).unwrap_or_default();
        let field = |key: &str| {
            uevent
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(str::to_owned)
        };
        // HID_ID=0003:00000C2E:00000B87
        let vendor_id = field("HID_ID=")
            .and_then(|id| id.split(':').nth(1).map(str::to_owned))
            .and_then(|v| u32::from_str_radix(&v, 16).ok())
            .and_then(|v| u16::try_from(v).ok());
        if !pos && vendor_id.and_then(known_vendor).is_none() {
            continue;
        }
        let dev_node = roots.dev.join(&name);
        let candidate = Candidate {
            kind: CandidateKind::HidPos,
            path: dev_node.clone(),
            dev_node,
            by_id: None,
            name: field("HID_NAME="),
            usb: usb_info(&device, &roots.sys),
            vendor: None,
            likely_scanner: false,
            reasons: Vec::new(),
        };
        let reason =
            pos.then(|| "its report descriptor declares HID-POS (usage page 0x8C)".to_owned());
        out.push(judge(candidate, vendor_id, reason));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyboard_capabilities() {
        // A real keyboard's key bitmap, lowest word last (64-bit kernel).
        let kbd = "120013 0 0 0 0 0 0 0 0 e080ffdf01cfffff fffffffffffffffe";
        assert!(is_keyboard(kbd));
        // A 32-bit kernel prints 8-digit words.
        assert!(is_keyboard("1 ffffffff fffffffe"));
        assert!(!is_keyboard("1 0 fffffffe"));
        // A mouse: buttons only.
        assert!(!is_keyboard("1f0000 0 0 0 0 0 0 0 0"));
        assert!(!is_keyboard(""));
    }
}
