//! Tills' `last_seen_at`, noted in memory by every verified request and written by this
//! node in one statement every [`FLUSH_EVERY`] ([`flush_every`]), off the request path.
//!
//! - **At most once a minute per till and node.** A request notes its till only when this
//!   node did not note it within [`LAST_SEEN_EVERY_SECS`](crate::auth::LAST_SEEN_EVERY_SECS):
//!   an idle till's rounds add nothing (each node keeps its own memory; with `n` nodes a
//!   till costs at most `n` notes a minute, and the database's own guard keeps the
//!   column from moving more often than that). A restarted node notes each till once
//!   more.
//! - **One write for many tills.** The notes wait in memory and go to the database
//!   together ([`crate::storage::Database::touch_tills`]: one statement, one commit that
//!   does not wait for its WAL flush on PostgreSQL — a last-seen lost to a crash is only
//!   a note). At 10,000 tills that is one commit every [`FLUSH_EVERY`] instead of ~170 a
//!   second, each a WAL flush a request waited for. A request, a read or a write, no
//!   longer waits for any.
//! - **Nothing lost but a crash's last second.** A flush that fails keeps its notes for
//!   the next one; the server flushes once more as it stops.
//! - Memory is bounded by the enrolled tills (notes are made only for verified requests),
//!   pruned of the stale ones past [`PRUNE_ABOVE`] entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::auth::LAST_SEEN_EVERY_SECS;
use crate::storage::Database;

/// The map is pruned when it holds more entries than this.
pub const PRUNE_ABOVE: usize = 65_536;

/// How often the notes are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Notes {
    /// When this node last noted each till.
    noted: HashMap<String, i64>,
    /// The notes not written yet: till → when.
    pending: HashMap<String, i64>,
}

/// This node's notes of when it saw each till.
#[derive(Debug, Clone, Default)]
pub(crate) struct SeenTills(Arc<Mutex<Notes>>);

impl SeenTills {
    /// Notes `till` as seen at `now`, unless this node noted it less than a minute
    /// before. Whether it was noted.
    pub(crate) fn note(&self, till: &str, now: i64) -> bool {
        let mut notes = self.lock();
        if notes.noted.len() > PRUNE_ABOVE {
            notes
                .noted
                .retain(|_, at| now.saturating_sub(*at) < LAST_SEEN_EVERY_SECS);
        }
        match notes.noted.get(till) {
            Some(at) if now.saturating_sub(*at) < LAST_SEEN_EVERY_SECS => false,
            _ => {
                notes.noted.insert(till.to_owned(), now);
                notes.pending.insert(till.to_owned(), now);
                true
            }
        }
    }

    /// Writes the pending notes in one statement; on failure keeps them for the next
    /// flush (a newer note of the same till wins). How many were written.
    pub(crate) async fn flush(&self, db: &Database) -> usize {
        let pending = std::mem::take(&mut self.lock().pending);
        if pending.is_empty() {
            return 0;
        }
        let mut notes: Vec<(String, i64)> = pending.into_iter().collect();
        // One order on every node, so two nodes' flushes wait for each other rather than
        // deadlock.
        notes.sort_unstable();
        match db.touch_tills(&notes).await {
            Ok(()) => notes.len(),
            Err(e) => {
                tracing::warn!(error = %e, tills = notes.len(), "last seen not written; kept for the next flush");
                let mut kept = self.lock();
                for (till, at) in notes {
                    let slot = kept.pending.entry(till).or_insert(at);
                    *slot = (*slot).max(at);
                }
                0
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Notes> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Flushes `seen` to `db` every `every`, forever (the server flushes once more as it
/// stops).
pub(crate) async fn flush_every(seen: SeenTills, db: Database, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        seen.flush(&db).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_till_is_noted_once_a_minute() {
        let seen = SeenTills::default();
        assert!(seen.note("T1", 1_000));
        assert!(!seen.note("T1", 1_000));
        assert!(!seen.note("T1", 1_059));
        assert!(seen.note("T2", 1_059), "each till on its own");
        assert!(seen.note("T1", 1_060));
        let pending = seen.lock().pending.clone();
        assert_eq!(pending.get("T1"), Some(&1_060), "the newest note waits");
        assert_eq!(pending.get("T2"), Some(&1_059));
    }
}
