//! Scoped feeds behind the contract (SQLite: [`crate::scope`]; PostgreSQL:
//! [`super::postgres::scope`]): the scope period, a customer's stores and their
//! assignment, and the scope a live lookup adds.

use tillpass_protocol::sync::{LookupKind, StoreId};

use super::{Database, postgres};
use crate::error::Result;
use crate::scope::{self, CustomerStores};

impl Database {
    /// Sets the scope period (`serve --scope-days`), for every node of the database.
    pub async fn set_scope_days(&self, days: u32) -> Result<()> {
        match self {
            Database::Sqlite(db) => db.call(move |c| scope::set_days(c, days)).await,
            Database::Postgres(pg) => postgres::scope::set_days(pg, days).await,
        }
    }

    /// The scope period in force.
    pub async fn scope_days(&self) -> Result<u32> {
        match self {
            Database::Sqlite(db) => db.call(|c| scope::days(c)).await,
            Database::Postgres(pg) => postgres::scope::days(&pg.client().await?).await,
        }
    }

    /// A customer's stores at `now`; `None` for an unknown customer.
    pub async fn customer_stores(
        &self,
        customer: &str,
        now: i64,
    ) -> Result<Option<CustomerStores>> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| scope::stores_of(c, &customer, now)).await
            }
            Database::Postgres(pg) => postgres::scope::stores_of(pg, customer, now).await,
        }
    }

    /// Makes `stores` the stores `customer` is assigned to; a store newly in scope gets
    /// the customer's current state. `None` for an unknown customer.
    pub async fn assign_stores(
        &self,
        customer: &str,
        stores: &[String],
        now: i64,
    ) -> Result<Option<CustomerStores>> {
        match self {
            Database::Sqlite(db) => {
                let (customer, stores) = (customer.to_owned(), stores.to_vec());
                db.call(move |c| scope::assign(c, &customer, &stores, now))
                    .await
            }
            Database::Postgres(pg) => postgres::scope::assign(pg, customer, stores, now).await,
        }
    }

    /// Records that a till of `store` looked `subject` up live at `now`: the store's
    /// scope grows by it (and it gets fresh changes when it enters).
    pub async fn see_lookup(
        &self,
        kind: LookupKind,
        subject: &str,
        store: &StoreId,
        now: i64,
    ) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let (subject, store) = (subject.to_owned(), store.as_str().to_owned());
                db.call(move |c| scope::see_lookup(c, kind, &subject, &store, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::scope::see_lookup(pg, kind, subject, store.as_str(), now).await
            }
        }
    }
}
