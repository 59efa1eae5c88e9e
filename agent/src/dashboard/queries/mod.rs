//! What the dashboard reads from the store, on connections of its own opened read-only
//! (`SQLITE_OPEN_READ_ONLY` and `PRAGMA query_only`): no page can change a balance, and a
//! long report never holds the lock that identification and the POS API write through.
//! SQLite's WAL lets these readers run while the daemon writes.
//!
//! - [`day`]: a local day's figures, from the quarter-hour read model that migration 3
//!   keeps by triggers.
//! - [`sales`]: closed sales — a day's list, search, one sale with its returns, the CSV.
//! - [`scans`]: the scan log per scanner and per refusal reason.
//! - [`sync`]: the outbox, central's rejections, offline risk, the scheduled catalog.

pub(crate) mod day;
pub(crate) mod sales;
pub(crate) mod scans;
pub(crate) mod sync;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

use crate::store::{StoreError, sql};

/// How many idle read connections are kept.
const IDLE: usize = 4;

/// Read-only connections to the store's file, opened on demand and reused.
#[derive(Debug)]
pub(crate) struct Reads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Reads {
    /// Connections to the database file `path`.
    pub(crate) fn new(path: &Path) -> Reads {
        Reads {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read-only connection (blocking: call from a blocking thread).
    pub(crate) fn run<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match taken {
            Some(c) => c,
            None => open(&self.path)?,
        };
        let out = f(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE {
            idle.push(conn);
        }
        out
    }
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sql)?;
    conn.execute_batch("PRAGMA query_only = ON;").map_err(sql)?;
    Ok(conn)
}

/// The quarter-hour bucket of the read model that holds `unix`.
pub(crate) fn bucket(unix: i64) -> i64 {
    unix.div_euclid(900)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn reads_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let reads = Reads::new(store.path());
        let n: i64 = reads
            .run(|c| {
                c.query_row("SELECT count(*) FROM sales", [], |r| r.get(0))
                    .map_err(sql)
            })
            .unwrap();
        assert_eq!(n, 0);
        let err = reads
            .run(|c| {
                c.execute("UPDATE savings_accounts SET synced_balance = 1", [])
                    .map_err(sql)
            })
            .unwrap_err();
        assert!(
            err.to_string().contains("readonly")
                || err.to_string().contains("read-only")
                || err.to_string().contains("query_only"),
            "{err}"
        );
    }
}
