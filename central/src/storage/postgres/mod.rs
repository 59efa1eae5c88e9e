//! The PostgreSQL backend: a pool of connections (deadpool-postgres over tokio-postgres),
//! the schema migrated at open ([`migrations`], by the mechanism of
//! [`crate::storage::migrate`]), and one module per area of the contract: journal
//! ingestion ([`ingest`]), [`accounts`] (creating and reading accounts, gift cards),
//! [`customers`] (profile, savings adjustments, personal promotions, receipts, erasure),
//! [`lookup`] (the live lookup), [`tills`] (enrolment, signers, the replay cache),
//! [`keys`], [`envelopes`] (trust list and catalogs, sealed once), [`settings`] (offline
//! policy, envelope counters), [`passes`], [`deltas`] and the stores' [`ledger`] items.
//!
//! **Several nodes, one database.** Migrations run under a transaction-scoped advisory
//! lock, so nodes starting together migrate once. Ingestion relies on the database, not
//! on a process: event ids are primary keys, and balances move by `UPDATE … SET balance =
//! balance + …` on a row the transaction holds.
//!
//! **Contention** (a serialization failure or a deadlock, where PostgreSQL makes one
//! transaction give way; no pooled connection free within [`POOL_WAIT`]) is
//! [`Error::is_busy`]: a unit of work is run again from the start at most [`ATTEMPTS`]
//! times, then the caller answers `503` with `Retry-After`.

pub mod accounts;
pub mod cached;
pub mod customers;
pub mod deltas;
pub mod envelopes;
pub mod ingest;
pub mod keys;
pub mod ledger;
pub mod lookup;
pub mod migrations;
pub mod passes;
pub mod retention;
pub mod scope;
pub mod settings;
pub mod tills;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::NoTls;

use crate::error::{Error, Result};
use crate::storage::migrate;
use migrations::MIGRATIONS;

/// How many connections one node holds at most.
pub const POOL_SIZE: usize = 16;

/// How long a unit of work waits for a free connection before it is answered busy: short,
/// so a saturated node sheds load with `503` and `Retry-After` instead of queueing it.
pub const POOL_WAIT: Duration = Duration::from_secs(1);

/// How long opening a new connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a unit of work is tried while the database makes it give way.
pub const ATTEMPTS: u32 = 3;

/// The advisory lock taken while migrating ("tillpass" in ASCII).
const MIGRATION_LOCK: i64 = 0x7469_6c6c_7061_7373;

/// Runs a unit of work (one transaction) again from the start while the database makes
/// it give way ([`Error::is_busy`]), at most [`ATTEMPTS`] times.
pub(crate) async fn retry<T, F, Fut>(mut work: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match work().await {
            Err(e) if e.is_busy() && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "database busy; running the work again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// A shared handle on a PostgreSQL database.
#[derive(Clone)]
pub struct Pg {
    pool: Pool,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pg")
    }
}

/// A connection taken from the pool.
pub type Client = deadpool_postgres::Object;

impl Pg {
    /// Connects to `url` (`postgres://user@host:port/database`) and migrates the schema.
    pub async fn open(url: &str) -> Result<Pg> {
        let pg = Pg::connect(url)?;
        pg.migrate().await?;
        Ok(pg)
    }

    /// [`Pg::open`] with a pool of `size` connections whose callers wait at most `wait`.
    pub async fn open_with(url: &str, size: usize, wait: Duration) -> Result<Pg> {
        let pg = Pg::connect_with(url, size, wait)?;
        pg.migrate().await?;
        Ok(pg)
    }

    /// The pool's state now: its bound, its connections, those free, the callers waiting.
    pub fn pool_status(&self) -> deadpool_postgres::Status {
        self.pool.status()
    }

    /// A pool on `url`, without touching the database yet.
    pub fn connect(url: &str) -> Result<Pg> {
        Pg::connect_with(url, POOL_SIZE, POOL_WAIT)
    }

    /// [`Pg::connect`] with a pool of `size` connections whose callers wait at most `wait`.
    pub fn connect_with(url: &str, size: usize, wait: Duration) -> Result<Pg> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::invalid(format!("database: not a PostgreSQL URL ({e})")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(wait))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(Error::internal)?;
        Ok(Pg { pool })
    }

    /// A connection from the pool.
    pub async fn client(&self) -> Result<Client> {
        self.pool.get().await.map_err(|e| match e {
            PoolError::Timeout(_) => Error::Busy("no database connection free".into()),
            PoolError::Backend(e) => Error::Postgres(e),
            other => Error::internal(format!("database pool: {other}")),
        })
    }

    /// The schema version: how many of [`MIGRATIONS`] ran.
    pub async fn schema_version(&self) -> Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT version FROM schema_version", &[])
            .await?;
        Ok(row.map_or(0, |r| r.get(0)))
    }

    /// Applies the migrations not yet applied, each in its own transaction with the new
    /// version, under an advisory lock.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        loop {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
                .await?;
            let current: Option<i64> = tx
                .query_opt("SELECT version FROM schema_version", &[])
                .await?
                .map(|r| r.get(0));
            let mut pending = migrate::pending(current.unwrap_or(0), MIGRATIONS)?;
            let Some(index) = pending.next() else {
                tx.commit().await?;
                return Ok(());
            };
            let migration = MIGRATIONS
                .get(index)
                .ok_or_else(|| Error::internal("migration out of range"))?;
            tx.batch_execute(migration.sql).await?;
            let version = migrate::version_after(index);
            if current.is_some() {
                tx.execute("UPDATE schema_version SET version = $1", &[&version])
                    .await?;
            } else {
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&version],
                )
                .await?;
            }
            tx.commit().await?;
        }
    }
}
