//! The fake's clock: the system's, plus an offset a test moves forward to cross the
//! 24-hour window without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// Seconds since the epoch as the fake sees them. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct FakeClock {
    offset: Arc<AtomicI64>,
}

impl FakeClock {
    /// Now, in seconds since the epoch.
    pub fn now(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        system.saturating_add(self.offset.load(Ordering::SeqCst))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let secs = i64::try_from(by.as_secs()).unwrap_or(i64::MAX);
        let _ = self
            .offset
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |o| {
                Some(o.saturating_add(secs))
            });
    }
}
