//! Moving a SQLite central to PostgreSQL (`tillpass-central migrate-db`): every row of
//! every table, as it is — signed envelopes, keys and catalogs byte for byte — in one
//! PostgreSQL transaction, so a failed move leaves the target as it was.
//!
//! - The source is opened (and so migrated to this build's schema) like any SQLite
//!   central; it is only read. Stop `serve` first: rows written during the move would
//!   not follow.
//! - The target must be migrated and empty: the move never merges two centrals.
//! - Rows are read in `rowid` order, in pages of [`PAGE`], so memory stays bounded
//!   whatever the database's size. Each value must have the column's type (an SQLite
//!   column holds any type; a value of another is refused, naming table and column).
//! - Identity counters continue after the highest number SQLite ever gave (its
//!   `sqlite_sequence`), so change-log cursors tills hold stay valid.
//! - Afterwards every table's row count is compared.
//! - `change_stores` is copied as it is: the triggers of `changes` are off during the
//!   move (their work would be thrown away, and the fan-out's would hold a lock per
//!   customer in the move's one transaction: a chain's log holds more than PostgreSQL's
//!   lock table, "out of shared memory"), on again before it commits.
//!
//! The column lists are PostgreSQL's (`information_schema`), so a column added on one
//! backend and not the other fails the move instead of dropping data; the schema
//! versions the move knows are [`SQLITE_VERSION`] and [`POSTGRES_VERSION`].

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;

use super::postgres::Pg;
use crate::db::Db;
use crate::error::{Error, Result};

/// Every table of central, parents before children.
pub const TABLES: &[&str] = &[
    "keys",
    "envelopes",
    "settings",
    "customers",
    "erased_customers",
    "savings_accounts",
    "personal_promotions",
    "gift_cards",
    "changes",
    "change_stores",
    "revocations",
    "enrolment_codes",
    "tills",
    "nonces",
    "events",
    "debts",
    "flags",
    "token_uses",
    "gift_card_holds",
    "receipts",
    "catalogs",
    "issued_tokens",
    "vouchers",
    "store_sales",
    "store_returns",
    "pending_savings",
    "customer_segments",
    "wa_contacts",
    "wa_inbox",
    "wa_outbox",
    "wa_consents",
    "wa_receipts",
    "wa_status",
    "account_moves",
    "flag_resolutions",
    "customer_stores",
    "gift_card_stores",
];

/// The identity columns, numbered by SQLite (`INTEGER PRIMARY KEY`).
const IDENTITIES: &[(&str, &str)] = &[
    ("changes", "seq"),
    ("revocations", "seq"),
    ("debts", "id"),
    ("flags", "id"),
    ("catalogs", "id"),
    ("pending_savings", "id"),
    ("wa_inbox", "id"),
    ("wa_outbox", "id"),
    ("wa_consents", "id"),
];

/// The SQLite schema version whose tables [`TABLES`] lists.
pub const SQLITE_VERSION: i64 = 11;

/// The PostgreSQL schema version with the same tables.
pub const POSTGRES_VERSION: i64 = 11;

/// How many rows are read from SQLite at once.
pub const PAGE: i64 = 500;

/// What a move copied: each table and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// `(table, rows)`, in [`TABLES`] order.
    pub tables: Vec<(&'static str, i64)>,
}

/// A column's PostgreSQL type, as the move converts to it.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Text,
    Bytes,
}

/// Copies every row of `source` into `target` (migrated, empty).
pub async fn copy(source: &Db, target: &Pg) -> Result<Copied> {
    let version: i64 = source
        .call(|c| Ok(c.pragma_query_value(None, "user_version", |r| r.get(0))?))
        .await?;
    let target_version = target.schema_version().await?;
    if version != SQLITE_VERSION || target_version != POSTGRES_VERSION {
        return Err(Error::internal(format!(
            "this build moves SQLite schema {SQLITE_VERSION} to PostgreSQL schema \
             {POSTGRES_VERSION}, not {version} to {target_version}"
        )));
    }
    let mut client = target.client().await?;
    let tx = client.transaction().await?;
    for table in TABLES {
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        if rows > 0 {
            return Err(Error::Conflict(format!(
                "the PostgreSQL database is not empty ({table} has {rows} rows); \
                 move into a fresh database"
            )));
        }
    }
    tx.batch_execute("ALTER TABLE changes DISABLE TRIGGER USER")
        .await?;
    let mut copied = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns: Vec<(String, Kind)> = tx
            .query(
                "SELECT column_name, data_type FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = $1
                 ORDER BY ordinal_position",
                &[table],
            )
            .await?
            .into_iter()
            .map(|r| {
                let (name, kind): (String, String) = (r.get(0), r.get(1));
                let kind = match kind.as_str() {
                    "bigint" => Kind::Integer,
                    "text" => Kind::Text,
                    "bytea" => Kind::Bytes,
                    other => {
                        return Err(Error::internal(format!(
                            "{table}.{name}: no move for type {other}"
                        )));
                    }
                };
                Ok((name, kind))
            })
            .collect::<Result<_>>()?;
        let names: Vec<&str> = columns.iter().map(|(n, _)| n.as_str()).collect();
        let list = names.join(", ");
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} ({list}) OVERRIDING SYSTEM VALUE VALUES ({})",
                marks.join(", ")
            ))
            .await?;
        let select =
            format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
        let mut after = i64::MIN;
        let mut count = 0_i64;
        loop {
            let sql = select.clone();
            let width = names.len();
            let page: Vec<(i64, Vec<Value>)> = source
                .call(move |c| {
                    let mut stmt = c.prepare(&sql)?;
                    let rows = stmt.query_map(rusqlite::params![after, PAGE], |row| {
                        let rowid: i64 = row.get(0)?;
                        let values = (1..=width)
                            .map(|i| row.get::<_, Value>(i))
                            .collect::<rusqlite::Result<Vec<Value>>>()?;
                        Ok((rowid, values))
                    })?;
                    Ok(rows.collect::<rusqlite::Result<_>>()?)
                })
                .await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = *last;
            for (_, values) in &page {
                let params = values
                    .iter()
                    .zip(&columns)
                    .map(|(value, (name, kind))| param(table, name, *kind, value))
                    .collect::<Result<Vec<_>>>()?;
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&insert, &refs).await?;
                count += 1;
            }
        }
        copied.push((*table, count));
    }
    for (table, column) in IDENTITIES {
        let table_name = (*table).to_owned();
        let issued: Option<i64> = source
            .call(move |c| {
                use rusqlite::OptionalExtension;
                Ok(c.query_row(
                    "SELECT seq FROM sqlite_sequence WHERE name = ?1",
                    [&table_name],
                    |r| r.get(0),
                )
                .optional()?)
            })
            .await?;
        let highest: Option<i64> = tx
            .query_one(&format!("SELECT max({column}) FROM {table}"), &[])
            .await?
            .get(0);
        let next_after = issued.unwrap_or(0).max(highest.unwrap_or(0));
        if next_after > 0 {
            tx.execute(
                "SELECT setval(pg_get_serial_sequence($1, $2), $3)",
                &[table, column, &next_after],
            )
            .await?;
        }
    }
    for (table, count) in &copied {
        let rows: i64 = tx
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await?
            .get(0);
        if rows != *count {
            return Err(Error::internal(format!(
                "{table}: {count} rows read, {rows} in PostgreSQL"
            )));
        }
    }
    tx.batch_execute("ALTER TABLE changes ENABLE TRIGGER USER")
        .await?;
    tx.commit().await?;
    Ok(Copied { tables: copied })
}

type Param = Box<dyn ToSql + Sync + Send>;

/// A SQLite value as the PostgreSQL parameter of its column.
fn param(table: &str, column: &str, kind: Kind, value: &Value) -> Result<Param> {
    Ok(match (kind, value) {
        (Kind::Integer, Value::Null) => Box::new(None::<i64>),
        (Kind::Text, Value::Null) => Box::new(None::<String>),
        (Kind::Bytes, Value::Null) => Box::new(None::<Vec<u8>>),
        (Kind::Integer, Value::Integer(i)) => Box::new(*i),
        (Kind::Text, Value::Text(t)) => Box::new(t.clone()),
        (Kind::Bytes, Value::Blob(b)) => Box::new(b.clone()),
        (_, other) => {
            return Err(Error::invalid(format!(
                "{table}.{column}: a value of type {} where the column holds another",
                other.data_type()
            )));
        }
    })
}
