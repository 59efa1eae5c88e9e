//! Creating and reading customers' accounts, savings and gift cards behind the contract (SQLite: [`crate::customers`],
//! [`crate::giftcards`], [`crate::pending`]; PostgreSQL: [`super::postgres::accounts`]).

use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{GiftCardRecord, GiftCardStatus};

use super::{Database, postgres};
use crate::customers::{self, NewCustomer};
use crate::error::Result;
use crate::giftcards::{self, NewGiftCard};
use crate::pending::{self, Pending};

impl Database {
    /// Creates a customer and their savings account (as the admin API does).
    pub async fn create_customer(&self, new: &NewCustomer, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let new = new.clone();
                db.call(move |c| customers::create(c, &new, now).map(drop))
                    .await
            }
            Database::Postgres(pg) => postgres::accounts::create_customer(pg, new, now).await,
        }
    }

    /// Creates a gift card (as the admin API does).
    pub async fn create_gift_card(&self, new: &NewGiftCard, now: i64) -> Result<()> {
        match self {
            Database::Sqlite(db) => {
                let new = new.clone();
                db.call(move |c| giftcards::create(c, &new, now).map(drop))
                    .await
            }
            Database::Postgres(pg) => postgres::accounts::create_gift_card(pg, new, now).await,
        }
    }

    /// A customer's spendable savings: (balance, debt); `None` for no such customer.
    /// Nothing is released here: what is pending stays so until a write releases it.
    pub async fn savings(&self, customer: &str) -> Result<Option<(Money, Money)>> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| {
                    Ok(customers::balance(c, &customer)?.map(|(balance, debt, _)| (balance, debt)))
                })
                .await
            }
            Database::Postgres(pg) => postgres::accounts::savings(pg, customer).await,
        }
    }

    /// What a customer has pending.
    pub async fn pending(&self, customer: &str) -> Result<Pending> {
        match self {
            Database::Sqlite(db) => {
                let customer = customer.to_owned();
                db.call(move |c| pending::of(c, &customer)).await
            }
            Database::Postgres(pg) => postgres::accounts::pending(pg, customer).await,
        }
    }

    /// One gift card.
    pub async fn gift_card(&self, card: &str) -> Result<Option<GiftCardRecord>> {
        match self {
            Database::Sqlite(db) => {
                let card = card.to_owned();
                db.call(move |c| giftcards::get(c, &card)).await
            }
            Database::Postgres(pg) => postgres::accounts::gift_card(pg, card).await,
        }
    }

    /// Makes `owner` a gift card's owner (`None`: nobody), logging a change of the card;
    /// answers the card.
    pub async fn set_gift_card_owner(
        &self,
        card: &str,
        owner: Option<&str>,
        now: i64,
    ) -> Result<GiftCardRecord> {
        match self {
            Database::Sqlite(db) => {
                let (card, owner) = (card.to_owned(), owner.map(str::to_owned));
                db.call(move |c| giftcards::set_owner(c, &card, owner.as_deref(), now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::accounts::set_gift_card_owner(pg, card, owner, now).await
            }
        }
    }

    /// Blocks or unblocks a gift card; answers the card.
    pub async fn set_gift_card_status(
        &self,
        card: &str,
        status: GiftCardStatus,
        now: i64,
    ) -> Result<GiftCardRecord> {
        match self {
            Database::Sqlite(db) => {
                let card = card.to_owned();
                db.call(move |c| giftcards::set_status(c, &card, status, now))
                    .await
            }
            Database::Postgres(pg) => {
                postgres::accounts::set_gift_card_status(pg, card, status, now).await
            }
        }
    }
}
