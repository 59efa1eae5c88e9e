//! Capped exponential backoff with jitter, for reopening unplugged devices.

use std::time::Duration;

/// Delays that double from `initial` up to `max`, each shortened by up to a fifth at random
/// so that several tills (or several scanners) do not retry in lockstep.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    /// A backoff from `initial` to `max`; `seed` varies the jitter (any value).
    #[must_use]
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
            seed: seed | 1,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        // xorshift64: cheap, deterministic per seed, good enough for jitter.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let fifth = base / 5;
        let jitter_us = u64::try_from(fifth.as_micros()).unwrap_or(u64::MAX);
        let cut = if jitter_us == 0 {
            0
        } else {
            self.seed % jitter_us
        };
        base.saturating_sub(Duration::from_micros(cut))
    }

    /// Starts over from `initial` (after a successful open).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 42);
        let delays: Vec<_> = (0..6).map(|_| b.next_delay()).collect();
        let bases = [100, 200, 400, 800, 1000, 1000];
        for (d, base) in delays.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(*d <= base && *d >= base - base / 5, "{d:?} vs {base:?}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
