//! The live lookup (`POST /v1/lookup`): a till meeting a customer or a gift card it does
//! not hold asks for the current balance, and uses it for that scan instead of the
//! token's snapshot. Read-only: savings pending release whose time has come count as
//! spendable (as the next write releases them), a debt is taken off, and nothing is
//! written. The rule is here once ([`customer_answer`], [`gift_card_answer`]); each backend
//! reads the facts it needs ([`answer`] on SQLite, `storage::postgres::lookup`).
//!
//! Scope: a lookup that finds its customer or card adds the asking till's store to its
//! scope (`Database::see_lookup`, called by the route after the answer, [`crate::scope`]),
//! so that store's tills receive the subject's current state and its changes from then
//! on.

use rusqlite::Connection;
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    GiftCardRecord, GiftCardStatus, LookupAnswer, LookupKind, LookupRequest,
};

use crate::error::Result;
use crate::{customers, giftcards};

/// What central holds of a customer for a lookup: their tier, spendable savings, debt
/// and the pending savings due by the lookup's time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerFacts {
    /// Their tier's name.
    pub tier: Option<String>,
    /// The spendable balance.
    pub balance: Money,
    /// What they owe, minor units.
    pub debt: i64,
    /// Pending savings whose release time has come, minor units.
    pub due: i64,
}

/// The answer for a customer: `facts` is `None` for an unknown or erased customer.
pub fn customer_answer(
    request: &LookupRequest,
    facts: Option<CustomerFacts>,
    now: i64,
) -> LookupAnswer {
    let none = LookupAnswer::not_found(request.kind, request.subject.clone(), now);
    let Some(facts) = facts else {
        return none;
    };
    let spendable = facts
        .balance
        .amount
        .saturating_add(facts.due)
        .saturating_sub(facts.debt)
        .max(0);
    LookupAnswer {
        found: true,
        tier: facts.tier,
        balance: Some(Money::new(spendable, facts.balance.currency)),
        ..none
    }
}

/// The answer for a gift card: `card` is `None` for an unknown card; a blocked or
/// expired card is not found either.
pub fn gift_card_answer(
    request: &LookupRequest,
    card: Option<GiftCardRecord>,
    now: i64,
) -> LookupAnswer {
    let none = LookupAnswer::not_found(request.kind, request.subject.clone(), now);
    let Some(card) = card else {
        return none;
    };
    let expired = card.expires_at.is_some_and(|e| e <= now);
    if card.status == GiftCardStatus::Blocked || expired {
        return none;
    }
    let spendable = card.balance.amount.saturating_sub(card.debt.amount).max(0);
    LookupAnswer {
        found: true,
        balance: Some(Money::new(spendable, card.balance.currency)),
        expires_at: card.expires_at,
        ..none
    }
}

/// Central's answer to a lookup at `now`, on SQLite.
pub fn answer(conn: &Connection, request: &LookupRequest, now: i64) -> Result<LookupAnswer> {
    let subject = request.subject.as_str();
    match request.kind {
        LookupKind::Customer => {
            let facts = customer_facts(conn, subject, now)?;
            Ok(customer_answer(request, facts, now))
        }
        LookupKind::GiftCard => Ok(gift_card_answer(
            request,
            giftcards::get(conn, subject)?,
            now,
        )),
    }
}

fn customer_facts(conn: &Connection, subject: &str, now: i64) -> Result<Option<CustomerFacts>> {
    if customers::is_erased(conn, subject)? {
        return Ok(None);
    }
    let Some(record) = customers::record(conn, subject)? else {
        return Ok(None);
    };
    let Some((balance, debt, _)) = customers::balance(conn, subject)? else {
        return Ok(None);
    };
    let due: i64 = conn
        .prepare_cached(
            "SELECT coalesce(sum(amount), 0) FROM pending_savings
             WHERE customer = ?1 AND release_at <= ?2",
        )?
        .query_row(rusqlite::params![subject, now], |row| row.get(0))?;
    Ok(Some(CustomerFacts {
        tier: record.tier,
        balance,
        debt: debt.amount,
        due,
    }))
}
