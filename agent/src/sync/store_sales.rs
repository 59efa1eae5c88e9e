//! The store's sales from central, so that goods bought at another till of the store can
//! be returned here.
//!
//! Each [`SaleDelta`] is a sale with every return recorded against it so far, anywhere in
//! the store. It is turned back into the engine's words — a [`ClosedSale`] and one
//! [`ReturnOutcome`] per return — and kept beside this till's own sales with
//! `origin = 'store'`; a return here then runs through the same
//! [`crate::sessions`] code as a return of a local sale, continuing from what the earlier
//! returns already gave back (the engine's cumulative rule, see
//! [`tillpass_engine::returns`]).
//!
//! What the rebuild keeps exactly is what a return needs: each line's quantity, subtotal,
//! discount, total and earned savings, the tenders in their order, and each earlier
//! return's per-line quantities, discounts, refunds and savings taken back and its refund
//! per tender. What the journal does not carry is left out: how each effect was spread
//! over the lines, the eligible spend and when the savings stop being pending. Events of
//! agents from before per-line savings were journaled share the sale's savings over its
//! lines by their totals (largest remainder).
//!
//! Sales and returns are immutable: an item only adds what this till does not hold yet
//! (the sale, then returns by id). A sale held here — this till's own, or one received
//! before — is returned from the stored sale, not rebuilt. An item that does not add up or
//! cannot be read is skipped with a warning rather than stopping the sync; if this till
//! holds its sale, returns of that sale are refused here (`sale_history_incomplete`) until
//! a readable copy arrives, since a return elsewhere is unknown.
//!
//! Sale ids, and return ids, must be unique within the store for this to find the right
//! sale (the POS API says so): an item whose sale id this till holds for another till's
//! sale is skipped, and a sale closing here under the id of another till's kept sale takes
//! its place (`sales::make_way`).

use rusqlite::Connection;
use tillpass_engine::{
    ClosedSale, Effect, Evaluation, LineResult, ReturnOutcome, ReturnedLine, SavingsEarned, Tender,
    Totals,
};
use tillpass_protocol::catalog::Label;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{self, ReturnRecorded, SaleClosed, SaleDelta, StoreSale};

use super::SyncError;
use super::deltas::Applied;
use crate::store::sales::{self, EffectRow, ReturnRow, SaleRow};

/// Why an item of the store's sales cannot be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable(pub String);

fn unusable(what: impl Into<String>) -> Unusable {
    Unusable(what.into())
}

/// Applies a page of the store's sales, item by item: an item this build cannot read is
/// skipped (and, if this till holds its sale, blocks its returns here), never the page.
pub fn apply_sales(conn: &Connection, items: &[serde_json::Value]) -> Result<Applied, SyncError> {
    let mut applied = Applied::default();
    for value in items {
        let outcome = match serde_json::from_value::<SaleDelta>(value.clone()) {
            Ok(SaleDelta::Upsert { sale }) => keep(conn, &sale)?,
            Err(e) => {
                let text = |pointer: &str| value.pointer(pointer).and_then(|v| v.as_str());
                match (text("/sale/sale/sale_id"), text("/sale/till")) {
                    (Some(sale_id), Some(till)) => {
                        refuse(conn, sale_id, till, &unusable(format!("unreadable: {e}")))?
                    }
                    _ => Err(unusable(format!("unreadable: {e}"))),
                }
            }
        };
        match outcome {
            Ok(added) => applied.items += added,
            Err(Unusable(why)) => tracing::warn!(
                %why,
                "a sale of the store was not kept; it cannot be returned here"
            ),
        }
    }
    Ok(applied)
}

/// What an unusable item leaves behind: nothing — except that a sale this till holds (of
/// the item's till) stops being returnable here until a readable copy arrives, since one of
/// its returns elsewhere is unknown.
fn refuse(
    conn: &Connection,
    sale_id: &str,
    till: &str,
    why: &Unusable,
) -> Result<Result<usize, Unusable>, SyncError> {
    if let Some((held_till, _)) = sales::origin_of(conn, sale_id)?
        && held_till == till
    {
        sales::block_returns(conn, sale_id, Some(&why.0))?;
    }
    Ok(Err(unusable(format!(
        "sale {sale_id} of till {till}: {}",
        why.0
    ))))
}

/// Adds what this till does not hold of `item`: the sale and its returns. Returns how
/// many rows were added, or why the item is unusable (nothing added).
fn keep(conn: &Connection, item: &StoreSale) -> Result<Result<usize, Unusable>, SyncError> {
    let sale_id = item.sale.sale_id.as_str();
    let till = item.till.as_str();
    let held = sales::origin_of(conn, sale_id)?;
    if let Some((held_till, _)) = &held
        && held_till != till
    {
        // Another till's sale under the same id: sale ids must be unique in the store for
        // a return at another till to find the right sale.
        return Ok(Err(unusable(format!(
            "sale {sale_id} of till {till}: this till holds a sale of till {held_till} under \
             that id"
        ))));
    }
    // A sale held here is returned from what is stored (exact for this till's own); a new
    // one is rebuilt from the journal.
    let closed = match &held {
        Some(_) => {
            let stored = sales::load(conn, sale_id)?
                .ok_or_else(|| SyncError::Internal(format!("sale {sale_id} vanished")))?;
            serde_json::from_str::<ClosedSale>(&stored.sale)
                .map_err(|e| SyncError::Store(crate::store::StoreError::Corrupted(e.to_string())))?
        }
        None => match closed_sale(&item.sale) {
            Ok(c) => c,
            Err(e) => return refuse(conn, sale_id, till, &e),
        },
    };
    let mut outcomes = Vec::with_capacity(item.returns.len());
    for r in &item.returns {
        match return_outcome(&closed, &item.sale, &r.record) {
            Ok(o) => outcomes.push(o),
            Err(e) => return refuse(conn, sale_id, till, &e),
        }
    }
    if let Err(e) = within_the_sale(&closed, &outcomes) {
        return refuse(conn, sale_id, till, &e);
    }
    let mut added = 0;
    if held.is_none() {
        insert_sale(conn, item, &closed)?;
        added += 1;
    }
    for (r, outcome) in item.returns.iter().zip(&outcomes) {
        let return_id = r.record.return_id.as_str();
        if let Some((of, _)) = sales::load_return(conn, return_id)? {
            if of != sale_id {
                // Return ids must be unique in the store too: without this one, a return
                // here could give back again what it gave back. Refuse rather than guess.
                return refuse(
                    conn,
                    sale_id,
                    till,
                    &unusable(format!(
                        "its return {return_id} has an id this till holds for sale {of}"
                    )),
                );
            }
            continue;
        }
        let outcome_json = json(outcome)?;
        sales::insert_return(
            conn,
            &ReturnRow {
                return_id,
                sale_id,
                returned_at: r.returned_at,
                refund: outcome.refund.amount,
                savings_reversed: outcome.savings_reversed.amount,
                outcome: &outcome_json,
                origin: "store",
                till_id: Some(r.till.as_str()),
            },
        )?;
        added += 1;
    }
    sales::block_returns(conn, sale_id, None)?;
    Ok(Ok(added))
}

/// Checks that the returns together take back no more of any line (quantity, refund,
/// savings) and no more from any tender than the sale had: what a later return here
/// continues from must be possible.
fn within_the_sale(closed: &ClosedSale, outcomes: &[ReturnOutcome]) -> Result<(), Unusable> {
    for line in &closed.evaluation.lines {
        let returned = || {
            outcomes
                .iter()
                .flat_map(|o| &o.lines)
                .filter(|l| l.line_id == line.line_id)
        };
        let (mut refund, mut savings) = (0_i64, 0_i64);
        for l in returned() {
            refund = refund.saturating_add(l.refund.amount);
            savings = savings.saturating_add(l.savings_reversed.amount);
        }
        let quantities = returned().map(|l| l.quantity.value());
        if sync::left_to_return(line.quantity.value(), quantities).is_err()
            || refund > line.total.amount
            || savings > line.savings_earned.amount
        {
            return Err(unusable(format!(
                "its returns take back more of line {} than was sold",
                line.line_id
            )));
        }
    }
    for (t, tender) in closed.tenders.iter().enumerate() {
        let back = outcomes
            .iter()
            .filter_map(|o| o.tenders.get(t))
            .fold(0_i64, |acc, x| acc.saturating_add(x.amount().amount));
        if back > tender.amount().amount {
            return Err(unusable(format!(
                "its returns give back more than tender {} took",
                t + 1
            )));
        }
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, SyncError> {
    serde_json::to_string(value).map_err(|e| SyncError::Internal(e.to_string()))
}

fn insert_sale(conn: &Connection, item: &StoreSale, closed: &ClosedSale) -> Result<(), SyncError> {
    let sale = &item.sale;
    let gift_cards = closed
        .tenders
        .iter()
        .filter(|t| matches!(t, Tender::GiftCard { .. }))
        .fold(0_i64, |acc, t| acc.saturating_add(t.amount().amount));
    // No receipt was answered here: the till that closed the sale printed it.
    let sale_json = json(closed)?;
    let effects: Vec<EffectRow<'_>> = sale
        .effects
        .iter()
        .map(|e| EffectRow {
            promotion_id: e.promotion_id.as_str(),
            kind: e.kind.code(),
            amount: e.amount.amount,
        })
        .collect();
    sales::insert(
        conn,
        &SaleRow {
            sale_id: sale.sale_id.as_str(),
            till_id: item.till.as_str(),
            origin: "store",
            closed_at: item.closed_at,
            customer_ref: sale.customer.as_ref().map(|c| c.as_str()),
            currency: closed.evaluation.currency.code(),
            gross: sale.totals.gross.amount,
            discount: sale.totals.discounts.amount,
            net: sale.totals.net.amount,
            savings_earned: sale.savings_earned.amount,
            savings_redeemed: sale.savings_redeemed.amount,
            gift_card_tendered: gift_cards,
            line_count: i64::try_from(sale.lines.len()).unwrap_or(i64::MAX),
            sale: &sale_json,
            receipt: "{}",
        },
        &effects,
    )?;
    Ok(())
}

fn add(a: Money, b: Money, what: &str) -> Result<Money, Unusable> {
    a.checked_add(b)
        .map_err(|_| unusable(format!("{what}: overflow")))
}

fn sum(currency: Currency, amounts: impl IntoIterator<Item = Money>) -> Result<Money, Unusable> {
    Money::sum(currency, amounts).map_err(|e| unusable(e.to_string()))
}

/// Shares `total` over `weights`; all to nothing when there is nothing to share by.
fn share(total: Money, weights: &[u64]) -> Vec<Money> {
    total
        .allocate(weights)
        .unwrap_or_else(|_| vec![Money::zero(total.currency); weights.len()])
}

/// A journaled sale back in the engine's words.
pub fn closed_sale(sale: &SaleClosed) -> Result<ClosedSale, Unusable> {
    sale.check().map_err(|e| unusable(e.to_string()))?;
    let currency = sale.totals.net.currency;
    let earned: Vec<Money> = if sale.lines.iter().all(|l| l.savings_earned.is_some()) {
        sale.lines
            .iter()
            .map(|l| l.savings_earned.unwrap_or(Money::zero(currency)))
            .collect()
    } else {
        let weights: Vec<u64> = sale
            .lines
            .iter()
            .map(|l| u64::try_from(l.total.amount).unwrap_or(0))
            .collect();
        share(sale.savings_earned, &weights)
    };
    let mut lines = Vec::with_capacity(sale.lines.len());
    for (l, savings_earned) in sale.lines.iter().zip(earned) {
        if l.quantity.value() == 0 {
            return Err(unusable(format!("line {}: no quantity", l.line_id)));
        }
        lines.push(LineResult {
            line_id: l.line_id.clone(),
            sku: l.sku.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            subtotal: add(l.total, l.discount, "line subtotal")?,
            discount: l.discount,
            total: l.total,
            savings_earned,
        });
    }
    lines.sort_by(|a, b| tillpass_engine::compare_line_ids(&a.line_id, &b.line_id));
    if lines.windows(2).any(|w| match w {
        [a, b] => a.line_id == b.line_id,
        _ => false,
    }) {
        return Err(unusable("a line id appears twice"));
    }
    if sum(currency, lines.iter().map(|l| l.total))? != sale.totals.net
        || sum(currency, lines.iter().map(|l| l.discount))? != sale.totals.discounts
    {
        return Err(unusable("the lines do not add up to the totals"));
    }
    if sum(currency, lines.iter().map(|l| l.savings_earned))? != sale.savings_earned {
        return Err(unusable("the lines' savings do not add up to the sale's"));
    }
    let mut effects = Vec::with_capacity(sale.effects.len());
    for e in &sale.effects {
        // A kind this agent does not know is left out of the rebuilt list.
        let Some(kind) = e.kind.known() else {
            continue;
        };
        effects.push(Effect {
            promotion_id: e.promotion_id.as_str().to_owned(),
            rule: 0,
            kind,
            label: e.label.clone().unwrap_or_else(|| Label {
                es: e.promotion_id.as_str().to_owned(),
                en: e.promotion_id.as_str().to_owned(),
            }),
            amount: e.amount,
            allocations: Vec::new(),
            voucher: None,
        });
    }
    let bonus = sum(
        currency,
        effects
            .iter()
            .filter(|e| !e.is_discount())
            .map(|e| e.amount),
    )?;
    let base = Money::new(
        sale.savings_earned
            .amount
            .saturating_sub(bonus.amount)
            .max(0),
        currency,
    );
    let mut promotions_used: Vec<String> = effects.iter().map(|e| e.promotion_id.clone()).collect();
    promotions_used.sort();
    promotions_used.dedup();
    let evaluation = Evaluation {
        currency,
        lines,
        effects,
        totals: Totals {
            subtotal: sale.totals.gross,
            discount: sale.totals.discounts,
            total: sale.totals.net,
            eligible_spend: sale.totals.net,
            savings: SavingsEarned {
                base,
                bonus,
                total: sale.savings_earned,
                pending_until: None,
            },
        },
        vouchers: Vec::new(),
        promotions_used,
    };
    ClosedSale::new(evaluation, sale.tenders.clone()).map_err(|e| unusable(e.to_string()))
}

/// A journaled return of `sale` (already rebuilt as `closed`) in the engine's words.
pub fn return_outcome(
    closed: &ClosedSale,
    sale: &SaleClosed,
    ret: &ReturnRecorded,
) -> Result<ReturnOutcome, Unusable> {
    ret.check().map_err(|e| unusable(e.to_string()))?;
    let currency = closed.evaluation.currency;
    let id = ret.return_id.as_str();
    if ret.original_sale_id != sale.sale_id {
        return Err(unusable(format!("return {id} names another sale")));
    }
    if ret.savings_reversed.currency != currency {
        return Err(unusable(format!("return {id}: another currency")));
    }
    if ret.refunds.len() != closed.tenders.len() {
        return Err(unusable(format!(
            "return {id}: its refunds do not match the sale's tenders"
        )));
    }
    let zero = Money::zero(currency);
    let reversed: Vec<Money> = if ret.lines.iter().all(|l| l.savings_reversed.is_some()) {
        ret.lines
            .iter()
            .map(|l| l.savings_reversed.unwrap_or(zero))
            .collect()
    } else {
        let weights: Vec<u64> = ret
            .lines
            .iter()
            .map(|l| u64::try_from(l.refund.amount).unwrap_or(0))
            .collect();
        share(ret.savings_reversed, &weights)
    };
    let mut lines = Vec::with_capacity(ret.lines.len());
    for (l, savings_reversed) in ret.lines.iter().zip(reversed) {
        let sold = closed
            .evaluation
            .lines
            .iter()
            .find(|s| s.line_id == l.line_id)
            .ok_or_else(|| unusable(format!("return {id}: no line {} in the sale", l.line_id)))?;
        let q = l.quantity;
        if std::mem::discriminant(&q) != std::mem::discriminant(&sold.quantity) {
            return Err(unusable(format!(
                "return {id}: line {} in another measure",
                l.line_id
            )));
        }
        let discount = l.discount.unwrap_or(zero);
        lines.push(ReturnedLine {
            line_id: l.line_id.clone(),
            quantity: q,
            subtotal: add(l.refund, discount, "return subtotal")?,
            discount,
            refund: l.refund,
            savings_reversed,
        });
    }
    let refund = sum(currency, lines.iter().map(|l| l.refund))?;
    let tenders: Vec<Tender> = ret.refunds.clone();
    if !tenders
        .iter()
        .zip(&closed.tenders)
        .all(|(a, b)| a.same_account(b))
    {
        return Err(unusable(format!(
            "return {id}: its refunds do not match the sale's tenders"
        )));
    }
    if sum(currency, tenders.iter().map(Tender::amount))? != refund {
        return Err(unusable(format!(
            "return {id}: its refunds do not add up to its lines"
        )));
    }
    if sum(currency, lines.iter().map(|l| l.savings_reversed))? != ret.savings_reversed {
        return Err(unusable(format!(
            "return {id}: its lines' savings do not add up"
        )));
    }
    Ok(ReturnOutcome {
        subtotal: sum(currency, lines.iter().map(|l| l.subtotal))?,
        discount: sum(currency, lines.iter().map(|l| l.discount))?,
        refund,
        savings_reversed: ret.savings_reversed,
        lines,
        tenders,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use tillpass_engine::{ReturnLine, ReturnRequest, reverse};
    use tillpass_protocol::sync::{StoreReturn, TillId};

    use super::*;
    use crate::dashboard::fixtures::closed_sale as fixture_sale;
    use crate::sessions::events;
    use crate::store::Store;

    fn journaled(closed: &ClosedSale, customer: bool) -> SaleClosed {
        let redeemed = closed.tenders.iter().find_map(|t| match t {
            Tender::Savings { amount } => Some(*amount),
            _ => None,
        });
        events::sale_closed(
            "POS-1",
            customer.then_some("C-1"),
            &closed.evaluation,
            &closed.tenders,
            redeemed.unwrap_or(Money::zero(Currency::EUR)),
        )
        .unwrap()
    }

    fn journaled_return(id: &str, outcome: &ReturnOutcome) -> ReturnRecorded {
        events::return_recorded(id, "POS-1", Some("C-1"), outcome).unwrap()
    }

    /// One return: (line index, quantity) pairs and a clawback limit.
    type Step = (Vec<(usize, u32)>, Option<i64>);

    /// Returns in steps.
    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            (
                prop::collection::vec((0usize..2, 1u32..3), 1..3),
                prop::option::of(0i64..40),
            ),
            1..4,
        )
    }

    proptest! {
        /// A sale and its returns journaled at one till and rebuilt at another give every
        /// later return exactly what the first till would have given.
        #[test]
        fn a_rebuilt_sale_returns_as_the_original(customer: bool, steps in steps()) {
            let original = fixture_sale(customer);
            let sale = journaled(&original, customer);
            let rebuilt = closed_sale(&sale).unwrap();
            prop_assert_eq!(&rebuilt.evaluation.lines, &original.evaluation.lines);
            prop_assert_eq!(&rebuilt.tenders, &original.tenders);
            prop_assert_eq!(&rebuilt.evaluation.totals.savings.total,
                &original.evaluation.totals.savings.total);

            let (mut here, mut there) = (Vec::new(), Vec::new());
            for (n, (asked, limit)) in steps.iter().enumerate() {
                let mut lines: Vec<ReturnLine> = Vec::new();
                for (i, q) in asked {
                    let id = original.evaluation.lines[*i].line_id.clone();
                    if !lines.iter().any(|l| l.line_id == id) {
                        lines.push(ReturnLine { line_id: id, quantity: *q });
                    }
                }
                let request = ReturnRequest {
                    lines,
                    clawback_limit: limit.map(|l| Money::new(l, Currency::EUR)),
                };
                let a = reverse(&original, &here, &request);
                let b = reverse(&rebuilt, &there, &request);
                prop_assert_eq!(&a, &b);
                let Ok(outcome) = a else { continue };
                let ret = journaled_return(&format!("R-{n}"), &outcome);
                let back = return_outcome(&rebuilt, &sale, &ret).unwrap();
                prop_assert_eq!(&back, &outcome);
                here.push(outcome);
                there.push(back);
            }
        }
    }

    fn store_sale(customer: bool) -> (StoreSale, ClosedSale) {
        let closed = fixture_sale(customer);
        let outcome = reverse(
            &closed,
            &[],
            &ReturnRequest {
                lines: vec![ReturnLine {
                    line_id: "1".into(),
                    quantity: 1,
                }],
                clawback_limit: None,
            },
        )
        .unwrap();
        let item = StoreSale {
            till: TillId::new("S1-T2").unwrap(),
            closed_at: 1_000,
            sale: journaled(&closed, customer),
            returns: vec![StoreReturn {
                till: TillId::new("S1-T3").unwrap(),
                returned_at: 2_000,
                record: journaled_return("R-1", &outcome),
            }],
        };
        (item, closed)
    }

    fn value(sale: StoreSale) -> serde_json::Value {
        serde_json::to_value(SaleDelta::Upsert { sale }).unwrap()
    }

    fn blocked(conn: &Connection, sale_id: &str) -> Option<String> {
        sales::load(conn, sale_id).unwrap().unwrap().returns_blocked
    }

    fn count(conn: &Connection, table: &str) -> i64 {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_store_sale_is_kept_once_and_its_new_returns_added() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let (item, closed) = store_sale(true);
        let page = |item: &StoreSale| vec![value(item.clone())];
        assert_eq!(apply_sales(&conn, &page(&item)).unwrap().items, 2);
        assert_eq!(
            apply_sales(&conn, &page(&item)).unwrap().items,
            0,
            "a replay"
        );
        let (till, origin) = sales::origin_of(&conn, "POS-1").unwrap().unwrap();
        assert_eq!((till.as_str(), origin.as_str()), ("S1-T2", "store"));
        let kept: ClosedSale =
            serde_json::from_str(&sales::load(&conn, "POS-1").unwrap().unwrap().sale).unwrap();
        assert_eq!(kept.evaluation.lines, closed.evaluation.lines);
        let (of, _) = sales::load_return(&conn, "R-1").unwrap().unwrap();
        assert_eq!(of, "POS-1");
        let origin: (String, Option<String>) = conn
            .query_row(
                "SELECT origin, till_id FROM sale_returns WHERE return_id = 'R-1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(origin, ("store".into(), Some("S1-T3".into())));

        // The sale comes again with a second return: only that one is added.
        let mut later = item.clone();
        let mut second = later.returns[0].clone();
        second.record.return_id = sync::SaleId::new("R-2").unwrap();
        second.record.lines[0].line_id = "2".into();
        later.returns.push(second);
        let previous = vec![
            serde_json::from_str::<ReturnOutcome>(&sales::returns_of(&conn, "POS-1").unwrap()[0])
                .unwrap(),
        ];
        let outcome = reverse(
            &closed,
            &previous,
            &ReturnRequest {
                lines: vec![ReturnLine {
                    line_id: "2".into(),
                    quantity: 1,
                }],
                clawback_limit: None,
            },
        )
        .unwrap();
        later.returns[1].record = journaled_return("R-2", &outcome);
        assert_eq!(apply_sales(&conn, &page(&later)).unwrap().items, 1);
        assert_eq!(count(&conn, "sale_returns"), 2);
        // None of it counts as this till's on the dashboard.
        let local: i64 = conn
            .query_row(
                "SELECT coalesce(sum(sales), 0) FROM dashboard_sales_q WHERE origin = 'local'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(local, 0);
    }

    #[test]
    fn items_that_do_not_add_up_or_clash_are_skipped_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let page = |item: StoreSale| vec![value(item)];

        let (mut bad_lines, _) = store_sale(true);
        bad_lines.sale.lines[0].total.amount += 1;
        let (mut bad_refunds, _) = store_sale(true);
        bad_refunds.returns[0].record.refunds.pop();
        let (mut bad_savings, _) = store_sale(true);
        bad_savings.returns[0].record.lines[0].savings_reversed =
            Some(Money::new(999, Currency::EUR));
        let (mut unknown_line, _) = store_sale(true);
        unknown_line.returns[0].record.lines[0].line_id = "9".into();
        for item in [bad_lines, bad_refunds, bad_savings, unknown_line] {
            assert_eq!(apply_sales(&conn, &page(item)).unwrap().items, 0);
            assert_eq!(count(&conn, "sales"), 0);
            assert_eq!(count(&conn, "sale_returns"), 0);
        }

        // This till holds POS-1 of another till: the store's POS-1 is not mixed in.
        let (item, _) = store_sale(false);
        let mut mine = item.clone();
        mine.till = TillId::new("S1-T1").unwrap();
        mine.returns.clear();
        assert_eq!(apply_sales(&conn, &page(mine)).unwrap().items, 1);
        assert_eq!(apply_sales(&conn, &page(item)).unwrap().items, 0);
        assert_eq!(count(&conn, "sale_returns"), 0);
    }

    #[test]
    fn events_without_per_line_amounts_share_the_totals() {
        let (mut item, closed) = store_sale(true);
        for l in &mut item.sale.lines {
            l.savings_earned = None;
        }
        let rebuilt = closed_sale(&item.sale).unwrap();
        let shared: Vec<i64> = rebuilt
            .evaluation
            .lines
            .iter()
            .map(|l| l.savings_earned.amount)
            .collect();
        assert_eq!(
            shared.iter().sum::<i64>(),
            closed.evaluation.totals.savings.total.amount
        );
        let r = &mut item.returns[0].record;
        for l in &mut r.lines {
            l.savings_reversed = None;
            l.discount = None;
        }
        let outcome = return_outcome(&rebuilt, &item.sale, r).unwrap();
        assert_eq!(outcome.savings_reversed, r.savings_reversed);
        assert_eq!(outcome.refund.amount, r.lines[0].refund.amount);
    }

    #[test]
    fn retention_drops_old_store_sales_unless_returned_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut conn = store.conn();
        let day = 86_400;
        let now = 1_000 * day;
        for (id, days_ago) in [("OLD", 31), ("OLD-RETURNED-HERE", 31), ("RECENT", 29)] {
            let (mut item, _) = store_sale(true);
            item.sale.sale_id = sync::SaleId::new(id).unwrap();
            item.closed_at = now - days_ago * day;
            for r in &mut item.returns {
                r.record.original_sale_id = item.sale.sale_id.clone();
                r.record.return_id = sync::SaleId::new(format!("R-{id}")).unwrap();
            }
            let page = vec![value(item)];
            assert_eq!(apply_sales(&conn, &page).unwrap().items, 2);
        }
        conn.execute(
            "UPDATE sale_returns SET origin = 'local', till_id = NULL
             WHERE sale_id = 'OLD-RETURNED-HERE'",
            [],
        )
        .unwrap();
        let purged =
            crate::sync::retention::purge(&mut conn, u64::try_from(now).unwrap(), 90).unwrap();
        assert_eq!(purged.store_sales, 1);
        let left: Vec<String> = conn
            .prepare("SELECT sale_id FROM sales ORDER BY sale_id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, ["OLD-RETURNED-HERE", "RECENT"]);
        assert_eq!(count(&conn, "sale_returns"), 2);
        assert_eq!(count(&conn, "sale_effects WHERE sale_id = 'OLD'"), 0);
    }

    #[test]
    fn a_return_elsewhere_this_till_cannot_read_blocks_returns_of_the_sale_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let (item, _) = store_sale(true);
        let mut first = item.clone();
        first.returns.clear();
        assert_eq!(apply_sales(&conn, &[value(first)]).unwrap().items, 1);
        assert_eq!(blocked(&conn, "POS-1"), None);

        // The sale comes again with a return whose refunds do not add up: not kept, and
        // the sale stops being returnable here.
        let mut bad = item.clone();
        bad.returns[0].record.savings_reversed = Money::new(999, Currency::EUR);
        assert_eq!(apply_sales(&conn, &[value(bad)]).unwrap().items, 0);
        assert!(blocked(&conn, "POS-1").is_some());
        assert_eq!(count(&conn, "sale_returns"), 0);

        // A copy this build cannot read at all (a tender kind from a newer agent) does the same.
        let mut unreadable = value(item.clone());
        unreadable["sale"]["sale"]["tenders"][0]["kind"] = "crypto".into();
        assert_eq!(
            apply_sales(&conn, &[unreadable, serde_json::json!({"op": "??"})])
                .unwrap()
                .items,
            0
        );
        assert!(blocked(&conn, "POS-1").is_some());

        // A readable copy lifts it.
        assert_eq!(apply_sales(&conn, &[value(item)]).unwrap().items, 1);
        assert_eq!(blocked(&conn, "POS-1"), None);
        assert_eq!(count(&conn, "sale_returns"), 1);
    }

    #[test]
    fn a_sale_closing_here_takes_the_id_of_a_kept_store_sale_unless_returned_here() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let conn = store.conn();
        let (item, _) = store_sale(true);
        assert_eq!(apply_sales(&conn, &[value(item.clone())]).unwrap().items, 2);
        assert!(sales::make_way(&conn, "POS-1").unwrap());
        assert_eq!(count(&conn, "sales"), 0);
        assert_eq!(count(&conn, "sale_returns"), 0);

        assert_eq!(apply_sales(&conn, &[value(item)]).unwrap().items, 2);
        conn.execute("UPDATE sale_returns SET origin = 'local'", [])
            .unwrap();
        assert!(!sales::make_way(&conn, "POS-1").unwrap());
        assert_eq!(count(&conn, "sales"), 1);
    }
}
