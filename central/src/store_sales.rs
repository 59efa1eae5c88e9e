//! The store's sales, for its other tills: a sale closed at one till may be returned at
//! another till of the same store, which needs the sale (lines, per-line discounts and
//! savings, tenders) and every return already recorded against it.
//!
//! Ingestion records each `sale_closed` under `(store, sale_id)` and each
//! `return_recorded` against its sale, and appends a `sales` change keyed by the sale's
//! event id and owned by the store — so the sale is sent again whenever a return is
//! recorded. The `sales` delta reads only the asking till's store's changes
//! ([`crate::changes::since`] with an owner) and sends each sale as it is now
//! ([`SaleDelta::Upsert`]), built from the journal events themselves.
//!
//! A sale id is the POS's: should two tills of a store reuse one, the first sale keeps it
//! and the second is not offered to the other tills (it can still be returned at its own
//! till). Sales whose last change is older than [`MAX_AGE_SECS`] are not sent: a new till
//! pulls the recent past, not the store's whole history. The customer of an erased
//! customer's sale is left out.

use rusqlite::{Connection, OptionalExtension, params};
use tillpass_protocol::sync::{
    DeltaKind, EventPayload, JournalEvent, ReturnRecorded, SaleClosed, SaleDelta, StoreReturn,
    StoreSale, TillId, left_to_return,
};

use crate::changes;
use crate::customers;
use crate::error::{Error, Result};

/// How long after its last change a sale is still sent to the store's tills: 30 days, a
/// store's usual return period (the tills keep them as long, see the agent's retention).
pub const MAX_AGE_SECS: i64 = 30 * 86_400;

/// Records a sale of `event.store`, in the ingesting transaction.
pub fn record_sale(
    conn: &Connection,
    event: &JournalEvent,
    sale: &SaleClosed,
    now: i64,
) -> Result<()> {
    let id = event.id.to_hex();
    let added = conn.execute(
        "INSERT INTO store_sales (store, sale_id, till, event_id, closed_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (store, sale_id) DO NOTHING",
        params![
            event.store.as_str(),
            sale.sale_id.as_str(),
            event.till.as_str(),
            id,
            event.occurred_at
        ],
    )?;
    if added == 0 {
        tracing::warn!(
            store = %event.store,
            till = %event.till,
            sale = %sale.sale_id,
            "a sale id already used at another till of the store: not offered to its other tills"
        );
        return Ok(());
    }
    changes::record(conn, DeltaKind::Sales, &id, Some(event.store.as_str()), now)
}

/// Records a return against a sale of `event.store`, in the ingesting transaction. A
/// return of a sale central does not hold is journaled but not propagated. Answers what
/// is wrong when the sale's returns now take back more of a line than was sold (tills
/// that returned the same goods before seeing each other's returns): the return is
/// accepted all the same — the money moved at the tills — and the caller flags it.
pub fn record_return(
    conn: &Connection,
    event: &JournalEvent,
    ret: &ReturnRecorded,
    now: i64,
) -> Result<Option<String>> {
    let sale: Option<String> = conn
        .query_row(
            "SELECT event_id FROM store_sales WHERE store = ?1 AND sale_id = ?2",
            params![event.store.as_str(), ret.original_sale_id.as_str()],
            |row| row.get(0),
        )
        .optional()?;
    let Some(sale) = sale else {
        return Ok(None);
    };
    let added = conn.execute(
        "INSERT INTO store_returns (store, return_id, sale_event, till, event_id, returned_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (store, return_id) DO NOTHING",
        params![
            event.store.as_str(),
            ret.return_id.as_str(),
            sale,
            event.till.as_str(),
            event.id.to_hex(),
            event.occurred_at
        ],
    )?;
    if added == 0 {
        tracing::warn!(
            store = %event.store,
            till = %event.till,
            return_id = %ret.return_id,
            "a return id already used in the store: not offered to its other tills"
        );
        return Ok(None);
    }
    changes::record(
        conn,
        DeltaKind::Sales,
        &sale,
        Some(event.store.as_str()),
        now,
    )?;
    // The flag is a follow-up for central IT, not a reason to refuse the till's journal.
    match over_returned(conn, &sale, ret) {
        Ok(found) => Ok(found),
        Err(e) => {
            tracing::warn!(error = %e, sale = %ret.original_sale_id, "returns not checked against the sale");
            Ok(None)
        }
    }
}

/// The lines of `ret` whose returns, with it, add up to more than the sale (by its event
/// id) sold — so a later return of another line does not raise it again.
fn over_returned(conn: &Connection, sale: &str, ret: &ReturnRecorded) -> Result<Option<String>> {
    let EventPayload::SaleClosed(closed) = stored_event(conn, sale)?.payload else {
        return Err(Error::internal("a store sale is not a sale event"));
    };
    let events: Vec<String> = conn
        .prepare_cached("SELECT event_id FROM store_returns WHERE sale_event = ?1")?
        .query_map([sale], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut records = Vec::with_capacity(events.len());
    for id in &events {
        if let EventPayload::ReturnRecorded(r) = stored_event(conn, id)?.payload {
            records.push(r);
        }
    }
    Ok(over_returned_lines(&closed, &records, ret))
}

/// What is wrong when `records`, the returns recorded against the sale `closed` (`ret`
/// among them), take back more of one of `ret`'s lines than was sold.
pub(crate) fn over_returned_lines(
    closed: &SaleClosed,
    records: &[ReturnRecorded],
    ret: &ReturnRecorded,
) -> Option<String> {
    let over: Vec<String> = closed
        .lines
        .iter()
        .filter(|l| ret.lines.iter().any(|r| r.line_id == l.line_id))
        .filter_map(|l| {
            let returned = records
                .iter()
                .flat_map(|r| &r.lines)
                .filter(|r| r.line_id == l.line_id)
                .map(|r| r.quantity.value());
            left_to_return(l.quantity.value(), returned)
                .err()
                .map(|e| format!("line {}: {e}", l.line_id))
        })
        .collect();
    (!over.is_empty()).then(|| {
        format!(
            "the returns of sale {} take back more than was sold: {}",
            closed.sale_id,
            over.join("; ")
        )
    })
}

fn stored_event(conn: &Connection, id: &str) -> Result<JournalEvent> {
    let payload: String =
        conn.query_row("SELECT payload FROM events WHERE id = ?1", [id], |r| {
            r.get(0)
        })?;
    serde_json::from_str(&payload).map_err(Error::internal)
}

fn till(text: String) -> Result<TillId> {
    TillId::new(text).map_err(Error::internal)
}

/// The sale whose event id is `key` as it is now, or `None` when it is older than
/// [`MAX_AGE_SECS`] at `now` (or unknown).
pub fn item(conn: &Connection, key: &str, now: i64) -> Result<Option<SaleDelta>> {
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT till, closed_at FROM store_sales WHERE event_id = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((sale_till, closed_at)) = row else {
        return Ok(None);
    };
    let last_return: Option<i64> = conn.query_row(
        "SELECT max(returned_at) FROM store_returns WHERE sale_event = ?1",
        [key],
        |r| r.get(0),
    )?;
    if closed_at.max(last_return.unwrap_or(closed_at)) < now.saturating_sub(MAX_AGE_SECS) {
        return Ok(None);
    }
    match build(conn, key, sale_till, closed_at) {
        Ok(item) => Ok(Some(item)),
        Err(e) => {
            // One unreadable event must not stop the store's other sales reaching its tills.
            tracing::warn!(error = %e, sale_event = key, "a store sale could not be built: not sent");
            Ok(None)
        }
    }
}

fn build(conn: &Connection, key: &str, sale_till: String, closed_at: i64) -> Result<SaleDelta> {
    let mut returns = Vec::new();
    {
        let mut stmt = conn.prepare_cached(
            "SELECT till, returned_at, event_id FROM store_returns WHERE sale_event = ?1
             ORDER BY returned_at, rowid",
        )?;
        let rows = stmt.query_map([key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (return_till, returned_at, event_id) = row?;
            returns.push((return_till, returned_at, stored_event(conn, &event_id)?));
        }
    }
    let sale = stored_event(conn, key)?;
    let erased = match sale.payload {
        EventPayload::SaleClosed(SaleClosed {
            customer: Some(ref customer),
            ..
        }) => customers::erased_at(conn, customer.as_str())?.is_some(),
        _ => false,
    };
    assemble(sale_till, closed_at, sale, returns, erased)
}

/// A sale as its store's tills receive it, from its stored events: the sale's, and each
/// return's `(till, returned_at, event)` in order; without its customer when `erased`.
pub(crate) fn assemble(
    sale_till: String,
    closed_at: i64,
    sale: JournalEvent,
    returns: Vec<(String, i64, JournalEvent)>,
    erased: bool,
) -> Result<SaleDelta> {
    let mut built = Vec::with_capacity(returns.len());
    for (return_till, returned_at, event) in returns {
        let EventPayload::ReturnRecorded(record) = event.payload else {
            return Err(Error::internal("a store return is not a return event"));
        };
        built.push(StoreReturn {
            till: till(return_till)?,
            returned_at,
            record,
        });
    }
    let EventPayload::SaleClosed(mut sale) = sale.payload else {
        return Err(Error::internal("a store sale is not a sale event"));
    };
    if erased {
        sale.customer = None;
        for r in &mut built {
            r.record.customer = None;
        }
    }
    Ok(SaleDelta::Upsert {
        sale: StoreSale {
            till: till(sale_till)?,
            closed_at,
            sale,
            returns: built,
        },
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use tillpass_protocol::money::{Currency, Money};
    use tillpass_protocol::sync::{
        JournalEvent, Quantity, ReturnLine, SaleId, SaleLine, SaleTotals, StoreId, Tender,
    };

    use super::*;
    use crate::db::Db;
    use crate::migrations::MIGRATIONS;

    fn eur(amount: i64) -> Money {
        Money::new(amount, Currency::EUR)
    }

    fn event(till: &str, seq: u64, at: i64, payload: EventPayload) -> JournalEvent {
        JournalEvent::new(
            TillId::new(till).unwrap(),
            StoreId::new("S1").unwrap(),
            seq,
            at,
            payload,
        )
    }

    fn sale(id: &str) -> EventPayload {
        EventPayload::SaleClosed(SaleClosed {
            sale_id: SaleId::new(id).unwrap(),
            customer: None,
            lines: vec![SaleLine {
                line_id: "1".into(),
                sku: "SKU".into(),
                quantity: Quantity::Units(2),
                unit_price: eur(500),
                discount: eur(0),
                total: eur(1000),
                savings_earned: None,
            }],
            effects: vec![],
            tenders: vec![Tender::Cash { amount: eur(1000) }],
            totals: SaleTotals {
                gross: eur(1000),
                discounts: eur(0),
                net: eur(1000),
            },
            savings_earned: eur(0),
            savings_redeemed: eur(0),
        })
    }

    fn a_return() -> EventPayload {
        EventPayload::ReturnRecorded(ReturnRecorded {
            return_id: SaleId::new("R-1").unwrap(),
            original_sale_id: SaleId::new("POS-1").unwrap(),
            customer: None,
            lines: vec![ReturnLine {
                line_id: "1".into(),
                quantity: Quantity::Units(1),
                refund: eur(500),
                discount: None,
                savings_reversed: None,
            }],
            refunds: vec![Tender::Cash { amount: eur(500) }],
            savings_reversed: eur(0),
        })
    }

    /// A database of the version before store sales, with a sale and its return in the
    /// journal, gets both when it is migrated; a sale older than the age limit is kept but
    /// not offered.
    #[test]
    fn the_migration_fills_in_sales_already_received() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("central.db");
        let now = crate::clock::now();
        let events = [
            event("S1-T1", 1, now - 100, sale("POS-1")),
            event("S1-T2", 1, now - 50, a_return()),
            event("S1-T1", 2, now - MAX_AGE_SECS - 10, sale("POS-OLD")),
        ];
        {
            let conn = Connection::open(&path).unwrap();
            for m in &MIGRATIONS[..2] {
                conn.execute_batch(m.sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 2).unwrap();
            for e in &events {
                conn.execute(
                    "INSERT INTO events (id, till, store, seq, kind, occurred_at, received_at,
                       sha256, payload) VALUES (?1, ?2, 'S1', ?6, ?3, ?4, ?4, '', ?5)",
                    params![
                        e.id.to_hex(),
                        e.till.as_str(),
                        e.payload.kind(),
                        e.occurred_at,
                        serde_json::to_string(e).unwrap(),
                        i64::try_from(e.seq).unwrap()
                    ],
                )
                .unwrap();
            }
        }
        let db = Db::open(&path).unwrap();
        db.with(|conn| {
            let kept: i64 = conn.query_row("SELECT count(*) FROM store_sales", [], |r| r.get(0))?;
            assert_eq!(kept, 2);
            let (changed, _) = changes::since(conn, DeltaKind::Sales, Some("S1"), 0, 10)?;
            assert_eq!(changed.len(), 1, "only the recent sale is offered");
            let Some(SaleDelta::Upsert { sale }) = item(conn, &changed[0].key, now)? else {
                panic!("no sale");
            };
            assert_eq!(sale.sale.sale_id.as_str(), "POS-1");
            assert_eq!(sale.till.as_str(), "S1-T1");
            assert_eq!(sale.returns.len(), 1);
            assert_eq!(sale.returns[0].till.as_str(), "S1-T2");
            assert_eq!(sale.returns[0].returned_at, now - 50);
            // Past the age limit it is no longer sent.
            assert!(item(conn, &changed[0].key, now - 50 + MAX_AGE_SECS + 1)?.is_none());
            Ok(())
        })
        .unwrap();
    }
}
