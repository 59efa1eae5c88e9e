//! Journal ingestion behind the contract: one batch, one transaction, on either backend
//! (SQLite: [`crate::journal`]; PostgreSQL: [`super::postgres::ingest`]), and the flags it
//! raises.

use tillpass_protocol::sync::BatchAck;

use super::{Database, postgres};
use crate::auth::KeptNonce;
use crate::enrol::Till;
use crate::error::Result;
use crate::journal::{self, RawBatch};

impl Database {
    /// Applies a journal batch from `till` (the verified signer): one transaction, each
    /// event acknowledged `accepted | duplicate | rejected` ([`crate::journal`]).
    pub async fn ingest(&self, till: &Till, batch: &RawBatch, now: i64) -> Result<BatchAck> {
        self.ingest_keeping(till, batch, now, None).await
    }

    /// [`Database::ingest`] of a signed upload, keeping its `nonce` in the batch's
    /// transaction: the batch and the replay cache commit together, once. A nonce seen
    /// before refuses the whole upload as a replay ([`crate::auth::replayed`]) and
    /// applies nothing.
    pub async fn ingest_signed(
        &self,
        till: &Till,
        batch: &RawBatch,
        now: i64,
        nonce: &KeptNonce,
    ) -> Result<BatchAck> {
        self.ingest_keeping(till, batch, now, Some(nonce)).await
    }

    async fn ingest_keeping(
        &self,
        till: &Till,
        batch: &RawBatch,
        now: i64,
        nonce: Option<&KeptNonce>,
    ) -> Result<BatchAck> {
        match self {
            Database::Sqlite(db) => {
                let (till, batch, nonce) = (till.clone(), batch.clone(), nonce.cloned());
                db.call(move |c| journal::ingest(c, &till, batch.clone(), now, nonce.as_ref()))
                    .await
            }
            Database::Postgres(pg) => postgres::ingest::ingest(pg, till, batch, now, nonce).await,
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
