//! How long the till waits before trying central again.
//!
//! - After a failure (unreachable, an error status): exponential with jitter, a quarter
//!   of a second doubling up to `[sync] retry_max_secs` ([`exponential`]).
//! - When central says it is saturated — `429` or `503` with `Retry-After` — at least
//!   what it asked, capped at [`RETRY_AFTER_CAP`] (a wrong header cannot park a till for
//!   hours), plus up to half as long again at random, so tills told the same thing at the
//!   same moment do not all come back together ([`honour`]). This replaces the
//!   exponential wait for that attempt.

use std::time::Duration;

use backon::ExponentialBuilder;

/// The first wait after a failed exchange with central; it doubles up to the maximum.
pub const RETRY_MIN: Duration = Duration::from_millis(250);

/// The longest `Retry-After` honoured as given; longer ones are waited this long.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);

/// Exponential backoff with jitter from [`RETRY_MIN`] to `max`, never giving up.
pub fn exponential(max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(RETRY_MIN)
        .with_max_delay(max.max(RETRY_MIN))
        .with_jitter()
        .without_max_times()
}

/// A `Retry-After` value in seconds (the HTTP-date form is not one central sends).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait for central's `Retry-After`: at least `asked` (capped), plus jitter.
pub fn honour(asked: Duration) -> Duration {
    let fraction = getrandom::u32().unwrap_or(u32::MAX / 2);
    with_jitter(asked, fraction)
}

/// [`honour`] with the random part given: `fraction / u32::MAX` of half the wait.
fn with_jitter(asked: Duration, fraction: u32) -> Duration {
    let base = asked.min(RETRY_AFTER_CAP).max(RETRY_MIN);
    let share = f64::from(fraction) / f64::from(u32::MAX);
    base + (base / 2).mul_f64(share)
}

/// The wait before the next attempt after `error`: central's `Retry-After` honoured when
/// it gave one, else `normal` (the exponential backoff's next step).
pub fn after(retry_after: Option<Duration>, normal: Duration) -> Duration {
    retry_after.map_or(normal, honour)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_honoured_at_least_with_jitter_and_capped() {
        let asked = Duration::from_secs(2);
        assert_eq!(with_jitter(asked, 0), asked);
        assert_eq!(with_jitter(asked, u32::MAX), Duration::from_secs(3));
        for _ in 0..100 {
            let wait = honour(asked);
            assert!(wait >= asked && wait <= Duration::from_secs(3), "{wait:?}");
        }
        assert_eq!(
            with_jitter(Duration::from_secs(86_400), 0),
            RETRY_AFTER_CAP,
            "a day is waited as the cap"
        );
        assert_eq!(with_jitter(Duration::ZERO, 0), RETRY_MIN);
        assert_eq!(after(None, Duration::from_secs(7)), Duration::from_secs(7));
        assert!(after(Some(asked), Duration::from_millis(250)) >= asked);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after(" 5 "), Some(Duration::from_secs(5)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
