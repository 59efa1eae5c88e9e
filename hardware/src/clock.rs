//! Monotonic timestamps for the pure decoders and framers.
//!
//! Decoders only ever compare two instants, so a [`Timestamp`] is a count of microseconds
//! since an arbitrary origin: the first call to [`Timestamp::now`] in this process, or whatever
//! origin a recording or a test chooses. Keeping it a plain number keeps the decoders pure and
//! lets tests and recorded streams drive them with exact times.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Microseconds on a monotonic clock, from an origin chosen by whoever makes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Timestamp(u64);

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Timestamp {
    /// The origin.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `us` microseconds after the origin.
    #[must_use]
    pub const fn from_micros(us: u64) -> Self {
        Timestamp(us)
    }

    /// A timestamp `d` after the origin (saturating).
    #[must_use]
    pub fn from_duration(d: Duration) -> Self {
        Timestamp(micros(d))
    }

    /// Microseconds since the origin.
    #[must_use]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Now, on this process's monotonic clock.
    #[must_use]
    pub fn now() -> Self {
        Self::from_instant(Instant::now())
    }

    /// The process-clock timestamp of `at` (instants before the origin map to the origin).
    #[must_use]
    pub fn from_instant(at: Instant) -> Self {
        Timestamp(micros(at.saturating_duration_since(origin())))
    }

    /// The [`Instant`] of a timestamp made by [`Timestamp::now`].
    #[must_use]
    pub fn to_instant(self) -> Instant {
        let origin = origin();
        origin
            .checked_add(Duration::from_micros(self.0))
            .unwrap_or(origin)
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    #[must_use]
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating.
    #[must_use]
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(micros(d)))
    }

    /// `self - d`, saturating at the origin.
    #[must_use]
    pub fn saturating_sub(self, d: Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(micros(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_micros(1_000);
        assert_eq!(
            t.saturating_since(Timestamp::from_micros(400)),
            Duration::from_micros(600)
        );
        assert_eq!(Timestamp::ZERO.saturating_since(t), Duration::ZERO);
        assert_eq!(t.saturating_sub(Duration::from_secs(1)), Timestamp::ZERO);
        assert_eq!(
            Timestamp::from_micros(u64::MAX).saturating_add(Duration::from_secs(1)),
            Timestamp::from_micros(u64::MAX)
        );
    }

    #[test]
    fn now_round_trips_through_instant() {
        let t = Timestamp::now();
        assert_eq!(Timestamp::from_instant(t.to_instant()), t);
        assert!(Timestamp::now() >= t);
    }
}
