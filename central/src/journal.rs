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
//! - **In the order money moved, not the order it arrived** ([`crate::reconcile`]): every
//!   movement goes into its account's log (`account_moves`) at its place — the till's
//!   clock, then till and sequence number — and what follows it is moved again, so the
//!   balances, the debts (one row per spend beyond the balance at its time) and the
//!   account's flags (one `overspend_debt`, one `reversal_clamped`) are the same whatever
//!   order the tills' journals arrive in. Each spend and each flag is also recorded for the
//!   store ledgers ([`crate::ledger`]).
//! - **Tokens.** Every token use is recorded; one pass or voucher token id used at two
//!   stores is flagged `token_at_two_stores`, once per token, naming its stores in the order
//!   they saw it (a gift-card QR pays at any store until its card is empty).
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

use crate::auth::KeptNonce;
use crate::enrol::Till;
use crate::error::{Error, Result};
use crate::reconcile::{self, Dir, Outcome, State};
use crate::{changes, customers, ledger, pending, receipts, store_sales};

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

/// Applies a batch from `till` (the verified signer), keeping the upload's `nonce` in
/// the same transaction when given (a replay applies nothing: [`crate::auth::replayed`]).
pub fn ingest(
    conn: &mut Connection,
    till: &Till,
    batch: RawBatch,
    now: i64,
    nonce: Option<&KeptNonce>,
) -> Result<BatchAck> {
    let ids = batch_ids(till, &batch)?;
    let mut tx = conn.transaction()?;
    if let Some(nonce) = nonce
        && !crate::auth::keep_nonce(&tx, nonce, now)?
    {
        return Err(crate::auth::replayed());
    }
    let mut acks = Vec::with_capacity(ids.len());
    let mut seen = crate::scope::Seen::default();
    for (id, raw) in ids.into_iter().zip(batch.events) {
        let (outcome, flags) = match admit(raw, till) {
            Err(refused) => (refused, vec![]),
            Ok(event) => {
                let (outcome, flags) = one(&mut tx, &event, now)?;
                if matches!(outcome, AckOutcome::Accepted) {
                    seen.add(&event, now);
                }
                (outcome, flags)
            }
        };
        acks.push(EventAck { id, outcome, flags });
    }
    crate::scope::see_all(&tx, till.store.as_str(), &seen, now)?;
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
            if other.is_some() {
                token_flag(conn, &token, now)?;
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
            moves(conn, event, &movement, now)
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
            conn.execute(
                &ledger::sqlite(ledger::RETURN_FLAG),
                params![ret.original_sale_id.as_str(), now],
            )?;
            Ok(Applied::Accepted(vec![EventFlag::ReturnExceedsSale]))
        }
        _ => Ok(Applied::Rejected(
            RejectCode::Invalid,
            "this kind of event is not handled".into(),
        )),
    }
}

/// Why a gift-card movement that earns or takes back is refused.
pub(crate) const NOT_A_CARD_MOVE: &str = "a gift card neither earns nor takes back";

/// A gift-card movement's direction on the card: spending debits it, giving back credits
/// it; `None` for directions a card does not have (earn, take back), refused as invalid.
pub(crate) fn card_direction(direction: Direction) -> Option<Dir> {
    match direction {
        Direction::Spend => Some(Dir::Debit),
        Direction::GiveBack => Some(Dir::Credit),
        Direction::Earn | Direction::TakeBack => None,
    }
}

/// Applies one movement of money ([`tillpass_protocol::sync::movement`]): a savings
/// movement to the customer's savings (an earn held pending until its release time), a
/// gift-card movement to the card.
fn moves(
    conn: &Connection,
    event: &JournalEvent,
    movement: &Movement<'_>,
    now: i64,
) -> Result<Applied> {
    let sale = movement.sale.map(|s| s.as_str());
    match movement.account {
        movement::Account::Savings(customer) => {
            let direction = match movement.direction {
                Direction::Earn => SavingsMove::Earn {
                    release_at: pending::release_time(conn, event.occurred_at, now)?,
                    sale,
                },
                Direction::Spend => SavingsMove::Spend,
                Direction::GiveBack => SavingsMove::GiveBack,
                Direction::TakeBack => SavingsMove::TakeBack { sale },
            };
            savings(
                conn,
                event,
                customer.as_str(),
                movement.amount,
                direction,
                now,
            )
        }
        movement::Account::GiftCard(card) => {
            let Some(direction) = card_direction(movement.direction) else {
                return Ok(Applied::Rejected(
                    RejectCode::Invalid,
                    NOT_A_CARD_MOVE.into(),
                ));
            };
            gift_card(conn, event, card.as_str(), movement.amount, direction, now)
        }
    }
}

/// An account's state: (balance, debt), both in the account's currency.
struct Account {
    balance: Money,
    debt: Money,
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
    event: &JournalEvent,
    customer: &str,
    amount: Money,
    direction: SavingsMove<'_>,
    now: i64,
) -> Result<Applied> {
    let event_id = event.id.to_hex();
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
            pending::hold(conn, customer, amount.amount, release_at, sale, &event_id)?;
            (Dir::Credit, 0)
        }
        SavingsMove::Earn { .. } | SavingsMove::GiveBack => (Dir::Credit, amount.amount),
        SavingsMove::Spend => (Dir::Debit, amount.amount),
        SavingsMove::TakeBack { sale } => {
            let from_pending = pending::take(conn, customer, sale, amount.amount)?;
            (Dir::Clamp, amount.amount.saturating_sub(from_pending))
        }
    };
    let holder = Holder {
        account: "savings",
        key: customer,
        currency: amount.currency,
    };
    let Some(moved) = log_move(conn, &holder, &account, event, amount_now, direction, now)? else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    conn.execute(
        "UPDATE savings_accounts SET balance = ?2, debt = ?3, updated_at = ?4 WHERE customer = ?1",
        params![customer, moved.account.balance, moved.account.debt, now],
    )?;
    changes::record(conn, DeltaKind::Balances, customer, None, now)?;
    Ok(Applied::Accepted(moved.flags))
}

fn gift_card(
    conn: &Connection,
    event: &JournalEvent,
    card: &str,
    amount: Money,
    direction: Dir,
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
    let holder = Holder {
        account: "gift_card",
        key: card,
        currency: amount.currency,
    };
    let Some(moved) = log_move(
        conn,
        &holder,
        &account,
        event,
        amount.amount,
        direction,
        now,
    )?
    else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    conn.execute(
        "UPDATE gift_cards SET balance = ?2, debt = ?3, updated_at = ?4 WHERE ref = ?1",
        params![card, moved.account.balance, moved.account.debt, now],
    )?;
    changes::record(conn, DeltaKind::GiftCards, card, None, now)?;
    Ok(Applied::Accepted(moved.flags))
}

/// The account a movement is on.
struct Holder<'a> {
    /// `savings` or `gift_card`.
    account: &'static str,
    /// The customer or the card.
    key: &'a str,
    /// The account's currency.
    currency: tillpass_protocol::money::Currency,
}

/// What logging a movement gave: the account's new state and the event's flags.
struct Logged {
    account: State,
    flags: Vec<EventFlag>,
}

/// Puts a movement in its place in the account's log ([`crate::reconcile`]), moves the
/// movements after it again, and judges the account's debts and flags again when any
/// shortfall or clamp changed. `None` on overflow (nothing written).
fn log_move(
    conn: &Connection,
    holder: &Holder<'_>,
    account: &Account,
    event: &JournalEvent,
    amount: i64,
    dir: Dir,
    now: i64,
) -> Result<Option<Logged>> {
    let key = event.id.to_hex();
    let seq = i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?;
    let later = log_rows(
        conn,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = ?1 AND holder = ?2
               AND (at, till, seq) > (?3, ?4, ?5) ORDER BY at, till, seq"
        ),
        params![
            holder.account,
            holder.key,
            event.occurred_at,
            event.till.as_str(),
            seq
        ],
    )?;
    let current = State {
        balance: account.balance.amount,
        debt: account.debt.amount,
    };
    let place = reconcile::Place {
        at: event.occurred_at,
        till: event.till.as_str().to_owned(),
        seq,
        key,
    };
    let Some(replayed) = reconcile::replay(current, place, dir, amount, &later) else {
        return Ok(None);
    };
    let new = &replayed.new;
    conn.execute(
        "INSERT INTO account_moves (account, holder, at, event_id, direction, amount,
             before_balance, before_debt, after_balance, after_debt, short, clamped, store, till,
             source, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        params![
            holder.account,
            holder.key,
            new.place.at,
            new.place.key,
            dir.code(),
            amount,
            new.before.balance,
            new.before.debt,
            new.did.after.balance,
            new.did.after.debt,
            new.did.short,
            new.did.clamped,
            event.store.as_str(),
            event.till.as_str(),
            (dir == Dir::Debit).then(|| reconcile::spend_source(event).code()),
            seq
        ],
    )?;
    for row in &replayed.changed {
        conn.execute(
            "UPDATE account_moves SET before_balance = ?4, before_debt = ?5, after_balance = ?6,
                 after_debt = ?7, short = ?8, clamped = ?9
             WHERE account = ?1 AND holder = ?2 AND event_id = ?3",
            params![
                holder.account,
                holder.key,
                row.place.key,
                row.before.balance,
                row.before.debt,
                row.did.after.balance,
                row.did.after.debt,
                row.did.short,
                row.did.clamped
            ],
        )?;
    }
    let judged = new.did.short > 0 || new.did.clamped || replayed.judged_again;
    if judged {
        judge(conn, holder, now)?;
    }
    ledger_changes(conn, holder, &replayed, current, judged, now)?;
    let mut flags = vec![];
    if new.did.short > 0 {
        flags.push(EventFlag::OverspendDebt);
    }
    if new.did.clamped {
        flags.push(EventFlag::ReversalClamped);
    }
    Ok(Some(Logged {
        account: replayed.account,
        flags,
    }))
}

/// Records in the change log what the store ledgers must learn of a movement
/// ([`crate::ledger`]): the spend itself, the spends whose outcome changed, and the flags.
fn ledger_changes(
    conn: &Connection,
    holder: &Holder<'_>,
    replayed: &reconcile::Replayed,
    before: State,
    judged: bool,
    now: i64,
) -> Result<()> {
    let spend = ledger::sqlite(ledger::SPEND);
    if replayed.new.dir == Dir::Debit {
        conn.execute(&spend, params![replayed.new.place.key, now])?;
    }
    for row in replayed.changed.iter().filter(|r| r.dir == Dir::Debit) {
        conn.execute(&spend, params![row.place.key, now])?;
    }
    let crossed = (before.debt > 0) != (replayed.account.debt > 0);
    if judged || crossed {
        conn.execute(
            &ledger::sqlite(ledger::SPENDS_OF_ACCOUNT),
            params![holder.account, holder.key, now, ledger::oldest_kept(now)],
        )?;
        conn.execute(
            &ledger::sqlite(ledger::FLAGS_OF_ACCOUNT),
            params![holder.account, holder.key, now],
        )?;
    }
    Ok(())
}

/// The columns of a log row, in the order [`log_rows`] reads them.
const LOG_COLUMNS: &str = "at, till, seq, event_id, direction, amount, before_balance,
     before_debt, after_balance, after_debt, short, clamped";

fn log_rows(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<reconcile::Row>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params, |r| {
        let code: String = r.get(4)?;
        Ok(reconcile::Row {
            place: reconcile::Place {
                at: r.get(0)?,
                till: r.get(1)?,
                seq: r.get(2)?,
                key: r.get(3)?,
            },
            dir: Dir::parse(&code).unwrap_or(Dir::Credit),
            amount: r.get(5)?,
            before: State {
                balance: r.get(6)?,
                debt: r.get(7)?,
            },
            did: reconcile::Stepped {
                after: State {
                    balance: r.get(8)?,
                    debt: r.get(9)?,
                },
                short: r.get(10)?,
                clamped: r.get(11)?,
            },
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Writes an account's debts (one per spend that went beyond the balance at its time) and
/// its flags (one `overspend_debt`, one `reversal_clamped`) from its whole log.
fn judge(conn: &Connection, holder: &Holder<'_>, now: i64) -> Result<()> {
    let rows = log_rows(
        conn,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = ?1 AND holder = ?2
             ORDER BY at, till, seq"
        ),
        params![holder.account, holder.key],
    )?;
    let outcome = Outcome::of(&rows);
    let of_log =
        "event_id IN (SELECT event_id FROM account_moves WHERE account = ?1 AND holder = ?2)";
    conn.execute(
        &format!("DELETE FROM debts WHERE account = ?1 AND holder = ?2 AND {of_log}"),
        params![holder.account, holder.key],
    )?;
    for (event_id, short) in &outcome.shorts {
        conn.execute(
            "INSERT INTO debts (event_id, account, holder, amount, currency, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                event_id,
                holder.account,
                holder.key,
                short,
                holder.currency.code(),
                now
            ],
        )?;
    }
    let first_short = outcome.shorts.first().map(|(id, _)| id.as_str());
    let detail = reconcile::overspend_detail(outcome.overspent());
    one_flag(
        conn,
        holder,
        EventFlag::OverspendDebt,
        first_short,
        &detail,
        now,
    )?;
    let first_clamp = outcome.clamps.first().map(String::as_str);
    one_flag(
        conn,
        holder,
        EventFlag::ReversalClamped,
        first_clamp,
        reconcile::CLAMP_DETAIL,
        now,
    )
}

/// Keeps one flag of `kind` for the account: raised by `event_id` with `detail`, or none.
/// A flag that stands already keeps its time.
fn one_flag(
    conn: &Connection,
    holder: &Holder<'_>,
    kind: EventFlag,
    event_id: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<()> {
    let standing: Option<i64> = conn
        .query_row(
            "SELECT min(created_at) FROM flags WHERE kind = ?1 AND subject = ?2 AND event_id IN
                 (SELECT event_id FROM account_moves WHERE account = ?3 AND holder = ?2)",
            params![kind.code(), holder.key, holder.account],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    conn.execute(
        "DELETE FROM flags WHERE kind = ?1 AND subject = ?2 AND event_id IN
             (SELECT event_id FROM account_moves WHERE account = ?3 AND holder = ?2)",
        params![kind.code(), holder.key, holder.account],
    )?;
    if let Some(event_id) = event_id {
        flag(
            conn,
            kind,
            event_id,
            Some(holder.key),
            detail,
            standing.unwrap_or(now),
        )?;
    }
    Ok(())
}

fn release_hold(conn: &Connection, card: &str, hold: &str, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE gift_card_holds SET released_at = ?3
         WHERE card = ?1 AND hold_id = ?2 AND released_at IS NULL",
        params![card, hold, now],
    )?;
    Ok(())
}

/// Keeps one `token_at_two_stores` flag per token, whatever order its uses arrive in:
/// raised by the first use (in the order they happened) at another store than the first
/// use's, naming every store in order.
fn token_flag(conn: &Connection, token: &str, now: i64) -> Result<()> {
    let uses: Vec<(String, String)> = conn
        .prepare_cached(
            "SELECT store, event_id FROM token_uses WHERE token_id = ?1 ORDER BY used_at, event_id",
        )?
        .query_map([token], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let Some((detail, event_id)) = reconcile::two_stores(&uses) else {
        return Ok(());
    };
    let kind = EventFlag::TokenAtTwoStores.code();
    let standing: Option<i64> = conn.query_row(
        "SELECT min(created_at) FROM flags WHERE kind = ?1 AND subject = ?2",
        params![kind, token],
        |r| r.get(0),
    )?;
    conn.execute(
        "DELETE FROM flags WHERE kind = ?1 AND subject = ?2",
        params![kind, token],
    )?;
    flag(
        conn,
        EventFlag::TokenAtTwoStores,
        &event_id,
        Some(token),
        &detail,
        standing.unwrap_or(now),
    )?;
    conn.execute(&ledger::sqlite(ledger::TOKEN_FLAG), params![token, now])?;
    Ok(())
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
