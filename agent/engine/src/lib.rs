//! # tillpass-engine
//!
//! The benefits engine: given a cart, a customer and the active promotion catalog, it
//! returns every effect (each with its promotion id and a label in Spanish and English),
//! the amounts of every line and the totals, exactly, in integer minor units. It also
//! decides savings redemptions and gift-card tenders, and reverses returns.
//!
//! It is **pure**: no I/O and no clock. `now`, the store's local wall time, and the
//! store's counters (uses per promotion, balances, offline spend) are inputs, so the same
//! inputs always give the same answer.
//!
//! ## Map
//! - [`engine`]: [`Engine`] — built once per catalog (validates it and indexes its
//!   promotions), then [`Engine::evaluate`], [`Engine::check_savings_redemption`],
//!   [`Engine::authorize_gift_card`].
//! - [`cart`]: [`Cart`], [`Line`] (units or grams, `no_promotion`, `gift_card_purchase`),
//!   [`Voucher`], and the line order of every result, [`compare_line_ids`].
//! - [`context`]: [`SaleContext`] (now, local time, store, region) and
//!   [`CustomerContext`] (tier, segments, activated personal promotions, uses, balances).
//! - [`effect`]: what an evaluation returns: [`Evaluation`], [`LineResult`], [`Effect`],
//!   [`Totals`], [`SavingsEarned`], [`VoucherOutcome`].
//! - `index`: promotions indexed by SKU, category and brand (basket promotions apart), so
//!   a cart only meets the promotions its lines can trigger.
//! - `eligibility`: the conditions that do not depend on amounts (window, weekday and
//!   hours, store and region, audience, tier, segment, uses, voucher).
//! - `rules`: each promotion rule as a function from the selected lines to a discount
//!   per line (`rules::price`, `rules::units`).
//! - `stacking`: priority, exclusive groups, exclusive promotions — see below.
//! - [`savings`]: earning (rate, tier and category multipliers, bonus promotions, cap,
//!   pending window) and [`RedemptionRequest`] checks.
//! - [`giftcard`]: [`GiftCard`], [`GiftCardHold`], [`GiftCardRequest`] and [`spendable`].
//! - [`refusal`]: [`TenderRefusal`], with stable codes and cashier messages.
//! - [`returns`]: [`ClosedSale`], [`reverse`], [`ReturnOutcome`]; [`Tender`] is
//!   `tillpass_protocol::tender::Tender`, carried in the POS API's form.
//! - [`error`]: [`EngineError`], for carts and sales the engine cannot make sense of.
//!
//! ## Money rules
//! - Amounts are `i64` minor units of the catalog's currency ([`tillpass_protocol::money`]).
//!   Prices are tax-inclusive; the engine computes no tax but returns each line's
//!   subtotal, discount and total so the POS can.
//! - A weighed line costs `price per kg × grams / 1000`, rounded half-even.
//! - A percentage is rounded half-even **once per rule**, on the sum of the lines it
//!   applies to, and that amount is allocated to the lines pro rata by largest remainder:
//!   the parts always sum exactly to the effect's amount.
//! - Every rule works on what each line has left after the promotions before it, and no
//!   part exceeds it: no line goes below zero and the discount never exceeds the subtotal.
//! - Lines marked `no_promotion` and gift-card purchases are never discounted; gift-card
//!   purchases never earn savings.
//!
//! ## Stacking
//! 1. **Rank.** Candidates are ordered by `priority` (higher first); at equal priority
//!    promotions with item rules come before basket-only ones, then by id. The rank is a
//!    total order: the result depends neither on the catalog's order nor on the cart's.
//! 2. **Stackable by default.** Each promotion works on what the ones ranked before it
//!    left: 10 % off a €20.00 shirt and then €5 off the basket gives €2.00 + €5.00.
//! 3. **Groups are mutually exclusive.** Promotions sharing a `group` are tried against
//!    the same amounts, when the group's best-ranked member's turn comes; only the one
//!    giving the customer the most applies. Ties go to the better-ranked promotion.
//! 4. **Exclusive promotions** skip lines an earlier promotion discounted, and close the
//!    lines they discount to every later promotion.
//! 5. **Savings bonuses** do not stack: on each line the largest multiplier wins.
//!
//! Two promotions stack (the 10 % applies first: item rules before basket rules):
//!
//! ```
//! # use tillpass_engine::*;
//! # use tillpass_protocol::catalog::{Catalog, Weekday};
//! # use tillpass_protocol::money::{Currency, Money};
//! # fn engine(promotions: &str) -> Engine {
//! #     let text = format!("format = 1\ncurrency = \"EUR\"\n{promotions}");
//! #     Engine::new(Catalog::from_toml(&text).unwrap()).unwrap()
//! # }
//! # fn cart(lines: &[(&str, &str, &str, u32, i64)]) -> Cart {
//! #     Cart {
//! #         currency: Currency::EUR,
//! #         vouchers: vec![],
//! #         lines: lines.iter().map(|&(id, sku, category, units, price)| Line {
//! #             line_id: id.into(), sku: sku.into(), category: Some(category.into()), brand: None,
//! #             quantity: Quantity::Units(units), unit_price: Money::new(price, Currency::EUR),
//! #             no_promotion: false, gift_card_purchase: false,
//! #         }).collect(),
//! #     }
//! # }
//! # fn now() -> SaleContext {
//! #     SaleContext {
//! #         now: 1_750_000_000,
//! #         local: LocalTime { weekday: Weekday::Mon, minute_of_day: 600 },
//! #         store_id: "MAD-01".into(),
//! #         region: "centro".into(),
//! #     }
//! # }
//! # fn amounts(e: &Evaluation) -> Vec<(&str, i64)> {
//! #     e.effects.iter().map(|x| (x.promotion_id.as_str(), x.amount.amount)).collect()
//! # }
//! let engine = engine(r#"
//! [[promotions]]
//! id = "SHIRTS-10"
//! label = { es = "Camisas -10 %", en = "Shirts 10 % off" }
//! valid_from = 0
//! valid_until = 4000000000
//! rules = [{ type = "percent_off", percent = 1000, items = { categories = ["shirts"] } }]
//!
//! [[promotions]]
//! id = "FIVE-OFF"
//! label = { es = "5 € de descuento", en = "€5 off" }
//! valid_from = 0
//! valid_until = 4000000000
//! rules = [{ type = "amount_off", amount = 500 }]
//! "#);
//! let cart = cart(&[("1", "SHIRT", "shirts", 1, 2000), ("2", "SOCKS", "socks", 1, 1000)]);
//! let result = engine.evaluate(&cart, None, &now()).unwrap();
//! // SHIRTS-10: 10 % of 20.00 = 2.00. FIVE-OFF: 5.00 over what is left (18.00 and 10.00),
//! // pro rata: 5.00 × 18/28 = 3.214… → 3.21 and 5.00 × 10/28 = 1.785… → 1.79.
//! assert_eq!(amounts(&result), vec![("SHIRTS-10", 200), ("FIVE-OFF", 500)]);
//! assert_eq!(result.totals.total.amount, 3000 - 700);
//! assert_eq!(result.effects[1].allocations[0].amount.amount, 321);
//! ```
//!
//! The same two promotions in one `group`: only the better one for the customer applies.
//!
//! ```
//! # use tillpass_engine::*;
//! # use tillpass_protocol::catalog::{Catalog, Weekday};
//! # use tillpass_protocol::money::{Currency, Money};
//! # fn engine(promotions: &str) -> Engine {
//! #     let text = format!("format = 1\ncurrency = \"EUR\"\n{promotions}");
//! #     Engine::new(Catalog::from_toml(&text).unwrap()).unwrap()
//! # }
//! # fn cart(lines: &[(&str, &str, &str, u32, i64)]) -> Cart {
//! #     Cart {
//! #         currency: Currency::EUR,
//! #         vouchers: vec![],
//! #         lines: lines.iter().map(|&(id, sku, category, units, price)| Line {
//! #             line_id: id.into(), sku: sku.into(), category: Some(category.into()), brand: None,
//! #             quantity: Quantity::Units(units), unit_price: Money::new(price, Currency::EUR),
//! #             no_promotion: false, gift_card_purchase: false,
//! #         }).collect(),
//! #     }
//! # }
//! # fn now() -> SaleContext {
//! #     SaleContext {
//! #         now: 1_750_000_000,
//! #         local: LocalTime { weekday: Weekday::Mon, minute_of_day: 600 },
//! #         store_id: "MAD-01".into(),
//! #         region: "centro".into(),
//! #     }
//! # }
//! # fn amounts(e: &Evaluation) -> Vec<(&str, i64)> {
//! #     e.effects.iter().map(|x| (x.promotion_id.as_str(), x.amount.amount)).collect()
//! # }
//! let engine = engine(r#"
//! [[promotions]]
//! id = "SHIRTS-10"
//! label = { es = "Camisas -10 %", en = "Shirts 10 % off" }
//! valid_from = 0
//! valid_until = 4000000000
//! group = "weekend"
//! rules = [{ type = "percent_off", percent = 1000, items = { categories = ["shirts"] } }]
//!
//! [[promotions]]
//! id = "FIVE-OFF"
//! label = { es = "5 € de descuento", en = "€5 off" }
//! valid_from = 0
//! valid_until = 4000000000
//! group = "weekend"
//! rules = [{ type = "amount_off", amount = 500 }]
//! "#);
//! let small = cart(&[("1", "SHIRT", "shirts", 1, 2000), ("2", "SOCKS", "socks", 1, 1000)]);
//! let result = engine.evaluate(&small, None, &now()).unwrap();
//! // 10 % of 20.00 = 2.00 < 5.00: the €5 wins.
//! assert_eq!(amounts(&result), vec![("FIVE-OFF", 500)]);
//!
//! // With a €60.00 shirt the 10 % gives 6.00 and wins instead.
//! let big = cart(&[("1", "SHIRT", "shirts", 1, 6000)]);
//! let result = engine.evaluate(&big, None, &now()).unwrap();
//! assert_eq!(amounts(&result), vec![("SHIRTS-10", 600)]);
//! ```
//!
//! An exclusive promotion keeps its lines to itself; other lines still get the rest.
//!
//! ```
//! # use tillpass_engine::*;
//! # use tillpass_protocol::catalog::{Catalog, Weekday};
//! # use tillpass_protocol::money::{Currency, Money};
//! # fn engine(promotions: &str) -> Engine {
//! #     let text = format!("format = 1\ncurrency = \"EUR\"\n{promotions}");
//! #     Engine::new(Catalog::from_toml(&text).unwrap()).unwrap()
//! # }
//! # fn cart(lines: &[(&str, &str, &str, u32, i64)]) -> Cart {
//! #     Cart {
//! #         currency: Currency::EUR,
//! #         vouchers: vec![],
//! #         lines: lines.iter().map(|&(id, sku, category, units, price)| Line {
//! #             line_id: id.into(), sku: sku.into(), category: Some(category.into()), brand: None,
//! #             quantity: Quantity::Units(units), unit_price: Money::new(price, Currency::EUR),
//! #             no_promotion: false, gift_card_purchase: false,
//! #         }).collect(),
//! #     }
//! # }
//! # fn now() -> SaleContext {
//! #     SaleContext {
//! #         now: 1_750_000_000,
//! #         local: LocalTime { weekday: Weekday::Mon, minute_of_day: 600 },
//! #         store_id: "MAD-01".into(),
//! #         region: "centro".into(),
//! #     }
//! # }
//! # fn amounts(e: &Evaluation) -> Vec<(&str, i64)> {
//! #     e.effects.iter().map(|x| (x.promotion_id.as_str(), x.amount.amount)).collect()
//! # }
//! let engine = engine(r#"
//! [[promotions]]
//! id = "HALF-PRICE-TV"
//! label = { es = "Tele a mitad de precio", en = "Half-price TV" }
//! valid_from = 0
//! valid_until = 4000000000
//! priority = 10
//! exclusive = true
//! rules = [{ type = "percent_off", percent = 5000, items = { skus = ["TV"] } }]
//!
//! [[promotions]]
//! id = "ALL-5"
//! label = { es = "Todo -5 %", en = "Everything 5 % off" }
//! valid_from = 0
//! valid_until = 4000000000
//! rules = [{ type = "percent_off", percent = 500 }]
//! "#);
//! let cart = cart(&[("1", "TV", "tv", 1, 40000), ("2", "CABLE", "cables", 1, 2000)]);
//! let result = engine.evaluate(&cart, None, &now()).unwrap();
//! // HALF-PRICE-TV: 200.00; ALL-5 only sees the cable: 5 % of 20.00 = 1.00.
//! assert_eq!(amounts(&result), vec![("HALF-PRICE-TV", 20000), ("ALL-5", 100)]);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cart;
pub mod context;
pub mod effect;
pub mod engine;
pub mod error;
pub mod giftcard;
pub mod refusal;
pub mod returns;
pub mod savings;

mod eligibility;
mod index;
mod rules;
mod selector;
mod share;
mod stacking;

pub use cart::{Cart, Line, Quantity, Voucher, compare_line_ids};
pub use context::{CustomerContext, LocalTime, SaleContext, SavingsBalance};
pub use effect::{
    Allocation, Effect, EffectKind, Evaluation, LineResult, SavingsEarned, Totals, VoucherOutcome,
    VoucherStatus,
};
pub use engine::Engine;
pub use error::EngineError;
pub use giftcard::{GiftCard, GiftCardHold, GiftCardRequest, spendable};
pub use refusal::TenderRefusal;
pub use returns::{
    ClosedSale, ReturnLine, ReturnOutcome, ReturnRequest, ReturnedLine, Tender, reverse,
};
pub use savings::RedemptionRequest;
