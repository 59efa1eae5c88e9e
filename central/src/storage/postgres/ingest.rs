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
use crate::reconcile::{self, Dir, Outcome, State};
use crate::{customers, ledger, pending, receipts, settings, store_sales};

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
    let mut seen = crate::scope::Seen::default();
    for (id, admitted) in ids.iter().zip(admitted) {
        let (outcome, flags) = match admitted {
            Err(refused) => (refused, vec![]),
            Ok(event) => {
                let (outcome, flags) = one(&mut tx, &event, now).await?;
                if matches!(outcome, AckOutcome::Accepted) {
                    seen.add(&event, now);
                }
                (outcome, flags)
            }
        };
        acks.push(EventAck {
            id: *id,
            outcome,
            flags,
        });
    }
    super::scope::see_all(&tx, till.store.as_str(), &seen, now).await?;
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
            if other.is_some() {
                token_flag(tx, &token, now).await?;
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
            moves(tx, event, &movement, now).await
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
            exec(tx, ledger::RETURN_FLAG, &[&sale, &now]).await?;
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
    event: &JournalEvent,
    movement: &Movement<'_>,
    now: i64,
) -> Result<Applied> {
    let occurred_at = event.occurred_at;
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
                event,
                customer.as_str(),
                movement.amount,
                direction,
                now,
            )
            .await
        }
        movement::Account::GiftCard(card) => {
            let direction = match movement.direction {
                Direction::Spend => Dir::Debit,
                Direction::GiveBack => Dir::Credit,
                Direction::Earn | Direction::TakeBack => {
                    return Ok(Applied::Rejected(
                        RejectCode::Invalid,
                        "a gift card neither earns nor takes back".into(),
                    ));
                }
            };
            gift_card(tx, event, card.as_str(), movement.amount, direction, now).await
        }
    }
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

    /// Money in (pending savings released): pays the debt first, then the balance.
    fn credit(self) -> &'static str {
        match self {
            Account::Savings => {
                "UPDATE savings_accounts SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE customer = $1"
            }
            Account::GiftCard => {
                "UPDATE gift_cards SET balance = balance + GREATEST($2 - debt, 0),
                 debt = GREATEST(debt - $2, 0), updated_at = $3 WHERE ref = $1"
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

/// Credits `amount` (not negative) to a locked account, in the database; `false`
/// (nothing moved) when the balance would overflow.
async fn credit(
    tx: &Transaction<'_>,
    account: Account,
    key: &str,
    held: &Locked,
    amount: i64,
    now: i64,
) -> Result<bool> {
    let state = State {
        balance: held.balance,
        debt: held.debt,
    };
    if reconcile::step(state, amount, Dir::Credit).is_none() {
        return Ok(false);
    }
    exec(tx, account.credit(), &[&key, &amount, &now]).await?;
    Ok(true)
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
    event: &JournalEvent,
    customer: &str,
    amount: Money,
    direction: SavingsMove<'_>,
    now: i64,
) -> Result<Applied> {
    let event_id = event.id.to_hex();
    let event_id = event_id.as_str();
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
            (Dir::Credit, 0)
        }
        SavingsMove::Earn { .. } | SavingsMove::GiveBack => (Dir::Credit, amount.amount),
        SavingsMove::Spend => (Dir::Debit, amount.amount),
        SavingsMove::TakeBack { sale } => {
            let from_pending = take_pending(tx, customer, sale, amount.amount).await?;
            (Dir::Clamp, amount.amount.saturating_sub(from_pending))
        }
    };
    let holder = Holder {
        account: Account::Savings,
        key: customer,
        currency: amount.currency,
    };
    let Some(logged) = log_move(tx, &holder, &held, event, amount_now, direction, now).await?
    else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    change(tx, DeltaKind::Balances, customer, None, now).await?;
    Ok(Applied::Accepted(logged))
}

async fn gift_card(
    tx: &Transaction<'_>,
    event: &JournalEvent,
    card: &str,
    amount: Money,
    direction: Dir,
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
    let holder = Holder {
        account: Account::GiftCard,
        key: card,
        currency: amount.currency,
    };
    let Some(logged) = log_move(tx, &holder, &held, event, amount.amount, direction, now).await?
    else {
        return Ok(Applied::Rejected(
            RejectCode::Invalid,
            "amount: balance overflow".into(),
        ));
    };
    change(tx, DeltaKind::GiftCards, card, None, now).await?;
    Ok(Applied::Accepted(logged))
}

/// The account a movement is on.
struct Holder<'a> {
    account: Account,
    key: &'a str,
    currency: Currency,
}

impl Holder<'_> {
    fn code(&self) -> &'static str {
        match self.account {
            Account::Savings => "savings",
            Account::GiftCard => "gift_card",
        }
    }
}

const LOG_COLUMNS: &str = "at, till, seq, event_id, direction, amount, before_balance,
     before_debt, after_balance, after_debt, short, clamped";

fn log_row(r: &Row) -> reconcile::Row {
    let code: String = r.get(4);
    let clamped: i64 = r.get(11);
    reconcile::Row {
        place: reconcile::Place {
            at: r.get(0),
            till: r.get(1),
            seq: r.get(2),
            key: r.get(3),
        },
        dir: Dir::parse(&code).unwrap_or(Dir::Credit),
        amount: r.get(5),
        before: State {
            balance: r.get(6),
            debt: r.get(7),
        },
        did: reconcile::Stepped {
            after: State {
                balance: r.get(8),
                debt: r.get(9),
            },
            short: r.get(10),
            clamped: clamped != 0,
        },
    }
}

/// Puts a movement in its place in the account's log, as [`crate::journal`] does on
/// SQLite ([`crate::reconcile`]), on the locked account; answers the event's flags, `None`
/// on overflow (nothing written).
async fn log_move(
    tx: &Transaction<'_>,
    holder: &Holder<'_>,
    held: &Locked,
    event: &JournalEvent,
    amount: i64,
    dir: Dir,
    now: i64,
) -> Result<Option<Vec<EventFlag>>> {
    let key = event.id.to_hex();
    let seq = i64::try_from(event.seq).map_err(|_| Error::invalid("seq: too large"))?;
    let later: Vec<reconcile::Row> = rows(
        tx,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = $1 AND holder = $2
               AND (at, till, seq) > ($3, $4, $5) ORDER BY at, till, seq"
        ),
        &[
            &holder.code(),
            &holder.key,
            &event.occurred_at,
            &event.till.as_str(),
            &seq,
        ],
    )
    .await?
    .iter()
    .map(log_row)
    .collect();
    let current = State {
        balance: held.balance,
        debt: held.debt,
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
    exec(
        tx,
        "INSERT INTO account_moves (account, holder, at, event_id, direction, amount,
             before_balance, before_debt, after_balance, after_debt, short, clamped, store, till,
             source, seq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        &[
            &holder.code(),
            &holder.key,
            &new.place.at,
            &new.place.key,
            &dir.code(),
            &amount,
            &new.before.balance,
            &new.before.debt,
            &new.did.after.balance,
            &new.did.after.debt,
            &new.did.short,
            &i64::from(new.did.clamped),
            &event.store.as_str(),
            &event.till.as_str(),
            &(dir == Dir::Debit).then(|| reconcile::spend_source(event).code()),
            &seq,
        ],
    )
    .await?;
    for row in &replayed.changed {
        exec(
            tx,
            "UPDATE account_moves SET before_balance = $4, before_debt = $5, after_balance = $6,
                 after_debt = $7, short = $8, clamped = $9
             WHERE account = $1 AND holder = $2 AND event_id = $3",
            &[
                &holder.code(),
                &holder.key,
                &row.place.key,
                &row.before.balance,
                &row.before.debt,
                &row.did.after.balance,
                &row.did.after.debt,
                &row.did.short,
                &i64::from(row.did.clamped),
            ],
        )
        .await?;
    }
    let update = match holder.account {
        Account::Savings => {
            "UPDATE savings_accounts SET balance = $2, debt = $3, updated_at = $4 WHERE customer = $1"
        }
        Account::GiftCard => {
            "UPDATE gift_cards SET balance = $2, debt = $3, updated_at = $4 WHERE ref = $1"
        }
    };
    exec(
        tx,
        update,
        &[
            &holder.key,
            &replayed.account.balance,
            &replayed.account.debt,
            &now,
        ],
    )
    .await?;
    let judged = new.did.short > 0 || new.did.clamped || replayed.judged_again;
    if judged {
        judge(tx, holder, now).await?;
    }
    // What the store ledgers must learn, as `crate::journal` records it.
    if dir == Dir::Debit {
        exec(tx, ledger::SPEND, &[&new.place.key, &now]).await?;
    }
    for row in replayed.changed.iter().filter(|r| r.dir == Dir::Debit) {
        exec(tx, ledger::SPEND, &[&row.place.key, &now]).await?;
    }
    if judged || (current.debt > 0) != (replayed.account.debt > 0) {
        let oldest = ledger::oldest_kept(now);
        let (account, key) = (holder.code(), holder.key);
        exec(
            tx,
            ledger::SPENDS_OF_ACCOUNT,
            &[&account, &key, &now, &oldest],
        )
        .await?;
        exec(tx, ledger::FLAGS_OF_ACCOUNT, &[&account, &key, &now]).await?;
    }
    let mut flags = vec![];
    if new.did.short > 0 {
        flags.push(EventFlag::OverspendDebt);
    }
    if new.did.clamped {
        flags.push(EventFlag::ReversalClamped);
    }
    Ok(Some(flags))
}

/// An account's debts and flags from its whole log, as [`crate::journal`] writes them.
async fn judge(tx: &Transaction<'_>, holder: &Holder<'_>, now: i64) -> Result<()> {
    let log: Vec<reconcile::Row> = rows(
        tx,
        &format!(
            "SELECT {LOG_COLUMNS} FROM account_moves WHERE account = $1 AND holder = $2
             ORDER BY at, till, seq"
        ),
        &[&holder.code(), &holder.key],
    )
    .await?
    .iter()
    .map(log_row)
    .collect();
    let outcome = Outcome::of(&log);
    exec(
        tx,
        "DELETE FROM debts WHERE account = $1 AND holder = $2 AND event_id IN
             (SELECT event_id FROM account_moves WHERE account = $1 AND holder = $2)",
        &[&holder.code(), &holder.key],
    )
    .await?;
    for (event_id, short) in &outcome.shorts {
        exec(
            tx,
            "INSERT INTO debts (event_id, account, holder, amount, currency, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                event_id,
                &holder.code(),
                &holder.key,
                short,
                &holder.currency.code(),
                &now,
            ],
        )
        .await?;
    }
    let first_short = outcome.shorts.first().map(|(id, _)| id.as_str());
    let detail = reconcile::overspend_detail(outcome.overspent());
    one_flag(
        tx,
        holder,
        EventFlag::OverspendDebt,
        first_short,
        &detail,
        now,
    )
    .await?;
    let first_clamp = outcome.clamps.first().map(String::as_str);
    one_flag(
        tx,
        holder,
        EventFlag::ReversalClamped,
        first_clamp,
        reconcile::CLAMP_DETAIL,
        now,
    )
    .await
}

/// Keeps one flag of `kind` for the account, as [`crate::journal`] does.
async fn one_flag(
    tx: &Transaction<'_>,
    holder: &Holder<'_>,
    kind: EventFlag,
    event_id: Option<&str>,
    detail: &str,
    now: i64,
) -> Result<()> {
    let standing: Option<i64> = one_row(
        tx,
        "WITH gone AS (DELETE FROM flags WHERE kind = $1 AND subject = $2 AND event_id IN
             (SELECT event_id FROM account_moves WHERE account = $3 AND holder = $2)
             RETURNING created_at)
         SELECT min(created_at) FROM gone",
        &[&kind.code(), &holder.key, &holder.code()],
    )
    .await?
    .get(0);
    if let Some(event_id) = event_id {
        flag(
            tx,
            kind,
            event_id,
            Some(holder.key),
            detail,
            standing.unwrap_or(now),
        )
        .await?;
    }
    Ok(())
}

/// One `token_at_two_stores` flag per token, as [`crate::journal`] keeps it.
async fn token_flag(tx: &Transaction<'_>, token: &str, now: i64) -> Result<()> {
    let uses: Vec<(String, String)> = rows(
        tx,
        "SELECT store, event_id FROM token_uses WHERE token_id = $1 ORDER BY used_at, event_id",
        &[&token],
    )
    .await?
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let Some((detail, event_id)) = reconcile::two_stores(&uses) else {
        return Ok(());
    };
    let kind = EventFlag::TokenAtTwoStores;
    let standing: Option<i64> = one_row(
        tx,
        "WITH gone AS (DELETE FROM flags WHERE kind = $1 AND subject = $2 RETURNING created_at)
         SELECT min(created_at) FROM gone",
        &[&kind.code(), &token],
    )
    .await?
    .get(0);
    flag(
        tx,
        kind,
        &event_id,
        Some(token),
        &detail,
        standing.unwrap_or(now),
    )
    .await?;
    exec(tx, ledger::TOKEN_FLAG, &[&token, &now]).await?;
    Ok(())
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
    if !credit(tx, account, customer, &held, due, now).await? {
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
