//! The journal events of a simulated sale and of a return, as a till would write them.
//!
//! Each is valid by `JournalEvent::check` (the rule the till runs before it stores an
//! event and central at ingest), which the tests hold them to: a run measures central's
//! work on real sales, not its refusals.

use rand::RngExt;
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    CustomerRef, EventPayload, JournalEvent, Quantity, ReturnLine, ReturnRecorded, SaleClosed,
    SaleId, SaleLine, SaleTotals, SavingsMovement, StoreId, Tender, TillId,
};

/// The currency of every simulated sale.
pub const CURRENCY: Currency = Currency::EUR;

/// What a till remembers of a sale it may later take a return for.
#[derive(Debug, Clone)]
pub struct SoldLine {
    /// The sale.
    pub sale_id: SaleId,
    /// Its first line's id.
    pub line_id: String,
    /// That line's unit price.
    pub unit_price: Money,
}

/// Where an event happens.
#[derive(Debug, Clone)]
pub struct At {
    /// The till.
    pub till: TillId,
    /// Its store.
    pub store: StoreId,
    /// Unix seconds.
    pub now: i64,
}

/// A sale of 1 to 4 lines, paid by card or cash, with a customer earning 1 % of it (at least one minor unit) when
/// `customer` is given: a `sale_closed` event and, with a customer, `savings_earned`.
/// `seq` gives each event its sequence number. None if the till's id is too long to make a
/// sale id of.
pub fn sale(
    at: &At,
    customer: Option<CustomerRef>,
    seq: &mut impl FnMut() -> u64,
    rng: &mut impl rand::Rng,
) -> Option<(Vec<JournalEvent>, SoldLine)> {
    let first = seq();
    let sale_id = id(at, 'S', first)?;
    let n_lines = rng.random_range(1..=4u32);
    let mut lines = Vec::new();
    let mut gross = 0i64;
    for n in 1..=n_lines {
        let units = rng.random_range(1..=3u32);
        let unit_price = rng.random_range(50..=2_000i64);
        let total = unit_price * i64::from(units);
        gross += total;
        lines.push(SaleLine {
            line_id: format!("L{n}"),
            sku: format!("SKU{:05}", rng.random_range(0..20_000u32)),
            quantity: Quantity::Units(units),
            unit_price: Money::new(unit_price, CURRENCY),
            discount: Money::zero(CURRENCY),
            total: Money::new(total, CURRENCY),
            savings_earned: None,
        });
    }
    // 1 % of the sale, at least one minor unit: a customer's sale always earns.
    let earned = customer.as_ref().map_or(0, |_| (gross / 100).max(1));
    let paid = Money::new(gross, CURRENCY);
    let tender = if rng.random_bool(0.7) {
        Tender::Card { amount: paid }
    } else {
        Tender::Cash { amount: paid }
    };
    let sold = SoldLine {
        sale_id: sale_id.clone(),
        line_id: lines[0].line_id.clone(),
        unit_price: lines[0].unit_price,
    };
    let closed = SaleClosed {
        sale_id: sale_id.clone(),
        customer: customer.clone(),
        lines,
        effects: Vec::new(),
        tenders: vec![tender],
        totals: SaleTotals {
            gross: paid,
            discounts: Money::zero(CURRENCY),
            net: paid,
        },
        savings_earned: Money::new(earned, CURRENCY),
        savings_redeemed: Money::zero(CURRENCY),
    };
    let mut events = vec![event(at, first, EventPayload::SaleClosed(closed))];
    if let (Some(customer), true) = (customer, earned > 0) {
        let movement = SavingsMovement {
            customer,
            amount: Money::new(earned, CURRENCY),
            sale_id: Some(sale_id),
            basis: None,
        };
        events.push(event(at, seq(), EventPayload::SavingsEarned(movement)));
    }
    Some((events, sold))
}

/// A return of one unit of an earlier sale's first line, refunded in cash (none if the
/// till's id is too long to make a sale id of).
pub fn return_of(at: &At, sold: &SoldLine, seq: u64) -> Option<JournalEvent> {
    let return_id = id(at, 'R', seq)?;
    let recorded = ReturnRecorded {
        return_id,
        original_sale_id: sold.sale_id.clone(),
        customer: None,
        lines: vec![ReturnLine {
            line_id: sold.line_id.clone(),
            quantity: Quantity::Units(1),
            refund: sold.unit_price,
            discount: None,
            savings_reversed: None,
        }],
        refunds: vec![Tender::Cash {
            amount: sold.unit_price,
        }],
        savings_reversed: Money::zero(CURRENCY),
    };
    Some(event(at, seq, EventPayload::ReturnRecorded(recorded)))
}

/// `<till>-S<n>` for a sale, `<till>-R<n>` for a return; none if the till's id is too
/// long to make a sale id of.
fn id(at: &At, prefix: char, n: u64) -> Option<SaleId> {
    SaleId::new(format!("{}-{prefix}{n}", at.till.as_str())).ok()
}

fn event(at: &At, seq: u64, payload: EventPayload) -> JournalEvent {
    JournalEvent::new(at.till.clone(), at.store.clone(), seq, at.now, payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_events_pass_the_tills_own_check() {
        let at = At {
            till: TillId::new("LG0001-T1").unwrap(),
            store: StoreId::new("LG0001").unwrap(),
            now: 1_780_000_000,
        };
        let mut rng = rand::rng();
        let mut n = 0;
        let mut seq = || {
            n += 1;
            n
        };
        for i in 0..200 {
            let customer = (i % 2 == 0).then(|| CustomerRef::new(format!("C{i}")).unwrap());
            let (events, sold) = sale(&at, customer.clone(), &mut seq, &mut rng).unwrap();
            assert_eq!(events.len(), if customer.is_some() { 2 } else { 1 });
            for e in &events {
                e.check().unwrap_or_else(|err| panic!("{err}: {e:?}"));
            }
            let ret = return_of(&at, &sold, seq()).unwrap();
            ret.check().unwrap_or_else(|err| panic!("{err}: {ret:?}"));
        }
        // Sequence numbers run on, one per event, so ids never repeat.
        assert!(seq() > 400);
    }
}
