//! Journal ingestion: a till's batch, applied event by event, each answered
//! `accepted | duplicate | rejected{code, detail}`.
//!
//! - **Idempotent by event id.** An accepted event is stored with the SHA-256 of its
//!   canonical JSON; the same id again is `duplicate` (same content) or `id_conflict`.
//!   A rejected event is not stored: a retry is judged afresh.
//! - **One savepoint per event**, inside one transaction per batch: a rejected event
//!   leaves no trace, and the batch is durable before the answer leaves.
//! - **Balances.** Earns, redemptions, reversals and gift-card movements change the
//!   authoritative balances, each as `tillpass_protocol::sync::movement` says it moves
//!   money (the rule the till's reconciliation reads too). An earn is held **pending** until its return window closes
//!   ([`crate::pending`]); an earn reversed by a return comes out of pending savings first
//!   (the returned sale's own), then out of the spendable balance, never below zero
//!   (flagged `reversal_clamped` when it stops there). Redemptions spend only the
//!   spendable balance. Money coming in pays the holder's debt first. A debit the
//!   balance cannot cover (an offline overspend) takes the balance to zero and records the
//!   shortfall as a debt, flagged `overspend_debt`: accepted, never dropped.
//! - **Tokens.** Every token use is recorded; one pass or voucher token id used at two
//!   stores is flagged `token_at_two_stores` (a gift-card QR pays at any store until its
//!   card is empty).
//! - **Receipts.** A closed sale of a customer whose consent allows digital receipts
//!   produces one ([`crate::receipts`]); for anyone else, none is made.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{
    AckOutcome, BatchAck, DeltaKind, Direction, EventAck, EventError, EventFlag, EventId,
    EventPayload, GiftCardMovement, JournalEvent, MAX_BATCH_EVENTS, Movement, RejectCode, TillId,
    TokenKind, VERSION, movement,
};

use crate::enrol::Till;
use crate::error::{Error, Result};
use crate::{changes, customers, pending, receipts, store_sales};

/// A batch as it arrives: events are parsed one by one, so that one malformed event is
/// rejected alone.
#[derive(Debug, Clone, Deserialize)]
pub struct RawBatch {
    /// The batch version.
    pub v: u16,
    /// The till that sends it.
    pub till: TillId,
    /// The events, unparsed.
    pub events: Vec<serde_json::Value>,
}

/// Applies a batch from `till` (the verified signer).
pub fn ingest(conn: &mut Connection, till: &Till, batch: RawBatch, now: i64) -> Result<BatchAck> {
    let ids = batch_ids(till, &batch)?;
    let mut tx = conn.transaction()?;
    let mut acks = Vec::with_capacity(ids.len());
    for (id, raw) in ids.into_iter().zip(batch.events) {
        let (outcome, flags) = match admit(raw, till) {
            Err(refused) => (refused, vec![]),
            Ok(event) => one(&mut tx, &event, now)?,
        };
        acks.push(EventAck { id, outcome, flags });
    }
    tx.commit()?;
    Ok(BatchAck { v: VERSION, acks })
}

/// The event ids of a batch from `till`, once the batch as a whole is acceptable (its
/// version, its till, its size, an id on every event): the check every backend makes
/// before it applies anything.
pub(crate) fn batch_ids(till: &Till, batch: &RawBatch) -> Result<Vec<EventId>> {
    if batch.v != VERSION {
        return Err(Error::invalid(format!(
            "unsupported batch version {}",
            batch.v
        )));
    }
    if batch.till != till.id {
        return Err(Error::invalid(
            "till: the batch names another till than its signer",
        ));
    }
    if batch.events.is_empty() || batch.events.len() > MAX_BATCH_EVENTS {
        return Err(Error::invalid(format!(
            "events: a batch holds 1 to {MAX_BATCH_EVENTS} events"
        )));
    }
    let mut ids = Vec::with_capacity(batch.events.len());
    for raw in &batch.events {
        let id = raw
            .get("id")
            .and_then(serde_json::Value::as_str)
            .and_then(|t| t.parse::<EventId>().ok())
            .ok_or_else(|| Error::invalid("events: every event needs an id of 32 hex digits"))?;
        ids.push(id);
    }
    Ok(ids)
}

/// Whether central takes an event from `till` before looking at any account: it parses,
/// it passes [`JournalEvent::check`] — the bounds of `tillpass_protocol::sync::limits`,
/// the same functions a till runs before it stores an event — and it names the till and
/// the store of its signer. The refusal, as the event's acknowledgement, when not.
pub fn admit(raw: serde_json::Value, till: &Till) -> std::result::Result<JournalEvent, AckOutcome> {
    let event = serde_json::from_value::<JournalEvent>(raw)
        .map_err(|e| rejected(RejectCode::Malformed, e.to_string()))?;
    if let Err(e) = event.check() {
        let code = match e {
            EventError::UnsupportedVersion(_) => RejectCode::UnsupportedVersion,
            _ => RejectCode::Invalid,
        };
        return Err(rejected(code, e.to_string()));
    }
    if event.till != till.id {
        return Err(rejected(
            RejectCode::WrongTill,
            "the event names another till",
        ));
    }
    if event.store != till.store {
        return Err(rejected(
            RejectCode::WrongStore,
            "the event names another store",
        ));
    }
    Ok(event)
}

pub(crate) fn rejected(code: RejectCode, detail: impl Into<String>) -> AckOutcome {
    let mut detail: String = detail.into();
    if detail.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|i| detail.is_char_boundary(*i))
            .unwrap_or(0);
        detail.truncate(cut);
    }
    AckOutcome::Rejected { code, detail }
}

/// What applying one event gave.
enum Applied {
    Accepted(Vec<EventFlag>),
    Rejected(RejectCode, String),
}

fn one(
    tx: &mut Transaction<'_>,
    event: &JournalEvent,
    now: i64,
) -> Result<(AckOutcome, Vec<EventFlag>)> {
    let canonical = serde_json::to_string(event).map_err(Error::internal)?;
    let sha = hex::encode(Sha256::digest(canonical.as_bytes()));
    let id = event.id.to_hex();
    let seen: Option<String> = tx
        .query_row("SELECT sha256 FROM events WHERE id = ?1", [&id], |row| {
            row.get(0)
        })
        .optional()?;
    if let Some(seen) = seen {
        return Ok(if seen == sha {
            (AckOutcome::Duplicate, vec![])
        } else {
            (
                rejected(
                    RejectCode::IdConflict,
                    "another event with this id was accepted",
                ),
                vec![],
            )
        });
    }
    let mut sp = tx.savepoint()?;
    let seq = i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?;
    sp.execute(
        "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at, sha256, payload)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            event.till.as_str(),
            event.store.as_str(),
            seq,
            event.payload.kind(),
            event.occurred_at,
            now,
            sha,
            canonical
        ],
    )?;
    match apply(&sp, event, now)? {
        Applied::Accepted(flags) => {
            sp.commit()?;
            Ok((AckOutcome::Accepted, flags))
        }
        Applied::Rejected(code, detail) => {
            sp.rollback()?;
            Ok((rejected(code, detail), vec![]))
        }
    }
}

fn apply(conn: &Connection, event: &JournalEvent, now: i64) -> Result<Applied> {
    let id = event.id.to_hex();
    match &event.payload {
        EventPayload::SaleClosed(sale) => {
            if receipts::produce(conn, event, sale, now)?
                && let Some(customer) = &sale.customer
            {
                crate::whatsapp::store::queue_receipt_sqlite(
                    conn,
                    event.till.as_str(),
                    sale.sale_id.as_str(),
                    customer.as_str(),
                    now,
                )?;
            }
            store_sales::record_sale(conn, event, sale, now)?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::TokenUsed(used) => {
            let token = used.token_id.to_hex();
            // A gift-card QR pays until its card is empty, at any store: the card's balance
            // (and a debt if tills overspent it offline) is the check, not where it was read.
            let other: Option<String> = if used.kind == TokenKind::GiftCard {
                None
            } else {
                conn.query_row(
                    "SELECT store FROM token_uses WHERE token_id = ?1 AND store != ?2 LIMIT 1",
                    params![token, event.store.as_str()],
                    |row| row.get(0),
                )
                .optional()?
            };
            conn.execute(
                "INSERT INTO token_uses (token_id, event_id, kind, subject, store, till, used_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    token,
                    id,
                    used.kind.code(),
                    used.subject.as_str(),
                    event.store.as_str(),
                    event.till.as_str(),
                    event.occurred_at
                ],
            )?;
            let mut flags = vec![];
            if let Some(other) = other {
                flag(
                    conn,
                    EventFlag::TokenAtTwoStores,
                    &id,
                    Some(&token),
                    &format!("token also used at store {other}"),
                    now,
                )?;
                flags.push(EventFlag::TokenAtTwoStores);
            }
            Ok(Applied::Accepted(flags))
        }
        EventPayload::SavingsEarned(_)
        | EventPayload::SavingsRedeemed(_)
        | EventPayload::SavingsReversed(_)
        | EventPayload::GiftCardDebited(_)
        | EventPayload::GiftCardCredited(_) => {
            let Some(movement) = event.payload.movement() else {
                return Err(Error::internal("a money event moves no money"));
            };
            if let EventPayload::GiftCardDebited(GiftCardMovement {
                card,
                hold_id: Some(hold),
                ..
            }) = &event.payload
            {
                release_hold(conn, card.as_str(), hold.as_str(), now)?;
            }
            moves(conn, &id, event.occurred_at, &movement, now)
        }
        EventPayload::GiftCardHeld(h) => {
            if card_account(conn, h.card.as_str())?.is_none() {
                return Ok(Applied::Rejected(
                    RejectCode::UnknownGiftCard,
                    "no such gift card".into(),
                ));
            }
            conn.execute(
                "INSERT INTO gift_card_holds (card, hold_id, amount, currency, expires_at, event_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (card, hold_id) DO NOTHING",
                params![
                    h.card.as_str(),
                    h.hold_id.as_str(),
                    h.amount.amount,
                    h.amount.currency.code(),
                    h.expires_at,
                    id
                ],
            )?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::GiftCardReleased(r) => {
            release_hold(conn, r.card.as_str(), r.hold_id.as_str(), now)?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::CustomerCreated(c) => {
            if customers::is_erased(conn, c.customer.as_str())? {
                return Ok(Applied::Rejected(
                    RejectCode::CustomerErased,
                    "the customer was erased".into(),
                ));
            }
            if c.customer.as_str().len() > customers::MAX_REF_LEN {
                return Ok(Applied::Rejected(
                    RejectCode::Invalid,
                    "customer: reference too long".into(),
                ));
            }
            customers::create_local(
                conn,
                &c.customer,
                c.first_name.as_deref(),
                c.lang,
                &event.till,
                now,
            )?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::ReturnRecorded(ret) => {
            let Some(detail) = store_sales::record_return(conn, event, ret, now)? else {
                return Ok(Applied::Accepted(vec![]));
            };
            flag(
                conn,
                EventFlag::ReturnExceedsSale,
                &id,
                Some(ret.original_sale_id.as_str()),
                &detail,
                now,
            )?;
            Ok(Applied::Accepted(vec![EventFlag::ReturnExceedsSale]))
        }
        _ => Ok(Applied::Rejected(
            RejectCode::Invalid,
            "this kind of event is not handled".into(),
        )),
    }
}

/// Applies one movement of money ([`tillpass_protocol::sync::movement`]): a savings
/// movement to the customer's savings (an earn held pending until its release time), a
/// gift-card movement to the card.
fn moves(
    conn: &Connection,
    event_id: &str,
    occurred_at: i64,
    movement: &Movement<'_>,
    now: i64,
) -> Result<Applied> {
    let sale = movement.sale.map(|s| s.as_str());
    match movement.account {
        movement::Account::Savings(customer) => {
            let direction = match movement.direction {
                Direction::Earn => SavingsMove::Earn {
                    release_at: pending::release_time(conn, occurred_at, now)?,
                    sale,
                },
                Direction::Spend => SavingsMove::Spend,
                Direction::GiveBack => SavingsMove::GiveBack,
                Direction::TakeBack => SavingsMove::TakeBack { sale },
            };
            savings(
                conn,
                event_id,
                customer.as_str(),
                movement.amount,
                direction,
                now,
            )
        }
        movement::Account::GiftCard(card) => {
            let direction = match movement.direction {
                Direction::Spend => Move::Debit,
                Direction::GiveBack => Move::Credit,
                Direction::Earn | Direction::TakeBack => {
                    return Ok(Applied::Rejected(
                        RejectCode::Invalid,
                        "a gift card neither earns nor takes back".into(),
                    ));
                }
            };
            gift_card(
                conn,
                event_id,
                card.as_str(),
                movement.amount,
                direction,
                now,
            )
        }
    }
}

/// Which way money moves on an account.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Move {
    /// In: pays the debt first, then the balance.
    Credit,
    /// Out: what the balance cannot cover becomes debt.
    Debit,
    /// Out, but stopping at zero (an earn taken back by a return).
    Clamp,
}

/// An account's state: (balance, debt), both in the account's currency.
struct Account {
    balance: Money,
    debt: Money,
}

/// The new balance and debt, the shortfall turned into debt, and whether a clamp hit zero.
fn moved(account: &Account, amount: i64, direction: Move) -> Option<(i64, i64, i64, bool)> {
    let (balance, debt) = (account.balance.amount, account.debt.amount);
    match direction {
        Move::Credit => {
            let paid = amount.min(debt);
            Some((balance.checked_add(amount - paid)?, debt - paid, 0, false))
        }
        Move::Debit => {
            let covered = amount.min(balance);
            let short = amount - covered;
            Some((balance - covered, debt.checked_add(short)?, short, false))
        }
        Move::Clamp => Some(((balance - amount).max(0), debt, 0, amount > balance)),
    }
}

fn savings_account(conn: &Connection, customer: &str) -> Result<Option<Account>> {
    Ok(customers::balance(conn, customer)?.map(|(balance, debt, _)| Account { balance, debt }))
}

fn card_account(conn: &Connection, card: &str) -> Result<Option<Account>> {
    Ok(crate::giftcards::get(conn, card)?.map(|c| Account {
        balance: c.balance,
        debt: c.debt,
    }))
}

/// How a savings event moves a customer's savings.
#[derive(Clone, Copy)]
enum SavingsMove<'a> {
    /// Earned by `sale`: pending until `release_at`.
    Earn {
        release_at: i64,
        sale: Option<&'a str>,
    },
    /// Redeemed: out of the spendable balance (a shortfall becomes debt).
    Spend,
    /// A redemption reversed: back into the spendable balance.
    GiveBack,
    /// An earn of `sale` reversed: out of pending first, then spendable, stopping at zero.
    TakeBack { sale: Option<&'a str> },
}

fn savings(
    conn: &Connection,
    event_id: &str,
    customer: &str,
    amount: Money,
    direction: SavingsMove<'_>,
    now: i64,
) -> Result<Applied> {
    pending::release_due(conn, Some(customer), now)?;
    let Some(account) = savings_account(conn, customer)? else {
        return Ok(if customers::is_erased(conn, customer)? {
            Applied::Rejected(RejectCode::CustomerErased, "the customer was erased".into())
        } else {
            Applied::Rejected(RejectCode::UnknownCustomer, "no such customer".into())
        });
    };
    if account.balance.currency != amount.currency {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the savings account is in {}", account.balance.currency),
        ));
    }
    let (direction, amount_now) = match direction {
        SavingsMove::Earn { release_at, sale } if release_at > now => {
            pending::hold(conn, customer, amount.amount, release_at, sale, event_id)?;
            (Move::Credit, 0)
        }
        SavingsMove::Earn { .. } | SavingsMove::GiveBack => (Move::Credit, amount.amount),
        SavingsMove::Spend => (Move::Debit, amount.amount),
        SavingsMove::TakeBack { sale } => {
            let from_pending = pending::take(conn, customer, sale, amount.amount)?;
            (Move::Clamp, amount.amount.saturating_sub(from_pending))
        }
    };
    let Some((balance, debt, short, clamped)) = moved(&account, amount_now, direction) else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    conn.execute(
        "UPDATE savings_accounts SET balance = ?2, debt = ?3, updated_at = ?4 WHERE customer = ?1",
        params![customer, balance, debt, now],
    )?;
    changes::record(conn, DeltaKind::Balances, customer, None, now)?;
    let mut flags = vec![];
    if short > 0 {
        debt_row(
            conn,
            event_id,
            "savings",
            customer,
            Money::new(short, amount.currency),
            now,
        )?;
        flags.push(EventFlag::OverspendDebt);
    }
    if clamped {
        flag(
            conn,
            EventFlag::ReversalClamped,
            event_id,
            Some(customer),
            "earn reversal stopped at zero",
            now,
        )?;
        flags.push(EventFlag::ReversalClamped);
    }
    Ok(Applied::Accepted(flags))
}

fn gift_card(
    conn: &Connection,
    event_id: &str,
    card: &str,
    amount: Money,
    direction: Move,
    now: i64,
) -> Result<Applied> {
    let Some(account) = card_account(conn, card)? else {
        return Ok(Applied::Rejected(
            RejectCode::UnknownGiftCard,
            "no such gift card".into(),
        ));
    };
    if account.balance.currency != amount.currency {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the gift card is in {}", account.balance.currency),
        ));
    }
    let Some((balance, debt, short, _)) = moved(&account, amount.amount, direction) else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    conn.execute(
        "UPDATE gift_cards SET balance = ?2, debt = ?3, updated_at = ?4 WHERE ref = ?1",
        params![card, balance, debt, now],
    )?;
    changes::record(conn, DeltaKind::GiftCards, card, None, now)?;
    let mut flags = vec![];
    if short > 0 {
        debt_row(
            conn,
            event_id,
            "gift_card",
            card,
            Money::new(short, amount.currency),
            now,
        )?;
        flags.push(EventFlag::OverspendDebt);
    }
    Ok(Applied::Accepted(flags))
}

fn release_hold(conn: &Connection, card: &str, hold: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE gift_card_holds SET released_at = ?3
         WHERE card = ?1 AND hold_id = ?2 AND released_at IS NULL",
        params![card, hold, now],
    )?;
    Ok(())
}

fn debt_row(
    conn: &Connection,
    event_id: &str,
    account: &str,
    holder: &str,
    amount: Money,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO debts (event_id, account, holder, amount, currency, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            event_id,
            account,
            holder,
            amount.amount,
            amount.currency.code(),
            now
        ],
    )?;
    flag(
        conn,
        EventFlag::OverspendDebt,
        event_id,
        Some(holder),
        &format!(
            "offline overspend of {} minor units recorded as debt",
            amount.amount
        ),
        now,
    )
}

fn flag(
    conn: &Connection,
    kind: EventFlag,
    event_id: &str,
    subject: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<()> {
    conn.execute(
        "INSERT INTO flags (kind, event_id, subject, detail, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![kind.code(), event_id, subject, detail, now],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tillpass_protocol::money::Currency;

    fn account(balance: i64, debt: i64) -> Account {
        Account {
            balance: Money::new(balance, Currency::EUR),
            debt: Money::new(debt, Currency::EUR),
        }
    }

    #[test]
    fn money_moves_as_documented() {
        assert_eq!(
            moved(&account(100, 0), 30, Move::Debit),
            Some((70, 0, 0, false))
        );
        assert_eq!(
            moved(&account(100, 0), 130, Move::Debit),
            Some((0, 30, 30, false))
        );
        assert_eq!(
            moved(&account(0, 30), 50, Move::Credit),
            Some((20, 0, 0, false))
        );
        assert_eq!(
            moved(&account(0, 30), 10, Move::Credit),
            Some((0, 20, 0, false))
        );
        assert_eq!(
            moved(&account(10, 0), 30, Move::Clamp),
            Some((0, 0, 0, true))
        );
        assert_eq!(moved(&account(i64::MAX, 0), 1, Move::Credit), None);
    }
}
