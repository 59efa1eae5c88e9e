//! The live lookup behind the contract (SQLite: [`crate::lookup`]; PostgreSQL:
//! [`super::postgres::lookup`]): one rule, the facts read by each backend.

use tillpass_protocol::sync::{LookupAnswer, LookupRequest};

use super::{Database, postgres};
use crate::error::Result;

impl Database {
    /// Central's answer to a till's live lookup at `now`; nothing is written.
    pub async fn lookup(&self, request: &LookupRequest, now: i64) -> Result<LookupAnswer> {
        match self {
            Database::Sqlite(db) => {
                let request = request.clone();
                db.call(move |c| crate::lookup::answer(c, &request, now))
                    .await
            }
            Database::Postgres(pg) => postgres::lookup::answer(pg, request, now).await,
        }
    }
}
