//! A sync round's reads behind the contract: every asked stream's page and the published
//! envelopes' [`Versions`], in one unit (SQLite: one call on its connection; PostgreSQL:
//! [`postgres::deltas::round_read`], one pooled connection, pipelined).

use ed25519_dalek::SigningKey;
use tillpass_protocol::sync::{DeltaKind, DeltaQuery, LEFT_SCOPE_PROTOCOL, StoreId};

use super::{Database, postgres};
use crate::deltas::{self, AnyPage};
use crate::error::Result;
use crate::published::{self, Versions};

/// What a sync round read.
#[derive(Debug, Clone)]
pub struct RoundRead {
    /// The page of each asked stream, in the order asked.
    pub pages: Vec<AnyPage>,
    /// The envelopes' versions ([`crate::published`]).
    pub versions: Versions,
}

impl Database {
    /// The page of each of `asked` for a till of `store` in a round of `protocol` (each
    /// as [`Database::round_page`] reads it), and the envelopes' versions at `now`.
    pub async fn round_read(
        &self,
        asked: &[(DeltaKind, DeltaQuery)],
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
        protocol: u16,
    ) -> Result<RoundRead> {
        let notices = protocol >= LEFT_SCOPE_PROTOCOL;
        let (pages, versions) = match self {
            Database::Sqlite(db) => {
                let (asked, store, key) = (asked.to_vec(), store.clone(), sync_key.clone());
                db.call(move |c| {
                    let pages = asked
                        .iter()
                        .map(|(kind, query)| {
                            deltas::page_for(c, *kind, query, &store, &key, now, notices)
                        })
                        .collect::<Result<Vec<_>>>()?;
                    Ok((pages, published::versions(c, now)?))
                })
                .await?
            }
            Database::Postgres(pg) => {
                postgres::deltas::round_read(pg, asked, store, sync_key, now, notices).await?
            }
        };
        Ok(RoundRead { pages, versions })
    }
}
