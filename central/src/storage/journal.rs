//! Journal ingestion behind the contract: one batch, one transaction, on either backend
//! (SQLite: [`crate::journal`]; PostgreSQL: [`super::postgres::ingest`]), and the flags it
//! raises.

use tillpass_protocol::sync::BatchAck;

use super::{Database, postgres};
use crate::enrol::Till;
use crate::error::Result;
use crate::journal::{self, RawBatch};

impl Database {
    /// Applies a journal batch from `till` (the verified signer): one transaction, each
    /// event acknowledged `accepted | duplicate | rejected` ([`crate::journal`]).
    pub async fn ingest(&self, till: &Till, batch: &RawBatch, now: i64) -> Result<BatchAck> {
        match self {
            Database::Sqlite(db) => {
                let (till, batch) = (till.clone(), batch.clone());
                db.call(move |c| journal::ingest(c, &till, batch.clone(), now))
                    .await
            }
            Database::Postgres(pg) => postgres::ingest::ingest(pg, till, batch, now).await,
        }
    }

    /// How many flags of `kind` ingestion raised.
    pub async fn count_flags(&self, kind: &str) -> Result<i64> {
        let sql = "SELECT count(*) FROM flags WHERE kind = $1";
        match self {
            Database::Sqlite(db) => {
                let kind = kind.to_owned();
                db.call(move |c| Ok(c.query_row(sql, [&kind], |r| r.get(0))?))
                    .await
            }
            Database::Postgres(pg) => Ok(pg.client().await?.query_one(sql, &[&kind]).await?.get(0)),
        }
    }
}
