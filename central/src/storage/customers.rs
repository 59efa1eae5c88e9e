//! A customer's profile, savings adjustments, personal promotions, digital receipts and
//! erasure behind the contract (SQLite: [`crate::customers`], [`crate::receipts`];
//! PostgreSQL: [`super::postgres::customers`]).

use tillpass_protocol::money::Money;
use tillpass_protocol::sync::PersonalPromotion;

use super::{Database, postgres};
use crate::customers::{self, CustomerPatch, CustomerView};
use crate::error::Result;
use crate::receipts::{self, Receipt};

impl Database {
    /// A customer with their balance at `now` (pending savings due by then released
    /// first); `None` for no such customer.
    pub async fn customer(&self, customer: &str, now: i64) -> Result<Option<CustomerView>> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| customers::current(c, &customer, now))
                    .await
            }
            Database::Postgres(pg) => postgres::customers::current(pg, customer, now).await,
        }
    }

    /// Changes a customer's profile; answers them as they stand at `now`.
    pub async fn update_customer(
        &self,
        customer: &str,
        patch: &CustomerPatch,
        now: i64,
    ) -> Result<CustomerView> {
        match self {
            Database::Sqlite(db) => {
                let (customer, patch) = (customer.to_owned(), patch.clone());
                db.call(move |c| customers::update(c, &customer, &patch, now))
                    .await
            }
            Database::Postgres(pg) => postgres::customers::update(pg, customer, patch, now).await,
        }
    }

    /// Erases a customer (GDPR): the profile, savings, pending savings, segments,
    /// personal promotions, receipts and movement log go; the reference and the time
    /// stay, so tills receive the erasure; every pass issued so far is revoked. Answers
    /// the erasure time.
    pub async fn erase_customer(&self, customer: &str, now: i64) -> Result<i64> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| customers::erase(c, &customer, now)).await
            }
            Database::Postgres(pg) => postgres::customers::erase(pg, customer, now).await,
        }
    }

    /// When `customer` was erased, if they were.
    pub async fn erased_at(&self, customer: &str) -> Result<Option<i64>> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| customers::erased_at(c, &customer)).await
            }
            Database::Postgres(pg) => postgres::customers::erased_at(pg, customer).await,
        }
    }

    /// Credits (positive) or debits (negative) a customer's savings by an
    /// administrator's decision; a debit may not take the balance below zero. Answers the
    /// new balance.
    pub async fn adjust_savings(&self, customer: &str, amount: i64, now: i64) -> Result<Money> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| customers::adjust_savings(c, &customer, amount, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::customers::adjust_savings(pg, customer, amount, now).await
            }
        }
    }

    /// Creates or replaces a personal promotion (refused when its id is another
    /// customer's).
    pub async fn put_promotion(&self, promotion: &PersonalPromotion, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let promotion = promotion.clone();
                db.call(move |c| customers::put_promotion(c, &promotion, now))
                    .await
            }
            Database::Postgres(pg) => postgres::customers::put_promotion(pg, promotion, now).await,
        }
    }

    /// Removes a personal promotion.
    pub async fn remove_promotion(&self, id: &str, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| customers::remove_promotion(c, &id, now))
                    .await
            }
            Database::Postgres(pg) => postgres::customers::remove_promotion(pg, id, now).await,
        }
    }

    /// One personal promotion.
    pub async fn promotion(&self, id: &str) -> Result<Option<PersonalPromotion>> {
        match self {
            Database::Sqlite(db) => {
                let id = id.to_owned();
                db.call(move |c| customers::promotion(c, &id)).await
            }
            Database::Postgres(pg) => postgres::customers::promotion(pg, id).await,
        }
    }

    /// A customer's digital receipts, newest first.
    pub async fn receipts(&self, customer: &str) -> Result<Vec<Receipt>> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| receipts::list(c, &customer)).await
            }
            Database::Postgres(pg) => postgres::customers::receipts(pg, customer).await,
        }
    }
}
