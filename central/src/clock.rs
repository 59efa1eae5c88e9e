//! Central's clock, as a value: the server reads it through [`Clock`], so tests can hold
//! time still or move it.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of unix seconds.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system() -> Clock {
    Arc::new(now)
}

/// The system clock's unix seconds (0 before 1970, which no real clock reports).
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

/// Unix seconds as `u64`, with times before 1970 as 0.
pub fn to_u64(unix: i64) -> u64 {
    u64::try_from(unix).unwrap_or(0)
}
