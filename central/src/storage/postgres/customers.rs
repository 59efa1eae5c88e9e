//! A customer's profile, savings adjustments, personal promotions, digital receipts and
//! erasure on PostgreSQL, as [`crate::customers`] and [`crate::receipts`] do them on
//! SQLite: the same checks and the same change-log entries, each operation one
//! transaction (run again on contention), the customer's row locked while it changes and
//! a balance moved by `UPDATE … SET balance = balance + $n`.

use deadpool_postgres::{GenericClient, Transaction};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    Consent, CustomerRecord, CustomerRef, DeltaKind, PersonalPromotion, PromotionId,
};
use tillpass_protocol::token::{self, TokenKind};

use super::{Pg, ingest, retry};
use crate::customers::{self, CustomerPatch, CustomerView};
use crate::error::{Error, Result};
use crate::receipts::Receipt;
use crate::storage::money;

/// The columns [`view_of`] reads, `c` the customer and `a` the savings account.
const VIEW: &str = "SELECT c.ref, c.first_name, c.tier, c.lang, c.consent_receipts,
            c.consent_marketing, c.earn_only,
            COALESCE((SELECT array_agg(s.segment ORDER BY s.segment COLLATE \"C\")
                      FROM customer_segments s WHERE s.customer = c.ref), '{}'),
            a.currency, a.balance, a.debt,
            (SELECT sum(p.amount)::BIGINT FROM pending_savings p WHERE p.customer = c.ref),
            (SELECT min(p.release_at) FROM pending_savings p WHERE p.customer = c.ref)
     FROM customers c JOIN savings_accounts a ON a.customer = c.ref
     WHERE c.ref = $1";

/// A customer with their balance, as [`crate::customers::get`] reads them.
pub(crate) async fn view(c: &impl GenericClient, customer: &str) -> Result<Option<CustomerView>> {
    c.query_opt(VIEW, &[&customer])
        .await?
        .as_ref()
        .map(view_of)
        .transpose()
}

fn view_of(r: &tokio_postgres::Row) -> Result<CustomerView> {
    let lang: String = r.get(3);
    let currency: String = r.get(8);
    let savings = money(&currency, r.get(9))?;
    let pending: Option<i64> = r.get(11);
    Ok(CustomerView {
        record: CustomerRecord {
            customer: CustomerRef::new(r.get::<_, String>(0)).map_err(Error::internal)?,
            first_name: r.get(1),
            tier: r.get(2),
            lang: Lang::from_code(&lang).unwrap_or_default(),
            consent: Consent {
                receipts: r.get::<_, i64>(4) != 0,
                marketing: r.get::<_, i64>(5) != 0,
            },
            earn_only: r.get::<_, i64>(6) != 0,
            segments: r.get(7),
        },
        savings,
        pending: Money::new(pending.unwrap_or(0), savings.currency),
        next_release_at: r.get(12),
        debt: money(&currency, r.get(10))?,
    })
}

/// Appends to the change log, in the caller's transaction.
async fn change(
    tx: &Transaction<'_>,
    kind: DeltaKind,
    key: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, $3, $4)",
        &[&kind.segment(), &key, &owner, &now],
    )
    .await?;
    Ok(())
}

/// A customer with their balance at `now`, pending savings due by then released first
/// (as [`crate::customers::current`]).
pub async fn current(pg: &Pg, customer: &str, now: i64) -> Result<Option<CustomerView>> {
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        ingest::release_due(&tx, customer, now).await?;
        let found = view(&tx, customer).await?;
        tx.commit().await?;
        Ok(found)
    })
    .await
}

/// Changes a customer's profile (as [`crate::customers::update`]); answers the customer
/// as they stand at `now`.
pub async fn update(
    pg: &Pg,
    customer: &str,
    patch: &CustomerPatch,
    now: i64,
) -> Result<CustomerView> {
    if let Some(name) = &patch.first_name {
        customers::check_name(name)?;
    }
    customers::check_tier(patch.tier.as_deref())?;
    if let Some(segments) = &patch.segments {
        customers::check_segments(segments)?;
    }
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT first_name, tier, lang, consent_receipts, consent_marketing
                 FROM customers WHERE ref = $1 FOR UPDATE",
                &[&customer],
            )
            .await?
            .ok_or(Error::NotFound("customer"))?;
        let mut first_name: String = row.get(0);
        let mut tier: Option<String> = row.get(1);
        let mut lang = Lang::from_code(&row.get::<_, String>(2)).unwrap_or_default();
        let mut consent = Consent {
            receipts: row.get::<_, i64>(3) != 0,
            marketing: row.get::<_, i64>(4) != 0,
        };
        if let Some(name) = &patch.first_name {
            first_name.clone_from(name);
        }
        if let Some(new) = &patch.tier {
            tier = (!new.is_empty()).then(|| new.clone());
        }
        if let Some(new) = patch.lang {
            lang = new;
        }
        if let Some(new) = patch.consent {
            consent = new;
        }
        tx.execute(
            "UPDATE customers SET first_name = $2, tier = $3, lang = $4, consent_receipts = $5,
                    consent_marketing = $6, updated_at = $7 WHERE ref = $1",
            &[
                &customer,
                &first_name,
                &tier,
                &lang.code(),
                &i64::from(consent.receipts),
                &i64::from(consent.marketing),
                &now,
            ],
        )
        .await?;
        if let Some(segments) = &patch.segments {
            tx.execute(
                "DELETE FROM customer_segments WHERE customer = $1",
                &[&customer],
            )
            .await?;
            tx.execute(
                "INSERT INTO customer_segments (customer, segment)
                 SELECT $1, unnest($2::TEXT[])",
                &[&customer, segments],
            )
            .await?;
        }
        change(&tx, DeltaKind::Customers, customer, None, now).await?;
        ingest::release_due(&tx, customer, now).await?;
        let updated = view(&tx, customer)
            .await?
            .ok_or(Error::NotFound("customer"))?;
        tx.commit().await?;
        Ok(updated)
    })
    .await
}

/// Credits (positive) or debits (negative) a customer's savings by an administrator's
/// decision (as [`crate::customers::adjust_savings`]): a debit may not take the balance
/// below zero. Answers the new balance.
pub async fn adjust_savings(pg: &Pg, customer: &str, amount: i64, now: i64) -> Result<Money> {
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        ingest::release_due(&tx, customer, now).await?;
        let row = tx
            .query_opt(
                "SELECT currency, balance FROM savings_accounts WHERE customer = $1 FOR UPDATE",
                &[&customer],
            )
            .await?
            .ok_or(Error::NotFound("customer"))?;
        let (currency, balance): (String, i64) = (row.get(0), row.get(1));
        balance
            .checked_add(amount)
            .filter(|n| *n >= 0)
            .ok_or_else(|| Error::invalid("amount: the balance cannot go below zero"))?;
        let moved: i64 = tx
            .query_one(
                "UPDATE savings_accounts SET balance = balance + $2, updated_at = $3
                 WHERE customer = $1 RETURNING balance",
                &[&customer, &amount, &now],
            )
            .await?
            .get(0);
        change(&tx, DeltaKind::Balances, customer, None, now).await?;
        tx.commit().await?;
        money(&currency, moved)
    })
    .await
}

/// Creates or replaces a personal promotion (as [`crate::customers::put_promotion`]).
pub async fn put_promotion(pg: &Pg, promotion: &PersonalPromotion, now: i64) -> Result<()> {
    let customer = promotion.customer.as_str();
    let id = promotion.id.as_str();
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        // Held until the end, so an erasure cannot slip in between.
        tx.query_opt(
            "SELECT 1 FROM customers WHERE ref = $1 FOR SHARE",
            &[&customer],
        )
        .await?
        .ok_or(Error::NotFound("customer"))?;
        let written = tx
            .execute(
                "INSERT INTO personal_promotions (id, customer, promotion_id, enabled, valid_from,
                                                  valid_until, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (id) DO UPDATE SET promotion_id = excluded.promotion_id,
                     enabled = excluded.enabled, valid_from = excluded.valid_from,
                     valid_until = excluded.valid_until, updated_at = excluded.updated_at
                 WHERE personal_promotions.customer = excluded.customer",
                &[
                    &id,
                    &customer,
                    &promotion.promotion_id.as_str(),
                    &i64::from(promotion.enabled),
                    &promotion.valid_from,
                    &promotion.valid_until,
                    &now,
                ],
            )
            .await?;
        if written == 0 {
            return Err(Error::Conflict(
                "this personal promotion id belongs to another customer".into(),
            ));
        }
        change(&tx, DeltaKind::PersonalPromotions, id, Some(customer), now).await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}

/// Removes a personal promotion (as [`crate::customers::remove_promotion`]).
pub async fn remove_promotion(pg: &Pg, id: &str, now: i64) -> Result<()> {
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        let owner: String = tx
            .query_opt(
                "DELETE FROM personal_promotions WHERE id = $1 RETURNING customer",
                &[&id],
            )
            .await?
            .ok_or(Error::NotFound("personal promotion"))?
            .get(0);
        change(&tx, DeltaKind::PersonalPromotions, id, Some(&owner), now).await?;
        tx.commit().await?;
        Ok(())
    })
    .await
}

/// One personal promotion (as [`crate::customers::promotion`]).
pub async fn promotion(pg: &Pg, id: &str) -> Result<Option<PersonalPromotion>> {
    let row = pg
        .client()
        .await?
        .query_opt(
            "SELECT id, customer, promotion_id, enabled, valid_from, valid_until
             FROM personal_promotions WHERE id = $1",
            &[&id],
        )
        .await?;
    row.map(|r| {
        Ok(PersonalPromotion {
            id: PromotionId::new(r.get::<_, String>(0)).map_err(Error::internal)?,
            customer: CustomerRef::new(r.get::<_, String>(1)).map_err(Error::internal)?,
            promotion_id: PromotionId::new(r.get::<_, String>(2)).map_err(Error::internal)?,
            enabled: r.get::<_, i64>(3) != 0,
            valid_from: r.get(4),
            valid_until: r.get(5),
        })
    })
    .transpose()
}

/// The receipts of a customer, newest first (as [`crate::receipts::list`]).
pub async fn receipts(pg: &Pg, customer: &str) -> Result<Vec<Receipt>> {
    pg.client()
        .await?
        .query(
            "SELECT r.body FROM receipts r JOIN events e ON e.id = r.event_id
             WHERE r.customer = $1
             ORDER BY r.created_at DESC, e.occurred_at DESC, e.till COLLATE \"C\" DESC,
                      e.seq DESC",
            &[&customer],
        )
        .await?
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)).map_err(Error::internal))
        .collect()
}

/// Erases a customer (as [`crate::customers::erase`]): the profile and everything that
/// hangs off it go, the reference and the time stay, the tills learn it, and every pass
/// issued so far is revoked. Answers the erasure time.
pub async fn erase(pg: &Pg, customer: &str, now: i64) -> Result<i64> {
    if token::Subject::new(customer.as_bytes()).is_none() {
        return Err(Error::NotFound("customer"));
    }
    retry(|| async move {
        let mut client = pg.client().await?;
        let tx = client.transaction().await?;
        tx.query_opt(
            "SELECT 1 FROM customers WHERE ref = $1 FOR UPDATE",
            &[&customer],
        )
        .await?
        .ok_or(Error::NotFound("customer"))?;
        tx.execute(
            "INSERT INTO changes (kind, key, owner, at)
             SELECT $2, id, customer, $3 FROM personal_promotions WHERE customer = $1
             ORDER BY id COLLATE \"C\"",
            &[&customer, &DeltaKind::PersonalPromotions.segment(), &now],
        )
        .await?;
        // Savings, pending savings, segments, personal promotions and receipts go with
        // the profile (`ON DELETE CASCADE`); a gift card it owned keeps no owner.
        tx.execute("DELETE FROM customers WHERE ref = $1", &[&customer])
            .await?;
        // The account's movement log goes with the account (the store ledgers hold only
        // masked references, and stop receiving this account's spends).
        tx.execute(
            "DELETE FROM account_moves WHERE account = 'savings' AND holder = $1",
            &[&customer],
        )
        .await?;
        tx.execute(
            "DELETE FROM issued_tokens WHERE subject = $1 AND kind = 'customer_pass'",
            &[&customer],
        )
        .await?;
        tx.execute(
            "INSERT INTO erased_customers (ref, erased_at) VALUES ($1, $2)",
            &[&customer, &now],
        )
        .await?;
        change(&tx, DeltaKind::Customers, customer, None, now).await?;
        change(&tx, DeltaKind::Balances, customer, None, now).await?;
        tx.execute(
            "INSERT INTO revocations (what, value, token_kind, before, revoked_at)
             VALUES ('subject', $1, $2, $3, $4)",
            &[
                &customer.as_bytes(),
                &TokenKind::CustomerPass.code(),
                &now.saturating_add(1),
                &now,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(now)
    })
    .await
}

/// When `customer` was erased, if they were.
pub async fn erased_at(pg: &Pg, customer: &str) -> Result<Option<i64>> {
    Ok(pg
        .client()
        .await?
        .query_opt(
            "SELECT erased_at FROM erased_customers WHERE ref = $1",
            &[&customer],
        )
        .await?
        .map(|r| r.get(0)))
}
