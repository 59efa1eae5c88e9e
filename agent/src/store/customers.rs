//! Customers as this till knows them: profile, savings, gift cards and personal
//! promotions.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::claims::{self, Claim};
use super::{StoreError, sql};
use tillpass_protocol::sync::BalanceSource;

/// A customer's savings at this till.
///
/// Pending savings are never spendable: what central holds pending, plus what was earned
/// here and central has not seen yet, less what returns here took back. A return takes
/// back pending savings first; when it took back more than was pending, `pending` is
/// negative and the rest comes out of the spendable balance ([`Savings::available`]) —
/// the order central follows when the return reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Savings {
    /// ISO 4217 code.
    pub currency: String,
    /// What central last confirmed as spendable (less any debt), in minor units.
    pub synced: i64,
    /// Pending at this till, in minor units (see above).
    pub pending: i64,
    /// Spent here since the last sync, in minor units.
    pub unsynced_spent: i64,
    /// When central releases the next of its pending savings: unix seconds, central's
    /// clock; `None` when central holds none pending.
    pub next_release_at: Option<i64>,
}

impl Savings {
    /// What the customer can spend now: confirmed balance less what was spent since, less
    /// what returns took back beyond the pending savings. Pending savings never count.
    pub fn available(&self) -> i64 {
        self.synced
            .saturating_sub(self.unsynced_spent)
            .saturating_sub(self.pending.min(0).saturating_neg())
            .max(0)
    }

    /// Pending savings, never negative.
    pub fn pending(&self) -> i64 {
        self.pending.max(0)
    }
}

/// A gift card of the customer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GiftCardView {
    /// The card's reference.
    pub card_ref: String,
    /// ISO 4217 code.
    pub currency: String,
    /// What is left on it by this till's knowledge, in minor units.
    pub balance: i64,
    /// Whether it is blocked.
    pub blocked: bool,
}

/// What the POS shows about an identified customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerView {
    /// The opaque reference (the pass's subject).
    pub customer_ref: String,
    /// First name, if known.
    pub first_name: Option<String>,
    /// Tier, if any.
    pub tier: Option<String>,
    /// Language to speak to them in.
    pub lang: String,
    /// Whether only earning is allowed (a profile made here, not yet confirmed by central,
    /// with no balance claim to spend from).
    pub earn_only: bool,
    /// Where the savings balance comes from: `cached` (central's, from its deltas),
    /// `snapshot` (the pass's signed claim) or `live` (central's answer to a lookup).
    pub balance_source: BalanceSource,
    /// The claim the balance comes from, when it is not the cached one.
    pub claim: Option<Claim>,
    /// The segments central put them in.
    pub segments: Vec<String>,
    /// Savings, if they have an account.
    pub savings: Option<Savings>,
    /// Personal promotions they switched on that are valid now (`valid_from <= now <
    /// valid_until`, either bound optional — as the engine treats catalog promotions).
    pub active_promotions: Vec<String>,
    pub gift_cards: Vec<GiftCardView>,
}

/// A customer as central describes it (or a test sets it up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer<'a> {
    /// Central's opaque reference of the customer.
    pub customer_ref: &'a str,
    pub first_name: Option<&'a str>,
    pub tier: Option<&'a str>,
    /// Language code.
    pub lang: &'a str,
    /// Savings currency and confirmed balance.
    pub savings: Option<(&'a str, i64)>,
}

/// Looks a customer up at `now` (unix seconds, the till's clock).
pub fn lookup(
    conn: &Connection,
    customer_ref: &str,
    now: i64,
) -> Result<Option<CustomerView>, StoreError> {
    let row = conn
        .query_row(
            "SELECT first_name, tier, lang, earn_only, segments FROM customers
             WHERE customer_ref = ?1",
            [customer_ref],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?;
    let Some((first_name, tier, lang, earn_only, segments)) = row else {
        return Ok(None);
    };
    let segments: Vec<String> = serde_json::from_str(&segments)
        .map_err(|e| StoreError::Corrupted(format!("customer {customer_ref}: segments: {e}")))?;
    let savings = conn
        .query_row(
            "SELECT currency, synced_balance, synced_pending + pending, unsynced_spent,
               next_release_at
             FROM savings_accounts WHERE customer_ref = ?1",
            [customer_ref],
            |r| {
                Ok(Savings {
                    currency: r.get(0)?,
                    synced: r.get(1)?,
                    pending: r.get(2)?,
                    unsynced_spent: r.get(3)?,
                    next_release_at: r.get(4)?,
                })
            },
        )
        .optional()
        .map_err(sql)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT promotion_id FROM personal_promotions
             WHERE customer_ref = ?1 AND active = 1
               AND (valid_from IS NULL OR valid_from <= ?2)
               AND (valid_until IS NULL OR ?2 < valid_until)
             ORDER BY promotion_id",
        )
        .map_err(sql)?;
    let active_promotions = stmt
        .query_map(params![customer_ref, now], |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(sql)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT card_ref, currency, synced_balance - unsynced_spent, blocked
             FROM gift_cards WHERE owner_ref = ?1 ORDER BY card_ref",
        )
        .map_err(sql)?;
    let gift_cards = stmt
        .query_map([customer_ref], |r| {
            Ok(GiftCardView {
                card_ref: r.get(0)?,
                currency: r.get(1)?,
                balance: r.get(2)?,
                blocked: r.get(3)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    let claim = claims::get(conn, claims::Kind::Customer, customer_ref)?;
    Ok(Some(CustomerView {
        customer_ref: customer_ref.to_owned(),
        first_name,
        tier,
        lang,
        earn_only: earn_only && claim.is_none(),
        balance_source: claim.as_ref().map_or(BalanceSource::Cached, |c| c.source),
        claim,
        segments,
        savings,
        active_promotions,
        gift_cards,
    }))
}

/// Creates an earn-only profile for a customer first seen at this till (a valid pass the
/// cache did not know). Part of the caller's transaction.
pub fn create_local(conn: &Connection, customer_ref: &str, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO customers(customer_ref, earn_only, created_locally, updated_at)
         VALUES (?1, 1, 1, ?2)",
        params![customer_ref, now],
    )
    .map_err(sql)?;
    Ok(())
}

/// Gives a profile made at this till the tier a verified pass claimed (central's tier
/// name); a profile from central keeps central's.
pub fn set_local_tier(conn: &Connection, customer_ref: &str, tier: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE customers SET tier = ?2 WHERE customer_ref = ?1 AND created_locally = 1",
        params![customer_ref, tier],
    )
    .map_err(sql)?;
    Ok(())
}

/// Inserts or replaces a customer (from central's deltas, or a test's set-up).
pub fn put(conn: &Connection, c: &NewCustomer<'_>, now: i64) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO customers(customer_ref, first_name, tier, lang, earn_only, created_locally, updated_at)
         VALUES (?1, ?2, ?3, ?4, 0, 0, ?5)
         ON CONFLICT(customer_ref) DO UPDATE SET first_name = excluded.first_name,
           tier = excluded.tier, lang = excluded.lang, earn_only = 0, created_locally = 0,
           updated_at = excluded.updated_at",
        params![c.customer_ref, c.first_name, c.tier, c.lang, now],
    )
    .map_err(sql)?;
    if let Some((currency, balance)) = c.savings {
        conn.execute(
            "INSERT INTO savings_accounts(customer_ref, currency, synced_balance)
             VALUES (?1, ?2, ?3)
             ON CONFLICT(customer_ref) DO UPDATE SET currency = excluded.currency,
               synced_balance = excluded.synced_balance",
            params![c.customer_ref, currency, balance],
        )
        .map_err(sql)?;
        claims::forget(conn, claims::Kind::Customer, c.customer_ref)?;
    }
    Ok(())
}

/// Switches a personal promotion on or off for a customer.
pub fn set_personal_promotion(
    conn: &Connection,
    customer_ref: &str,
    promotion_id: &str,
    active: bool,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO personal_promotions(customer_ref, promotion_id, active) VALUES (?1, ?2, ?3)
         ON CONFLICT(customer_ref, promotion_id) DO UPDATE SET active = excluded.active",
        params![customer_ref, promotion_id, active],
    )
    .map_err(sql)?;
    Ok(())
}

/// How many customers the cache holds.
pub fn count(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT count(*) FROM customers", [], |r| r.get(0))
        .map_err(sql)
}
