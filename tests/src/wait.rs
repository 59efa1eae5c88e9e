//! Waiting on a condition with a deadline.
//!
//! Tests never sleep for a fixed time: they poll what they are waiting for, with a short
//! growing pause between looks, and fail with a message once the deadline passes.

use std::time::{Duration, Instant};

/// The condition did not become true before the deadline.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}")]
pub struct TimedOut {
    /// What was awaited, for the failure message.
    pub what: String,
    /// How long it was awaited.
    pub waited: Duration,
}

/// Polls `probe` until it returns `Some`, or fails after `timeout`.
pub fn until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, TimedOut> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(TimedOut {
                what: what.to_owned(),
                waited,
            });
        }
        // A pause between looks, not a wait for the outcome: the loop ends as soon as the
        // condition holds.
        let left = timeout.saturating_sub(waited);
        park(pause.min(left));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

fn park(duration: Duration) {
    let deadline = Instant::now() + duration;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        std::thread::park_timeout(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_returns_the_first_value() {
        let mut n = 0;
        let got = until("n to reach 3", Duration::from_secs(5), || {
            n += 1;
            (n >= 3).then_some(n)
        })
        .unwrap();
        assert_eq!(got, 3);
    }

    #[test]
    fn until_times_out_with_the_reason() {
        let err = until::<()>("nothing", Duration::from_millis(20), || None).unwrap_err();
        assert!(err.to_string().contains("waiting for nothing"));
        assert!(err.waited >= Duration::from_millis(20));
    }
}
