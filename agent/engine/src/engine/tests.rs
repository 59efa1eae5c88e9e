use std::collections::BTreeSet;

use tillpass_protocol::catalog::{Catalog, GiftCardRules, Weekday};
use tillpass_protocol::money::{Currency, Money};

use super::Engine;
use crate::cart::{Cart, Line, Quantity};
use crate::context::{LocalTime, SaleContext};
use crate::error::EngineError;
use crate::giftcard::{GiftCard, GiftCardHold, spendable};
use crate::refusal::TenderRefusal;

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn engine(promotions: &str) -> Engine {
    let text = format!("format = 1\ncurrency = \"EUR\"\n{promotions}");
    Engine::new(Catalog::from_toml(&text).unwrap()).unwrap()
}

fn line(id: &str, sku: &str, quantity: Quantity, price: i64) -> Line {
    Line {
        line_id: id.into(),
        sku: sku.into(),
        category: None,
        brand: None,
        quantity,
        unit_price: eur(price),
        no_promotion: false,
        gift_card_purchase: false,
    }
}

fn cart(lines: Vec<Line>) -> Cart {
    Cart {
        currency: Currency::EUR,
        lines,
        vouchers: vec![],
    }
}

fn now() -> SaleContext {
    SaleContext {
        now: 1_750_000_000,
        local: LocalTime {
            weekday: Weekday::Tue,
            minute_of_day: 600,
        },
        store_id: "S".into(),
        region: "R".into(),
    }
}

const MULTI: &str = r#"
[[promotions]]
id = "THREE-FOR-TEN"
label = { es = "3 por 10", en = "3 for 10" }
valid_from = 0
valid_until = 4000000000
rules = [{ type = "multi_buy", quantity = 3, price = 1000, items = { skus = ["A"] } }]
"#;

#[test]
fn malformed_carts_are_refused_with_a_reason() {
    let e = engine(MULTI);
    let dup = cart(vec![
        line("1", "A", Quantity::Units(1), 100),
        line("1", "B", Quantity::Units(1), 100),
    ]);
    assert!(matches!(
        e.evaluate(&dup, None, &now()),
        Err(EngineError::DuplicateLine { .. })
    ));
    let zero = cart(vec![line("1", "A", Quantity::Units(0), 100)]);
    assert!(matches!(
        e.evaluate(&zero, None, &now()),
        Err(EngineError::InvalidLine { .. })
    ));
    let negative = cart(vec![line("1", "A", Quantity::Units(1), -1)]);
    assert!(e.evaluate(&negative, None, &now()).is_err());
    let mut usd = cart(vec![line("1", "A", Quantity::Units(1), 100)]);
    usd.currency = Currency::from_code("USD").unwrap();
    assert!(matches!(
        e.evaluate(&usd, None, &now()),
        Err(EngineError::CurrencyMismatch { .. })
    ));
    let huge = cart(vec![line(
        "1",
        "A",
        Quantity::Units(u32::MAX),
        i64::MAX / 2,
    )]);
    assert!(matches!(
        e.evaluate(&huge, None, &now()),
        Err(EngineError::Money(_))
    ));
}

#[test]
fn an_empty_cart_is_zero() {
    let e = engine(MULTI);
    let result = e.evaluate(&cart(vec![]), None, &now()).unwrap();
    assert!(result.effects.is_empty());
    assert_eq!(result.totals.total, eur(0));
}

#[test]
fn a_line_of_millions_of_units_costs_no_more_than_one() {
    // 3 000 000 001 units at 4.00: a billion bundles of 12.00 for 10.00, 2.00 (200 cents)
    // off each -> 200 000 000 000 cents; the last unit is in no bundle.
    let e = engine(MULTI);
    let big = cart(vec![line("1", "A", Quantity::Units(3_000_000_001), 400)]);
    let result = e.evaluate(&big, None, &now()).unwrap();
    assert_eq!(result.totals.discount, eur(200_000_000_000));
}

#[test]
fn refusal_codes_are_unique_and_messages_bilingual() {
    let refusals = [
        TenderRefusal::NoCustomer,
        TenderRefusal::NoSavingsProgramme,
        TenderRefusal::CurrencyMismatch {
            expected: Currency::EUR,
            found: Currency::EUR,
        },
        TenderRefusal::NotPositive,
        TenderRefusal::NothingDue,
        TenderRefusal::ExceedsAmountDue { due: eur(1) },
        TenderRefusal::InsufficientBalance { available: eur(1) },
        TenderRefusal::OfflineCapReached { remaining: eur(1) },
        TenderRefusal::CardBlocked,
        TenderRefusal::CardExpired { expired_at: 1 },
        TenderRefusal::PartialPaymentNotAllowed { due: eur(1) },
    ];
    let codes: BTreeSet<&str> = refusals.iter().map(TenderRefusal::code).collect();
    assert_eq!(codes.len(), refusals.len());
    for r in &refusals {
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["code"], r.code());
        assert!(!r.message().es.is_empty() && !r.message().en.is_empty());
    }
}

#[test]
fn spendable_counts_active_holds_and_the_offline_cap() {
    let rules = GiftCardRules {
        hold_ttl_seconds: 60,
        offline_cap_per_card: 1000,
        partial_payment: true,
    };
    let mut card = GiftCard {
        card_id: "G".into(),
        balance: eur(5000),
        expires_at: None,
        blocked: false,
        balance_synced: true,
        offline_spent: eur(0),
    };
    let holds = vec![
        GiftCardHold {
            card_id: "G".into(),
            session_id: "a".into(),
            amount: eur(700),
            expires_at: 100,
        },
        GiftCardHold {
            card_id: "OTHER".into(),
            session_id: "a".into(),
            amount: eur(900),
            expires_at: 100,
        },
    ];
    assert_eq!(spendable(&card, &holds, &rules, 99), eur(4300));
    assert_eq!(spendable(&card, &holds, &rules, 100), eur(5000));
    card.balance_synced = false;
    assert_eq!(spendable(&card, &holds, &rules, 99), eur(300));
}
