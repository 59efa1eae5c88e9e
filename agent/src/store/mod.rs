//! The local store: one SQLite file in WAL mode, `synchronous=FULL`, foreign keys on,
//! versioned migrations.
//!
//! - [`migrations`]: the numbered SQL migrations, applied in order, never edited once
//!   landed.
//! - [`customers`]: customers, savings, gift cards and personal promotions as the till
//!   knows them.
//! - [`claims`]: balances the till relied on without central's deltas — a token's signed
//!   snapshot or central's live answer — for customers and gift cards it does not hold.
//! - [`tokens`]: the trust list in force, revocations, and token uses (replay records).
//! - [`journal`]: the outbox of events for central.
//! - [`checkpoint`]: the write-ahead log's checkpointer, off the request path.
//! - [`scans`]: the scan log.
//! - [`pos_sessions`], [`sales`], [`balances`], [`idempotency`]: POS sessions, closed
//!   sales and returns, money moved at this till, and the answers kept for retried calls.
//!
//! Opening never creates over existing data: a file that cannot be opened or fails
//! `PRAGMA integrity_check` is an error for the operator, and the file is left untouched.
//!
//! The database holds customers' balances and managers' sessions: its folder is made
//! 0700 and the file 0600 before SQLite first opens it — whatever the umask — and SQLite
//! gives its `-wal` and `-shm` files the database's own mode. Files left 0644 by an older
//! agent are narrowed at open.

pub mod balances;
pub mod checkpoint;
pub mod claims;
pub mod customers;
pub mod idempotency;
pub mod journal;
pub mod managers;
pub mod migrations;
pub mod pos_sessions;
pub mod sales;
pub mod scans;
pub mod sync_catalogs;
pub mod sync_state;
pub mod tokens;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

/// The database file's name inside the data directory.
pub use tillpass_tillfiles::layout::DB_FILE;

/// A store that cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The file could not be opened.
    #[error(
        "cannot open the database {path}: {detail}. Check the data directory's permissions \
         and free space; the file has not been changed"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// What SQLite said.
        detail: String,
    },
    /// The file failed `PRAGMA integrity_check`.
    #[error(
        "the database {path} is damaged ({detail}). tillpass will not start on it and will \
         not replace it: restore the latest backup (tillpass-install keeps them in the \
         backups folder) or ask support"
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The first problem SQLite reported.
        detail: String,
    },
    /// The file was written by a newer agent.
    #[error(
        "the database {path} is at schema version {found}, newer than this agent knows \
         ({known}): run the newer agent, or restore the backup taken before the upgrade"
    )]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A query failed.
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored value could not be read back.
    #[error("database holds an unreadable value: {0}")]
    Corrupted(String),
    /// The disk is full: nothing was written.
    #[error("the disk is full: nothing was written; free space on the till")]
    Full,
    /// An event central would refuse (`tillpass_protocol::sync::limits`): nothing was
    /// written.
    #[error("a {kind} event central would refuse ({error}): nothing was written")]
    Unjournalable {
        /// The event's kind.
        kind: &'static str,
        /// What central's check says.
        error: tillpass_protocol::sync::EventError,
    },
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// Maps SQLite's "full" to [`StoreError::Full`].
pub(crate) fn sql(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
        _ => StoreError::Sql(e),
    }
}

/// The agent's database.
#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// Opens (or, in an empty folder, creates) the database in `data_dir`, checks its
    /// integrity and migrates it.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open {
            path: path.clone(),
            detail: e.to_string(),
        };
        private_dir(data_dir).map_err(|e| open_err(&e))?;
        let exists = path.exists();
        private_files(&path).map_err(|e| open_err(&e))?;
        let flags = if exists {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(&path, flags).map_err(|e| open_err(&e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| open_err(&e))?;
        if exists {
            let check: String = conn
                .query_row("PRAGMA integrity_check(1)", [], |r| r.get(0))
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::NotADatabase)
                    | Some(rusqlite::ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                        path: path.clone(),
                        detail: e.to_string(),
                    },
                    _ => open_err(&e),
                })?;
            if check != "ok" {
                return Err(StoreError::Corrupt {
                    path: path.clone(),
                    detail: check,
                });
            }
        }
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(|e| open_err(&e))?;
        conn.pragma_update(None, "wal_autocheckpoint", checkpoint::SAFETY_NET_PAGES)
            .map_err(|e| open_err(&e))?;
        migrations::apply(&conn, &path)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection, for one unit of work. A poisoned lock (a panic mid-query, which
    /// the lints forbid) still yields the connection: SQLite's own transactions keep it
    /// consistent.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A value of the till's small facts table.
    pub fn state(&self, key: &str) -> Result<Option<i64>, StoreError> {
        till_state(&self.conn(), key)
    }
}

/// Makes `dir` (and any missing parent) and narrows it to the owner alone (0700).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
    }
}

/// Creates the database file empty with mode 0600 if it does not exist (SQLite then makes
/// its `-wal` and `-shm` with the same mode), and narrows an existing one and its `-wal`
/// and `-shm` to 0600.
fn private_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if !db.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db)?;
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let file = PathBuf::from(name);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

pub(crate) fn till_state(conn: &Connection, key: &str) -> Result<Option<i64>, StoreError> {
    use rusqlite::OptionalExtension;
    conn.query_row("SELECT value FROM till_state WHERE key = ?1", [key], |r| {
        r.get(0)
    })
    .optional()
    .map_err(sql)
}

pub(crate) fn set_till_state(conn: &Connection, key: &str, value: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO till_state(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        rusqlite::params![key, value],
    )
    .map_err(sql)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_creates_then_reopens_with_the_same_data() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            set_till_state(&store.conn(), "x", 7).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.state("x").unwrap(), Some(7));
        let mode: String = store
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .conn()
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
    }

    #[test]
    fn a_damaged_file_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let garbage = b"this is not a database, but it is somebody's data".repeat(100);
        std::fs::write(&path, &garbage).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::Corrupt { .. } | StoreError::Open { .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "never recreated");
    }
}
