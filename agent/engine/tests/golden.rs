//! Golden scenarios: every `tests/golden/*.toml` file holds a catalog, a cart, a customer
//! and the expected effects and totals, worked out by hand. One test runs them all and
//! reports every mismatch with the file's name.
//!
//! File format (see any scenario):
//! - `[catalog]`: a catalog in the authoring format; `format` and `currency` default to 1
//!   and EUR, and each promotion's `valid_from`/`valid_until` to 0 and 4000000000.
//! - `[context]` (optional): `now`, `weekday`, `time` (`"HH:MM"`), `store`, `region`.
//! - `[customer]` (optional; absent for an anonymous sale).
//! - `[cart]`: `lines` (`id`, `sku`, `category`, `brand`, `units` or `grams`, `price`,
//!   `no_promotion`, `gift_card`) and `vouchers`.
//! - `[expected]`: `subtotal`, `discount`, `total`, optionally `savings`,
//!   `savings_bonus`, `line_totals`, `vouchers`, and `effects` in order of application
//!   (`id`, `amount`, optionally `kind`, `lines`, `label_es`).
//! - `[[redemptions]]`, `[[gift_cards]]`: tenders and the expected decision.
//! - `[sale]` and `[[returns]]`: tenders of the closed sale, returns and their outcome.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use tillpass_engine::*;
use tillpass_protocol::catalog::{Catalog, ClockTime, Weekday};
use tillpass_protocol::money::{Currency, Money};
use tillpass_protocol::sync::GiftCardRef;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[allow(dead_code)]
    description: String,
    catalog: toml::Table,
    #[serde(default)]
    context: Context,
    customer: Option<Customer>,
    cart: CartSpec,
    expected: Expected,
    #[serde(default)]
    redemptions: Vec<Redemption>,
    #[serde(default)]
    gift_cards: Vec<GiftCardCase>,
    sale: Option<SaleSpec>,
    #[serde(default)]
    returns: Vec<ReturnCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Context {
    now: u64,
    weekday: Weekday,
    time: ClockTime,
    store: String,
    region: String,
}

impl Default for Context {
    fn default() -> Self {
        Context {
            now: 1_750_000_000,
            weekday: Weekday::Mon,
            time: "10:00".parse().unwrap(),
            store: "MAD-01".into(),
            region: "centro".into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Customer {
    tier: Option<String>,
    #[serde(default)]
    segments: Vec<String>,
    #[serde(default)]
    activated: Vec<String>,
    #[serde(default)]
    uses: BTreeMap<String, u32>,
    #[serde(default)]
    available: i64,
    #[serde(default)]
    pending: i64,
    #[serde(default = "yes")]
    synced: bool,
    #[serde(default)]
    offline_redeemed: i64,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CartSpec {
    lines: Vec<LineSpec>,
    #[serde(default)]
    vouchers: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LineSpec {
    id: String,
    sku: String,
    category: Option<String>,
    brand: Option<String>,
    units: Option<u32>,
    grams: Option<u32>,
    price: i64,
    #[serde(default)]
    no_promotion: bool,
    #[serde(default)]
    gift_card: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    subtotal: i64,
    discount: i64,
    total: i64,
    savings: Option<i64>,
    savings_bonus: Option<i64>,
    line_totals: Option<BTreeMap<String, i64>>,
    vouchers: Option<BTreeMap<String, String>>,
    effects: Vec<ExpectedEffect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedEffect {
    id: String,
    amount: i64,
    kind: Option<String>,
    lines: Option<BTreeMap<String, i64>>,
    label_es: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Redemption {
    amount: i64,
    due: i64,
    #[serde(default)]
    already: i64,
    expect: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GiftCardCase {
    card: CardSpec,
    #[serde(default)]
    holds: Vec<HoldSpec>,
    amount: Option<i64>,
    due: i64,
    expect: String,
    held: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CardSpec {
    id: String,
    balance: i64,
    currency: Option<String>,
    expires_at: Option<u64>,
    #[serde(default)]
    blocked: bool,
    #[serde(default = "yes")]
    synced: bool,
    #[serde(default)]
    offline_spent: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldSpec {
    session: String,
    amount: i64,
    expires_at: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaleSpec {
    tenders: Vec<TenderSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenderSpec {
    savings: Option<i64>,
    gift_card: Option<String>,
    other: Option<String>,
    amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnCase {
    lines: BTreeMap<String, u32>,
    clawback_limit: Option<i64>,
    refund: i64,
    discount: i64,
    savings_reversed: i64,
    tenders: Vec<i64>,
}

fn eur(amount: i64) -> Money {
    Money::new(amount, Currency::EUR)
}

fn load_catalog(mut table: toml::Table) -> Result<Catalog, String> {
    table.entry("format").or_insert(toml::Value::Integer(1));
    table
        .entry("currency")
        .or_insert(toml::Value::String("EUR".into()));
    if let Some(toml::Value::Array(promotions)) = table.get_mut("promotions") {
        for promotion in promotions {
            if let toml::Value::Table(p) = promotion {
                p.entry("valid_from").or_insert(toml::Value::Integer(0));
                p.entry("valid_until")
                    .or_insert(toml::Value::Integer(4_000_000_000));
            }
        }
    }
    let text = toml::to_string(&table).map_err(|e| e.to_string())?;
    Catalog::from_toml(&text).map_err(|e| e.to_string())
}

fn build_cart(spec: &CartSpec) -> Cart {
    Cart {
        currency: Currency::EUR,
        lines: spec
            .lines
            .iter()
            .map(|l| Line {
                line_id: l.id.clone(),
                sku: l.sku.clone(),
                category: l.category.clone(),
                brand: l.brand.clone(),
                quantity: match (l.units, l.grams) {
                    (_, Some(g)) => Quantity::Grams(g),
                    (Some(u), None) => Quantity::Units(u),
                    (None, None) => Quantity::Units(1),
                },
                unit_price: eur(l.price),
                no_promotion: l.no_promotion,
                gift_card_purchase: l.gift_card,
            })
            .collect(),
        vouchers: spec
            .vouchers
            .iter()
            .map(|code| Voucher {
                code: code.clone(),
                token_id: None,
            })
            .collect(),
    }
}

fn build_customer(c: &Customer) -> CustomerContext {
    CustomerContext {
        tier: c.tier.clone(),
        segments: c.segments.clone(),
        activated_promotions: c.activated.clone(),
        uses: c.uses.clone(),
        savings: SavingsBalance {
            available: eur(c.available),
            pending: eur(c.pending),
        },
        balance_synced: c.synced,
        offline_redeemed: eur(c.offline_redeemed),
    }
}

fn check<T: PartialEq + std::fmt::Debug>(out: &mut String, what: &str, got: T, want: T) {
    if got != want {
        let _ = writeln!(out, "  {what}: got {got:?}, expected {want:?}");
    }
}

fn run(path: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario: Scenario = toml::from_str(&text).map_err(|e| format!("bad scenario: {e}"))?;
    let engine = Engine::new(load_catalog(scenario.catalog)?).map_err(|e| e.to_string())?;
    let sale = SaleContext {
        now: scenario.context.now,
        local: LocalTime {
            weekday: scenario.context.weekday,
            minute_of_day: scenario.context.time.minutes(),
        },
        store_id: scenario.context.store.clone(),
        region: scenario.context.region.clone(),
    };
    let customer = scenario.customer.as_ref().map(build_customer);
    let cart = build_cart(&scenario.cart);
    let result = engine
        .evaluate(&cart, customer.as_ref(), &sale)
        .map_err(|e| format!("evaluate: {e}"))?;
    let mut out = String::new();
    let want = &scenario.expected;
    check(
        &mut out,
        "subtotal",
        result.totals.subtotal.amount,
        want.subtotal,
    );
    check(
        &mut out,
        "discount",
        result.totals.discount.amount,
        want.discount,
    );
    check(&mut out, "total", result.totals.total.amount, want.total);
    if let Some(s) = want.savings {
        check(&mut out, "savings", result.totals.savings.total.amount, s);
    }
    if let Some(s) = want.savings_bonus {
        check(
            &mut out,
            "savings bonus",
            result.totals.savings.bonus.amount,
            s,
        );
    }
    if let Some(lines) = &want.line_totals {
        let got: BTreeMap<String, i64> = result
            .lines
            .iter()
            .filter(|l| lines.contains_key(&l.line_id))
            .map(|l| (l.line_id.clone(), l.total.amount))
            .collect();
        check(&mut out, "line totals", &got, lines);
    }
    if let Some(vouchers) = &want.vouchers {
        let got: BTreeMap<String, String> = result
            .vouchers
            .iter()
            .map(|v| {
                let status = serde_json::to_value(v.status).unwrap();
                (
                    v.code.clone(),
                    status.as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        check(&mut out, "vouchers", &got, vouchers);
    }
    let got_ids: Vec<(&str, i64)> = result
        .effects
        .iter()
        .map(|e| (e.promotion_id.as_str(), e.amount.amount))
        .collect();
    let want_ids: Vec<(&str, i64)> = want
        .effects
        .iter()
        .map(|e| (e.id.as_str(), e.amount))
        .collect();
    check(&mut out, "effects (id, amount)", &got_ids, &want_ids);
    for (got, want) in result.effects.iter().zip(&want.effects) {
        if let Some(kind) = &want.kind {
            let k = serde_json::to_value(got.kind).unwrap();
            check(
                &mut out,
                &format!("{} kind", want.id),
                k.as_str().unwrap_or_default(),
                kind,
            );
        }
        if let Some(lines) = &want.lines {
            let parts: BTreeMap<String, i64> = got
                .allocations
                .iter()
                .map(|a| (a.line_id.clone(), a.amount.amount))
                .collect();
            check(&mut out, &format!("{} allocations", want.id), &parts, lines);
        }
        if let Some(label) = &want.label_es {
            check(
                &mut out,
                &format!("{} label", want.id),
                &got.label.es,
                label,
            );
        }
        let sum: i64 = got.allocations.iter().map(|a| a.amount.amount).sum();
        check(
            &mut out,
            &format!("{} allocations sum", want.id),
            sum,
            got.amount.amount,
        );
    }
    for (n, r) in scenario.redemptions.iter().enumerate() {
        let request = RedemptionRequest {
            amount: eur(r.amount),
            amount_due: eur(r.due),
            already_redeemed: eur(r.already),
        };
        let got = match engine.check_savings_redemption(customer.as_ref(), &request) {
            Ok(_) => "ok".to_owned(),
            Err(refusal) => refusal.code().to_owned(),
        };
        check(
            &mut out,
            &format!("redemption #{n}"),
            got.as_str(),
            r.expect.as_str(),
        );
    }
    for (n, g) in scenario.gift_cards.iter().enumerate() {
        let currency = g
            .card
            .currency
            .as_deref()
            .map_or(Currency::EUR, |c| Currency::from_code(c).unwrap());
        let card = GiftCard {
            card_id: g.card.id.clone(),
            balance: Money::new(g.card.balance, currency),
            expires_at: g.card.expires_at,
            blocked: g.card.blocked,
            balance_synced: g.card.synced,
            offline_spent: Money::new(g.card.offline_spent, currency),
        };
        let holds: Vec<GiftCardHold> = g
            .holds
            .iter()
            .map(|h| GiftCardHold {
                card_id: g.card.id.clone(),
                session_id: h.session.clone(),
                amount: eur(h.amount),
                expires_at: h.expires_at,
            })
            .collect();
        let request = GiftCardRequest {
            session_id: "S1".into(),
            amount: g.amount.map(eur),
            amount_due: eur(g.due),
        };
        match engine.authorize_gift_card(&card, &holds, &request, sale.now) {
            Ok(hold) => {
                check(
                    &mut out,
                    &format!("gift card #{n}"),
                    "ok",
                    g.expect.as_str(),
                );
                if let Some(held) = g.held {
                    check(
                        &mut out,
                        &format!("gift card #{n} held"),
                        hold.amount.amount,
                        held,
                    );
                }
                let ttl = u64::from(engine.catalog().gift_cards.hold_ttl_seconds);
                check(
                    &mut out,
                    &format!("gift card #{n} ttl"),
                    hold.expires_at,
                    sale.now + ttl,
                );
            }
            Err(refusal) => check(
                &mut out,
                &format!("gift card #{n}"),
                refusal.code(),
                g.expect.as_str(),
            ),
        }
    }
    if let Some(spec) = &scenario.sale {
        let tenders = spec
            .tenders
            .iter()
            .map(|t| -> Result<Tender, String> {
                Ok(match (t.savings, &t.gift_card, &t.other) {
                    (Some(amount), _, _) => Tender::Savings {
                        amount: eur(amount),
                    },
                    (None, Some(card), _) => Tender::GiftCard {
                        card: GiftCardRef::new(card.as_str()).map_err(|e| format!("card: {e}"))?,
                        amount: eur(t.amount.unwrap_or(0)),
                    },
                    (None, None, method) => Tender::paid_at_pos(
                        method.as_deref().unwrap_or("cash"),
                        eur(t.amount.unwrap_or(0)),
                    ),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let closed = ClosedSale::new(result.clone(), tenders).map_err(|e| format!("close: {e}"))?;
        let mut previous: Vec<ReturnOutcome> = Vec::new();
        for (n, r) in scenario.returns.iter().enumerate() {
            let request = ReturnRequest {
                lines: r
                    .lines
                    .iter()
                    .map(|(id, q)| ReturnLine {
                        line_id: id.clone(),
                        quantity: *q,
                    })
                    .collect(),
                clawback_limit: r.clawback_limit.map(eur),
            };
            let outcome =
                reverse(&closed, &previous, &request).map_err(|e| format!("return #{n}: {e}"))?;
            check(
                &mut out,
                &format!("return #{n} refund"),
                outcome.refund.amount,
                r.refund,
            );
            check(
                &mut out,
                &format!("return #{n} discount"),
                outcome.discount.amount,
                r.discount,
            );
            check(
                &mut out,
                &format!("return #{n} savings reversed"),
                outcome.savings_reversed.amount,
                r.savings_reversed,
            );
            let tenders: Vec<i64> = outcome.tenders.iter().map(|t| t.amount().amount).collect();
            check(
                &mut out,
                &format!("return #{n} tenders"),
                &tenders,
                &r.tenders,
            );
            previous.push(outcome);
        }
    }
    Ok(out)
}

#[test]
fn golden_scenarios() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut failures = String::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        match run(file) {
            Ok(report) if report.is_empty() => {}
            Ok(report) => {
                let _ = write!(failures, "{name}:\n{report}");
            }
            Err(error) => {
                let _ = writeln!(failures, "{name}: {error}");
            }
        }
    }
    assert!(failures.is_empty(), "golden mismatches:\n{failures}");
    assert!(files.len() >= 40, "only {} golden scenarios", files.len());
    println!("{} golden scenarios passed", files.len());
}
