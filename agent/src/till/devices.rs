//! The scanners' states, written by the scanner pump and read by `/v1/status` and the
//! dashboard.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;

/// A scanner's state, for `/v1/status` and the dashboard.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceStatus {
    /// Whether it is open.
    pub connected: bool,
    /// Its path.
    pub path: Option<String>,
    /// When it last delivered a scan, unix seconds.
    pub last_scan_at: Option<u64>,
    /// Its last error, with the hint.
    pub last_error: Option<String>,
}

/// Scanner states by configured name.
pub type Devices = Arc<Mutex<BTreeMap<String, DeviceStatus>>>;
