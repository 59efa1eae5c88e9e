//! Journal ingestion on PostgreSQL: the same answers as SQLite's [`crate::journal`], from
//! the same rules, with the database keeping them when several nodes ingest at once.
//!
//! Map: this file runs a batch and applies the events that move no money; [`batch`]
//! holds what a batch reads once and writes once (its event rows, its change log, the
//! customers' consents, due pending savings, return windows); [`money`] moves savings
//! and gift cards; [`savings`] holds the batch's savings accounts as locked, and the
//! movements replayed on them in memory, written once.
//!
//! - **One transaction per batch**: a rejected event leaves no trace (its event row is
//!   deleted, and a savepoint undoes what it wrote when it can be refused after writing),
//!   and the batch is committed before the answer leaves.
//! - **Validate, then write**: an event that can only be refused before it writes
//!   anything (every kind but a few money movements) runs without a savepoint.
//! - **Event ids are unique keys.** The batch's event rows are inserted in one statement
//!   `ON CONFLICT (id) DO NOTHING`. A second node applying the same batch waits at that
//!   insert for the first node's transaction; once it commits, the events are there and
//!   the second node answers `duplicate` without applying anything (`id_conflict` when
//!   the content differs); if it rolled back, the second node applies them. Never twice,
//!   never lost. An id repeated within a batch is claimed again at its turn, as if alone.
//! - **Balances move in the database**: the account row is locked (`FOR UPDATE`) for its
//!   currency and the overflow check, and changed by `UPDATE … SET balance = balance + …`
//!   or to a value computed under that lock — never a value read in one transaction and
//!   written back in another.
//! - Contention (deadlock, serialization failure, no free connection) runs the batch
//!   again from the start, at most [`super::ATTEMPTS`] times.

mod batch;
mod money;
mod savings;

use deadpool_postgres::Transaction;
use tillpass_protocol::sync::{
    AckOutcome, BatchAck, DeltaKind, EventAck, EventFlag, EventId, EventPayload, GiftCardMovement,
    JournalEvent, RejectCode, ReturnRecorded, TokenKind, VERSION, movement,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{ATTEMPTS, Pg};
use crate::auth::KeptNonce;
use crate::enrol::Till;
use crate::error::{Error, Result};
use crate::journal::{self, RawBatch, rejected};
use crate::{customers, ledger, receipts, reconcile, store_sales};
use batch::{Batch, Claim, EventRow};

pub(crate) use money::release_due;

/// Applies a batch from `till` (the verified signer), as [`crate::journal::ingest`] does.
/// With `nonce`, keeps it in the batch's transaction, first (a replay applies nothing).
pub async fn ingest(
    pg: &Pg,
    till: &Till,
    batch: &RawBatch,
    now: i64,
    nonce: Option<&KeptNonce>,
) -> Result<BatchAck> {
    let ids = journal::batch_ids(till, batch)?;
    let mut attempt = 1;
    loop {
        match once(pg, till, &ids, &batch.events, now, nonce).await {
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
    nonce: Option<&KeptNonce>,
) -> Result<BatchAck> {
    let admitted: Vec<_> = events
        .iter()
        .map(|raw| journal::admit(raw.clone(), till))
        .collect();
    let rows = admitted
        .iter()
        .map(|a| a.as_ref().ok().map(EventRow::of).transpose())
        .collect::<Result<Vec<_>>>()?;
    let mut client = pg.client().await?;
    let mut tx = client.transaction().await?;
    if let Some(nonce) = nonce
        && !super::tills::keep_nonce(&tx, nonce, now).await?
    {
        return Err(crate::auth::replayed());
    }
    let locked = lock_accounts(&tx, &admitted).await?;
    // The batch's reads take no lock and do not depend on the claim: one round trip.
    let (claims, mut batch) = tokio::try_join!(
        batch::claim_all(&tx, &rows, now),
        Batch::load(&tx, &admitted, &locked, now)
    )?;
    let mut acks = Vec::with_capacity(ids.len());
    let mut seen = crate::scope::Seen::default();
    for ((id, admitted), (row, claim)) in ids.iter().zip(admitted).zip(rows.iter().zip(claims)) {
        let (outcome, flags) = match (admitted, row) {
            (Err(refused), _) => (refused, vec![]),
            (Ok(_), None) => return Err(Error::internal("an admitted event without its row")),
            (Ok(event), Some(row)) => {
                let (outcome, flags) = one(&mut tx, &mut batch, &event, row, claim).await?;
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
    batch.flush(&tx).await?;
    super::scope::see_all(&tx, till.store.as_str(), &seen, now).await?;
    tx.commit().await?;
    Ok(BatchAck { v: VERSION, acks })
}

/// Locks, in one order (savings by customer, then gift cards by reference), every account
/// the batch's events move, before any event is applied: batches of different tills on
/// the same customers then wait for each other instead of deadlocking (which PostgreSQL
/// would only notice after its `deadlock_timeout`). Answers the savings accounts' rows
/// (`customer, currency, balance, debt`).
async fn lock_accounts(
    tx: &Transaction<'_>,
    admitted: &[std::result::Result<JournalEvent, AckOutcome>],
) -> Result<Vec<Row>> {
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
    let mut savings = vec![];
    if !customers.is_empty() {
        let customers: Vec<&str> = customers.into_iter().collect();
        savings = rows(
            tx,
            "SELECT customer, currency, balance, debt FROM savings_accounts
              WHERE customer = ANY($1) ORDER BY customer FOR UPDATE",
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
    Ok(savings)
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

/// Applies one admitted event whose row the batch claimed as `claim`.
async fn one(
    tx: &mut Transaction<'_>,
    batch: &mut Batch,
    event: &JournalEvent,
    row: &EventRow,
    claim: Claim,
) -> Result<(AckOutcome, Vec<EventFlag>)> {
    let claim = match claim {
        Claim::Again => batch::claim_one(tx, row, batch.now).await?,
        claim => claim,
    };
    match claim {
        Claim::New => {}
        Claim::Stored(sha) => {
            return Ok(if sha == row.sha {
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
        Claim::Again => return Err(Error::internal("an event claimed twice")),
    }
    let applied = if money::may_refuse_after_writing(event, batch) {
        // What the accepted events changed stays, whatever this one does.
        batch.flush(tx).await?;
        let sp = tx.savepoint("event").await?;
        let applied = apply(&sp, batch, event).await?;
        match applied {
            Applied::Accepted(_) => sp.commit().await?,
            Applied::Rejected(..) => sp.rollback().await?,
        }
        applied
    } else {
        apply(tx, batch, event).await?
    };
    match applied {
        Applied::Accepted(flags) => {
            batch.accept();
            Ok((AckOutcome::Accepted, flags))
        }
        Applied::Rejected(code, detail) => {
            batch.refuse();
            exec(tx, "DELETE FROM events WHERE id = $1", &[&row.id]).await?;
            Ok((rejected(code, detail), vec![]))
        }
    }
}

/// Applies an event whose row is claimed. Every refusal of a kind that moves no money
/// comes before its first write.
async fn apply(tx: &Transaction<'_>, batch: &mut Batch, event: &JournalEvent) -> Result<Applied> {
    let now = batch.now;
    let id = event.id.to_hex();
    match &event.payload {
        EventPayload::SaleClosed(sale) => {
            if let Some(customer) = &sale.customer
                && batch.consents(customer.as_str())
            {
                exec(
                    tx,
                    "INSERT INTO receipts (till, sale_id, customer, event_id, body, created_at)
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
            batch.sold(event, sale.sale_id.as_str());
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
                token_flag(tx, batch, &token).await?;
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
            money::moves(tx, batch, event, &movement).await
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
                let currency = money::currency(tx).await?;
                exec(
                    tx,
                    "INSERT INTO savings_accounts (customer, currency, balance, updated_at)
                     VALUES ($1, $2, 0, $3)",
                    &[&c.customer.as_str(), &currency.code(), &now],
                )
                .await?;
                batch.change(DeltaKind::Customers, c.customer.as_str(), None);
                batch.change(DeltaKind::Balances, c.customer.as_str(), None);
            }
            Ok(Applied::Accepted(vec![]))
        }
        EventPayload::ReturnRecorded(ret) => {
            // The store's sales so far, this batch's included.
            if batch.sells(event.store.as_str(), ret.original_sale_id.as_str()) {
                batch.flush(tx).await?;
            }
            let Some(detail) = record_return(tx, batch, event, ret).await? else {
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
            batch.flush(tx).await?;
            exec(tx, ledger::RETURN_FLAG, &[&sale, &now]).await?;
            Ok(Applied::Accepted(vec![EventFlag::ReturnExceedsSale]))
        }
        _ => Ok(Applied::Rejected(
            RejectCode::Invalid,
            "this kind of event is not handled".into(),
        )),
    }
}

/// One `token_at_two_stores` flag per token, as [`crate::journal`] keeps it.
async fn token_flag(tx: &Transaction<'_>, batch: &mut Batch, token: &str) -> Result<()> {
    let now = batch.now;
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
    batch.flush(tx).await?;
    exec(tx, ledger::TOKEN_FLAG, &[&token, &now]).await?;
    Ok(())
}

/// Records a return against a sale of the event's store (as
/// [`crate::store_sales::record_return`]); what is wrong when the sale's returns now take
/// back more than it sold.
async fn record_return(
    tx: &Transaction<'_>,
    batch: &mut Batch,
    event: &JournalEvent,
    ret: &ReturnRecorded,
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
    batch.change(DeltaKind::Sales, &sale, Some(event.store.as_str()));
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
    let params: [&(dyn ToSql + Sync); 1] = [&sale];
    let (stored, rows) = tokio::try_join!(
        stored_event(tx, sale),
        rows(
            tx,
            "SELECT e.payload FROM store_returns r JOIN events e ON e.id = r.event_id
                 WHERE r.sale_event = $1",
            &params,
        )
    )?;
    let EventPayload::SaleClosed(closed) = stored.payload else {
        return Err(Error::internal("a store sale is not a sale event"));
    };
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
