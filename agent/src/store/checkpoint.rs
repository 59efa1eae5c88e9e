//! The write-ahead log's checkpointer: it copies committed pages from `-wal` into the
//! database file on a connection of its own, off the request path.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, so one
//! scan or sale in a few hundred paid for writing and syncing up to a thousand pages: the
//! tail of every latency. The daemon runs [`run`] as a supervised task instead: every
//! [`EVERY`] a `PASSIVE` checkpoint, which never waits for the request connection and
//! never makes it wait (a write in progress only leaves its frames for the next turn).
//! The request connection's own automatic checkpoint stays, at [`SAFETY_NET_PAGES`], for a
//! store opened without the daemon (the command line, tests) or a checkpointer that
//! stalls. Durability does not change: a commit is synced to the log before it is
//! acknowledged, and a checkpoint is crash-safe wherever it stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{StoreError, sql};

/// How often the checkpointer runs.
pub const EVERY: Duration = Duration::from_millis(500);

/// The request connection's automatic checkpoint threshold (pages of 4 KiB): a safety
/// net, ten times SQLite's default.
pub const SAFETY_NET_PAGES: i64 = 10_000;

/// A connection for checkpoints on the database at `path`.
pub fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    conn.busy_timeout(Duration::from_millis(100)).map_err(sql)?;
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(sql)?;
    Ok(conn)
}

/// One passive checkpoint: the log's frames, and how many of them are now in the
/// database file.
pub fn once(conn: &Connection) -> Result<(i64, i64), StoreError> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    })
    .map_err(sql)
}

/// Checkpoints the database at `path` every [`EVERY`], for as long as it is polled (the
/// daemon's supervised task; an error ends it, to be restarted).
pub async fn run(path: PathBuf) -> Result<(), String> {
    let conn = tokio::task::spawn_blocking(move || open(&path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let conn = Arc::new(std::sync::Mutex::new(conn));
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            once(&conn)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    }
}

/// The checkpointer on a thread of its own, stopped when dropped (for a store used
/// without the daemon's runtime: the benches).
pub struct Background {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts checkpointing the database at `path` every [`EVERY`].
    pub fn start(path: &Path) -> Result<Background, StoreError> {
        let conn = open(path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                std::thread::park_timeout(EVERY);
                if let Err(e) = once(&conn) {
                    tracing::warn!(error = %e, "checkpoint failed");
                }
            }
        });
        Ok(Background {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn the_checkpointer_moves_the_log_into_the_database_while_the_store_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        {
            let conn = store.conn();
            conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
            for _ in 0..200 {
                conn.execute("INSERT INTO t VALUES (randomblob(4000))", [])
                    .unwrap();
            }
        }
        let checkpointer = open(store.path()).unwrap();
        let (log, done) = once(&checkpointer).unwrap();
        assert!(log >= 200, "the writes are in the log: {log}");
        assert_eq!(done, log, "every frame is in the database file");
        // The request connection writes on: the next checkpoint takes the new frames.
        store
            .conn()
            .execute("INSERT INTO t VALUES (randomblob(4000))", [])
            .unwrap();
        let (log, done) = once(&checkpointer).unwrap();
        assert!(log > 0 && done == log, "{log} {done}");
        // The request connection's own threshold is the safety net.
        let pages: i64 = store
            .conn()
            .query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap();
        assert_eq!(pages, SAFETY_NET_PAGES);
    }
}
