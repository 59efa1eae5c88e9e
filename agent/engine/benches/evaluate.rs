//! Benchmarks of `Engine::evaluate` on synthetic catalogs and carts, generated
//! deterministically (xorshift, fixed seeds).
//!
//! Run: `cargo bench -p tillpass-engine --bench evaluate`. Criterion reports medians; after
//! it, a plain loop measures p50/p99 per evaluation over many distinct carts and prints a
//! table.
//!
//! Catalogs: item promotions select 1–5 SKUs (70 %), a category (20 %) or a brand (10 %);
//! a fixed 20 basket promotions; rule types mixed (percent, amount, fixed price, tier price,
//! buy X get Y, multi-buy, thresholds, savings multipliers), 10 % in exclusive groups.
//! "scaled": the assortment grows with the catalog (10 SKUs, 1/10 category and 1/25 brand
//! per promotion), so a cart meets about as many promotions whatever the catalog size —
//! what the index must show is that the rest of the catalog costs nothing. "fixed": the
//! assortment stays at 50 000 SKUs / 500 categories / 200 brands, so bigger catalogs put
//! more promotions on each cart's categories and brands.
#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group};
use tillpass_engine::{
    Cart, CustomerContext, Engine, Line, LocalTime, Quantity, SaleContext, SavingsBalance,
};
use tillpass_protocol::catalog::{
    Catalog, Conditions, ItemSelector, Label, Promotion, Rule, SavingsProgramme, ThresholdStep,
    TierPrice, UnitReward, Weekday,
};
use tillpass_protocol::money::{Currency, Money, Rate};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n.max(1)).unwrap()).unwrap()
    }
}

#[derive(Clone, Copy)]
struct Assortment {
    skus: usize,
    categories: usize,
    brands: usize,
}

impl Assortment {
    fn scaled(promotions: usize) -> Assortment {
        Assortment {
            skus: promotions * 10,
            categories: (promotions / 10).max(1),
            brands: (promotions / 25).max(1),
        }
    }
    const FIXED: Assortment = Assortment {
        skus: 50_000,
        categories: 500,
        brands: 200,
    };
    fn category_of(self, sku: usize) -> usize {
        (sku * 7919) % self.categories
    }
    fn brand_of(self, sku: usize) -> usize {
        (sku * 104_729) % self.brands
    }
}

fn selector(rng: &mut Rng, a: Assortment) -> ItemSelector {
    match rng.below(10) {
        0..=6 => {
            let mut skus: Vec<String> = (0..1 + rng.below(5))
                .map(|_| format!("SKU{}", rng.below(a.skus)))
                .collect();
            skus.sort();
            skus.dedup();
            ItemSelector {
                skus,
                ..ItemSelector::default()
            }
        }
        7 | 8 => ItemSelector {
            categories: vec![format!("CAT{}", rng.below(a.categories))],
            ..ItemSelector::default()
        },
        _ => ItemSelector {
            brands: vec![format!("BRAND{}", rng.below(a.brands))],
            ..ItemSelector::default()
        },
    }
}

fn catalog(size: usize, a: Assortment, seed: u64) -> Catalog {
    let mut rng = Rng(seed);
    let mut promotions = Vec::with_capacity(size);
    for n in 0..size {
        let basket = n < 20;
        let items = if basket {
            None
        } else {
            Some(selector(&mut rng, a))
        };
        let kind = rng.below(20);
        let rule = match (items, kind) {
            (None, k) if k % 2 == 0 => Rule::PercentOff {
                items: None,
                percent: Rate(100 + 10 * u32::try_from(k).unwrap()),
            },
            (None, _) => Rule::SpendThreshold {
                items: None,
                steps: vec![
                    ThresholdStep {
                        spend: 50_000,
                        off: 500,
                    },
                    ThresholdStep {
                        spend: 100_000,
                        off: 1500,
                    },
                ],
            },
            (Some(items), 0..=7) => Rule::PercentOff {
                items: Some(items),
                percent: Rate(500 + 100 * u32::try_from(kind).unwrap()),
            },
            (Some(items), 8..=10) => Rule::AmountOff {
                items: Some(items),
                amount: 50,
                per_unit: kind == 9,
            },
            (Some(items), 11) => Rule::FixedPrice { items, price: 199 },
            (Some(items), 12) => Rule::TierPrice {
                items,
                prices: vec![TierPrice {
                    tier: "gold".into(),
                    price: 150,
                }],
            },
            (Some(items), 13 | 14) => Rule::BuyXGetY {
                items,
                buy: 2,
                get: 1,
                reward: UnitReward::Free,
                rewarded: Default::default(),
            },
            (Some(items), 15 | 16) => Rule::MultiBuy {
                items,
                quantity: 3,
                price: 500,
            },
            (Some(items), 17) => Rule::SpendThreshold {
                items: Some(items),
                steps: vec![ThresholdStep {
                    spend: 1000,
                    off: 100,
                }],
            },
            (Some(items), _) => Rule::SavingsMultiplier {
                items: Some(items),
                multiplier: Rate(20_000),
            },
        };
        let bonus = matches!(rule, Rule::SavingsMultiplier { .. });
        let grouped = !bonus && rng.below(10) == 0;
        promotions.push(Promotion {
            id: format!("PROMO-{n:06}"),
            label: Label {
                es: format!("Promoción {n}"),
                en: format!("Promotion {n}"),
            },
            valid_from: 0,
            valid_until: 4_000_000_000,
            priority: i32::try_from(rng.below(3)).unwrap(),
            group: grouped.then(|| format!("G{}", rng.below(50))),
            exclusive: false,
            audience: Default::default(),
            voucher: None,
            conditions: Conditions {
                weekdays: if rng.below(10) == 0 {
                    vec![Weekday::Sat, Weekday::Sun]
                } else {
                    vec![]
                },
                ..Conditions::default()
            },
            rules: vec![rule],
        });
    }
    Catalog {
        format: 1,
        currency: Currency::EUR,
        tiers: vec!["gold".into()],
        savings: Some(SavingsProgramme {
            earn_rate: Rate(100),
            return_window_days: 30,
            max_earn_per_sale: Some(5000),
            offline_redeem_cap: 2000,
            tier_multipliers: BTreeMap::from([("gold".into(), Rate(15_000))]),
            category_multipliers: BTreeMap::new(),
            excluded_categories: vec![],
        }),
        gift_cards: Default::default(),
        promotions,
    }
}

fn cart(lines: usize, a: Assortment, seed: u64) -> Cart {
    let mut rng = Rng(seed);
    Cart {
        currency: Currency::EUR,
        lines: (0..lines)
            .map(|n| {
                let sku = rng.below(a.skus);
                Line {
                    line_id: format!("{n}"),
                    sku: format!("SKU{sku}"),
                    category: Some(format!("CAT{}", a.category_of(sku))),
                    brand: Some(format!("BRAND{}", a.brand_of(sku))),
                    quantity: if rng.below(10) == 0 {
                        Quantity::Grams(u32::try_from(100 + rng.below(900)).unwrap())
                    } else {
                        Quantity::Units(u32::try_from(1 + rng.below(4)).unwrap())
                    },
                    unit_price: Money::new(
                        i64::try_from(50 + rng.below(5000)).unwrap(),
                        Currency::EUR,
                    ),
                    no_promotion: rng.below(50) == 0,
                    gift_card_purchase: false,
                }
            })
            .collect(),
        vouchers: vec![],
    }
}

fn customer() -> CustomerContext {
    CustomerContext {
        tier: Some("gold".into()),
        segments: vec![],
        activated_promotions: vec![],
        uses: BTreeMap::new(),
        savings: SavingsBalance {
            available: Money::new(1000, Currency::EUR),
            pending: Money::new(0, Currency::EUR),
        },
        balance_synced: true,
        offline_redeemed: Money::new(0, Currency::EUR),
    }
}

fn context() -> SaleContext {
    SaleContext {
        now: 1_750_000_000,
        local: LocalTime {
            weekday: Weekday::Sat,
            minute_of_day: 600,
        },
        store_id: "MAD-01".into(),
        region: "centro".into(),
    }
}

const CASES: [(usize, usize); 4] = [(100, 500), (100, 5_000), (100, 50_000), (1_000, 50_000)];

fn bench_evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(30);
    group.measurement_time(std::time::Duration::from_secs(3));
    let who = customer();
    let when = context();
    for (lines, promotions) in CASES {
        let a = Assortment::scaled(promotions);
        let engine = Engine::new(catalog(promotions, a, 0x5eed)).unwrap();
        let carts: Vec<Cart> = (0..16).map(|s| cart(lines, a, 1000 + s)).collect();
        let mut i = 0;
        group.bench_function(
            BenchmarkId::new(format!("{lines}_lines"), format!("{promotions}_promotions")),
            |b| {
                b.iter(|| {
                    i = (i + 1) % carts.len();
                    black_box(engine.evaluate(&carts[i], Some(&who), &when).unwrap())
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_evaluate);

/// p50/p99 over many distinct carts, one timing per evaluation.
fn percentiles() {
    println!();
    println!("p50/p99 per evaluation (distinct carts, one timing each):");
    println!(
        "{:<8} {:>6} {:>7} {:>10} {:>11} {:>10} {:>10} {:>10} {:>9}",
        "catalog",
        "lines",
        "promos",
        "build ms",
        "applied",
        "effects",
        "p50 µs",
        "p99 µs",
        "max µs"
    );
    let who = customer();
    let when = context();
    let plans: [(&str, usize, usize, usize); 8] = [
        ("scaled", 100, 500, 4000),
        ("scaled", 100, 5_000, 4000),
        ("scaled", 100, 50_000, 4000),
        ("scaled", 1_000, 50_000, 400),
        ("fixed", 100, 500, 4000),
        ("fixed", 100, 5_000, 4000),
        ("fixed", 100, 50_000, 2000),
        ("fixed", 1_000, 50_000, 200),
    ];
    for (name, lines, promotions, runs) in plans {
        let a = if name == "scaled" {
            Assortment::scaled(promotions)
        } else {
            Assortment::FIXED
        };
        let started = Instant::now();
        let engine = Engine::new(catalog(promotions, a, 0x5eed)).unwrap();
        let build = started.elapsed();
        let carts: Vec<Cart> = (0..64).map(|s| cart(lines, a, 7000 + s)).collect();
        for c in carts.iter().take(8) {
            black_box(engine.evaluate(c, Some(&who), &when).unwrap());
        }
        let mut times = Vec::with_capacity(runs);
        let mut effects = 0;
        let mut used = 0;
        for r in 0..runs {
            let c = &carts[r % carts.len()];
            let t = Instant::now();
            let e = black_box(engine.evaluate(c, Some(&who), &when).unwrap());
            times.push(t.elapsed());
            effects += e.effects.len();
            used += e.promotions_used.len();
        }
        times.sort();
        let at = |q: f64| {
            let i = ((times.len() as f64 - 1.0) * q).round() as usize;
            times[i].as_secs_f64() * 1e6
        };
        println!(
            "{:<8} {:>6} {:>7} {:>10.1} {:>11} {:>10} {:>10.1} {:>10.1} {:>9.1}",
            name,
            lines,
            promotions,
            build.as_secs_f64() * 1e3,
            used / runs,
            effects / runs,
            at(0.50),
            at(0.99),
            at(1.0),
        );
    }
    println!("(applied = promotions applied per cart, effects = effects per cart, on average)");
}

fn main() {
    // `-- percentiles` runs only the percentile table; any other filter only Criterion.
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let only_percentiles = filters.iter().any(|f| f == "percentiles");
    if !only_percentiles {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    if filters.is_empty() || only_percentiles {
        percentiles();
    }
}
