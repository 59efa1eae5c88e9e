//! Closed sales and their returns, as committed at close — and those of the store's other
//! tills, as received from central (`origin = 'store'`): what receipts, returns and the
//! dashboard read. Also the per-customer promotion use counters.

use std::collections::BTreeMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreError, sql};

/// A closed sale to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRow<'a> {
    /// The sale (the POS transaction id).
    pub sale_id: &'a str,
    /// The till that closed it.
    pub till_id: &'a str,
    /// `local` or `store`.
    pub origin: &'a str,
    /// When it closed, unix seconds.
    pub closed_at: i64,
    /// The customer, if identified.
    pub customer_ref: Option<&'a str>,
    /// ISO 4217 code.
    pub currency: &'a str,
    /// Before discounts, minor units.
    pub gross: i64,
    /// Discounts.
    pub discount: i64,
    /// What the customer paid.
    pub net: i64,
    /// Savings earned.
    pub savings_earned: i64,
    /// Savings spent as a tender.
    pub savings_redeemed: i64,
    /// Gift cards spent as tenders.
    pub gift_card_tendered: i64,
    /// How many lines.
    pub line_count: i64,
    /// The engine's `ClosedSale`, JSON.
    pub sale: &'a str,
    /// The receipt answered to the POS, JSON.
    pub receipt: &'a str,
}

/// One effect of a sale, flat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectRow<'a> {
    pub promotion_id: &'a str,
    /// The effect's kind (`percent_off`, …).
    pub kind: &'a str,
    /// Its amount, minor units.
    pub amount: i64,
}

/// Records a closed sale and its effects. Part of the caller's transaction.
pub fn insert(
    conn: &Connection,
    sale: &SaleRow<'_>,
    effects: &[EffectRow<'_>],
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sales(sale_id, till_id, origin, closed_at, customer_ref, currency, gross,
           discount, net, savings_earned, savings_redeemed, gift_card_tendered, line_count,
           sale, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            sale.sale_id,
            sale.till_id,
            sale.origin,
            sale.closed_at,
            sale.customer_ref,
            sale.currency,
            sale.gross,
            sale.discount,
            sale.net,
            sale.savings_earned,
            sale.savings_redeemed,
            sale.gift_card_tendered,
            sale.line_count,
            sale.sale,
            sale.receipt
        ],
    )
    .map_err(sql)?;
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO sale_effects(sale_id, promotion_id, kind, amount) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(sql)?;
    for e in effects {
        stmt.execute(params![sale.sale_id, e.promotion_id, e.kind, e.amount])
            .map_err(sql)?;
    }
    Ok(())
}

/// A recorded sale, as returns need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The customer, if any.
    pub customer_ref: Option<String>,
    /// The engine's `ClosedSale`, JSON.
    pub sale: String,
    /// The receipt, JSON.
    pub receipt: String,
    /// Why returns of it are refused here, if they are.
    pub returns_blocked: Option<String>,
}

/// Reads a recorded sale.
pub fn load(conn: &Connection, sale_id: &str) -> Result<Option<Recorded>, StoreError> {
    conn.query_row(
        "SELECT customer_ref, sale, receipt, returns_blocked FROM sales WHERE sale_id = ?1",
        [sale_id],
        |r| {
            Ok(Recorded {
                customer_ref: r.get(0)?,
                sale: r.get(1)?,
                receipt: r.get(2)?,
                returns_blocked: r.get(3)?,
            })
        },
    )
    .optional()
    .map_err(sql)
}

/// Refuses returns of a sale (`why`), or allows them again (`None`). Part of the caller's
/// transaction.
pub fn block_returns(
    conn: &Connection,
    sale_id: &str,
    why: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE sales SET returns_blocked = ?2 WHERE sale_id = ?1",
        params![sale_id, why],
    )
    .map_err(sql)?;
    Ok(())
}

/// Makes way for a sale closing here under an id a sale of another till of the store
/// holds: that sale and its store returns go (a return here of it keeps it, and the
/// answer is `false`). Part of the caller's transaction.
pub fn make_way(conn: &Connection, sale_id: &str) -> Result<bool, StoreError> {
    let returned_here: i64 = conn
        .query_row(
            "SELECT count(*) FROM sale_returns WHERE sale_id = ?1 AND origin = 'local'",
            [sale_id],
            |r| r.get(0),
        )
        .map_err(sql)?;
    if returned_here > 0 {
        return Ok(false);
    }
    conn.execute(
        "DELETE FROM sale_returns WHERE sale_id = ?1 AND origin = 'store'",
        [sale_id],
    )
    .map_err(sql)?;
    conn.execute(
        "DELETE FROM sales WHERE sale_id = ?1 AND origin = 'store'",
        [sale_id],
    )
    .map_err(sql)?;
    Ok(true)
}

/// A return to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRow<'a> {
    /// The return's id (the POS's).
    pub return_id: &'a str,
    /// The sale it takes goods back from.
    pub sale_id: &'a str,
    /// When, unix seconds.
    pub returned_at: i64,
    /// What the customer got back, minor units.
    pub refund: i64,
    /// Savings taken back.
    pub savings_reversed: i64,
    /// The engine's `ReturnOutcome`, JSON.
    pub outcome: &'a str,
    /// `local` for a return recorded here; `store` for one recorded at another till of
    /// the store, received from central.
    pub origin: &'a str,
    /// The till that recorded a `store` return; `None` for this till's.
    pub till_id: Option<&'a str>,
}

/// Records a return. Part of the caller's transaction.
pub fn insert_return(conn: &Connection, r: &ReturnRow<'_>) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO sale_returns(return_id, sale_id, returned_at, refund, savings_reversed,
           outcome, origin, till_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            r.return_id,
            r.sale_id,
            r.returned_at,
            r.refund,
            r.savings_reversed,
            r.outcome,
            r.origin,
            r.till_id
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// The till and origin of a recorded sale, if there is one.
pub fn origin_of(conn: &Connection, sale_id: &str) -> Result<Option<(String, String)>, StoreError> {
    conn.query_row(
        "SELECT till_id, origin FROM sales WHERE sale_id = ?1",
        [sale_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(sql)
}

/// A recorded return: the sale it belongs to and its outcome (JSON).
pub fn load_return(
    conn: &Connection,
    return_id: &str,
) -> Result<Option<(String, String)>, StoreError> {
    conn.query_row(
        "SELECT sale_id, outcome FROM sale_returns WHERE return_id = ?1",
        [return_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
    .map_err(sql)
}

/// The outcomes (JSON) of a sale's earlier returns, oldest first.
pub fn returns_of(conn: &Connection, sale_id: &str) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT outcome FROM sale_returns WHERE sale_id = ?1 ORDER BY returned_at, return_id",
        )
        .map_err(sql)?;
    stmt.query_map([sale_id], |r| r.get(0))
        .map_err(sql)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(sql)
}

/// How often the customer used each promotion.
pub fn promotion_uses(
    conn: &Connection,
    customer_ref: &str,
) -> Result<BTreeMap<String, u32>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT promotion_id, uses FROM promotion_uses WHERE customer_ref = ?1")
        .map_err(sql)?;
    stmt.query_map([customer_ref], |r| {
        Ok((
            r.get::<_, String>(0)?,
            u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
        ))
    })
    .map_err(sql)?
    .collect::<Result<BTreeMap<_, _>, _>>()
    .map_err(sql)
}

/// Counts one use of each promotion for the customer. Part of the caller's transaction.
pub fn count_uses(
    conn: &Connection,
    customer_ref: &str,
    promotions: &[String],
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO promotion_uses(customer_ref, promotion_id, uses) VALUES (?1, ?2, 1)
             ON CONFLICT(customer_ref, promotion_id) DO UPDATE SET uses = uses + 1",
        )
        .map_err(sql)?;
    for p in promotions {
        stmt.execute(params![customer_ref, p]).map_err(sql)?;
    }
    Ok(())
}
