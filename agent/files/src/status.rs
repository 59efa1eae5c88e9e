//! What `tillpass status --offline --json` prints: the till's state as its files hold it,
//! read by the agent's own code whether or not the agent runs. The installer asks the
//! agent for it instead of reading the agent's tables itself: `doctor` for the database,
//! trust list and catalog, `uninstall --purge` and the package's `prerm` for the outbox
//! ([`Outbox::unsynced`]).
//!
//! The shape (one JSON object; absent parts are `null`):
//!
//! ```json
//! { "database": { "path": "/var/lib/tillpass/tillpass.db", "state": "intact",
//!                 "problem": null },
//!   "trust_list": { "sequence": 3, "issued_at": 1764000000, "expires_at": 1766592000,
//!                   "envelope": "d28443a1…" },
//!   "catalog": { "sequence": 7 },
//!   "outbox": { "pending": 2, "rejected": 1,
//!               "newest_rejection": { "kind": "sale_closed", "code": "invalid",
//!                                     "reason": "…" } } }
//! ```
//!
//! `state` is `missing` (the agent has not made its database yet; the rest is `null`),
//! `intact`, or `damaged` (with the `problem`). New fields may be added; none is removed
//! or changes meaning.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The till's state as its files hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfflineStatus {
    /// The database file.
    pub database: Database,
    /// The trust list in force, if the till has one.
    pub trust_list: Option<TrustList>,
    /// The active promotion catalog, if the till has one.
    pub catalog: Option<Catalog>,
    /// The outbox, when the database could be read.
    pub outbox: Option<Outbox>,
}

/// Whether the database is there and sound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub path: PathBuf,
    /// What was found.
    pub state: DatabaseState,
    /// For a damaged one, what SQLite said.
    pub problem: Option<String>,
}

/// What was found at the database's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseState {
    /// No file yet: the agent makes it at its first start.
    Missing,
    /// Readable, and its integrity check passes.
    Intact,
    /// Unreadable or failing its integrity check.
    Damaged,
}

/// The trust list in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustList {
    pub sequence: u64,
    /// When central issued it, unix seconds.
    pub issued_at: u64,
    /// When it expires, unix seconds.
    pub expires_at: u64,
    /// The signed envelope itself, in hex (public: central's keys and their purposes),
    /// for a reader that checks a signature with it.
    pub envelope: String,
}

/// The active promotion catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub sequence: u64,
}

/// The outbox's events by state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outbox {
    /// Waiting for central.
    pub pending: i64,
    /// Refused by central: kept, not sent again until re-driven.
    pub rejected: i64,
    /// The newest refusal.
    pub newest_rejection: Option<Rejection>,
}

impl Outbox {
    /// Every event central has not acknowledged: pending and rejected alike (a rejected
    /// event is a sale central does not have). What a purge must not lose.
    pub fn unsynced(&self) -> i64 {
        self.pending.saturating_add(self.rejected)
    }
}

/// An event central refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The event's kind, e.g. `sale_closed`.
    pub kind: String,
    /// Central's code.
    pub code: String,
    /// Central's reason.
    pub reason: String,
}
