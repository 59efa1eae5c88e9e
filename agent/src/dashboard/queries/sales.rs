//! Closed sales: a day's list (newest first, paged by `(closed_at, sale_id)`), search by
//! sale id or customer reference, one sale with its returns, and a day's rows for the CSV.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{StoreError, sql};

/// A sale as lists show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaleRow {
    /// The POS's transaction id.
    pub sale_id: String,
    /// The till that closed it.
    pub till_id: String,
    /// `local` or `store`.
    pub origin: String,
    /// Unix seconds.
    pub closed_at: i64,
    /// The customer, if identified (never shown whole).
    pub customer_ref: Option<String>,
    /// The customer's first name, if the till knows it.
    pub first_name: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// Before discounts.
    pub gross: i64,
    /// Discounts.
    pub discount: i64,
    /// Paid.
    pub net: i64,
    /// Savings earned.
    pub savings_earned: i64,
    /// Savings redeemed.
    pub savings_redeemed: i64,
    /// Gift cards tendered.
    pub gift_card_tendered: i64,
    /// Lines.
    pub line_count: i64,
    /// Returns against it.
    pub returns: i64,
}

const COLUMNS: &str = "s.sale_id, s.till_id, s.origin, s.closed_at, s.customer_ref, c.first_name,
    s.currency, s.gross, s.discount, s.net, s.savings_earned, s.savings_redeemed,
    s.gift_card_tendered, s.line_count,
    (SELECT count(*) FROM sale_returns r WHERE r.sale_id = s.sale_id)";

fn sale_row(r: &Row<'_>) -> rusqlite::Result<SaleRow> {
    Ok(SaleRow {
        sale_id: r.get(0)?,
        till_id: r.get(1)?,
        origin: r.get(2)?,
        closed_at: r.get(3)?,
        customer_ref: r.get(4)?,
        first_name: r.get(5)?,
        currency: r.get(6)?,
        gross: r.get(7)?,
        discount: r.get(8)?,
        net: r.get(9)?,
        savings_earned: r.get(10)?,
        savings_redeemed: r.get(11)?,
        gift_card_tendered: r.get(12)?,
        line_count: r.get(13)?,
        returns: r.get(14)?,
    })
}

/// Where a page of a day's list starts: after the sale `(closed_at, sale_id)`.
pub(crate) type Cursor = (i64, String);

/// This till's sales in `[start, end)`, newest first, `limit` of them, older than `before`.
pub(crate) fn day_page(
    conn: &Connection,
    start: i64,
    end: i64,
    before: Option<&Cursor>,
    limit: i64,
) -> Result<Vec<SaleRow>, StoreError> {
    let (t, id) = match before {
        Some((t, id)) => (*t, id.as_str()),
        None => (end, ""),
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sales s LEFT JOIN customers c ON c.customer_ref = s.customer_ref
             WHERE s.origin = 'local' AND s.closed_at >= ?1 AND s.closed_at < ?2
               AND (s.closed_at < ?3 OR (s.closed_at = ?3 AND s.sale_id < ?4))
             ORDER BY s.closed_at DESC, s.sale_id DESC LIMIT ?5"
        ))
        .map_err(sql)?;
    let rows = stmt
        .query_map(params![start, end, t, id, limit], sale_row)
        .map_err(sql)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(sql)
}

/// Sales whose id is `q` or starts with it (four characters at least), or whose customer
/// reference is `q`; any day and till, newest first, at most `limit`.
pub(crate) fn search(conn: &Connection, q: &str, limit: i64) -> Result<Vec<SaleRow>, StoreError> {
    let mut found: Vec<SaleRow> = Vec::new();
    let mut add = |rows: Vec<SaleRow>| {
        for row in rows {
            if !found.iter().any(|f| f.sale_id == row.sale_id) {
                found.push(row);
            }
        }
    };
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sales s LEFT JOIN customers c ON c.customer_ref = s.customer_ref
             WHERE s.sale_id = ?1"
        ))
        .map_err(sql)?;
    add(stmt
        .query_map([q], sale_row)
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sales s LEFT JOIN customers c ON c.customer_ref = s.customer_ref
             WHERE s.customer_ref = ?1 ORDER BY s.closed_at DESC LIMIT ?2"
        ))
        .map_err(sql)?;
    add(stmt
        .query_map(params![q, limit], sale_row)
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?);
    if q.chars().count() >= 4 {
        // Ids from `q` up to `q` followed by the largest character: the primary key's
        // order, so a short prefix of many ids stays cheap.
        let upper = format!("{q}\u{10FFFF}");
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sales s LEFT JOIN customers c ON c.customer_ref = s.customer_ref
                 WHERE s.sale_id >= ?1 AND s.sale_id < ?2 ORDER BY s.sale_id LIMIT ?3"
            ))
            .map_err(sql)?;
        add(stmt
            .query_map(params![q, upper, limit], sale_row)
            .map_err(sql)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sql)?);
    }
    found.sort_by(|a, b| {
        b.closed_at
            .cmp(&a.closed_at)
            .then_with(|| b.sale_id.cmp(&a.sale_id))
    });
    found.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(found)
}

/// A return against a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReturnRow {
    /// The POS's return id.
    pub return_id: String,
    /// Unix seconds.
    pub returned_at: i64,
    /// Refunded.
    pub refund: i64,
    /// Savings taken back.
    pub savings_reversed: i64,
    /// The engine's `ReturnOutcome`, JSON.
    pub outcome: String,
    /// The other till of the store that recorded it; `None` for this till.
    pub till_id: Option<String>,
}

/// One sale with everything its page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SaleDetail {
    /// The flat figures.
    pub row: SaleRow,
    /// The customer's tier, if known.
    pub tier: Option<String>,
    /// The engine's `ClosedSale`, JSON.
    pub sale: String,
    /// Its returns, oldest first.
    pub returns: Vec<ReturnRow>,
}

/// The sale `sale_id`, if there is one.
pub(crate) fn detail(conn: &Connection, sale_id: &str) -> Result<Option<SaleDetail>, StoreError> {
    let found = conn
        .query_row(
            &format!(
                "SELECT {COLUMNS}, c.tier, s.sale FROM sales s
                 LEFT JOIN customers c ON c.customer_ref = s.customer_ref
                 WHERE s.sale_id = ?1"
            ),
            [sale_id],
            |r| Ok((sale_row(r)?, r.get(15)?, r.get(16)?)),
        )
        .optional()
        .map_err(sql)?;
    let Some((row, tier, sale)) = found else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(
            "SELECT return_id, returned_at, refund, savings_reversed, outcome,
                    CASE WHEN origin = 'store' THEN till_id END
             FROM sale_returns WHERE sale_id = ?1 ORDER BY returned_at, return_id",
        )
        .map_err(sql)?;
    let returns = stmt
        .query_map([sale_id], |r| {
            Ok(ReturnRow {
                return_id: r.get(0)?,
                returned_at: r.get(1)?,
                refund: r.get(2)?,
                savings_reversed: r.get(3)?,
                outcome: r.get(4)?,
                till_id: r.get(5)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    Ok(Some(SaleDetail {
        row,
        tier,
        sale,
        returns,
    }))
}

/// A sale as the CSV writes it: the flat figures and what its returns refunded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CsvRow {
    /// The flat figures (without the first name: the file holds no personal data).
    pub row: SaleRow,
    /// Refunded by its returns so far.
    pub refunded: i64,
}

/// Calls `f` for each of this till's sales in `[start, end)`, oldest first.
pub(crate) fn for_each_in_day(
    conn: &Connection,
    start: i64,
    end: i64,
    mut f: impl FnMut(&CsvRow),
) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.sale_id, s.till_id, s.origin, s.closed_at, s.customer_ref, NULL,
                    s.currency, s.gross, s.discount, s.net, s.savings_earned, s.savings_redeemed,
                    s.gift_card_tendered, s.line_count,
                    (SELECT count(*) FROM sale_returns r WHERE r.sale_id = s.sale_id),
                    (SELECT coalesce(sum(r.refund), 0) FROM sale_returns r WHERE r.sale_id = s.sale_id)
             FROM sales s
             WHERE s.origin = 'local' AND s.closed_at >= ?1 AND s.closed_at < ?2
             ORDER BY s.closed_at, s.sale_id",
        )
        .map_err(sql)?;
    let mut rows = stmt.query(params![start, end]).map_err(sql)?;
    while let Some(r) = rows.next().map_err(sql)? {
        let row = CsvRow {
            row: sale_row(r).map_err(sql)?,
            refunded: r.get(15).map_err(sql)?,
        };
        f(&row);
    }
    Ok(())
}
