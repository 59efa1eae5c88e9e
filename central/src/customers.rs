//! Customers, their segments, savings accounts and personal promotions, and their erasure.
//!
//! A savings account holds the **spendable** balance and a debt; savings still inside
//! their return window are kept apart ([`crate::pending`]) and shown beside it. A
//! customer's **segments** (at most
//! [`MAX_SEGMENTS_PER_CUSTOMER`](tillpass_protocol::sync::MAX_SEGMENTS_PER_CUSTOMER)) travel
//! with their profile to the tills, whose engine honours a catalog's `conditions.segments`.
//!
//! A customer reference is what their pass carries as its subject, so it is at most 16
//! characters ([`MAX_REF_LEN`]). Every change is written to the change log
//! ([`crate::changes`]) in the same transaction, so tills receive it through the deltas.
//!
//! **Erasure (GDPR/RGPD)** deletes the profile, the savings account, the personal
//! promotions and the digital receipts; remembers only the (pseudonymous) reference and
//! the time, so that tills receive an erasure tombstone and no till can re-create the
//! profile; and revokes every pass issued to the customer so far.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tillpass_protocol::lang::Lang;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    Consent, CustomerRecord, CustomerRef, DeltaKind, PersonalPromotion, PromotionId, TillId,
    segments_problem,
};
use tillpass_protocol::token::TokenKind;

use crate::changes;
use crate::error::{Error, Result};
use crate::pending::{self, Pending};
use crate::{revocations, settings};

/// The longest customer reference: a token subject holds at most 16 bytes.
pub const MAX_REF_LEN: usize = 16;

/// The longest first name, in characters.
pub const MAX_NAME_LEN: usize = 80;

/// What an administrator sends to create a customer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// The opaque reference (1 to 16 characters).
    pub customer: CustomerRef,
    /// The first name, to greet them at the till.
    pub first_name: String,
    /// The loyalty tier.
    #[serde(default)]
    pub tier: Option<String>,
    /// Their language.
    #[serde(default)]
    pub lang: Lang,
    /// What they allow.
    #[serde(default)]
    pub consent: Consent,
    /// The currency of their savings account; central's default when absent.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// An opening savings balance in minor units.
    #[serde(default)]
    pub savings: i64,
    /// The segments they are in.
    #[serde(default)]
    pub segments: Vec<String>,
}

/// What may change on a customer.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    /// A new first name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// A new tier (`""` removes it).
    #[serde(default)]
    pub tier: Option<String>,
    /// A new language.
    #[serde(default)]
    pub lang: Option<Lang>,
    /// New consents.
    #[serde(default)]
    pub consent: Option<Consent>,
    /// The segments they are in now (`[]` takes them out of every segment).
    #[serde(default)]
    pub segments: Option<Vec<String>>,
}

/// A customer as central shows them to an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerView {
    /// The profile, as tills receive it.
    #[serde(flatten)]
    pub record: CustomerRecord,
    /// The savings they may spend.
    pub savings: Money,
    /// Savings earned and still inside their return window: not spendable yet.
    pub pending: Money,
    /// When the next pending savings become spendable: unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_release_at: Option<i64>,
    /// What they owe from offline overspends.
    pub debt: Money,
}

pub(crate) fn check_ref(customer: &CustomerRef) -> Result<()> {
    if customer.as_str().len() > MAX_REF_LEN {
        return Err(Error::invalid(format!(
            "customer: a reference is at most {MAX_REF_LEN} characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "first_name: at most {MAX_NAME_LEN} printable characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_segments(segments: &[String]) -> Result<()> {
    match segments_problem(segments) {
        Some(problem) => Err(Error::invalid(problem)),
        None => Ok(()),
    }
}

/// Puts `customer` in exactly `segments` (part of the caller's transaction).
fn write_segments(conn: &Connection, customer: &str, segments: &[String]) -> Result<()> {
    conn.execute(
        "DELETE FROM customer_segments WHERE customer = ?1",
        [customer],
    )?;
    let mut insert =
        conn.prepare_cached("INSERT INTO customer_segments (customer, segment) VALUES (?1, ?2)")?;
    for segment in segments {
        insert.execute(params![customer, segment])?;
    }
    Ok(())
}

/// The segments `customer` is in, by name.
pub fn segments(conn: &Connection, customer: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare_cached(
            "SELECT segment FROM customer_segments WHERE customer = ?1 ORDER BY segment",
        )?
        .query_map([customer], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

pub(crate) fn check_tier(tier: Option<&str>) -> Result<()> {
    match tier {
        Some(t) if t.len() > 64 || t.chars().any(char::is_control) => {
            Err(Error::invalid("tier: at most 64 printable characters"))
        }
        _ => Ok(()),
    }
}

/// Whether `customer` was erased.
pub fn is_erased(conn: &Connection, customer: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM erased_customers WHERE ref = ?1",
            [customer],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Creates a customer and their savings account.
pub fn create(conn: &mut Connection, new: &NewCustomer, now: i64) -> Result<CustomerView> {
    check_ref(&new.customer)?;
    check_name(&new.first_name)?;
    check_tier(new.tier.as_deref())?;
    check_segments(&new.segments)?;
    if new.savings < 0 {
        return Err(Error::invalid("savings: must not be negative"));
    }
    let currency = match new.currency {
        Some(c) => c,
        None => settings::currency(conn)?,
    };
    let tx = conn.transaction()?;
    let reference = new.customer.as_str();
    if is_erased(&tx, reference)? {
        return Err(Error::Conflict(
            "this reference belonged to an erased customer; use a new one".into(),
        ));
    }
    let inserted = tx.execute(
        "INSERT INTO customers (ref, first_name, tier, lang, consent_receipts, consent_marketing,
                                earn_only, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'central', ?7, ?7)
         ON CONFLICT (ref) DO NOTHING",
        params![
            reference,
            new.first_name,
            new.tier,
            new.lang.code(),
            new.consent.receipts,
            new.consent.marketing,
            now
        ],
    )?;
    if inserted == 0 {
        return Err(Error::Conflict(
            "a customer with this reference exists".into(),
        ));
    }
    tx.execute(
        "INSERT INTO savings_accounts (customer, currency, balance, updated_at)
         VALUES (?1, ?2, ?3, ?4)",
        params![reference, currency.code(), new.savings, now],
    )?;
    write_segments(&tx, reference, &new.segments)?;
    changes::record(&tx, DeltaKind::Customers, reference, None, now)?;
    changes::record(&tx, DeltaKind::Balances, reference, None, now)?;
    tx.commit()?;
    get(conn, reference)?.ok_or(Error::NotFound("customer"))
}

/// Creates the earn-only profile a till made for a customer it did not know. Returns
/// whether it was new (an existing customer is left as is).
pub fn create_local(
    conn: &Connection,
    customer: &CustomerRef,
    first_name: Option<&str>,
    lang: Option<Lang>,
    till: &TillId,
    now: i64,
) -> Result<bool> {
    check_ref(customer)?;
    let name = first_name.unwrap_or_default();
    check_name(name)?;
    let inserted = conn.execute(
        "INSERT INTO customers (ref, first_name, tier, lang, consent_receipts, consent_marketing,
                                earn_only, created_by, created_at, updated_at)
         VALUES (?1, ?2, NULL, ?3, 0, 0, 1, ?4, ?5, ?5)
         ON CONFLICT (ref) DO NOTHING",
        params![
            customer.as_str(),
            name,
            lang.unwrap_or_default().code(),
            format!("till:{till}"),
            now
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    conn.execute(
        "INSERT INTO savings_accounts (customer, currency, balance, updated_at)
         VALUES (?1, ?2, 0, ?3)",
        params![customer.as_str(), settings::currency(conn)?.code(), now],
    )?;
    changes::record(conn, DeltaKind::Customers, customer.as_str(), None, now)?;
    changes::record(conn, DeltaKind::Balances, customer.as_str(), None, now)?;
    Ok(true)
}

/// Changes a customer's profile.
pub fn update(
    conn: &mut Connection,
    customer: &str,
    patch: &CustomerPatch,
    now: i64,
) -> Result<CustomerView> {
    if let Some(name) = &patch.first_name {
        check_name(name)?;
    }
    check_tier(patch.tier.as_deref())?;
    if let Some(segments) = &patch.segments {
        check_segments(segments)?;
    }
    let tx = conn.transaction()?;
    let mut record = record(&tx, customer)?.ok_or(Error::NotFound("customer"))?;
    if let Some(name) = &patch.first_name {
        record.first_name.clone_from(name);
    }
    if let Some(tier) = &patch.tier {
        record.tier = (!tier.is_empty()).then(|| tier.clone());
    }
    if let Some(lang) = patch.lang {
        record.lang = lang;
    }
    if let Some(consent) = patch.consent {
        record.consent = consent;
    }
    tx.execute(
        "UPDATE customers SET first_name = ?2, tier = ?3, lang = ?4, consent_receipts = ?5,
                consent_marketing = ?6, updated_at = ?7 WHERE ref = ?1",
        params![
            customer,
            record.first_name,
            record.tier,
            record.lang.code(),
            record.consent.receipts,
            record.consent.marketing,
            now
        ],
    )?;
    if let Some(segments) = &patch.segments {
        write_segments(&tx, customer, segments)?;
    }
    changes::record(&tx, DeltaKind::Customers, customer, None, now)?;
    tx.commit()?;
    current(conn, customer, now)?.ok_or(Error::NotFound("customer"))
}

/// The profile of a customer as tills receive it.
pub fn record(conn: &Connection, customer: &str) -> Result<Option<CustomerRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT ref, first_name, tier, lang, consent_receipts, consent_marketing, earn_only
             FROM customers WHERE ref = ?1",
        )?
        .query_row([customer], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, bool>(4)?,
                row.get::<_, bool>(5)?,
                row.get::<_, bool>(6)?,
            ))
        })
        .optional()?;
    let Some((reference, first_name, tier, lang, receipts, marketing, earn_only)) = row else {
        return Ok(None);
    };
    Ok(Some(CustomerRecord {
        customer: CustomerRef::new(reference).map_err(Error::internal)?,
        first_name,
        tier,
        lang: Lang::from_code(&lang).unwrap_or_default(),
        consent: Consent {
            receipts,
            marketing,
        },
        earn_only,
        segments: segments(conn, customer)?,
    }))
}

/// A customer's spendable savings account: (balance, debt, updated_at). Pending savings
/// are [`pending::of`].
pub fn balance(conn: &Connection, customer: &str) -> Result<Option<(Money, Money, i64)>> {
    let row = conn
        .prepare_cached(
            "SELECT currency, balance, debt, updated_at FROM savings_accounts WHERE customer = ?1",
        )?
        .query_row([customer], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    row.map(|(currency, balance, debt, at)| {
        let currency = Currency::from_code(&currency).map_err(Error::internal)?;
        Ok((
            Money::new(balance, currency),
            Money::new(debt, currency),
            at,
        ))
    })
    .transpose()
}

/// A customer with their balance.
pub fn get(conn: &Connection, customer: &str) -> Result<Option<CustomerView>> {
    let Some(record) = record(conn, customer)? else {
        return Ok(None);
    };
    let (savings, debt, _) = balance(conn, customer)?.ok_or(Error::NotFound("savings account"))?;
    let Pending {
        amount,
        next_release_at,
    } = pending::of(conn, customer)?;
    Ok(Some(CustomerView {
        record,
        savings,
        pending: Money::new(amount, savings.currency),
        next_release_at,
        debt,
    }))
}

/// A customer with their balance at `now`: pending savings due by then are released
/// first.
pub fn current(conn: &mut Connection, customer: &str, now: i64) -> Result<Option<CustomerView>> {
    let tx = conn.transaction()?;
    pending::release_due(&tx, Some(customer), now)?;
    let view = get(&tx, customer)?;
    tx.commit()?;
    Ok(view)
}

/// Credits (positive) or debits (negative) a customer's savings by an administrator's
/// decision. A debit may not take the balance below zero.
pub fn adjust_savings(
    conn: &mut Connection,
    customer: &str,
    amount: i64,
    now: i64,
) -> Result<Money> {
    let tx = conn.transaction()?;
    pending::release_due(&tx, Some(customer), now)?;
    let (balance, _, _) = balance(&tx, customer)?.ok_or(Error::NotFound("customer"))?;
    let new = balance
        .amount
        .checked_add(amount)
        .filter(|n| *n >= 0)
        .ok_or_else(|| Error::invalid("amount: the balance cannot go below zero"))?;
    tx.execute(
        "UPDATE savings_accounts SET balance = ?2, updated_at = ?3 WHERE customer = ?1",
        params![customer, new, now],
    )?;
    changes::record(&tx, DeltaKind::Balances, customer, None, now)?;
    tx.commit()?;
    Ok(Money::new(new, balance.currency))
}

/// Creates or replaces a personal promotion.
pub fn put_promotion(conn: &mut Connection, promotion: &PersonalPromotion, now: i64) -> Result<()> {
    let tx = conn.transaction()?;
    if record(&tx, promotion.customer.as_str())?.is_none() {
        return Err(Error::NotFound("customer"));
    }
    let owner: Option<String> = tx
        .query_row(
            "SELECT customer FROM personal_promotions WHERE id = ?1",
            [promotion.id.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    if owner.is_some_and(|o| o != promotion.customer.as_str()) {
        return Err(Error::Conflict(
            "this personal promotion id belongs to another customer".into(),
        ));
    }
    tx.execute(
        "INSERT INTO personal_promotions (id, customer, promotion_id, enabled, valid_from,
                                          valid_until, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id) DO UPDATE SET promotion_id = excluded.promotion_id,
             enabled = excluded.enabled, valid_from = excluded.valid_from,
             valid_until = excluded.valid_until, updated_at = excluded.updated_at",
        params![
            promotion.id.as_str(),
            promotion.customer.as_str(),
            promotion.promotion_id.as_str(),
            promotion.enabled,
            promotion.valid_from,
            promotion.valid_until,
            now
        ],
    )?;
    changes::record(
        &tx,
        DeltaKind::PersonalPromotions,
        promotion.id.as_str(),
        Some(promotion.customer.as_str()),
        now,
    )?;
    tx.commit()?;
    Ok(())
}

/// Removes a personal promotion.
pub fn remove_promotion(conn: &mut Connection, id: &str, now: i64) -> Result<()> {
    let tx = conn.transaction()?;
    let owner: String = tx
        .query_row(
            "DELETE FROM personal_promotions WHERE id = ?1 RETURNING customer",
            [id],
            |row| row.get(0),
        )
        .optional()?
        .ok_or(Error::NotFound("personal promotion"))?;
    changes::record(&tx, DeltaKind::PersonalPromotions, id, Some(&owner), now)?;
    tx.commit()?;
    Ok(())
}

/// One personal promotion.
pub fn promotion(conn: &Connection, id: &str) -> Result<Option<PersonalPromotion>> {
    let row = conn
        .query_row(
            "SELECT id, customer, promotion_id, enabled, valid_from, valid_until
             FROM personal_promotions WHERE id = ?1",
            [id],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, bool>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                ))
            },
        )
        .optional()?;
    row.map(
        |(id, customer, promotion_id, enabled, valid_from, valid_until)| {
            Ok(PersonalPromotion {
                id: PromotionId::new(id).map_err(Error::internal)?,
                customer: CustomerRef::new(customer).map_err(Error::internal)?,
                promotion_id: PromotionId::new(promotion_id).map_err(Error::internal)?,
                enabled,
                valid_from,
                valid_until,
            })
        },
    )
    .transpose()
}

/// Erases a customer (see the module documentation). Returns the erasure time.
pub fn erase(conn: &mut Connection, customer: &str, now: i64) -> Result<i64> {
    let tx = conn.transaction()?;
    if record(&tx, customer)?.is_none() {
        return Err(Error::NotFound("customer"));
    }
    let promotions: Vec<String> = {
        let mut stmt =
            tx.prepare("SELECT id FROM personal_promotions WHERE customer = ?1 ORDER BY id")?;
        let rows = stmt.query_map([customer], |row| row.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for id in &promotions {
        changes::record(&tx, DeltaKind::PersonalPromotions, id, Some(customer), now)?;
    }
    tx.execute("DELETE FROM customers WHERE ref = ?1", [customer])?;
    // The account's movement log goes with the account (the store ledgers hold only
    // masked references, and stop receiving this account's spends).
    tx.execute(
        "DELETE FROM account_moves WHERE account = 'savings' AND holder = ?1",
        [customer],
    )?;
    tx.execute(
        "DELETE FROM issued_tokens WHERE subject = ?1 AND kind = 'customer_pass'",
        [customer],
    )?;
    tx.execute(
        "INSERT INTO erased_customers (ref, erased_at) VALUES (?1, ?2)",
        params![customer, now],
    )?;
    changes::record(&tx, DeltaKind::Customers, customer, None, now)?;
    changes::record(&tx, DeltaKind::Balances, customer, None, now)?;
    revocations::add_subject(
        &tx,
        TokenKind::CustomerPass,
        customer.as_bytes(),
        now.saturating_add(1),
        now,
    )?;
    tx.commit()?;
    Ok(now)
}

/// When `customer` was erased, if they were.
pub fn erased_at(conn: &Connection, customer: &str) -> Result<Option<i64>> {
    Ok(conn
        .query_row(
            "SELECT erased_at FROM erased_customers WHERE ref = ?1",
            [customer],
            |row| row.get(0),
        )
        .optional()?)
}
