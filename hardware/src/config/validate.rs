//! Validation: every value checked, every error naming the scanner and the field.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use super::{DeviceConfig, ScannerConfig};

/// A configuration value that is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("scanner {scanner}: {field}: {message}")]
pub struct ConfigError {
    /// The scanner's name (or its position when the name is the problem).
    pub scanner: String,
    /// The field, as written in the configuration (`device.baud`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl ScannerConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// The first value at fault, with its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |field: &str, message: String| ConfigError {
            scanner: format!("{:?}", self.name),
            field: field.to_owned(),
            message,
        };
        if self.name.trim().is_empty()
            || self.name.len() > 64
            || self.name.chars().any(char::is_control)
        {
            return Err(fail("name", "must be 1 to 64 printable characters".into()));
        }
        check_device(&self.device).map_err(|(f, m)| fail(f, m))?;
        if !(1..=1 << 20).contains(&self.framing.max_len) {
            return Err(fail(
                "framing.max_len",
                format!("must be 1 to 1048576 (got {})", self.framing.max_len),
            ));
        }
        if let Some(gap) = self.framing.idle_gap_ms
            && !(1..=60_000).contains(&gap)
        {
            return Err(fail(
                "framing.idle_gap_ms",
                format!("must be 1 to 60000 (got {gap})"),
            ));
        }
        for (field, value) in [
            ("label.prefix", &self.label.prefix),
            ("label.suffix", &self.label.suffix),
        ] {
            if value.len() > 64 {
                return Err(fail(field, "must be at most 64 bytes".into()));
            }
        }
        let r = &self.reconnect;
        if !(1..=60_000).contains(&r.initial_ms) {
            return Err(fail(
                "reconnect.initial_ms",
                format!("must be 1 to 60000 (got {})", r.initial_ms),
            ));
        }
        if r.max_ms < r.initial_ms || r.max_ms > 600_000 {
            return Err(fail(
                "reconnect.max_ms",
                format!(
                    "must be at least initial_ms ({}) and at most 600000 (got {})",
                    r.initial_ms, r.max_ms
                ),
            ));
        }
        Ok(())
    }

    /// Advice that is not an error: paths that will not survive a replug, and the like.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = &self.name;
        match &self.device {
            DeviceConfig::Serial(c) if !under(&c.path, "/dev/serial/by-") => out.push(format!(
                "scanner {name:?}: {} may name another port after a replug; prefer /dev/serial/by-id/... (see `tillpass scanners`)",
                c.path.display()
            )),
            DeviceConfig::Keyboard(c) if !under(&c.path, "/dev/input/by-") => out.push(format!(
                "scanner {name:?}: {} may name another device after a replug; prefer /dev/input/by-id/... (see `tillpass scanners`)",
                c.path.display()
            )),
            DeviceConfig::HidPos(c) if under(&c.path, "/dev/hidraw") => out.push(format!(
                "scanner {name:?}: /dev/hidrawN numbers change across replugs; use a udev SYMLINK (the installer's rules create /dev/tillpass/...)"
            )),
            _ => {}
        }
        out
    }
}

fn under(path: &Path, prefix: &str) -> bool {
    path.to_string_lossy().starts_with(prefix)
}

fn check_path(path: &Path) -> Result<(), (&'static str, String)> {
    if path.as_os_str().is_empty() {
        return Err(("device.path", "must not be empty".into()));
    }
    Ok(())
}

fn check_device(device: &DeviceConfig) -> Result<(), (&'static str, String)> {
    match device {
        DeviceConfig::Serial(c) => {
            check_path(&c.path)?;
            if !(50..=4_000_000).contains(&c.baud) {
                return Err((
                    "device.baud",
                    format!("must be 50 to 4000000 (got {})", c.baud),
                ));
            }
            if !(5..=8).contains(&c.data_bits) {
                return Err((
                    "device.data_bits",
                    format!("must be 5 to 8 (got {})", c.data_bits),
                ));
            }
            if !(1..=2).contains(&c.stop_bits) {
                return Err((
                    "device.stop_bits",
                    format!("must be 1 or 2 (got {})", c.stop_bits),
                ));
            }
        }
        DeviceConfig::Keyboard(c) => {
            check_path(&c.path)?;
            if !(2..=64).contains(&c.machine_keys) {
                return Err((
                    "device.machine_keys",
                    format!("must be 2 to 64 (got {})", c.machine_keys),
                ));
            }
            if !(1..=1000).contains(&c.machine_gap_ms) {
                return Err((
                    "device.machine_gap_ms",
                    format!("must be 1 to 1000 (got {})", c.machine_gap_ms),
                ));
            }
        }
        DeviceConfig::HidPos(c) => {
            check_path(&c.path)?;
            let l = c.layout.layout();
            let end = |at: usize, len: usize| at.checked_add(len).filter(|e| *e <= 4096);
            let fits = l.data_max >= 1
                && end(l.data_at, l.data_max).is_some()
                && end(l.length_at, 1).is_some()
                && l.aim_at.is_none_or(|at| end(at, 3).is_some())
                && l.continued
                    .is_none_or(|(at, mask)| mask != 0 && end(at, 1).is_some());
            if !fits {
                return Err(("device.layout", "offsets must lie within 4096 bytes, data_max at least 1, and a continued mask must not be 0".into()));
            }
        }
        DeviceConfig::Stdin => {}
        DeviceConfig::Tcp(c) => {
            let ok = c.addr.parse::<SocketAddr>().is_ok()
                || c.addr
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !ok {
                return Err((
                    "device.addr",
                    format!("must be host:port (got {:?})", c.addr),
                ));
            }
        }
    }
    Ok(())
}

/// Validates every scanner and checks that names are unique.
///
/// # Errors
/// The first problem found.
pub fn validate_all(configs: &[ScannerConfig]) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (i, config) in configs.iter().enumerate() {
        config.validate()?;
        if !names.insert(config.name.as_str()) {
            return Err(ConfigError {
                scanner: format!("#{}", i + 1),
                field: "name".into(),
                message: format!("{:?} is used by another scanner", config.name),
            });
        }
    }
    Ok(())
}
