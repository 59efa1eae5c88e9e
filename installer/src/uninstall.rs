//! `tillpass-install uninstall [--purge] [--force]`: removes tillpass from a till without
//! ever losing a sale central has not received.
//!
//! Without `--purge` only the system files go (unit, udev rules, sysusers, tmpfiles); the
//! configuration, the till's key and the state directory stay, so a reinstall picks up
//! where it left off. `--purge` also removes those, and refuses while the outbox still holds
//! events central has not acknowledged, unless `--force` is given as well.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};
use thiserror::Error;

use crate::fsops::FsError;
use crate::layout::Layout;

/// The agent's database file inside the state directory.
pub const DB_FILE: &str = "tillpass.db";

/// Why an uninstall stopped.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum UninstallError {
    /// The outbox holds unsynced events and `--force` was not given.
    #[error(
        "refusing to purge: {0} sale and loyalty events have not reached central yet. Bring \
         the till online until `tillpass status` shows an empty outbox, or copy {1} \
         somewhere safe and purge with --force"
    )]
    Unsynced(i64, String),
    /// The database could not be read to count the outbox.
    #[error(
        "cannot read the outbox in {path}: {detail}. Nothing was removed; purge with --force \
         only if this till's unsynced sales may be lost"
    )]
    Database {
        /// The database.
        path: String,
        /// Why.
        detail: String,
    },
    /// A file could not be removed.
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// How many events wait for central in the agent's database, 0 when there is none.
pub fn unsynced_events(state_dir: &Path) -> Result<i64, UninstallError> {
    let path = state_dir.join(DB_FILE);
    if !path.exists() {
        return Ok(0);
    }
    let err = |e: rusqlite::Error| UninstallError::Database {
        path: path.display().to_string(),
        detail: e.to_string(),
    };
    let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    conn.query_row("SELECT count(*) FROM outbox", [], |r| r.get(0))
        .map_err(err)
}

/// Removes tillpass's files below `layout`; returns what was removed.
pub fn uninstall(layout: &Layout, purge: bool, force: bool) -> Result<Vec<String>, UninstallError> {
    if purge && !force {
        let pending = unsynced_events(&layout.state_dir())?;
        if pending > 0 {
            return Err(UninstallError::Unsynced(
                pending,
                layout.state_dir().display().to_string(),
            ));
        }
    }
    let mut removed = Vec::new();
    for file in [
        layout.unit_file(),
        layout.udev_rules(),
        layout.sysusers(),
        layout.tmpfiles(),
    ] {
        match std::fs::remove_file(&file) {
            Ok(()) => removed.push(file.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(FsError {
                    action: "removing",
                    path: file,
                    source: e,
                }
                .into());
            }
        }
    }
    if purge {
        for dir in [layout.config_dir(), layout.state_dir()] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => removed.push(dir.display().to_string()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(FsError {
                        action: "removing",
                        path: dir,
                        source: e,
                    }
                    .into());
                }
            }
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsops::{ensure_dir, ensure_file};

    fn staged() -> (tempfile::TempDir, Layout) {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        ensure_dir(&layout.config_dir(), 0o750).unwrap();
        ensure_dir(&layout.state_dir(), 0o750).unwrap();
        ensure_dir(layout.unit_file().parent().unwrap(), 0o755).unwrap();
        ensure_file(&layout.unit_file(), b"unit", 0o644).unwrap();
        ensure_file(&layout.till_key(), b"key", 0o600).unwrap();
        (dir, layout)
    }

    fn outbox(layout: &Layout, events: i64) {
        let conn = Connection::open(layout.state_dir().join(DB_FILE)).unwrap();
        conn.execute_batch("CREATE TABLE outbox (seq INTEGER PRIMARY KEY)")
            .unwrap();
        for i in 0..events {
            conn.execute("INSERT INTO outbox(seq) VALUES (?1)", [i + 1])
                .unwrap();
        }
    }

    #[test]
    fn without_purge_data_and_keys_stay() {
        let (_dir, layout) = staged();
        let removed = uninstall(&layout, false, false).unwrap();
        assert_eq!(removed.len(), 1);
        assert!(!layout.unit_file().exists());
        assert!(layout.till_key().exists());
        assert!(layout.state_dir().exists());
    }

    #[test]
    fn purge_refuses_while_events_are_unsynced_unless_forced() {
        let (_dir, layout) = staged();
        outbox(&layout, 3);
        let err = uninstall(&layout, true, false).unwrap_err();
        assert!(matches!(err, UninstallError::Unsynced(3, _)), "{err}");
        assert!(layout.unit_file().exists(), "nothing removed on refusal");
        assert!(layout.state_dir().join(DB_FILE).exists());
        uninstall(&layout, true, true).unwrap();
        assert!(!layout.state_dir().exists());
        assert!(!layout.config_dir().exists());
    }

    #[test]
    fn purge_of_a_synced_till_removes_everything() {
        let (_dir, layout) = staged();
        outbox(&layout, 0);
        uninstall(&layout, true, false).unwrap();
        assert!(!layout.state_dir().exists());
    }
}
