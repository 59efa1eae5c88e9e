//! Property tests over random catalogs and carts: exact sums, nothing negative,
//! determinism, independence from line order, and full returns restoring every balance.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use tillpass_engine::*;
use tillpass_protocol::catalog::{
    Audience, Catalog, Conditions, ItemSelector, Label, Promotion, Rewarded, Rule,
    SavingsProgramme, ThresholdStep, UnitReward, Weekday,
};
use tillpass_protocol::money::{Currency, Money, Rate};
use tillpass_protocol::sync::GiftCardRef;

const SKUS: [&str; 6] = ["A", "B", "C", "D", "E", "F"];
const CATEGORIES: [&str; 3] = ["food", "drink", "home"];
const BRANDS: [&str; 2] = ["acme", "zeta"];

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn selector() -> impl Strategy<Value = ItemSelector> {
    prop_oneof![
        prop::sample::subsequence(SKUS.to_vec(), 1..4).prop_map(|s| ItemSelector {
            skus: s.into_iter().map(String::from).collect(),
            ..ItemSelector::default()
        }),
        prop::sample::select(CATEGORIES.to_vec()).prop_map(|c| ItemSelector {
            categories: vec![c.into()],
            except_skus: vec!["F".into()],
            ..ItemSelector::default()
        }),
        prop::sample::select(BRANDS.to_vec()).prop_map(|b| ItemSelector {
            brands: vec![b.into()],
            ..ItemSelector::default()
        }),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        (prop::option::of(selector()), 1u32..=10_000).prop_map(|(items, p)| Rule::PercentOff {
            items,
            percent: Rate(p)
        }),
        (prop::option::of(selector()), 1i64..3000, any::<bool>()).prop_map(
            |(items, amount, per_unit)| Rule::AmountOff {
                items,
                amount,
                per_unit
            }
        ),
        (selector(), 0i64..2000).prop_map(|(items, price)| Rule::FixedPrice { items, price }),
        (selector(), 0i64..2000).prop_map(|(items, price)| Rule::TierPrice {
            items,
            prices: vec![tillpass_protocol::catalog::TierPrice {
                tier: "gold".into(),
                price
            }],
        }),
        (
            selector(),
            1u32..4,
            1u32..3,
            prop::option::of(1u32..=10_000),
            any::<bool>()
        )
            .prop_map(|(items, buy, get, percent, expensive)| Rule::BuyXGetY {
                items,
                buy,
                get,
                reward: percent.map_or(UnitReward::Free, |p| UnitReward::Percent(Rate(p))),
                rewarded: if expensive {
                    Rewarded::MostExpensive
                } else {
                    Rewarded::Cheapest
                },
            }),
        (selector(), 2u32..5, 1i64..3000).prop_map(|(items, quantity, price)| Rule::MultiBuy {
            items,
            quantity,
            price
        }),
        (prop::option::of(selector()), 1i64..3000, 1i64..1000).prop_map(|(items, spend, off)| {
            Rule::SpendThreshold {
                items,
                steps: vec![
                    ThresholdStep { spend, off },
                    ThresholdStep {
                        spend: spend * 2,
                        off: off * 2,
                    },
                ],
            }
        }),
    ]
}

fn promotion(n: usize) -> impl Strategy<Value = Promotion> {
    (
        prop::collection::vec(rule(), 1..3),
        0i32..3,
        prop::option::of(prop::sample::select(vec!["g1", "g2"])),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
        prop::option::of(1u32..4),
        prop::option::of(1i64..3000),
        prop::option::of((prop::option::of(selector()), 10_001u32..40_000)),
    )
        .prop_map(
            move |(rules, priority, group, exclusive, members, min_quantity, min_amount, bonus)| {
                let label = Label {
                    es: format!("P{n}"),
                    en: format!("P{n}"),
                };
                let conditions = Conditions {
                    min_quantity,
                    min_amount,
                    ..Conditions::default()
                };
                let audience = if members {
                    Audience::Members
                } else {
                    Audience::Everyone
                };
                match bonus {
                    Some((items, m)) => Promotion {
                        id: format!("P{n:02}"),
                        label,
                        valid_from: 0,
                        valid_until: u64::MAX,
                        priority,
                        group: None,
                        exclusive: false,
                        audience,
                        voucher: None,
                        conditions,
                        rules: vec![Rule::SavingsMultiplier {
                            items,
                            multiplier: Rate(m),
                        }],
                    },
                    None => Promotion {
                        id: format!("P{n:02}"),
                        label,
                        valid_from: 0,
                        valid_until: u64::MAX,
                        priority,
                        group: group.map(String::from),
                        exclusive,
                        audience,
                        voucher: None,
                        conditions,
                        rules,
                    },
                }
            },
        )
}

fn catalog() -> impl Strategy<Value = Catalog> {
    (
        (0usize..8).prop_flat_map(|n| (0..n).map(promotion).collect::<Vec<_>>()),
        0u32..2000,
        prop::option::of(0i64..500),
        10_000u32..30_000,
    )
        .prop_map(|(promotions, earn, cap, gold)| Catalog {
            format: 1,
            currency: Currency::EUR,
            tiers: vec!["gold".into()],
            savings: Some(SavingsProgramme {
                earn_rate: Rate(earn),
                return_window_days: 30,
                max_earn_per_sale: cap,
                offline_redeem_cap: 1000,
                tier_multipliers: BTreeMap::from([("gold".into(), Rate(gold))]),
                category_multipliers: BTreeMap::from([("food".into(), Rate(20_000))]),
                excluded_categories: vec!["home".into()],
            }),
            gift_cards: Default::default(),
            promotions,
        })
}

fn line(n: usize) -> impl Strategy<Value = Line> {
    (
        prop::sample::select(SKUS.to_vec()),
        prop::sample::select(CATEGORIES.to_vec()),
        prop::sample::select(BRANDS.to_vec()),
        prop_oneof![
            (1u32..6).prop_map(Quantity::Units),
            (1u32..2000).prop_map(Quantity::Grams)
        ],
        0i64..5000,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
    )
        .prop_map(
            move |(sku, category, brand, quantity, price, no_promotion, gift_card_purchase)| Line {
                line_id: format!("L{n}"),
                sku: sku.into(),
                category: Some(category.into()),
                brand: Some(brand.into()),
                quantity,
                unit_price: eur(price),
                no_promotion,
                gift_card_purchase,
            },
        )
}

fn cart() -> impl Strategy<Value = Cart> {
    (1usize..12)
        .prop_flat_map(|n| (0..n).map(line).collect::<Vec<_>>())
        .prop_map(|lines| Cart {
            currency: Currency::EUR,
            lines,
            vouchers: vec![],
        })
}

fn customer() -> impl Strategy<Value = Option<CustomerContext>> {
    prop::option::of(prop::bool::ANY.prop_map(|gold| CustomerContext {
        tier: gold.then(|| "gold".into()),
        segments: vec![],
        activated_promotions: vec![],
        uses: BTreeMap::new(),
        savings: SavingsBalance {
            available: eur(10_000),
            pending: eur(0),
        },
        balance_synced: true,
        offline_redeemed: eur(0),
    }))
}

fn sale_context() -> SaleContext {
    SaleContext {
        now: 1_750_000_000,
        local: LocalTime {
            weekday: Weekday::Wed,
            minute_of_day: 720,
        },
        store_id: "S1".into(),
        region: "R1".into(),
    }
}

fn check_invariants(e: &Evaluation) -> Result<(), TestCaseError> {
    let mut discount_by_line: BTreeMap<&str, i64> = BTreeMap::new();
    let mut bonus = 0;
    for effect in &e.effects {
        prop_assert!(effect.amount.amount > 0, "effect {:?}", effect);
        let sum: i64 = effect.allocations.iter().map(|a| a.amount.amount).sum();
        prop_assert_eq!(sum, effect.amount.amount);
        for a in &effect.allocations {
            prop_assert!(a.amount.amount > 0);
            if effect.is_discount() {
                *discount_by_line.entry(&a.line_id).or_default() += a.amount.amount;
            }
        }
        if !effect.is_discount() {
            bonus += effect.amount.amount;
        }
    }
    let (mut subtotal, mut discount, mut total, mut savings) = (0, 0, 0, 0);
    for l in &e.lines {
        prop_assert!(l.subtotal.amount >= 0 && l.discount.amount >= 0 && l.total.amount >= 0);
        prop_assert!(l.savings_earned.amount >= 0);
        prop_assert_eq!(l.subtotal.amount - l.discount.amount, l.total.amount);
        prop_assert_eq!(
            discount_by_line
                .get(l.line_id.as_str())
                .copied()
                .unwrap_or(0),
            l.discount.amount
        );
        subtotal += l.subtotal.amount;
        discount += l.discount.amount;
        total += l.total.amount;
        savings += l.savings_earned.amount;
    }
    let t = &e.totals;
    prop_assert_eq!(t.subtotal.amount, subtotal);
    prop_assert_eq!(t.discount.amount, discount);
    prop_assert_eq!(t.total.amount, total);
    prop_assert!(t.discount.amount <= t.subtotal.amount);
    prop_assert_eq!(t.savings.total.amount, savings);
    prop_assert_eq!(t.savings.bonus.amount, bonus);
    prop_assert_eq!(
        t.savings.base.amount + t.savings.bonus.amount,
        t.savings.total.amount
    );
    prop_assert!(t.savings.base.amount >= 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn sums_are_exact_and_nothing_is_negative(
        catalog in catalog(), cart in cart(), customer in customer(),
    ) {
        let engine = Engine::new(catalog).unwrap();
        let e = engine.evaluate(&cart, customer.as_ref(), &sale_context()).unwrap();
        check_invariants(&e)?;
        if let Some(cap) = engine.catalog().savings.as_ref().and_then(|s| s.max_earn_per_sale) {
            prop_assert!(e.totals.savings.total.amount <= cap);
        }
        for line in cart.lines.iter().filter(|l| l.gift_card_purchase) {
            let result = e.lines.iter().find(|r| r.line_id == line.line_id).unwrap();
            prop_assert_eq!(result.discount.amount, 0);
            prop_assert_eq!(result.savings_earned.amount, 0);
        }
        for line in cart.lines.iter().filter(|l| l.no_promotion) {
            let result = e.lines.iter().find(|r| r.line_id == line.line_id).unwrap();
            prop_assert_eq!(result.discount.amount, 0);
        }
    }

    #[test]
    fn evaluation_is_deterministic_and_independent_of_line_order(
        catalog in catalog(), cart in cart(), customer in customer(), seed in any::<u64>(),
    ) {
        let engine = Engine::new(catalog.clone()).unwrap();
        let sale = sale_context();
        let first = engine.evaluate(&cart, customer.as_ref(), &sale).unwrap();
        // Again, with the same engine: the same effects.
        prop_assert_eq!(&engine.evaluate(&cart, customer.as_ref(), &sale).unwrap(), &first);
        // Lines shuffled, catalog promotions reversed, both through JSON: the same.
        let mut shuffled = cart.clone();
        let mut state = seed | 1;
        for i in (1..shuffled.lines.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let j = usize::try_from(state % u64::try_from(i + 1).unwrap()).unwrap();
            shuffled.lines.swap(i, j);
        }
        let shuffled: Cart = serde_json::from_str(&serde_json::to_string(&shuffled).unwrap()).unwrap();
        let mut reordered = catalog;
        reordered.promotions.reverse();
        let other = Engine::new(reordered).unwrap();
        prop_assert_eq!(&other.evaluate(&shuffled, customer.as_ref(), &sale).unwrap(), &first);
        // The evaluation survives JSON as the agent stores it.
        let json = serde_json::to_string(&first).unwrap();
        prop_assert_eq!(serde_json::from_str::<Evaluation>(&json).unwrap(), first);
    }

    #[test]
    fn a_full_return_restores_every_balance(
        catalog in catalog(), cart in cart(), gold in any::<bool>(),
        savings_share in 0u32..=100, card_share in 0u32..=100, steps in 1usize..4, seed in any::<u64>(),
    ) {
        let engine = Engine::new(catalog).unwrap();
        let balance = 100_000_i64;
        let customer = CustomerContext {
            tier: gold.then(|| "gold".into()),
            segments: vec![],
            activated_promotions: vec![],
            uses: BTreeMap::new(),
            savings: SavingsBalance { available: eur(balance), pending: eur(0) },
            balance_synced: true,
            offline_redeemed: eur(0),
        };
        let e = engine.evaluate(&cart, Some(&customer), &sale_context()).unwrap();
        let total = e.totals.total.amount;
        let redeemed = total * i64::from(savings_share) / 100;
        let on_card = (total - redeemed) * i64::from(card_share) / 100;
        let cash = total - redeemed - on_card;
        let mut tenders = vec![];
        if redeemed > 0 { tenders.push(Tender::Savings { amount: eur(redeemed) }); }
        if on_card > 0 { tenders.push(Tender::GiftCard { card: GiftCardRef::new("GC").unwrap(), amount: eur(on_card) }); }
        if cash > 0 { tenders.push(Tender::Cash { amount: eur(cash) }); }
        let earned = e.totals.savings.total.amount;
        let sale = ClosedSale::new(e.clone(), tenders).unwrap();

        // Balances after the sale: savings spent and earned (pending), card debited.
        let mut customer_savings = balance - redeemed + earned;
        let mut card = 50_000 - on_card;

        // Return everything in `steps` rounds, each line split pseudo-randomly.
        let mut left: Vec<(String, u32)> = e.lines.iter().map(|l| (l.line_id.clone(), l.quantity.value())).collect();
        let mut previous: Vec<ReturnOutcome> = vec![];
        let mut state = seed | 1;
        for step in 0..steps {
            let last = step + 1 == steps;
            let mut lines = vec![];
            for (id, remaining) in &mut left {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                let take = if last { *remaining } else {
                    u32::try_from(state % (u64::from(*remaining) + 1)).unwrap()
                };
                if take > 0 {
                    lines.push(ReturnLine { line_id: id.clone(), quantity: take });
                    *remaining -= take;
                }
            }
            if lines.is_empty() { continue; }
            let outcome = reverse(&sale, &previous, &ReturnRequest {
                lines,
                clawback_limit: Some(eur(customer_savings)),
            }).unwrap();
            prop_assert!(outcome.refund.amount >= 0 && outcome.savings_reversed.amount >= 0);
            prop_assert!(outcome.tenders.iter().all(|t| t.amount().amount >= 0));
            let back: i64 = outcome.tenders.iter().map(|t| t.amount().amount).sum();
            prop_assert_eq!(back, outcome.refund.amount);
            customer_savings += outcome.savings_recredited().amount - outcome.savings_reversed.amount;
            prop_assert!(customer_savings >= 0);
            card += outcome.tenders.iter().filter(|t| matches!(t, Tender::GiftCard { .. })).map(|t| t.amount().amount).sum::<i64>();
            previous.push(outcome);
        }
        prop_assert_eq!(customer_savings, balance);
        prop_assert_eq!(card, 50_000);
        let refunded: i64 = previous.iter().map(|o| o.refund.amount).sum();
        prop_assert_eq!(refunded, total);
        let discount: i64 = previous.iter().map(|o| o.discount.amount).sum();
        prop_assert_eq!(discount, e.totals.discount.amount);
        // Nothing is left to return.
        for l in &e.lines {
            let again = reverse(&sale, &previous, &ReturnRequest {
                lines: vec![ReturnLine { line_id: l.line_id.clone(), quantity: 1 }],
                clawback_limit: None,
            });
            prop_assert!(again.is_err());
        }
    }

    #[test]
    fn extreme_amounts_are_errors_or_exact_never_panics(
        catalog in catalog(),
        lines in prop::collection::vec(
            (prop::sample::select(SKUS.to_vec()), any::<u32>(), 0i64..=i64::MAX / 4, any::<bool>()),
            1..6,
        ),
    ) {
        let engine = Engine::new(catalog).unwrap();
        let cart = Cart {
            currency: Currency::EUR,
            lines: lines
                .into_iter()
                .enumerate()
                .map(|(n, (sku, q, price, weighed))| Line {
                    line_id: format!("{n}"),
                    sku: sku.into(),
                    category: Some("food".into()),
                    brand: Some("acme".into()),
                    quantity: if weighed { Quantity::Grams(q.max(1)) } else { Quantity::Units(q.max(1)) },
                    unit_price: eur(price),
                    no_promotion: false,
                    gift_card_purchase: false,
                })
                .collect(),
            vouchers: vec![],
        };
        let customer = CustomerContext {
            tier: Some("gold".into()),
            segments: vec![],
            activated_promotions: vec![],
            uses: BTreeMap::new(),
            savings: SavingsBalance { available: eur(0), pending: eur(0) },
            balance_synced: false,
            offline_redeemed: eur(0),
        };
        if let Ok(e) = engine.evaluate(&cart, Some(&customer), &sale_context()) {
            check_invariants(&e)?;
        }
    }
}
