//! When this node last wrote each till's `last_seen_at`, in memory, so that a till's reads
//! (sync rounds, delta pages, envelopes) write it at most once every
//! [`LAST_SEEN_EVERY_SECS`](crate::auth::LAST_SEEN_EVERY_SECS) — an idle round writes
//! nothing. Each node keeps its own map (with `n` nodes a till costs at most `n` such
//! writes a minute, and the database's own guard keeps the column from moving more
//! often than that); a restarted node writes each till's once more. Memory is bounded
//! by the enrolled tills (entries are made only for verified requests), pruned of the
//! stale ones past [`PRUNE_ABOVE`] entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::LAST_SEEN_EVERY_SECS;

/// The map is pruned when it holds more entries than this.
pub const PRUNE_ABOVE: usize = 65_536;

/// This node's memory of the `last_seen_at` it wrote per till.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeenTills(Arc<Mutex<HashMap<String, i64>>>);

impl SeenTills {
    /// Whether `till`'s `last_seen_at` is due a write at `now`; if so it counts as
    /// written now.
    pub(crate) fn due(&self, till: &str, now: i64) -> bool {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > PRUNE_ABOVE {
            seen.retain(|_, at| now.saturating_sub(*at) < LAST_SEEN_EVERY_SECS);
        }
        match seen.get(till) {
            Some(at) if now.saturating_sub(*at) < LAST_SEEN_EVERY_SECS => false,
            _ => {
                seen.insert(till.to_owned(), now);
                true
            }
        }
    }

    /// Notes that a write's transaction wrote (or did not need to write) `till`'s
    /// `last_seen_at` at `now`.
    pub(crate) fn written(&self, till: &str, now: i64) {
        let mut seen = self.0.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(till.to_owned(), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_till_is_due_once_a_minute() {
        let seen = SeenTills::default();
        assert!(seen.due("T1", 1_000));
        assert!(!seen.due("T1", 1_000));
        assert!(!seen.due("T1", 1_059));
        assert!(seen.due("T2", 1_059), "each till on its own");
        assert!(seen.due("T1", 1_060));
        seen.written("T1", 2_000);
        assert!(!seen.due("T1", 2_030));
    }
}
