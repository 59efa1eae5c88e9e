//! Numbered SQL migrations, embedded in the binary and applied in order at open.
//!
//! `PRAGMA user_version` holds the number of the last one applied. A migration is never
//! edited once landed: a change is a new file with the next number.

use std::path::Path;

use rusqlite::Connection;

use super::{StoreError, sql};

/// The migrations, in order: (number, name, SQL).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("migrations/0001_initial.sql")),
    (2, "sales", include_str!("migrations/0002_sales.sql")),
    (3, "managers", include_str!("migrations/0003_managers.sql")),
    (4, "sync", include_str!("migrations/0004_sync.sql")),
    (
        5,
        "store_returns",
        include_str!("migrations/0005_store_returns.sql"),
    ),
    (
        6,
        "pending_and_segments",
        include_str!("migrations/0006_pending_and_segments.sql"),
    ),
    (
        7,
        "token_use_sale",
        include_str!("migrations/0007_token_use_sale.sql"),
    ),
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// Applies every migration newer than the file's version, each in its own transaction.
pub fn apply(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let current: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(sql)?;
    if current > latest() {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found: current,
            known: latest(),
        });
    }
    for (number, name, text) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        let batch = format!("BEGIN IMMEDIATE;\n{text}\nPRAGMA user_version = {number};\nCOMMIT;");
        if let Err(e) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(migration = number, name, error = %e, "migration failed");
            return Err(sql(e));
        }
        tracing::info!(migration = number, name, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (number, _, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*number, i64::try_from(i).unwrap() + 1);
        }
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
