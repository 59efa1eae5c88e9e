//! Whether this node's database can work now — [`Database::readiness`], for `/readyz` —
//! and the state of its connections — [`Database::connections`], for `/metrics` — on
//! either backend.

use super::Database;

/// Why a node is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The database did not answer within the budget, or failed (the cause, for the log).
    Unreachable(String),
    /// The schema is not at this build's version: `found` migrations ran, `expected` known.
    Schema {
        /// The database's version.
        found: i64,
        /// This build's.
        expected: i64,
    },
}

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotReady::Unreachable(cause) => write!(f, "the database does not answer: {cause}"),
            NotReady::Schema { found, expected } => write!(
                f,
                "the database's schema is at version {found}, this build expects {expected}"
            ),
        }
    }
}

/// The state of a node's database connections now (read from memory, no query).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connections {
    /// The most connections the node may hold (1 for SQLite).
    pub max: i64,
    /// Connections open.
    pub open: i64,
    /// Connections in use by a unit of work.
    pub in_use: i64,
    /// Units of work waiting for a connection.
    pub waiting: i64,
}

impl Database {
    /// `Ok` when the database answers within [`super::PING_TIMEOUT`] and its schema is at
    /// [`Database::latest_version`]; else why not.
    pub async fn readiness(&self) -> std::result::Result<(), NotReady> {
        let version = async {
            self.ping().await?;
            self.schema_version().await
        };
        let found = match tokio::time::timeout(super::PING_TIMEOUT, version).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return Err(NotReady::Unreachable(e.to_string())),
            Err(_) => return Err(NotReady::Unreachable("no answer in time".into())),
        };
        let expected = i64::try_from(self.latest_version()).unwrap_or(i64::MAX);
        if found == expected {
            Ok(())
        } else {
            Err(NotReady::Schema { found, expected })
        }
    }

    /// The connections' state now.
    pub fn connections(&self) -> Connections {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        match self {
            Database::Sqlite(db) => {
                let queue = db.queue();
                Connections {
                    max: 1,
                    open: 1,
                    in_use: i64::from(queue.busy()),
                    waiting: queue.waiting(),
                }
            }
            Database::Postgres(pg) => {
                let status = pg.pool_status();
                Connections {
                    max: count(status.max_size),
                    open: count(status.size),
                    in_use: count(status.size.saturating_sub(status.available)),
                    waiting: count(status.waiting),
                }
            }
        }
    }

    /// How long SQLite calls waited for the connection (seconds); `None` on PostgreSQL,
    /// whose waits the pool's `waiting` gauge tells.
    pub fn queue_waits(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        match self {
            Database::Sqlite(db) => Some(db.queue().waited.clone()),
            Database::Postgres(_) => None,
        }
    }
}
