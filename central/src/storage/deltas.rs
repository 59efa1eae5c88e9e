//! Delta pages behind the contract (SQLite: [`crate::deltas`]; PostgreSQL:
//! [`super::postgres::deltas`]).

use ed25519_dalek::SigningKey;
use tillpass_protocol::sync::{DeltaKind, DeltaQuery, PageRequest, StoreId};

use super::{Database, postgres};
use crate::deltas::{self, AnyPage};
use crate::error::Result;

impl Database {
    /// The page of `kind` after `query.cursor` for a till of `store`; `sync_key` seals
    /// revocations.
    pub async fn delta_page(
        &self,
        kind: DeltaKind,
        query: &DeltaQuery,
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
    ) -> Result<AnyPage> {
        match self {
            Database::Sqlite(db) => {
                let (query, store, key) = (query.clone(), store.clone(), sync_key.clone());
                db.call(move |c| deltas::page(c, kind, &query, &store, &key, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::deltas::page(pg, kind, query, store, sync_key, now).await
            }
        }
    }

    /// [`Database::signed_delta_page`], with the number of items the page carries (for
    /// the fan-out metric).
    pub async fn signed_delta_page_counted(
        &self,
        request: &PageRequest,
        query: &DeltaQuery,
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
    ) -> Result<(Vec<u8>, usize)> {
        match self {
            Database::Sqlite(db) => {
                let (request, query) = (request.clone(), query.clone());
                let (store, key) = (store.clone(), sync_key.clone());
                db.call(move |c| {
                    deltas::signed_page_counted(c, &request, &query, &store, &key, now)
                })
                .await
            }
            Database::Postgres(pg) => {
                postgres::deltas::signed_page_counted(pg, request, query, store, sync_key, now)
                    .await
            }
        }
    }

    /// The page `request` asks for, sealed by `sync_key` for that one request.
    pub async fn signed_delta_page(
        &self,
        request: &PageRequest,
        query: &DeltaQuery,
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
    ) -> Result<Vec<u8>> {
        match self {
            Database::Sqlite(db) => {
                let (request, query) = (request.clone(), query.clone());
                let (store, key) = (store.clone(), sync_key.clone());
                db.call(move |c| deltas::signed_page(c, &request, &query, &store, &key, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::deltas::signed_page(pg, request, query, store, sync_key, now).await
            }
        }
    }
}
