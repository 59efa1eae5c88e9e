//! Delta pages behind the contract (SQLite: [`crate::deltas`]; PostgreSQL:
//! [`super::postgres::deltas`]).

use ed25519_dalek::SigningKey;
use tillpass_protocol::sync::{DeltaKind, DeltaQuery, LEFT_SCOPE_PROTOCOL, PageRequest, StoreId};

use super::{Database, postgres};
use crate::deltas::{self, AnyPage};
use crate::error::Result;

impl Database {
    /// The page of `kind` after `query.cursor` for a till of `store`; `sync_key` seals
    /// revocations. A customers page carries no lapse notices: the page of
    /// `GET /v1/deltas/{kind}` and of round protocol 1.
    pub async fn delta_page(
        &self,
        kind: DeltaKind,
        query: &DeltaQuery,
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
    ) -> Result<AnyPage> {
        self.round_page(kind, query, store, sync_key, now, 1).await
    }

    /// The page of `kind` for a sync round of `protocol`: from
    /// [`LEFT_SCOPE_PROTOCOL`] on, a customers page carries the store's lapse notices
    /// (`CustomerDelta::LeftScope`). Any customers page first tells the store of the
    /// customers whose scope there lapsed (a write only when there is one).
    pub async fn round_page(
        &self,
        kind: DeltaKind,
        query: &DeltaQuery,
        store: &StoreId,
        sync_key: &SigningKey,
        now: i64,
        protocol: u16,
    ) -> Result<AnyPage> {
        let notices = protocol >= LEFT_SCOPE_PROTOCOL;
        match self {
            Database::Sqlite(db) => {
                let (query, store, key) = (query.clone(), store.clone(), sync_key.clone());
                db.call(move |c| deltas::page_for(c, kind, &query, &store, &key, now, notices))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::deltas::page(pg, kind, query, store, sync_key, now, notices).await
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
