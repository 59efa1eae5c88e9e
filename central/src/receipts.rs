//! Digital receipts: what the WhatsApp bot sends a customer after a sale. One is produced
//! for a closed sale only when the sale names a customer whose consent allows digital
//! receipts; erasing the customer deletes their receipts.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use tillpass_protocol::money::Money;
use tillpass_protocol::sync::{JournalEvent, SaleClosed, SaleLine, SaleTotals, Tender};

use crate::error::{Error, Result};

/// A digital receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The POS's transaction id.
    pub sale_id: String,
    /// The store.
    pub store: String,
    /// The till.
    pub till: String,
    /// When the sale closed: unix seconds.
    pub at: i64,
    /// The lines.
    pub lines: Vec<SaleLine>,
    /// The totals.
    pub totals: SaleTotals,
    /// How it was paid.
    pub tenders: Vec<Tender>,
    /// Savings earned.
    pub savings_earned: Money,
    /// Savings spent.
    pub savings_redeemed: Money,
}

/// Produces the receipt of a closed sale if its customer allows it. Returns whether one
/// was produced.
pub fn produce(
    conn: &Connection,
    event: &JournalEvent,
    sale: &SaleClosed,
    now: i64,
) -> Result<bool> {
    let Some(customer) = &sale.customer else {
        return Ok(false);
    };
    let allowed =
        crate::customers::record(conn, customer.as_str())?.is_some_and(|c| c.consent.receipts);
    if !allowed {
        return Ok(false);
    }
    let body = body(event, sale)?;
    let inserted = conn.execute(
        "INSERT INTO receipts (till, sale_id, customer, event_id, body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (till, sale_id) DO NOTHING",
        params![
            event.till.as_str(),
            sale.sale_id.as_str(),
            customer.as_str(),
            event.id.to_hex(),
            body,
            now
        ],
    )?;
    Ok(inserted > 0)
}

/// The stored body (JSON) of the receipt of a closed sale.
pub(crate) fn body(event: &JournalEvent, sale: &SaleClosed) -> Result<String> {
    let receipt = Receipt {
        sale_id: sale.sale_id.to_string(),
        store: event.store.to_string(),
        till: event.till.to_string(),
        at: event.occurred_at,
        lines: sale.lines.clone(),
        totals: sale.totals,
        tenders: sale.tenders.clone(),
        savings_earned: sale.savings_earned,
        savings_redeemed: sale.savings_redeemed,
    };
    serde_json::to_string(&receipt).map_err(Error::internal)
}

/// The receipts of a customer, newest first: by when central received them, then when the
/// sale closed, then by till and journal position (the same order on PostgreSQL).
pub fn list(conn: &Connection, customer: &str) -> Result<Vec<Receipt>> {
    let mut stmt = conn.prepare(
        "SELECT r.body FROM receipts r JOIN events e ON e.id = r.event_id
         WHERE r.customer = ?1
         ORDER BY r.created_at DESC, e.occurred_at DESC, e.till DESC, e.seq DESC",
    )?;
    let rows = stmt.query_map([customer], |row| row.get::<_, String>(0))?;
    let mut receipts = Vec::new();
    for body in rows {
        receipts.push(serde_json::from_str(&body?).map_err(Error::internal)?);
    }
    Ok(receipts)
}
