//! Per-till quotas: one till — a misbehaving or looping agent — cannot take a node's
//! capacity. Each till has a token bucket in this node's memory ([`TillRate`]: `burst`
//! requests at once, refilled at `per_sec` a second; `serve --till-burst --till-rate`).
//! A signed request whose signature verified takes one token; with none left it is
//! answered `429 rate_limited` with `Retry-After` (the seconds until a token is back),
//! before the database is touched again. The bucket is taken only after the signature
//! verified, so a stranger sending requests in a till's name cannot spend its quota.
//!
//! Memory is bounded by the number of enrolled tills (only verified requests make an
//! entry); when the map grows past [`PRUNE_ABOVE`] entries, the tills whose buckets are
//! full again are forgotten. With `n` nodes behind a balancer a till gets up to `n` times
//! the rate: the quota protects each node, it is not a contract.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

/// The map is pruned when it holds more entries than this.
pub const PRUNE_ABOVE: usize = 65_536;

/// Milli-tokens per token: buckets count in thousandths, in integers.
const MILLI: u64 = 1_000;

/// A till's share of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TillRate {
    /// Requests a till may send at once (the bucket's size). `0` turns the quota off.
    pub burst: u32,
    /// Tokens given back per second. `0` turns the quota off.
    pub per_sec: u32,
}

impl Default for TillRate {
    /// Generous: 60 at once, 2 a second — a till's sync round is one request every 30 s,
    /// its uploads a few a minute.
    fn default() -> TillRate {
        TillRate {
            burst: 60,
            per_sec: 2,
        }
    }
}

impl TillRate {
    /// No quota.
    pub const UNLIMITED: TillRate = TillRate {
        burst: 0,
        per_sec: 0,
    };

    fn is_on(self) -> bool {
        self.burst > 0 && self.per_sec > 0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Milli-tokens left at `at`.
    milli: u64,
    at: Instant,
}

/// The buckets of every till this node served.
#[derive(Debug, Clone)]
pub(crate) struct Quotas {
    rate: TillRate,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

impl Quotas {
    pub(crate) fn new(rate: TillRate) -> Quotas {
        Quotas {
            rate,
            buckets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes one token from `till`'s bucket at `now`; `Err(seconds)` to wait when none is
    /// left.
    pub(crate) fn take(&self, till: &str, now: Instant) -> Result<(), u64> {
        if !self.rate.is_on() {
            return Ok(());
        }
        let full = u64::from(self.rate.burst) * MILLI;
        let per_sec = u64::from(self.rate.per_sec);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| refilled(b, now, per_sec, full) < full);
        }
        let bucket = buckets.entry(till.to_owned()).or_insert(Bucket {
            milli: full,
            at: now,
        });
        let milli = refilled(bucket, now, per_sec, full);
        *bucket = Bucket { milli, at: now };
        if milli >= MILLI {
            bucket.milli = milli - MILLI;
            return Ok(());
        }
        // Seconds until one whole token is back, rounded up.
        let missing = MILLI - milli;
        let per_sec_milli = per_sec * MILLI;
        Err(missing.div_ceil(per_sec_milli).max(1))
    }
}

/// The bucket's milli-tokens at `now`, at most `full`.
fn refilled(bucket: &Bucket, now: Instant, per_sec: u64, full: u64) -> u64 {
    let elapsed_ms =
        u64::try_from(now.saturating_duration_since(bucket.at).as_millis()).unwrap_or(u64::MAX);
    // per_sec tokens a second = per_sec milli-tokens a millisecond.
    bucket
        .milli
        .saturating_add(elapsed_ms.saturating_mul(per_sec))
        .min(full)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_till_gets_its_burst_then_its_rate_and_others_are_untouched() {
        let quotas = Quotas::new(TillRate {
            burst: 3,
            per_sec: 2,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(quotas.take("S1-T1", t0), Ok(()));
        }
        assert_eq!(quotas.take("S1-T1", t0), Err(1));
        assert_eq!(quotas.take("S1-T2", t0), Ok(()), "another till has its own");
        // Two a second: one back after half a second, not before.
        assert_eq!(
            quotas.take("S1-T1", t0 + Duration::from_millis(400)),
            Err(1)
        );
        assert_eq!(
            quotas.take("S1-T1", t0 + Duration::from_millis(600)),
            Ok(())
        );
        assert_eq!(
            quotas.take("S1-T1", t0 + Duration::from_millis(600)),
            Err(1)
        );
        // A long pause refills up to the burst, no more.
        let later = t0 + Duration::from_secs(3_600);
        for _ in 0..3 {
            assert_eq!(quotas.take("S1-T1", later), Ok(()));
        }
        assert!(quotas.take("S1-T1", later).is_err());
    }

    #[test]
    fn a_slow_refill_asks_for_a_longer_wait_and_off_means_off() {
        let quotas = Quotas::new(TillRate {
            burst: 1,
            per_sec: 1,
        });
        let t0 = Instant::now();
        assert_eq!(quotas.take("T", t0), Ok(()));
        assert_eq!(quotas.take("T", t0), Err(1));
        let off = Quotas::new(TillRate::UNLIMITED);
        for _ in 0..10_000 {
            assert_eq!(off.take("T", t0), Ok(()));
        }
    }
}
