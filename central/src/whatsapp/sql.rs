//! The channel's statements on either backend: one SQL text (`$1`, `$2`… numbered in the
//! order they first appear, which SQLite reads as positions too), values of three types,
//! and a list of statements run as one transaction.
//!
//! The channel's tables use only `INTEGER`/`BIGINT`, `TEXT` and `BLOB`/`BYTEA` columns,
//! so a value is [`Val::Int`], [`Val::Text`], [`Val::Bytes`] or [`Val::Null`].
//!
//! A statement may be a guard ([`Stmt::guard`]): if it changes no row, its transaction
//! is rolled back and fails with [`Error::Conflict`] ([`is_lost`]) — how a second node
//! handling the same item finds out, without a trace. [`claim`] runs one claiming
//! statement with the claims of every node in turn (on PostgreSQL, under an advisory
//! lock; SQLite has one writer).

use rusqlite::types::ValueRef;
use tokio_postgres::types::{ToSql, Type};

use crate::error::{Error, Result};
use crate::storage::Database;

/// One value in or out of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Val {
    /// An integer.
    Int(i64),
    /// A text.
    Text(String),
    /// Bytes.
    Bytes(Vec<u8>),
    /// SQL `NULL`.
    Null,
}

impl Val {
    /// The integer, if it is one.
    pub fn int(&self) -> Option<i64> {
        match self {
            Val::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The text, if it is one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The text, owned, if it is one.
    pub fn into_text(self) -> Option<String> {
        match self {
            Val::Text(t) => Some(t),
            _ => None,
        }
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_owned())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// A statement and its values.
#[derive(Debug, Clone)]
pub struct Stmt {
    /// The SQL, with `$n` placeholders.
    pub sql: &'static str,
    /// The values, `$1` first.
    pub params: Vec<Val>,
    /// Whether its transaction must be rolled back if it changes no row.
    pub guard: bool,
}

impl Stmt {
    /// This statement as a guard of its transaction.
    pub fn guard(mut self) -> Stmt {
        self.guard = true;
        self
    }
}

/// The text of the error a failed guard gives.
const LOST: &str = "handled by another node";

/// Whether `e` is a failed guard: the work was done elsewhere.
pub fn is_lost(e: &Error) -> bool {
    matches!(e, Error::Conflict(m) if m == LOST)
}

/// `Stmt { sql, params: vec![…into()] }`.
macro_rules! stmt {
    ($sql:expr $(, $p:expr)* $(,)?) => {
        $crate::whatsapp::sql::Stmt {
            sql: $sql,
            params: vec![$($crate::whatsapp::sql::Val::from($p)),*],
            guard: false,
        }
    };
}
pub(crate) use stmt;

/// A row: its columns' values in order.
pub type Row = Vec<Val>;

/// Runs a query and returns every row.
pub async fn query(db: &Database, q: Stmt) -> Result<Vec<Row>> {
    match db {
        Database::Sqlite(db) => {
            db.call(move |c| {
                let mut stmt = c.prepare_cached(q.sql)?;
                let columns = stmt.column_count();
                let mut rows = stmt.query(rusqlite::params_from_iter(q.params.iter().map(lite)))?;
                let mut out = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut values = Vec::with_capacity(columns);
                    for i in 0..columns {
                        values.push(match row.get_ref(i)? {
                            ValueRef::Null => Val::Null,
                            ValueRef::Integer(v) => Val::Int(v),
                            ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                            ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                            ValueRef::Real(_) => {
                                return Err(Error::internal("a real in a channel table"));
                            }
                        });
                    }
                    out.push(values);
                }
                Ok(out)
            })
            .await
        }
        Database::Postgres(pg) => {
            let client = pg.client().await?;
            let prepared = client.prepare_cached(q.sql).await?;
            let params = pg_params(&q.params, prepared.params());
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let rows = client.query(&prepared, &refs).await?;
            rows.iter().map(pg_row).collect()
        }
    }
}

/// Runs one statement; returns how many rows it changed.
pub async fn execute(db: &Database, s: Stmt) -> Result<u64> {
    Ok(transaction(db, vec![s])
        .await?
        .first()
        .copied()
        .unwrap_or(0))
}

/// Runs the statements in one transaction; returns how many rows each changed.
pub async fn transaction(db: &Database, stmts: Vec<Stmt>) -> Result<Vec<u64>> {
    match db {
        Database::Sqlite(db) => {
            db.call(move |c| {
                let tx = c.transaction()?;
                let mut changed = Vec::with_capacity(stmts.len());
                for s in &stmts {
                    let n = tx
                        .prepare_cached(s.sql)?
                        .execute(rusqlite::params_from_iter(s.params.iter().map(lite)))?;
                    if s.guard && n == 0 {
                        return Err(Error::Conflict(LOST.into()));
                    }
                    changed.push(u64::try_from(n).unwrap_or(u64::MAX));
                }
                tx.commit()?;
                Ok(changed)
            })
            .await
        }
        Database::Postgres(pg) => {
            let mut client = pg.client().await?;
            let tx = client.transaction().await?;
            let mut changed = Vec::with_capacity(stmts.len());
            for s in &stmts {
                let prepared = tx.prepare_cached(s.sql).await?;
                let params = pg_params(&s.params, prepared.params());
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                let n = tx.execute(&prepared, &refs).await?;
                if s.guard && n == 0 {
                    return Err(Error::Conflict(LOST.into()));
                }
                changed.push(n);
            }
            tx.commit().await?;
            Ok(changed)
        }
    }
}

/// Runs a claiming statement (an `UPDATE … RETURNING`) while no other node claims: on
/// PostgreSQL in a transaction holding advisory lock `lock`; on SQLite, whose writes are
/// one at a time, as it is. Returns its rows.
pub async fn claim(db: &Database, lock: i64, q: Stmt) -> Result<Vec<Row>> {
    match db {
        Database::Sqlite(_) => query(db, q).await,
        Database::Postgres(pg) => {
            let mut client = pg.client().await?;
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])
                .await?;
            let prepared = tx.prepare_cached(q.sql).await?;
            let params = pg_params(&q.params, prepared.params());
            let refs: Vec<&(dyn ToSql + Sync)> = params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let rows = tx.query(&prepared, &refs).await?;
            let rows = rows.iter().map(pg_row).collect::<Result<Vec<_>>>()?;
            tx.commit().await?;
            Ok(rows)
        }
    }
}

/// Whether `db` is PostgreSQL (for the few statements the backends spell apart).
pub fn is_postgres(db: &Database) -> bool {
    matches!(db, Database::Postgres(_))
}

fn lite(v: &Val) -> rusqlite::types::Value {
    match v {
        Val::Int(i) => rusqlite::types::Value::Integer(*i),
        Val::Text(t) => rusqlite::types::Value::Text(t.clone()),
        Val::Bytes(b) => rusqlite::types::Value::Blob(b.clone()),
        Val::Null => rusqlite::types::Value::Null,
    }
}

type PgParam = Box<dyn ToSql + Sync + Send>;

/// The values as PostgreSQL takes them: a `NULL` typed as its placeholder is.
fn pg_params(values: &[Val], types: &[Type]) -> Vec<PgParam> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| -> PgParam {
            match v {
                Val::Int(n) => match types.get(i) {
                    Some(&Type::INT4) => Box::new(i32::try_from(*n).unwrap_or(i32::MAX)),
                    _ => Box::new(*n),
                },
                Val::Text(t) => Box::new(t.clone()),
                Val::Bytes(b) => Box::new(b.clone()),
                Val::Null => match types.get(i) {
                    Some(&Type::INT8) => Box::new(None::<i64>),
                    Some(&Type::INT4) => Box::new(None::<i32>),
                    Some(&Type::BYTEA) => Box::new(None::<Vec<u8>>),
                    _ => Box::new(None::<String>),
                },
            }
        })
        .collect()
}

fn pg_row(row: &tokio_postgres::Row) -> Result<Row> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row
                .try_get::<_, Option<i64>>(i)?
                .map_or(Val::Null, Val::Int),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)?
                .map_or(Val::Null, |v| Val::Int(i64::from(v))),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(i)?
                .map_or(Val::Null, Val::Bytes),
            _ => row
                .try_get::<_, Option<String>>(i)?
                .map_or(Val::Null, Val::Text),
        };
        values.push(value);
    }
    Ok(values)
}
