//! Customers, savings and gift cards on PostgreSQL: what the storage contract needs to
//! create and read the accounts ingestion moves, with the checks of
//! [`crate::customers`] and [`crate::giftcards`].

use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    CustomerRef, DeltaKind, GiftCardRecord, GiftCardRef, GiftCardStatus,
};

use super::Pg;
use crate::customers::{self, NewCustomer};
use crate::error::{Error, Result};
use crate::giftcards::{self, NewGiftCard};
use crate::pending::Pending;
use crate::settings;
use crate::storage::money;

/// The currency of accounts created without one: the offline policy's.
async fn default_currency(
    client: &impl deadpool_postgres::GenericClient,
) -> Result<tillpass_protocol::money::Currency> {
    let text: Option<String> = client
        .query_opt(
            "SELECT value FROM settings WHERE key = $1",
            &[&settings::POLICY_KEY],
        )
        .await?
        .map(|r| r.get(0));
    Ok(settings::policy_from(text)?
        .max_savings_spend_per_customer
        .currency)
}

/// Creates a customer and their savings account, as [`crate::customers::create`] does.
pub async fn create_customer(pg: &Pg, new: &NewCustomer, now: i64) -> Result<()> {
    super::retry(|| create_customer_once(pg, new, now)).await
}

async fn create_customer_once(pg: &Pg, new: &NewCustomer, now: i64) -> Result<()> {
    customers::check_ref(&new.customer)?;
    customers::check_name(&new.first_name)?;
    customers::check_tier(new.tier.as_deref())?;
    customers::check_segments(&new.segments)?;
    if new.savings < 0 {
        return Err(Error::invalid("savings: must not be negative"));
    }
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let currency = match new.currency {
        Some(c) => c,
        None => default_currency(&tx).await?,
    };
    let reference = new.customer.as_str();
    let erased = tx
        .query_opt(
            "SELECT 1 FROM erased_customers WHERE ref = $1",
            &[&reference],
        )
        .await?
        .is_some();
    if erased {
        return Err(Error::Conflict(
            "this reference belonged to an erased customer; use a new one".into(),
        ));
    }
    let inserted = tx
        .execute(
            "INSERT INTO customers (ref, first_name, tier, lang, consent_receipts,
                                    consent_marketing, earn_only, created_by, created_at,
                                    updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, 'central', $7, $7)
             ON CONFLICT (ref) DO NOTHING",
            &[
                &reference,
                &new.first_name,
                &new.tier,
                &new.lang.code(),
                &i64::from(new.consent.receipts),
                &i64::from(new.consent.marketing),
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(Error::Conflict(
            "a customer with this reference exists".into(),
        ));
    }
    tx.execute(
        "INSERT INTO savings_accounts (customer, currency, balance, updated_at)
         VALUES ($1, $2, $3, $4)",
        &[&reference, &currency.code(), &new.savings, &now],
    )
    .await?;
    for segment in &new.segments {
        tx.execute(
            "INSERT INTO customer_segments (customer, segment) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&reference, segment],
        )
        .await?;
    }
    for kind in [DeltaKind::Customers, DeltaKind::Balances] {
        tx.execute(
            "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, NULL, $3)",
            &[&kind.segment(), &reference, &now],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Creates a gift card, as [`crate::giftcards::create`] does.
pub async fn create_gift_card(pg: &Pg, new: &NewGiftCard, now: i64) -> Result<()> {
    super::retry(|| create_gift_card_once(pg, new, now)).await
}

async fn create_gift_card_once(pg: &Pg, new: &NewGiftCard, now: i64) -> Result<()> {
    if new.card.as_str().len() > giftcards::MAX_REF_LEN {
        return Err(Error::invalid(format!(
            "card: a reference is at most {} characters",
            giftcards::MAX_REF_LEN
        )));
    }
    if new.balance < 0 {
        return Err(Error::invalid("balance: must not be negative"));
    }
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let currency = match new.currency {
        Some(c) => c,
        None => default_currency(&tx).await?,
    };
    let inserted = tx
        .execute(
            "INSERT INTO gift_cards (ref, currency, balance, status, expires_at, created_at,
                                     updated_at)
             VALUES ($1, $2, $3, 'active', $4, $5, $5) ON CONFLICT (ref) DO NOTHING",
            &[
                &new.card.as_str(),
                &currency.code(),
                &new.balance,
                &new.expires_at,
                &now,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(Error::Conflict(
            "a gift card with this reference exists".into(),
        ));
    }
    tx.execute(
        "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, NULL, $3)",
        &[&DeltaKind::GiftCards.segment(), &new.card.as_str(), &now],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A customer's spendable savings: (balance, debt).
pub async fn savings(pg: &Pg, customer: &str) -> Result<Option<(Money, Money)>> {
    let row = pg
        .client()
        .await?
        .query_opt(
            "SELECT currency, balance, debt FROM savings_accounts WHERE customer = $1",
            &[&customer],
        )
        .await?;
    row.map(|r| {
        let currency: String = r.get(0);
        Ok((money(&currency, r.get(1))?, money(&currency, r.get(2))?))
    })
    .transpose()
}

/// What a customer has pending.
pub async fn pending(pg: &Pg, customer: &str) -> Result<Pending> {
    let row = pg
        .client()
        .await?
        .query_one(
            "SELECT sum(amount)::BIGINT, min(release_at) FROM pending_savings
             WHERE customer = $1",
            &[&customer],
        )
        .await?;
    let amount: Option<i64> = row.get(0);
    Ok(Pending {
        amount: amount.unwrap_or(0),
        next_release_at: row.get(1),
    })
}

/// One gift card.
pub async fn gift_card(pg: &Pg, card: &str) -> Result<Option<GiftCardRecord>> {
    let row = pg
        .client()
        .await?
        .query_opt(
            "SELECT ref, currency, balance, debt, status, expires_at, owner FROM gift_cards
             WHERE ref = $1",
            &[&card],
        )
        .await?;
    row.as_ref().map(gift_card_of).transpose()
}

/// A gift card from its row: `ref, currency, balance, debt, status, expires_at, owner`.
pub(crate) fn gift_card_of(r: &tokio_postgres::Row) -> Result<GiftCardRecord> {
    {
        let currency: String = r.get(1);
        let status: String = r.get(4);
        Ok(GiftCardRecord {
            card: GiftCardRef::new(r.get::<_, String>(0)).map_err(Error::internal)?,
            balance: money(&currency, r.get(2))?,
            debt: money(&currency, r.get(3))?,
            status: if status == "blocked" {
                GiftCardStatus::Blocked
            } else {
                GiftCardStatus::Active
            },
            expires_at: r.get(5),
            owner: r
                .get::<_, Option<String>>(6)
                .map(CustomerRef::new)
                .transpose()
                .map_err(Error::internal)?,
        })
    }
}

/// Makes `owner` the card's owner (as [`crate::giftcards::set_owner`]); answers the card.
pub async fn set_gift_card_owner(
    pg: &Pg,
    card: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<GiftCardRecord> {
    update_and_log(
        pg,
        "UPDATE gift_cards SET owner = $2, updated_at = $3 WHERE ref = $1
         RETURNING ref, currency, balance, debt, status, expires_at, owner",
        card,
        &owner,
        now,
    )
    .await
}

/// Blocks or unblocks a card (as [`crate::giftcards::set_status`]); answers the card.
pub async fn set_gift_card_status(
    pg: &Pg,
    card: &str,
    status: GiftCardStatus,
    now: i64,
) -> Result<GiftCardRecord> {
    let code = match status {
        GiftCardStatus::Active => "active",
        GiftCardStatus::Blocked => "blocked",
    };
    update_and_log(
        pg,
        "UPDATE gift_cards SET status = $2, updated_at = $3 WHERE ref = $1
         RETURNING ref, currency, balance, debt, status, expires_at, owner",
        card,
        &code,
        now,
    )
    .await
}

/// Runs `update` (`$1` the card, `$2` `value`, `$3` `now`, returning the card's row) and
/// logs a change of the card, in one transaction; answers the card.
async fn update_and_log(
    pg: &Pg,
    update: &str,
    card: &str,
    value: &(dyn tokio_postgres::types::ToSql + Sync),
    now: i64,
) -> Result<GiftCardRecord> {
    super::retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(update, &[&card, value, &now])
            .await?
            .ok_or(Error::NotFound("gift card"))?;
        tx.execute(
            "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, NULL, $3)",
            &[&DeltaKind::GiftCards.segment(), &card, &now],
        )
        .await?;
        tx.commit().await?;
        gift_card_of(&row)
    })
    .await
}
