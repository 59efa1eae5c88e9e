//! The till's sense of time.
//!
//! A till's wall clock can be wrong (a dead RTC battery puts it in 1970; a technician sets
//! it by hand). The agent keeps a high-water mark of the signed times central has given it
//! (the trust list's issue time, signed server times on sync answers) and never believes a
//! wall clock earlier than that mark: time checks then use the mark, and a clock-skew
//! alarm is raised for the dashboard and `/readyz`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock unix seconds.
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The system's wall clock.
pub fn system_wall_clock() -> WallClock {
    Arc::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    })
}

/// The till's clock: the wall clock, never earlier than the newest signed time seen.
pub struct Clock {
    wall: WallClock,
    mark: AtomicU64,
    tolerance_secs: u64,
    skewed: AtomicBool,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("mark", &self.mark.load(Ordering::Relaxed))
            .field("skewed", &self.skewed.load(Ordering::Relaxed))
            .finish()
    }
}

impl Clock {
    /// A clock over `wall`, tolerating `tolerance_secs` of disagreement with signed times.
    pub fn new(wall: WallClock, tolerance_secs: u64) -> Clock {
        Clock {
            wall,
            mark: AtomicU64::new(0),
            tolerance_secs,
            skewed: AtomicBool::new(false),
        }
    }

    /// Takes note of a time central signed; the mark only moves forward.
    pub fn observe_signed(&self, unix: u64) {
        self.mark.fetch_max(unix, Ordering::Relaxed);
    }

    /// The newest signed time seen.
    pub fn mark(&self) -> u64 {
        self.mark.load(Ordering::Relaxed)
    }

    /// Now, in unix seconds: the wall clock, or the mark if the wall clock is behind it.
    pub fn now(&self) -> u64 {
        let wall = (self.wall)();
        let mark = self.mark();
        let skewed = wall.saturating_add(self.tolerance_secs) < mark;
        self.skewed.store(skewed, Ordering::Relaxed);
        wall.max(mark)
    }

    /// Whether the wall clock was found behind a signed time at the last reading.
    pub fn skew_alarm(&self) -> bool {
        self.skewed.load(Ordering::Relaxed)
    }

    /// How far the wall clock is behind the mark, in seconds (0 when it is not).
    pub fn skew_secs(&self) -> u64 {
        self.mark().saturating_sub((self.wall)())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wall_clock_behind_a_signed_time_is_not_believed() {
        let wall = Arc::new(AtomicU64::new(1_000));
        let w = wall.clone();
        let clock = Clock::new(Arc::new(move || w.load(Ordering::Relaxed)), 60);
        assert_eq!(clock.now(), 1_000);
        clock.observe_signed(5_000);
        assert_eq!(clock.now(), 5_000);
        assert!(clock.skew_alarm());
        assert_eq!(clock.skew_secs(), 4_000);
        clock.observe_signed(4_000); // never backwards
        assert_eq!(clock.mark(), 5_000);
        wall.store(5_030, Ordering::Relaxed);
        assert_eq!(clock.now(), 5_030);
        assert!(!clock.skew_alarm());
    }
}
