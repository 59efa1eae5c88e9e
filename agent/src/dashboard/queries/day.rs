//! A local day's figures for "Today": totals, hours, top promotions and returns. Sales and
//! effects come from the quarter-hour read model (`dashboard_sales_q`,
//! `dashboard_effects_q`), so the cost does not grow with the number of sales in the day.
//! Only sales closed and returns recorded at this till (`origin = 'local'`) count; a
//! return here of another till's sale counts here.

use rusqlite::{Connection, params};

use super::bucket;
use crate::store::{StoreError, sql};

/// A day's sales in one currency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Totals {
    /// ISO 4217 code.
    pub currency: String,
    /// Sales closed.
    pub sales: i64,
    /// Sales with an identified loyalty customer.
    pub loyalty_sales: i64,
    /// Before discounts.
    pub gross: i64,
    /// Discounts given.
    pub discount: i64,
    /// Paid.
    pub net: i64,
    /// Paid in sales with a loyalty customer.
    pub loyalty_net: i64,
    /// Savings earned, minor units.
    pub savings_earned: i64,
    /// Savings spent as a tender.
    pub savings_redeemed: i64,
    /// Gift cards spent as a tender.
    pub gift_card_tendered: i64,
}

/// A quarter of an hour's sales (all currencies): its first second, sales, loyalty sales.
pub(crate) type Quarter = (i64, i64, i64);

/// A promotion's use over the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PromotionUse {
    pub promotion_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Sales it applied to.
    pub uses: i64,
    /// Its amount (discounts, or extra savings for savings bonuses).
    pub amount: i64,
}

/// Returns made during the day, in the currency of their sales.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReturnTotals {
    /// ISO 4217 code.
    pub currency: String,
    /// Returns taken.
    pub returns: i64,
    /// Refunded.
    pub refund: i64,
    /// Savings taken back.
    pub savings_reversed: i64,
}

/// Everything "Today" shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DayReport {
    /// Per currency, most sales first.
    pub totals: Vec<Totals>,
    /// Per quarter of an hour with sales, in order.
    pub quarters: Vec<Quarter>,
    /// The ten promotions used in most sales.
    pub top: Vec<PromotionUse>,
    /// Per currency.
    pub returns: Vec<ReturnTotals>,
}

/// The figures of `[start, end)` (unix seconds, quarter-hour aligned).
pub(crate) fn report(conn: &Connection, start: i64, end: i64) -> Result<DayReport, StoreError> {
    let (from, to) = (bucket(start), bucket(end));
    let mut stmt = conn
        .prepare_cached(
            "SELECT currency, sum(sales), sum(loyalty_sales), sum(gross), sum(discount), sum(net),
                    sum(loyalty_net), sum(savings_earned), sum(savings_redeemed),
                    sum(gift_card_tendered)
             FROM dashboard_sales_q
             WHERE origin = 'local' AND bucket >= ?1 AND bucket < ?2
             GROUP BY currency HAVING sum(sales) > 0 ORDER BY 2 DESC, currency",
        )
        .map_err(sql)?;
    let totals = stmt
        .query_map(params![from, to], |r| {
            Ok(Totals {
                currency: r.get(0)?,
                sales: r.get(1)?,
                loyalty_sales: r.get(2)?,
                gross: r.get(3)?,
                discount: r.get(4)?,
                net: r.get(5)?,
                loyalty_net: r.get(6)?,
                savings_earned: r.get(7)?,
                savings_redeemed: r.get(8)?,
                gift_card_tendered: r.get(9)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;

    let mut stmt = conn
        .prepare_cached(
            "SELECT bucket, sum(sales), sum(loyalty_sales) FROM dashboard_sales_q
             WHERE origin = 'local' AND bucket >= ?1 AND bucket < ?2
             GROUP BY bucket HAVING sum(sales) > 0 ORDER BY bucket",
        )
        .map_err(sql)?;
    let quarters = stmt
        .query_map(params![from, to], |r| {
            Ok((r.get::<_, i64>(0)? * 900, r.get(1)?, r.get(2)?))
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;

    let mut stmt = conn
        .prepare_cached(
            "SELECT promotion_id, currency, sum(uses), sum(amount) FROM dashboard_effects_q
             WHERE origin = 'local' AND bucket >= ?1 AND bucket < ?2
             GROUP BY promotion_id, currency HAVING sum(uses) > 0
             ORDER BY 3 DESC, 4 DESC, promotion_id LIMIT 10",
        )
        .map_err(sql)?;
    let top = stmt
        .query_map(params![from, to], |r| {
            Ok(PromotionUse {
                promotion_id: r.get(0)?,
                currency: r.get(1)?,
                uses: r.get(2)?,
                amount: r.get(3)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;

    let mut stmt = conn
        .prepare_cached(
            "SELECT s.currency, count(*), sum(r.refund), sum(r.savings_reversed)
             FROM sale_returns r JOIN sales s ON s.sale_id = r.sale_id
             WHERE r.origin = 'local' AND r.returned_at >= ?1 AND r.returned_at < ?2
             GROUP BY s.currency ORDER BY 2 DESC, s.currency",
        )
        .map_err(sql)?;
    let returns = stmt
        .query_map(params![start, end], |r| {
            Ok(ReturnTotals {
                currency: r.get(0)?,
                returns: r.get(1)?,
                refund: r.get(2)?,
                savings_reversed: r.get(3)?,
            })
        })
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;

    Ok(DayReport {
        totals,
        quarters,
        top,
        returns,
    })
}

/// How many sales this till closed in `[start, end)`.
pub(crate) fn sales_count(conn: &Connection, start: i64, end: i64) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "SELECT coalesce(sum(sales), 0) FROM dashboard_sales_q
         WHERE origin = 'local' AND bucket >= ?1 AND bucket < ?2",
    )
    .map_err(sql)?
    .query_row(params![bucket(start), bucket(end)], |r| r.get(0))
    .map_err(sql)
}
