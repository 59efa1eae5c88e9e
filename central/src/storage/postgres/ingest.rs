//! Journal ingestion on PostgreSQL: the same answers as SQLite's [`crate::journal`], from
//! the same rules, with the database keeping them when several nodes ingest at once.
//!
//! - **One transaction per batch**, one savepoint per event: a rejected event leaves no
//!   trace, and the batch is committed before the answer leaves.
//! - **Event ids are unique keys.** An event is first inserted `ON CONFLICT (id) DO
//!   NOTHING`. A second node applying the same batch waits at that insert for the first
//!   node's transaction; once it commits, the event is there and the second node answers
//!   `duplicate` without applying anything (`id_conflict` when the content differs); if
//!   it rolled back, the second node applies it. Never twice, never lost.
//! - **Balances move in the database**: the account row is locked (`FOR UPDATE`) for its
//!   currency and the overflow check, and changed by `UPDATE … SET balance = balance + …`
//!   — never a value read in one request and written back in another.
//! - Contention (deadlock, serialization failure, no free connection) runs the batch
//!   again from the start, at most [`super::ATTEMPTS`] times.

use deadpool_postgres::Transaction;
use sha2::{Digest, Sha256};
use tillpass_protocol::catalog::Catalog;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    AckOutcome, BatchAck, DeltaKind, Direction, EventAck, EventFlag, EventId, EventPayload,
    GiftCardMovement, JournalEvent, Movement, RejectCode, ReturnRecorded, TokenKind, VERSION,
    movement,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{ATTEMPTS, Pg};
use crate::enrol::Till;
use crate::error::{Error, Result};
use crate::journal::{self, RawBatch, rejected};
use crate::{customers, pending, receipts, settings, store_sales};

/// Applies a batch from `till` (the verified signer), as [`crate::journal::ingest`] does.
pub async fn ingest(pg: &Pg, till: &Till, batch: &RawBatch, now: i64) -> Result<BatchAck> {
    let ids = journal::batch_ids(till, batch)?;
    let mut attempt = 1;
    loop {
        match once(pg, till, &ids, &batch.events, now).await {
            Err(e) if e.is_busy() && attempt < ATTEMPTS => {
                tracing::debug!(error = %e, attempt, "database busy; ingesting again");
                attempt += 1;
            }
            result => return result,
        }
    }
}

async fn once(
    pg: &Pg,
    till: &Till,
    ids: &[EventId],
    events: &[serde_json::Value],
    now: i64,
) -> Result<BatchAck> {
    let admitted: Vec<_> = events
        .iter()
        .map(|raw| journal::admit(raw.clone(), till))
        .collect();
    let mut client = pg.client().await?;
    let mut tx = client.transaction().await?;
    lock_accounts(&tx, &admitted).await?;
    let mut acks = Vec::with_capacity(ids.len());
    for (id, admitted) in ids.iter().zip(admitted) {
        let (outcome, flags) = match admitted {
            Err(refused) => (refused, vec![]),
            Ok(event) => one(&mut tx, &event, now).await?,
        };
        acks.push(EventAck {
            id: *id,
            outcome,
            flags,
        });
    }
    tx.commit().await?;
    Ok(BatchAck { v: VERSION, acks })
}

/// Locks, in one order (savings by customer, then gift cards by reference), every account
/// the batch's events move, before any event is applied: batches of different tills on
/// the same customers then wait for each other instead of deadlocking (which PostgreSQL
/// would only notice after its `deadlock_timeout`).
async fn lock_accounts(
    tx: &Transaction<'_>,
    admitted: &[std::result::Result<JournalEvent, AckOutcome>],
) -> Result<()> {
    let mut customers = std::collections::BTreeSet::new();
    let mut cards = std::collections::BTreeSet::new();
    for event in admitted.iter().flatten() {
        match event.payload.movement().map(|m| m.account) {
            Some(movement::Account::Savings(customer)) => {
                customers.insert(customer.as_str());
            }
            Some(movement::Account::GiftCard(card)) => {
                cards.insert(card.as_str());
            }
            None => {}
        }
    }
    if !customers.is_empty() {
        let customers: Vec<&str> = customers.into_iter().collect();
        exec(
            tx,
            "SELECT 1 FROM savings_accounts WHERE customer = ANY($1) ORDER BY customer
             FOR UPDATE",
            &[&customers],
        )
        .await?;
    }
    if !cards.is_empty() {
        let cards: Vec<&str> = cards.into_iter().collect();
        exec(
            tx,
            "SELECT 1 FROM gift_cards WHERE ref = ANY($1) ORDER BY ref FOR UPDATE",
            &[&cards],
        )
        .await?;
    }
    Ok(())
}

/// Runs a statement, prepared once per connection.
async fn exec(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.execute(&statement, params).await?)
}

/// The row a query answers, if any (prepared once per connection).
async fn opt(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_opt(&statement, params).await?)
}

/// The one row a query answers (prepared once per connection).
async fn one_row(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query_one(&statement, params).await?)
}

/// Every row a query answers (prepared once per connection).
async fn rows(tx: &Transaction<'_>, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
    let statement = tx.prepare_cached(sql).await?;
    Ok(tx.query(&statement, params).await?)
}

/// What applying one event gave.
enum Applied {
    Accepted(Vec<EventFlag>),
    Rejected(RejectCode, String),
}

async fn one(
    tx: &mut Transaction<'_>,
    event: &JournalEvent,
    now: i64,
) -> Result<(AckOutcome, Vec<EventFlag>)> {
    let canonical = serde_json::to_string(event).map_err(Error::internal)?;
    let sha = hex::encode(Sha256::digest(canonical.as_bytes()));
    let id = event.id.to_hex();
    let seq = i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?;
    let sp = tx.savepoint("event").await?;
    let inserted = exec(
        &sp,
        "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at, sha256,
                                 payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        &[
            &id,
            &event.till.as_str(),
            &event.store.as_str(),
            &seq,
            &event.payload.kind(),
            &event.occurred_at,
            &now,
            &sha,
            &canonical,
        ],
    )
    .await?;
    if inserted == 0 {
        sp.rollback().await?;
        let seen: String = one_row(tx, "SELECT sha256 FROM events WHERE id = $1", &[&id])
            .await?
            .get(0);
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
    match apply(&sp, event, now).await? {
        Applied::Accepted(flags) => {
            sp.commit().await?;
            Ok((AckOutcome::Accepted, flags))
        }
        Applied::Rejected(code, detail) => {
            sp.rollback().await?;
            Ok((rejected(code, detail), vec![]))
        }
    }
}

async fn apply(tx: &Transaction<'_>, event: &JournalEvent, now: i64) -> Result<Applied> {
    let id = event.id.to_hex();
    match &event.payload {
        EventPayload::SaleClosed(sale) => {
            if let Some(customer) = &sale.customer {
                let consents: Option<i64> = opt(
                    tx,
                    "SELECT consent_receipts FROM customers WHERE ref = $1",
                    &[&customer.as_str()],
                )
                .await?
                .map(|r| r.get(0));
                if consents.is_some_and(|c| c != 0) {
                    exec(
                        tx,
                        "INSERT INTO receipts (till, sale_id, customer, event_id, body,
                                               created_at)
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (till, sale_id) DO NOTHING",
                        &[
                            &event.till.as_str(),
                            &sale.sale_id.as_str(),
                            &customer.as_str(),
                            &id,
                            &receipts::body(event, sale)?,
                            &now,
                        ],
                    )
                    .await?;
                    exec(
                        tx,
                        crate::whatsapp::store::QUEUE_RECEIPT,
                        &[
                            &event.till.as_str(),
                            &sale.sale_id.as_str(),
                            &customer.as_str(),
                            &now,
                        ],
                    )
                    .await?;
                }
            }
            let added = exec(
                tx,
                "INSERT INTO store_sales (store, sale_id, till, event_id, closed_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (store, sale_id) DO NOTHING",
                &[
                    &event.store.as_str(),
                    &sale.sale_id.as_str(),
                    &event.till.as_str(),
                    &id,
                    &event.occurred_at,
                ],
            )
            .await?;
            if added == 0 {
                tracing::warn!(
                    store = %event.store,
                    till = %event.till,
                    sale = %sale.sale_id,
                    "a sale id already used at another till of the store: not offered to its other tills"
                );
            } else {
                change(tx, DeltaKind::Sales, &id, Some(event.store.as_str()), now).await?;
            }
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::TokenUsed(used) => {
            let token = used.token_id.to_hex();
            // A gift-card QR pays until its card is empty, at any store.
            let other: Option<String> = if used.kind == TokenKind::GiftCard {
                None
            } else {
                opt(
                    tx,
                    "SELECT store FROM token_uses WHERE token_id = $1 AND store != $2 LIMIT 1",
                    &[&token, &event.store.as_str()],
                )
                .await?
                .map(|r| r.get(0))
            };
            exec(
                tx,
                "INSERT INTO token_uses (token_id, event_id, kind, subject, store, till, used_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    &token,
                    &id,
                    &used.kind.code(),
                    &used.subject.as_str(),
                    &event.store.as_str(),
                    &event.till.as_str(),
                    &event.occurred_at,
                ],
            )
            .await?;
            let mut flags = vec![];
            if let Some(other) = other {
                let detail = format!("token also used at store {other}");
                flag(
                    tx,
                    EventFlag::TokenAtTwoStores,
                    &id,
                    Some(&token),
                    &detail,
                    now,
                )
                .await?;
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
                release_hold(tx, card.as_str(), hold.as_str(), now).await?;
            }
            moves(tx, &id, event.occurred_at, &movement, now).await
        }
        EventPayload::GiftCardHeld(h) => {
            let known = opt(
                tx,
                "SELECT 1 FROM gift_cards WHERE ref = $1",
                &[&h.card.as_str()],
            )
            .await?
            .is_some();
            if !known {
                return Ok(Applied::Rejected(
                    RejectCode::UnknownGiftCard,
                    "no such gift card".into(),
                ));
            }
            exec(
                tx,
                "INSERT INTO gift_card_holds (card, hold_id, amount, currency, expires_at,
                                              event_id)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (card, hold_id) DO NOTHING",
                &[
                    &h.card.as_str(),
                    &h.hold_id.as_str(),
                    &h.amount.amount,
                    &h.amount.currency.code(),
                    &h.expires_at,
                    &id,
                ],
            )
            .await?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::GiftCardReleased(r) => {
            release_hold(tx, r.card.as_str(), r.hold_id.as_str(), now).await?;
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::CustomerCreated(c) => {
            if is_erased(tx, c.customer.as_str()).await? {
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
            customers::check_ref(&c.customer)?;
            let name = c.first_name.as_deref().unwrap_or_default();
            customers::check_name(name)?;
            let inserted = exec(
                tx,
                "INSERT INTO customers (ref, first_name, tier, lang, consent_receipts,
                                            consent_marketing, earn_only, created_by,
                                            created_at, updated_at)
                     VALUES ($1, $2, NULL, $3, 0, 0, 1, $4, $5, $5)
                     ON CONFLICT (ref) DO NOTHING",
                &[
                    &c.customer.as_str(),
                    &name,
                    &c.lang.unwrap_or_default().code(),
                    &format!("till:{}", event.till),
                    &now,
                ],
            )
            .await?;
            if inserted > 0 {
                let currency = currency(tx).await?;
                exec(
                    tx,
                    "INSERT INTO savings_accounts (customer, currency, balance, updated_at)
                     VALUES ($1, $2, 0, $3)",
                    &[&c.customer.as_str(), &currency.code(), &now],
                )
                .await?;
                change(tx, DeltaKind::Customers, c.customer.as_str(), None, now).await?;
                change(tx, DeltaKind::Balances, c.customer.as_str(), None, now).await?;
            }
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::ReturnRecorded(ret) => {
            let Some(detail) = record_return(tx, event, ret, now).await? else {
                return Ok(Applied::Accepted(vec![]));
            };
            let sale = ret.original_sale_id.as_str();
            flag(
                tx,
                EventFlag::ReturnExceedsSale,
                &id,
                Some(sale),
                &detail,
                now,
            )
            .await?;
            Ok(Applied::Accepted(vec![EventFlag::ReturnExceedsSale]))
        }
        _ => Ok(Applied::Rejected(
            RejectCode::Invalid,
            "this kind of event is not handled".into(),
        )),
    }
}

/// Applies one movement of money (`tillpass_protocol::sync::movement`), as
/// [`crate::journal`] does on SQLite.
async fn moves(
    tx: &Transaction<'_>,
    event_id: &str,
    occurred_at: i64,
    movement: &Movement<'_>,
    now: i64,
) -> Result<Applied> {
    let sale = movement.sale.map(|s| s.as_str());
    match movement.account {
        movement::Account::Savings(customer) => {
            let direction = match movement.direction {
                Direction::Earn => {
                    let start = occurred_at.min(now);
                    let release_at = start.saturating_add(window_secs(tx, start).await?);
                    SavingsMove::Earn { release_at, sale }
                }
                Direction::Spend => SavingsMove::Spend,
                Direction::GiveBack => SavingsMove::GiveBack,
                Direction::TakeBack => SavingsMove::TakeBack { sale },
            };
            savings(
                tx,
                event_id,
                customer.as_str(),
                movement.amount,
                direction,
                now,
            )
            .await
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
            gift_card(tx, event_id, card.as_str(), movement.amount, direction, now).await
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

/// The accounts money moves on.
#[derive(Clone, Copy)]
enum Account {
    Savings,
    GiftCard,
}

impl Account {
    fn lock(self) -> &'static str {
        match self {
            Account::Savings => {
                "SELECT currency, balance, debt FROM savings_accounts WHERE customer = $1 FOR UPDATE"
            }
            Account::GiftCard => {
                "SELECT currency, balance, debt FROM gift_cards WHERE ref = $1 FOR UPDATE"
            }
        }
    }

    fn update(self, direction: Move) -> &'static str {
        match (self, direction) {
            (Account::Savings, Move::Credit) => {
                "UPDATE savings_accounts SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE customer = $1"
            }
            (Account::Savings, Move::Debit) => {
                "UPDATE savings_accounts SET balance = GREATEST(balance - $2, 0),
                 debt = debt + GREATEST($2 - balance, 0), updated_at = $3 WHERE customer = $1"
            }
            (Account::Savings, Move::Clamp) => {
                "UPDATE savings_accounts SET balance = GREATEST(balance - $2, 0),
                 updated_at = $3 WHERE customer = $1"
            }
            (Account::GiftCard, Move::Credit) => {
                "UPDATE gift_cards SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE ref = $1"
            }
            (Account::GiftCard, Move::Debit) => {
                "UPDATE gift_cards SET balance = GREATEST(balance - $2, 0),
                 debt = debt + GREATEST($2 - balance, 0), updated_at = $3 WHERE ref = $1"
            }
            (Account::GiftCard, Move::Clamp) => {
                "UPDATE gift_cards SET balance = GREATEST(balance - $2, 0),
                 updated_at = $3 WHERE ref = $1"
            }
        }
    }
}

/// A locked account: its currency, balance and debt.
struct Locked {
    currency: String,
    balance: i64,
    debt: i64,
}

async fn lock(tx: &Transaction<'_>, account: Account, key: &str) -> Result<Option<Locked>> {
    Ok(opt(tx, account.lock(), &[&key]).await?.map(|r| Locked {
        currency: r.get(0),
        balance: r.get(1),
        debt: r.get(2),
    }))
}

/// What a move did: the shortfall turned into debt, and whether a clamp stopped at zero.
struct Moved {
    short: i64,
    clamped: bool,
}

/// Moves `amount` (not negative) on a locked account, in the database; `None` (nothing
/// moved) when the balance or the debt would overflow.
async fn move_money(
    tx: &Transaction<'_>,
    account: Account,
    key: &str,
    held: &Locked,
    amount: i64,
    direction: Move,
    now: i64,
) -> Result<Option<Moved>> {
    let moved = match direction {
        Move::Credit => held
            .balance
            .checked_add(amount.saturating_sub(held.debt).max(0))
            .map(|_| Moved {
                short: 0,
                clamped: false,
            }),
        Move::Debit => {
            let short = amount.saturating_sub(held.balance).max(0);
            held.debt.checked_add(short).map(|_| Moved {
                short,
                clamped: false,
            })
        }
        Move::Clamp => Some(Moved {
            short: 0,
            clamped: amount > held.balance,
        }),
    };
    if moved.is_some() {
        exec(tx, account.update(direction), &[&key, &amount, &now]).await?;
    }
    Ok(moved)
}

/// How a savings event moves a customer's savings.
#[derive(Clone, Copy)]
enum SavingsMove<'a> {
    Earn {
        release_at: i64,
        sale: Option<&'a str>,
    },
    Spend,
    GiveBack,
    TakeBack {
        sale: Option<&'a str>,
    },
}

async fn savings(
    tx: &Transaction<'_>,
    event_id: &str,
    customer: &str,
    amount: Money,
    direction: SavingsMove<'_>,
    now: i64,
) -> Result<Applied> {
    // The account row first, then its pending entries: one order for every transaction,
    // so two batches on one customer wait for each other instead of deadlocking.
    let mut held = lock(tx, Account::Savings, customer).await?;
    if held.is_some() && release_due(tx, customer, now).await? {
        held = lock(tx, Account::Savings, customer).await?;
    }
    let Some(held) = held else {
        return Ok(if is_erased(tx, customer).await? {
            Applied::Rejected(RejectCode::CustomerErased, "the customer was erased".into())
        } else {
            Applied::Rejected(RejectCode::UnknownCustomer, "no such customer".into())
        });
    };
    if held.currency != amount.currency.code() {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the savings account is in {}", held.currency),
        ));
    }
    let (direction, amount_now) = match direction {
        SavingsMove::Earn { release_at, sale } if release_at > now => {
            exec(
                tx,
                "INSERT INTO pending_savings (customer, amount, release_at, sale_id, event_id)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&customer, &amount.amount, &release_at, &sale, &event_id],
            )
            .await?;
            (Move::Credit, 0)
        }
        SavingsMove::Earn { .. } | SavingsMove::GiveBack => (Move::Credit, amount.amount),
        SavingsMove::Spend => (Move::Debit, amount.amount),
        SavingsMove::TakeBack { sale } => {
            let from_pending = take_pending(tx, customer, sale, amount.amount).await?;
            (Move::Clamp, amount.amount.saturating_sub(from_pending))
        }
    };
    let account = Account::Savings;
    let Some(moved) = move_money(tx, account, customer, &held, amount_now, direction, now).await?
    else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    change(tx, DeltaKind::Balances, customer, None, now).await?;
    let mut flags = vec![];
    if moved.short > 0 {
        let short = Money::new(moved.short, amount.currency);
        debt(tx, event_id, "savings", customer, short, now).await?;
        flags.push(EventFlag::OverspendDebt);
    }
    if moved.clamped {
        let detail = "earn reversal stopped at zero";
        flag(
            tx,
            EventFlag::ReversalClamped,
            event_id,
            Some(customer),
            detail,
            now,
        )
        .await?;
        flags.push(EventFlag::ReversalClamped);
    }
    Ok(Applied::Accepted(flags))
}

async fn gift_card(
    tx: &Transaction<'_>,
    event_id: &str,
    card: &str,
    amount: Money,
    direction: Move,
    now: i64,
) -> Result<Applied> {
    let Some(held) = lock(tx, Account::GiftCard, card).await? else {
        return Ok(Applied::Rejected(
            RejectCode::UnknownGiftCard,
            "no such gift card".into(),
        ));
    };
    if held.currency != amount.currency.code() {
        return Ok(Applied::Rejected(
            RejectCode::CurrencyMismatch,
            format!("the gift card is in {}", held.currency),
        ));
    }
    let account = Account::GiftCard;
    let Some(moved) = move_money(tx, account, card, &held, amount.amount, direction, now).await?
    else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    change(tx, DeltaKind::GiftCards, card, None, now).await?;
    let mut flags = vec![];
    if moved.short > 0 {
        let short = Money::new(moved.short, amount.currency);
        debt(tx, event_id, "gift_card", card, short, now).await?;
        flags.push(EventFlag::OverspendDebt);
    }
    Ok(Applied::Accepted(flags))
}

/// Credits `customer`'s pending savings whose time has come (as
/// [`crate::pending::release_due`] does): the rows are deleted and their sum credited in
/// one transaction, so two nodes never release one entry twice. The caller holds the
/// account's row.
/// Answers whether anything was released.
pub(crate) async fn release_due(tx: &Transaction<'_>, customer: &str, now: i64) -> Result<bool> {
    let due: Option<i64> = one_row(
        tx,
        "WITH due AS (DELETE FROM pending_savings WHERE customer = $1 AND release_at <= $2
                          RETURNING amount)
             SELECT sum(amount)::BIGINT FROM due",
        &[&customer, &now],
    )
    .await?
    .get(0);
    let Some(due) = due.filter(|d| *d > 0) else {
        return Ok(false);
    };
    let Some(held) = lock(tx, Account::Savings, customer).await? else {
        return Ok(false);
    };
    let account = Account::Savings;
    if move_money(tx, account, customer, &held, due, Move::Credit, now)
        .await?
        .is_none()
    {
        return Err(Error::internal("savings balance overflow"));
    }
    change(tx, DeltaKind::Balances, customer, None, now).await?;
    Ok(true)
}

/// Takes up to `amount` out of `customer`'s pending savings, the sale's own first, then
/// what releases last (as [`crate::pending::take`] does); answers how much it took.
async fn take_pending(
    tx: &Transaction<'_>,
    customer: &str,
    sale: Option<&str>,
    amount: i64,
) -> Result<i64> {
    let entries = rows(
        tx,
        "SELECT id, amount FROM pending_savings WHERE customer = $1
             ORDER BY coalesce(sale_id = $2, false) DESC, release_at DESC, id DESC
             FOR UPDATE",
        &[&customer, &sale],
    )
    .await?;
    let mut taken = 0_i64;
    for row in entries {
        let (id, held): (i64, i64) = (row.get(0), row.get(1));
        let want = amount.saturating_sub(taken);
        if want <= 0 {
            break;
        }
        let part = held.min(want);
        if part == held {
            exec(tx, "DELETE FROM pending_savings WHERE id = $1", &[&id]).await?;
        } else {
            exec(
                tx,
                "UPDATE pending_savings SET amount = amount - $2 WHERE id = $1",
                &[&id, &part],
            )
            .await?;
        }
        taken = taken.saturating_add(part);
    }
    Ok(taken)
}

/// The return window of the catalog in force at `at` (as [`crate::pending::window_secs`]).
async fn window_secs(tx: &Transaction<'_>, at: i64) -> Result<i64> {
    let mut row = opt(
        tx,
        "SELECT id, return_window_secs FROM catalogs WHERE activates_at <= $1
             ORDER BY activates_at DESC, id DESC LIMIT 1",
        &[&at],
    )
    .await?;
    if row.is_none() {
        row = opt(
            tx,
            "SELECT id, return_window_secs FROM catalogs WHERE activates_at > $1
                 ORDER BY activates_at, id LIMIT 1",
            &[&at],
        )
        .await?;
    }
    let Some(row) = row else {
        return Ok(0);
    };
    let (id, known): (i64, Option<i64>) = (row.get(0), row.get(1));
    if let Some(secs) = known {
        return Ok(secs);
    }
    let cbor: Vec<u8> = one_row(tx, "SELECT body_cbor FROM catalogs WHERE id = $1", &[&id])
        .await?
        .get(0);
    let catalog: Catalog = ciborium::from_reader(cbor.as_slice()).map_err(Error::internal)?;
    let secs = pending::catalog_window_secs(&catalog);
    exec(
        tx,
        "UPDATE catalogs SET return_window_secs = $2 WHERE id = $1",
        &[&id, &secs],
    )
    .await?;
    Ok(secs)
}

/// Records a return against a sale of the event's store (as
/// [`crate::store_sales::record_return`]); what is wrong when the sale's returns now take
/// back more than it sold.
async fn record_return(
    tx: &Transaction<'_>,
    event: &JournalEvent,
    ret: &ReturnRecorded,
    now: i64,
) -> Result<Option<String>> {
    let sale: Option<String> = opt(
        tx,
        "SELECT event_id FROM store_sales WHERE store = $1 AND sale_id = $2",
        &[&event.store.as_str(), &ret.original_sale_id.as_str()],
    )
    .await?
    .map(|r| r.get(0));
    let Some(sale) = sale else {
        return Ok(None);
    };
    let added = exec(
        tx,
        "INSERT INTO store_returns (store, return_id, sale_event, till, event_id,
                                        returned_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (store, return_id) DO NOTHING",
        &[
            &event.store.as_str(),
            &ret.return_id.as_str(),
            &sale,
            &event.till.as_str(),
            &event.id.to_hex(),
            &event.occurred_at,
        ],
    )
    .await?;
    if added == 0 {
        tracing::warn!(
            store = %event.store,
            till = %event.till,
            return_id = %ret.return_id,
            "a return id already used in the store: not offered to its other tills"
        );
        return Ok(None);
    }
    change(tx, DeltaKind::Sales, &sale, Some(event.store.as_str()), now).await?;
    // The flag is a follow-up for central IT, not a reason to refuse the till's journal.
    match over_returned(tx, &sale, ret).await {
        Ok(found) => Ok(found),
        Err(e) => {
            tracing::warn!(error = %e, sale = %ret.original_sale_id, "returns not checked against the sale");
            Ok(None)
        }
    }
}

async fn over_returned(
    tx: &Transaction<'_>,
    sale: &str,
    ret: &ReturnRecorded,
) -> Result<Option<String>> {
    let EventPayload::SaleClosed(closed) = stored_event(tx, sale).await?.payload else {
        return Err(Error::internal("a store sale is not a sale event"));
    };
    let rows = rows(
        tx,
        "SELECT e.payload FROM store_returns r JOIN events e ON e.id = r.event_id
             WHERE r.sale_event = $1",
        &[&sale],
    )
    .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let payload: String = row.get(0);
        let event: JournalEvent = serde_json::from_str(&payload).map_err(Error::internal)?;
        if let EventPayload::ReturnRecorded(r) = event.payload {
            records.push(r);
        }
    }
    Ok(store_sales::over_returned_lines(&closed, &records, ret))
}

async fn stored_event(tx: &Transaction<'_>, id: &str) -> Result<JournalEvent> {
    let payload: String = one_row(tx, "SELECT payload FROM events WHERE id = $1", &[&id])
        .await?
        .get(0);
    serde_json::from_str(&payload).map_err(Error::internal)
}

async fn release_hold(tx: &Transaction<'_>, card: &str, hold: &str, now: i64) -> Result<()> {
    exec(
        tx,
        "UPDATE gift_card_holds SET released_at = $3
         WHERE card = $1 AND hold_id = $2 AND released_at IS NULL",
        &[&card, &hold, &now],
    )
    .await?;
    Ok(())
}

async fn is_erased(tx: &Transaction<'_>, customer: &str) -> Result<bool> {
    Ok(opt(
        tx,
        "SELECT 1 FROM erased_customers WHERE ref = $1",
        &[&customer],
    )
    .await?
    .is_some())
}

/// The currency of accounts created without one (as [`crate::settings::currency`]).
async fn currency(tx: &Transaction<'_>) -> Result<Currency> {
    let text: Option<String> = opt(
        tx,
        "SELECT value FROM settings WHERE key = $1",
        &[&settings::POLICY_KEY],
    )
    .await?
    .map(|r| r.get(0));
    Ok(settings::policy_from(text)?
        .max_savings_spend_per_customer
        .currency)
}

/// Appends to the change log (as [`crate::changes::record`]).
async fn change(
    tx: &Transaction<'_>,
    kind: DeltaKind,
    key: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO changes (kind, key, owner, at) VALUES ($1, $2, $3, $4)",
        &[&kind.segment(), &key, &owner, &now],
    )
    .await?;
    Ok(())
}

async fn debt(
    tx: &Transaction<'_>,
    event_id: &str,
    account: &str,
    holder: &str,
    amount: Money,
    now: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO debts (event_id, account, holder, amount, currency, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &event_id,
            &account,
            &holder,
            &amount.amount,
            &amount.currency.code(),
            &now,
        ],
    )
    .await?;
    let detail = format!(
        "offline overspend of {} minor units recorded as debt",
        amount.amount
    );
    flag(
        tx,
        EventFlag::OverspendDebt,
        event_id,
        Some(holder),
        &detail,
        now,
    )
    .await
}

async fn flag(
    tx: &Transaction<'_>,
    kind: EventFlag,
    event_id: &str,
    subject: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<()> {
    exec(
        tx,
        "INSERT INTO flags (kind, event_id, subject, detail, created_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[&kind.code(), &event_id, &subject, &detail, &now],
    )
    .await?;
    Ok(())
}
