//! Central's storage: one contract, two backends.
//!
//! - [`Location`]: where the database is — a SQLite file (the embedded default: the demo,
//!   a single shop, tests anywhere) or a PostgreSQL URL (a chain: several central nodes on
//!   one database a retailer's IT already runs).
//! - [`Database`]: the contract every caller uses, async at its edges, over either
//!   backend: [`crate::db::Db`] (SQLite, rusqlite, WAL, `synchronous=FULL`, bounded busy
//!   retries) or [`postgres::Pg`] (tokio-postgres through a deadpool pool). Each
//!   operation means the same on both, which the contract suite
//!   (`central/tests/central/storage.rs`) checks case by case on both.
//! - The operations, one file per area, each an `impl Database` block:
//!   - [`journal`]: journal ingestion and the flags it raises;
//!   - [`accounts`]: creating customers and gift cards, reading savings, pending savings
//!     and gift cards, blocking cards;
//!   - [`customers`]: a customer's profile, savings adjustments, personal promotions,
//!     digital receipts, erasure;
//!   - [`lookup`]: the till's live lookup;
//!   - [`scope`]: scoped feeds — the scope period, a customer's stores and their
//!     assignment, the scope a live lookup adds;
//!   - [`tills`]: enrolment codes, enrolment, revocation, request signers and the shared
//!     replay cache;
//!   - [`keys`]: making, rotating, revoking and reading keys (secrets in the key
//!     directory every node is given);
//!   - [`deltas`]: delta pages, bare or signed for their request;
//!   - [`round`]: a sync round's reads — its streams' pages and the envelopes'
//!     versions — in one unit;
//!   - [`passes`]: passes, gift-card and voucher tokens, revocations, flags;
//!   - [`envelopes`]: the trust list and catalogs, sealed once and stored, and the
//!     offline policy;
//!   - [`health`]: readiness (the database answers within a budget, at this build's
//!     schema version) and the connection pool's state, for `/readyz` and `/metrics`;
//!   - here: opening (with [`Budget`]: pool size and how long a caller waits for a
//!     connection before it is refused busy), ping, schema version, row counts.
//! - [`migrate`]: the one migration mechanism; each backend has its numbered,
//!   never-edited list (`crate::migrations`, [`postgres::migrations`]), applied at open.
//! - [`copy`]: moves a SQLite central's every row to a fresh PostgreSQL database
//!   (`tillpass-central migrate-db`).
//!
//! ## Adding an operation
//! In the area's file (`storage/<area>.rs`, a new one for a new area, declared below),
//! one `pub async fn` on [`Database`] that matches both arms: the SQLite arm runs the
//! area's rusqlite code (`crate::<area>`) through [`crate::db::Db::call`]; the PostgreSQL
//! arm calls `postgres::<area>` (set-based SQL; balances move with
//! `UPDATE … SET x = x + $1`; a transaction per unit of work, run again on contention at
//! most [`postgres::ATTEMPTS`] times). Each operation gets a case in the contract suite
//! that runs on both backends. New tables are new numbered migrations on both backends.

pub mod accounts;
pub mod copy;
pub mod customers;
pub mod deltas;
pub mod envelopes;
pub mod health;
pub mod journal;
pub mod keys;
pub mod lookup;
pub mod migrate;
pub mod passes;
pub mod postgres;
pub mod retention;
pub mod round;
pub mod scope;
pub mod tills;

use std::path::{Path, PathBuf};

use tillpass_protocol::money::{Currency, Money};

use crate::db::Db;
use crate::error::{Error, Result};
use postgres::Pg;

/// Where central's database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl Location {
    /// Reads `--database`: a PostgreSQL URL, or else a file path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_owned())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }

    /// A SQLite file.
    pub fn sqlite(path: &Path) -> Location {
        Location::Sqlite(path.to_path_buf())
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(text: &str) -> std::result::Result<Location, Self::Err> {
        Ok(Location::parse(text))
    }
}

/// Shown in logs and errors: a PostgreSQL URL without its password.
impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({self})")
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// What a node may take of its database: connections, and how long a unit of work waits
/// for one before it is refused [`Error::Busy`] (`503 busy` with `Retry-After`), nothing
/// begun. SQLite has one connection; its callers queue for it within the same wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// PostgreSQL connections this node holds at most.
    pub pool_size: usize,
    /// How long a unit of work waits for a connection.
    pub wait: std::time::Duration,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            pool_size: postgres::POOL_SIZE,
            wait: postgres::POOL_WAIT,
        }
    }
}

/// How long [`Database::ping`] waits for an answer.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Central's database, whichever backend holds it: the storage contract.
#[derive(Clone, Debug)]
pub enum Database {
    /// A SQLite file.
    Sqlite(Db),
    /// A PostgreSQL database.
    Postgres(Pg),
}

impl From<Db> for Database {
    fn from(db: Db) -> Database {
        Database::Sqlite(db)
    }
}

impl Database {
    /// The SQLite database, for an operation (named `what`) not yet behind the contract:
    /// on PostgreSQL it is refused with [`Error::NotOnThisBackend`].
    pub fn sqlite(&self, what: &'static str) -> Result<&Db> {
        match self {
            Database::Sqlite(db) => Ok(db),
            Database::Postgres(_) => Err(Error::NotOnThisBackend(what)),
        }
    }

    /// Opens (creating a SQLite file if needed) and migrates the database at `location`.
    pub async fn open(location: &Location) -> Result<Database> {
        Database::open_with(location, Budget::default()).await
    }

    /// [`Database::open`] within `budget`.
    pub async fn open_with(location: &Location, budget: Budget) -> Result<Database> {
        match location {
            Location::Sqlite(path) => {
                let path = path.clone();
                let db = tokio::task::spawn_blocking(move || Db::open(&path))
                    .await
                    .map_err(|e| Error::internal(format!("database task failed: {e}")))??;
                Ok(Database::Sqlite(db.with_wait(budget.wait)))
            }
            Location::Postgres(url) => Ok(Database::Postgres(
                Pg::open_with(url, budget.pool_size, budget.wait).await?,
            )),
        }
    }

    /// Whether the database answers a query within [`PING_TIMEOUT`].
    pub async fn ping(&self) -> Result<()> {
        let ping = async {
            match self {
                Database::Sqlite(db) => {
                    db.call(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?))
                        .await?;
                }
                Database::Postgres(pg) => {
                    pg.client().await?.query_one("SELECT 1", &[]).await?;
                }
            }
            Ok(())
        };
        tokio::time::timeout(PING_TIMEOUT, ping)
            .await
            .map_err(|_| Error::Busy("the database did not answer in time".into()))?
    }

    /// The backend's name: `sqlite` or `postgresql`.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgresql",
        }
    }

    /// The schema version: how many of the backend's migrations ran.
    pub async fn schema_version(&self) -> Result<i64> {
        match self {
            Database::Sqlite(db) => {
                db.call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
                    .await
            }
            Database::Postgres(pg) => pg.schema_version().await,
        }
    }

    /// How many migrations this build has for the backend.
    pub fn latest_version(&self) -> usize {
        match self {
            Database::Sqlite(_) => crate::migrations::MIGRATIONS.len(),
            Database::Postgres(_) => postgres::migrations::MIGRATIONS.len(),
        }
    }

    /// Every flag, as `(kind, event id, subject, detail)`, sorted: what reconciliation
    /// decided, without the times it was decided at.
    pub async fn flag_list(&self) -> Result<Vec<(String, String, Option<String>, String)>> {
        let sql = "SELECT kind, event_id, subject, detail FROM flags
                   ORDER BY kind, event_id, subject, detail";
        match self {
            Database::Sqlite(db) => {
                db.call(move |c| {
                    let mut stmt = c.prepare(sql)?;
                    let rows =
                        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                    Ok(rows.collect::<rusqlite::Result<_>>()?)
                })
                .await
            }
            Database::Postgres(pg) => Ok(pg
                .client()
                .await?
                .query(sql, &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect()),
        }
    }

    /// Every recorded debt, as `(account, holder, event id, amount)`, sorted.
    pub async fn debt_list(&self) -> Result<Vec<(String, String, String, i64)>> {
        let sql = "SELECT account, holder, event_id, amount FROM debts
                   ORDER BY account, holder, event_id";
        match self {
            Database::Sqlite(db) => {
                db.call(move |c| {
                    let mut stmt = c.prepare(sql)?;
                    let rows =
                        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                    Ok(rows.collect::<rusqlite::Result<_>>()?)
                })
                .await
            }
            Database::Postgres(pg) => Ok(pg
                .client()
                .await?
                .query(sql, &[])
                .await?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect()),
        }
    }

    /// How many rows `table` (one of central's) holds.
    pub async fn count_rows(&self, table: &str) -> Result<i64> {
        if !copy::TABLES.contains(&table) {
            return Err(Error::invalid(format!("no table {table}")));
        }
        let sql = format!("SELECT count(*) FROM {table}");
        match self {
            Database::Sqlite(db) => {
                db.call(move |c| Ok(c.query_row(&sql, [], |r| r.get(0))?))
                    .await
            }
            Database::Postgres(pg) => Ok(pg.client().await?.query_one(&sql, &[]).await?.get(0)),
        }
    }
}

/// A balance read from a row: its currency code and minor units.
pub(crate) fn money(currency: &str, amount: i64) -> Result<Money> {
    Ok(Money::new(
        amount,
        Currency::from_code(currency).map_err(Error::internal)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_a_url_or_a_path_and_never_shows_a_password() {
        assert_eq!(
            Location::parse("./central.db"),
            Location::Sqlite(PathBuf::from("./central.db"))
        );
        let url = "postgres://till:s3cret@db.example:5432/central";
        assert_eq!(Location::parse(url), Location::Postgres(url.into()));
        assert_eq!(
            Location::parse(url).to_string(),
            "postgres://till:***@db.example:5432/central"
        );
        assert_eq!(
            Location::parse("postgresql://127.0.0.1/test").to_string(),
            "postgresql://127.0.0.1/test"
        );
    }
}
