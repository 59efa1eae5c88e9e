//! The cart the POS sends: lines with their price and quantity, and the vouchers scanned.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use tillpass_protocol::money::{Currency, Money};

use crate::error::EngineError;

/// The most lines one cart may have.
pub const MAX_LINES: usize = 10_000;
/// The longest line id, in bytes.
pub const MAX_LINE_ID: usize = 64;

/// A cart: what the POS has rung up so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cart {
    /// The currency of every price; must be the catalog's.
    pub currency: Currency,
    /// The lines, in any order: results are ordered by [`compare_line_ids`].
    pub lines: Vec<Line>,
    /// Vouchers presented with the cart (already verified by the agent).
    #[serde(default)]
    pub vouchers: Vec<Voucher>,
}

/// One line of the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// The POS's id for the line, unique in the cart (1 to 64 bytes).
    pub line_id: String,
    /// The article's SKU.
    pub sku: String,
    /// The article's category, if the POS knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The article's brand, if the POS knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// How much: units, or grams for weighed articles.
    pub quantity: Quantity,
    /// The tax-inclusive price of one unit, or of one kilogram for weighed articles.
    pub unit_price: Money,
    /// The article may never be discounted (it still earns savings unless its category is
    /// excluded by the savings programme).
    #[serde(default)]
    pub no_promotion: bool,
    /// The line sells a gift card: never discounted, never earns.
    #[serde(default)]
    pub gift_card_purchase: bool,
}

pub use tillpass_protocol::sync::Quantity;

/// A voucher presented at the till.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Voucher {
    /// The voucher code a promotion asks for (`voucher = "…"` in the catalog).
    pub code: String,
    /// The id of the scanned voucher token, for the agent's one-use records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
}

/// The order of lines in every result: shorter ids first, then bytewise, so `"2"` comes
/// before `"10"`. A total order on distinct ids, so results do not depend on the order the
/// POS sent the lines in.
pub fn compare_line_ids(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// A line checked and priced, in result order.
#[derive(Debug, Clone)]
pub(crate) struct Priced<'a> {
    pub line: &'a Line,
    /// The line's amount before discounts, in minor units.
    pub subtotal: i64,
    /// Whether promotions may discount the line.
    pub discountable: bool,
}

impl Priced<'_> {
    /// Units that count for unit-based rules: `None` for weighed lines.
    pub fn units(&self) -> Option<u32> {
        match self.line.quantity {
            Quantity::Units(n) => Some(n),
            Quantity::Grams(_) => None,
        }
    }

    /// Units for "per unit" amounts and minimum quantities: a weighed line counts as one.
    pub fn count(&self) -> u32 {
        self.units().unwrap_or(1)
    }
}

/// The amount of `quantity` at `price` (per unit, or per kilogram for grams), rounded
/// half-even for weights.
pub(crate) fn extend(
    price: i64,
    quantity: Quantity,
    currency: Currency,
) -> Result<i64, EngineError> {
    let money = Money::new(price, currency);
    let amount = match quantity {
        Quantity::Units(n) => money.checked_mul(i64::from(n))?,
        Quantity::Grams(g) => money.mul_ratio(i64::from(g), 1000)?,
    };
    Ok(amount.amount)
}

/// Checks the cart against the catalog currency and prices every line, in result order.
pub(crate) fn price(cart: &Cart, currency: Currency) -> Result<Vec<Priced<'_>>, EngineError> {
    if cart.currency != currency {
        return Err(EngineError::CurrencyMismatch {
            expected: currency,
            found: cart.currency,
        });
    }
    if cart.lines.len() > MAX_LINES {
        return Err(EngineError::TooManyLines { max: MAX_LINES });
    }
    let mut lines: Vec<&Line> = cart.lines.iter().collect();
    lines.sort_by(|a, b| compare_line_ids(&a.line_id, &b.line_id));
    let mut priced = Vec::with_capacity(lines.len());
    let mut previous: Option<&str> = None;
    for line in lines {
        let id = line.line_id.as_str();
        if id.is_empty() || id.len() > MAX_LINE_ID {
            return Err(EngineError::InvalidLine {
                line_id: truncate(id),
                reason: "line id must be 1 to 64 bytes",
            });
        }
        if previous == Some(id) {
            return Err(EngineError::DuplicateLine {
                line_id: id.to_owned(),
            });
        }
        previous = Some(id);
        if line.unit_price.currency != currency {
            return Err(EngineError::CurrencyMismatch {
                expected: currency,
                found: line.unit_price.currency,
            });
        }
        if line.unit_price.is_negative() {
            return Err(EngineError::InvalidLine {
                line_id: id.to_owned(),
                reason: "unit price must not be negative",
            });
        }
        if line.quantity.value() == 0 {
            return Err(EngineError::InvalidLine {
                line_id: id.to_owned(),
                reason: "quantity must be at least 1",
            });
        }
        let subtotal = extend(line.unit_price.amount, line.quantity, currency)?;
        priced.push(Priced {
            line,
            subtotal,
            discountable: !line.no_promotion && !line.gift_card_purchase,
        });
    }
    Ok(priced)
}

pub(crate) fn truncate(text: &str) -> String {
    text.chars().take(MAX_LINE_ID).collect()
}
