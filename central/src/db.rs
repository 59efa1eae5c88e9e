//! The database: one SQLite file in WAL mode, `synchronous=FULL` (money lives here),
//! foreign keys on, migrated at open.
//!
//! The connection sits behind a mutex. Async code reaches it through [`Db::call`], which
//! runs the closure on Tokio's blocking pool, so no request thread ever blocks on SQLite
//! or on the lock. The CLI uses [`Db::with`] directly.
//!
//! **Backpressure.** [`Db::call`] first waits its turn in a fair queue for the one
//! connection, at most [`Db::with_wait`]'s budget ([`QUEUE_WAIT`] by default); past it the
//! call is refused with [`Error::Busy`] before anything ran — no transaction was begun —
//! and HTTP answers `503 busy` with `Retry-After`. How long each call waited, and how many
//! wait now, are [`Db::queue`]'s to read (central's `/metrics`).
//!
//! **Contention.** The server and the CLI may write at once. Every transaction begins
//! `IMMEDIATE` (it takes the write lock at `BEGIN`, where SQLite's busy timeout of
//! [`BUSY_TIMEOUT`] applies, instead of failing when a read upgrades to a write), and a
//! unit of work that still meets a busy database (a statement whose snapshot went stale,
//! a lock held past the timeout) is rolled back and run again from the start, at most
//! [`BUSY_ATTEMPTS`] times; each attempt waits on the lock with the busy timeout again.
//! Only then does the caller see [`Error::is_busy`] — which HTTP answers as `503` with
//! `Retry-After`, never `500`.
//!
//! **File modes.** The database file, its `-wal` and `-shm` are `0600` and a folder made
//! for it `0700`, whatever the umask: SQLite gives the side files the main file's mode, so
//! the main file is made `0600` before SQLite opens it.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::metrics::histogram::Histogram;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::migrations::MIGRATIONS;

/// A shared handle on the database.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    queue: Queue,
    wait: Duration,
}

/// The queue for the one connection: its turn, how long calls waited for it (seconds),
/// and how many wait now.
#[derive(Clone, Debug)]
pub struct Queue {
    turn: Arc<Semaphore>,
    /// How long each [`Db::call`] waited for the connection, in seconds.
    pub waited: Histogram,
    waiting: Arc<AtomicI64>,
}

/// Upper bounds of [`Queue::waited`], in seconds.
pub const QUEUE_WAIT_BUCKETS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

impl Queue {
    fn new() -> Queue {
        Queue {
            turn: Arc::new(Semaphore::new(1)),
            waited: Histogram::new(QUEUE_WAIT_BUCKETS),
            waiting: Arc::new(AtomicI64::new(0)),
        }
    }

    /// Whether a call holds the connection now.
    pub fn busy(&self) -> bool {
        self.turn.available_permits() == 0
    }

    /// Calls waiting for the connection now.
    pub fn waiting(&self) -> i64 {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// How long a [`Db::call`] waits for the connection before it is refused busy.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Db")
    }
}

/// How long one SQLite call waits for another connection's write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a unit of work is tried while the database stays busy.
pub const BUSY_ATTEMPTS: u32 = 3;

/// The files of a database: the main file, its write-ahead log and its shared memory.
pub fn files(path: &Path) -> [std::path::PathBuf; 3] {
    let side = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [path.to_path_buf(), side("-wal"), side("-shm")]
}

impl Db {
    /// Opens (creating if needed, with its folder) and migrates the database at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        prepare_files(path)?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        secure_files(path)?;
        Ok(Db {
            conn: Arc::new(Mutex::new(conn)),
            queue: Queue::new(),
            wait: QUEUE_WAIT,
        })
    }

    /// The same database, whose [`Db::call`]s wait at most `wait` for the connection.
    pub fn with_wait(mut self, wait: Duration) -> Db {
        self.wait = wait;
        self
    }

    /// The queue for the connection, for metrics.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Runs `f` with the connection, on the calling thread; again (a bounded number of
    /// times) while the database is busy.
    pub fn with<T>(&self, mut f: impl FnMut(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| Error::internal("database lock poisoned"))?;
        let mut attempt = 1;
        loop {
            match f(&mut conn) {
                Err(e) if e.is_busy() && attempt < BUSY_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "database busy; trying again");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// Runs `f` with the connection on the blocking pool, as [`Db::with`] does, once its
    /// turn came; [`Error::Busy`] without running `f` when it did not come within the
    /// wait budget.
    pub async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Connection) -> Result<T> + Send + 'static,
    {
        let queue = &self.queue;
        let started = tokio::time::Instant::now();
        queue.waiting.fetch_add(1, Ordering::Relaxed);
        let turn = tokio::time::timeout(self.wait, queue.turn.clone().acquire_owned()).await;
        queue.waiting.fetch_sub(1, Ordering::Relaxed);
        queue.waited.observe(started.elapsed().as_secs_f64());
        let turn = match turn {
            Ok(Ok(turn)) => turn,
            Ok(Err(_)) => return Err(Error::internal("the database queue is closed")),
            Err(_) => {
                return Err(Error::Busy(format!(
                    "no turn on the database within {} ms",
                    self.wait.as_millis()
                )));
            }
        };
        let db = self.clone();
        // The turn is held until `f` is done, even when the caller stops waiting.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            db.with(f)
        })
        .await
        .map_err(|e| Error::internal(format!("database task failed: {e}")))?
    }
}

/// Makes the folder (0700) and the main file (0600) before SQLite does, so neither nor the
/// side files SQLite makes with the main file's mode follow the umask.
fn prepare_files(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        && !parent.exists()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| Error::io(format!("creating {}", parent.display()), e))?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    secure_files(path)
}

/// Sets the database's files that exist to 0600 (an older install may have made them
/// with the umask's mode).
fn secure_files(path: &Path) -> Result<()> {
    for file in files(path) {
        match fs::metadata(&file) {
            Ok(meta) if meta.permissions().mode() & 0o777 != 0o600 => {
                fs::set_permissions(&file, fs::Permissions::from_mode(0o600))
                    .map_err(|e| Error::io(format!("securing {}", file.display()), e))?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("reading {}", file.display()), e)),
        }
    }
    Ok(())
}

/// Applies the migrations not yet applied, each in its own transaction with the new
/// `user_version` (`tillpass-migrate`, the mechanism PostgreSQL's and the till's share).
fn migrate(conn: &mut Connection) -> Result<()> {
    tillpass_migrate::sqlite::apply(conn, MIGRATIONS, |version, name| {
        tracing::info!(migration = version, name, "database migrated");
    })
    .map_err(|e| Error::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_migrates_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.db");
        let db = Db::open(&path).unwrap();
        let version: i64 = db
            .with(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
        drop(db);
        let db = Db::open(&path).unwrap();
        let mode: String = db
            .with(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get(0))?))
            .unwrap();
        assert_eq!(mode, "wal");
    }

    #[test]
    fn a_database_newer_than_the_build_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.db");
        drop(Db::open(&path).unwrap());
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 999)
            .unwrap();
        let refused = Db::open(&path).unwrap_err();
        assert!(
            refused.to_string().contains("newer than this build"),
            "{refused}"
        );
    }

    fn busy() -> Error {
        Error::Db(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        ))
    }

    #[test]
    fn a_busy_unit_of_work_is_tried_again_a_bounded_number_of_times() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("central.db")).unwrap();
        let mut calls = 0;
        let answer = db.with(|_| {
            calls += 1;
            if calls < BUSY_ATTEMPTS {
                Err(busy())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(answer.unwrap(), BUSY_ATTEMPTS);

        let mut calls = 0;
        let answer: Result<()> = db.with(|_| {
            calls += 1;
            Err(busy())
        });
        assert!(answer.unwrap_err().is_busy());
        assert_eq!(calls, BUSY_ATTEMPTS);

        let mut calls = 0;
        let answer: Result<()> = db.with(|_| {
            calls += 1;
            Err(Error::invalid("no"))
        });
        assert!(answer.is_err());
        assert_eq!(calls, 1, "only contention is retried");
    }

    #[tokio::test]
    async fn a_call_that_cannot_get_its_turn_in_time_is_busy_and_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("central.db"))
            .unwrap()
            .with_wait(Duration::from_millis(50));
        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let holder = db.clone();
        let held = tokio::spawn(async move {
            holder
                .call(move |_| {
                    held_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
                .await
        });
        tokio::task::spawn_blocking(move || held_rx.recv().unwrap())
            .await
            .unwrap();
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let refused = db
            .call(move |c| {
                flag.store(true, Ordering::SeqCst);
                c.execute_batch("CREATE TABLE t (x INTEGER)")?;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(refused.is_busy(), "{refused}");
        assert!(!ran.load(Ordering::SeqCst), "nothing ran past the budget");
        release_tx.send(()).unwrap();
        held.await.unwrap().unwrap();
        assert_eq!(db.queue().waiting(), 0);
        let exists: i64 = db
            .call(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM sqlite_master WHERE name = 't'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(exists, 0);
    }

    #[test]
    fn transactions_take_the_write_lock_at_begin() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.db");
        let db = Db::open(&path).unwrap();
        let other = Db::open(&path).unwrap();
        db.with(|c| {
            let tx = c.transaction()?;
            // Another connection cannot start a transaction while this one is open,
            // even though this one has written nothing yet.
            let refused = other.with(|o| {
                o.busy_timeout(std::time::Duration::from_millis(10))?;
                let tx = o.transaction()?;
                tx.commit()?;
                Ok(())
            });
            assert!(refused.unwrap_err().is_busy());
            tx.commit()?;
            Ok(())
        })
        .unwrap();
    }
}
