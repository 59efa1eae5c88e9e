//! The journal's one check (`JournalEvent::check`, the bounds of `sync::limits`) on a sale
//! of 30 and of 1,000 lines, against serializing the same event: the till runs both before
//! an event enters its outbox, central runs the check at ingest.
//!
//! Run: `cargo bench -p tillpass-protocol --bench journal_check`

// Setup may unwrap: a bench that cannot set up should stop loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tillpass_protocol::catalog::{EffectKind, Label};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::{
    CustomerRef, EffectSummary, EventPayload, JournalEvent, PromotionId, Quantity, SaleClosed,
    SaleId, SaleLine, SaleTotals, StoreId, Tender, TillId,
};

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn sale(lines: usize) -> JournalEvent {
    let n = i64::try_from(lines).unwrap();
    JournalEvent::new(
        TillId::new("S001-T01").unwrap(),
        StoreId::new("S001").unwrap(),
        1,
        1_751_371_200,
        EventPayload::SaleClosed(SaleClosed {
            sale_id: SaleId::new("POS-42").unwrap(),
            customer: Some(CustomerRef::new("C-1").unwrap()),
            lines: (0..lines)
                .map(|i| SaleLine {
                    line_id: i.to_string(),
                    sku: format!("SKU-{i:08}-Café con leche"),
                    quantity: Quantity::Units(2),
                    unit_price: eur(250),
                    discount: eur(50),
                    total: eur(450),
                    savings_earned: Some(eur(4)),
                })
                .collect(),
            effects: vec![EffectSummary {
                promotion_id: PromotionId::new("FRESH-10").unwrap(),
                kind: EffectKind::PercentOff.into(),
                amount: eur(50 * n),
                label: Some(Label {
                    es: "Frescos −10 %".into(),
                    en: "Fresh 10 % off".into(),
                }),
                lines: (0..lines).map(|i| i.to_string()).collect(),
            }],
            tenders: vec![Tender::Card {
                amount: eur(450 * n),
            }],
            totals: SaleTotals {
                gross: eur(500 * n),
                discounts: eur(50 * n),
                net: eur(450 * n),
            },
            savings_earned: eur(4 * n),
            savings_redeemed: eur(0),
        }),
    )
}

fn bench(c: &mut Criterion) {
    for lines in [30, 1000] {
        let event = sale(lines);
        assert_eq!(event.check(), Ok(()));
        c.bench_function(&format!("check a {lines}-line sale"), |b| {
            b.iter(|| black_box(&event).check())
        });
        c.bench_function(&format!("serialize a {lines}-line sale"), |b| {
            b.iter(|| serde_json::to_string(black_box(&event)).unwrap())
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
