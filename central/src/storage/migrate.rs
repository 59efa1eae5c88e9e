//! Central's use of the one migration mechanism (`tillpass-migrate`), for every backend.
//!
//! A backend's schema is a list of numbered migrations (`&[&str]`, index `i` brings the
//! schema from version `i` to `i + 1`), never edited once landed: a change is a new
//! migration appended to the list. Each backend records how many ran, in one place
//! (SQLite: `PRAGMA user_version`, as central always has; PostgreSQL: the
//! `schema_version` table), and applies the missing ones in order, each in its own
//! transaction together with the new version. A database newer than the build is refused
//! whole, before anything is applied.
//!
//! Backends differ only in how they read and write the version and run a migration;
//! [`pending`] is the rule they share.

use std::ops::Range;

pub use tillpass_migrate::{Migration, version_after};

use crate::error::{Error, Result};

/// The indexes of the migrations of `all` still to apply to a database at `current`;
/// an error when the database is newer than this build knows.
pub fn pending(current: i64, all: &[Migration]) -> Result<Range<usize>> {
    tillpass_migrate::pending(current, all.len()).map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_gets_what_it_lacks_and_a_newer_one_is_refused() {
        let m = Migration { name: "m", sql: "" };
        let all = [m, m, m];
        assert_eq!(pending(0, &all).unwrap(), 0..3);
        assert_eq!(pending(2, &all).unwrap(), 2..3);
        assert!(pending(3, &all).unwrap().is_empty());
        assert!(pending(4, &all).is_err());
        assert!(pending(-1, &all).is_err());
        assert_eq!(version_after(0), 1);
    }
}
