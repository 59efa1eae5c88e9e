//! # tillpass-migrate
//!
//! The one migration mechanism of every tillpass database: the till's store (agent),
//! central on SQLite and central on PostgreSQL.
//!
//! ## Map
//! - [`Migration`]: one step of a schema, named; a schema is a list of them, and the
//!   migration at index `i` brings a database from version `i` to `i + 1`.
//! - [`pending`] and [`version_after`]: the rule every backend shares — apply what the
//!   database lacks, in order; refuse, whole and before anything runs, a database newer
//!   than the build.
//! - [`sqlite`]: the runner for SQLite files (the version is `PRAGMA user_version`, as the
//!   agent and central have always recorded it). Central's PostgreSQL backend runs the same
//!   rule over its `schema_version` table.
//!
//! A migration is never edited once landed: a change is a new migration appended to the
//! list. Each is applied in its own transaction together with the new version, so a crash
//! leaves the database at a whole version.
#![forbid(unsafe_code)]

pub mod sqlite;

use std::ops::Range;

/// One step of a schema.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// A short name for logs (`"outbox_states"`).
    pub name: &'static str,
    /// The SQL it runs (one or more statements).
    pub sql: &'static str,
}

/// Why a database cannot be brought to this build's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The database was made by a newer build.
    #[error("database schema version {found} is newer than this build ({known})")]
    TooNew {
        /// The database's version.
        found: i64,
        /// The newest version this build knows.
        known: i64,
    },
    /// The recorded version is not a version (negative).
    #[error("database schema version {0} is invalid")]
    Invalid(i64),
}

/// The newest version a schema of `count` migrations reaches.
pub fn latest(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// The indexes of the migrations still to apply to a database at version `current`, of a
/// schema of `count` migrations.
pub fn pending(current: i64, count: usize) -> Result<Range<usize>, PlanError> {
    let at = usize::try_from(current).map_err(|_| PlanError::Invalid(current))?;
    if at > count {
        return Err(PlanError::TooNew {
            found: current,
            known: latest(count),
        });
    }
    Ok(at..count)
}

/// The version a database has once the migration at `index` ran.
pub fn version_after(index: usize) -> i64 {
    latest(index.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_what_it_lacks_and_a_newer_one_is_refused() {
        assert_eq!(pending(0, 3), Ok(0..3));
        assert_eq!(pending(2, 3), Ok(2..3));
        assert!(pending(3, 3).is_ok_and(|r| r.is_empty()));
        assert_eq!(pending(4, 3), Err(PlanError::TooNew { found: 4, known: 3 }));
        assert_eq!(pending(-1, 3), Err(PlanError::Invalid(-1)));
        assert_eq!(version_after(0), 1);
    }
}
