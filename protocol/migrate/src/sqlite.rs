//! The runner for SQLite: the version is `PRAGMA user_version`; each missing migration
//! runs in its own `BEGIN IMMEDIATE` transaction with the new version, so two processes
//! opening one file at once migrate it once, and a failed migration leaves the previous
//! whole version.

use rusqlite::Connection;

use crate::{Migration, PlanError, pending, version_after};

/// Why the migrations of a SQLite file did not all apply.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be brought to this build's schema.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Reading the version failed.
    #[error("reading the schema version: {0}")]
    Version(#[source] rusqlite::Error),
    /// A migration failed; the file stays at the version before it.
    #[error("migration {version} ({name}) failed: {source}")]
    Failed {
        /// The version the migration would have reached.
        version: i64,
        /// Its name.
        name: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
}

/// The file's schema version.
pub fn version(conn: &Connection) -> Result<i64, Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(Error::Version)
}

/// Applies every migration of `all` the file lacks, in order; `applied` hears of each
/// (its version and name) once it is committed.
pub fn apply(
    conn: &Connection,
    all: &[Migration],
    mut applied: impl FnMut(i64, &'static str),
) -> Result<(), Error> {
    loop {
        // The version is read again under the write lock: another process may have
        // migrated the file meanwhile.
        let step = |conn: &Connection| -> Result<Option<(i64, &'static str)>, Error> {
            let current = version(conn)?;
            let Some(index) = pending(current, all.len())?.next() else {
                return Ok(None);
            };
            let Some(m) = all.get(index) else {
                return Ok(None);
            };
            let to = version_after(index);
            conn.execute_batch(m.sql)
                .and_then(|()| conn.pragma_update(None, "user_version", to))
                .map_err(|source| Error::Failed {
                    version: to,
                    name: m.name,
                    source,
                })?;
            Ok(Some((to, m.name)))
        };
        conn.execute_batch("BEGIN IMMEDIATE")
            .map_err(Error::Version)?;
        match step(conn) {
            Ok(Some((to, name))) => {
                conn.execute_batch("COMMIT")
                    .map_err(|source| Error::Failed {
                        version: to,
                        name,
                        source,
                    })?;
                applied(to, name);
            }
            Ok(None) => {
                conn.execute_batch("COMMIT").map_err(Error::Version)?;
                return Ok(());
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Migration] = &[
        Migration {
            name: "one",
            sql: "CREATE TABLE a (x INTEGER);",
        },
        Migration {
            name: "two",
            sql: "ALTER TABLE a ADD COLUMN y TEXT;",
        },
    ];

    #[test]
    fn applies_what_is_missing_once_and_refuses_a_newer_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let conn = Connection::open(&path).unwrap();
        let mut seen = Vec::new();
        apply(&conn, &ALL[..1], |v, n| seen.push((v, n))).unwrap();
        apply(&conn, ALL, |v, n| seen.push((v, n))).unwrap();
        apply(&conn, ALL, |v, n| seen.push((v, n))).unwrap();
        assert_eq!(seen, [(1, "one"), (2, "two")]);
        assert_eq!(version(&conn).unwrap(), 2);
        let e = apply(&conn, &ALL[..1], |_, _| {}).unwrap_err();
        assert!(matches!(
            e,
            Error::Plan(PlanError::TooNew { found: 2, known: 1 })
        ));
    }

    #[test]
    fn a_failed_migration_leaves_the_version_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let broken = [
            ALL[0],
            Migration {
                name: "broken",
                sql: "CREATE TABLE b (x); THIS IS NOT SQL;",
            },
        ];
        let e = apply(&conn, &broken, |_, _| {}).unwrap_err();
        assert!(
            matches!(
                e,
                Error::Failed {
                    version: 2,
                    name: "broken",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(version(&conn).unwrap(), 1);
        let b: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            b, 0,
            "the failed migration's first statement was rolled back"
        );
    }
}
