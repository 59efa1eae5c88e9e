//! Numbered SQL migrations, embedded in the binary and applied in order at open.
//!
//! `PRAGMA user_version` holds the number of the last one applied. A migration is never
//! edited once landed: a change is a new file with the next number.

use std::path::Path;

use rusqlite::Connection;
use tillpass_migrate::Migration;

use super::{StoreError, sql};

/// The migrations, in order: index `i` brings the file from version `i` to `i + 1`.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        name: "sales",
        sql: include_str!("migrations/0002_sales.sql"),
    },
    Migration {
        name: "managers",
        sql: include_str!("migrations/0003_managers.sql"),
    },
    Migration {
        name: "sync",
        sql: include_str!("migrations/0004_sync.sql"),
    },
    Migration {
        name: "store_returns",
        sql: include_str!("migrations/0005_store_returns.sql"),
    },
    Migration {
        name: "pending_and_segments",
        sql: include_str!("migrations/0006_pending_and_segments.sql"),
    },
    Migration {
        name: "token_use_sale",
        sql: include_str!("migrations/0007_token_use_sale.sql"),
    },
    Migration {
        name: "login_attempts",
        sql: include_str!("migrations/0008_login_attempts.sql"),
    },
    Migration {
        name: "outbox_states",
        sql: include_str!("migrations/0009_outbox_states.sql"),
    },
    Migration {
        name: "store_ledger",
        sql: include_str!("migrations/0010_store_ledger.sql"),
    },
    Migration {
        name: "balance_claims",
        sql: include_str!("migrations/0011_balance_claims.sql"),
    },
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    tillpass_migrate::latest(MIGRATIONS.len())
}

/// Applies every migration newer than the file's version, each in its own transaction
/// (`tillpass-migrate`, the mechanism central's databases share).
pub fn apply(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    use tillpass_migrate::{PlanError, sqlite::Error};
    tillpass_migrate::sqlite::apply(conn, MIGRATIONS, |migration, name| {
        tracing::info!(migration, name, "database migrated");
    })
    .map_err(|e| match e {
        Error::Plan(PlanError::TooNew { found, known }) => StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        },
        Error::Plan(PlanError::Invalid(found)) => StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            known: latest(),
        },
        Error::Version(e) => sql(e),
        Error::Failed {
            version,
            name,
            source,
        } => {
            tracing::error!(migration = version, name, error = %source, "migration failed");
            sql(source)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        assert_eq!(latest(), i64::try_from(MIGRATIONS.len()).unwrap());
        let mut names: Vec<_> = MIGRATIONS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            MIGRATIONS.len(),
            "every migration has its own name"
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 999").unwrap();
        assert!(matches!(
            apply(&conn, &path),
            Err(StoreError::TooNew { found: 999, .. })
        ));
    }
}
