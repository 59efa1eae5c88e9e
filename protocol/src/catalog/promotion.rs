//! Promotions: who gets them, when, how they stack, and the rules that compute the benefit.

use serde::{Deserialize, Serialize};

use crate::lang::Lang;
use crate::money::Rate;

use super::condition::Conditions;

/// One promotion: an id, a label for the cashier, a validity window, stacking fields,
/// conditions, and one or more rules.
///
/// A promotion with several rules applies all of them together (a "10 % off shoes and
/// 20 % off socks" weekend is one promotion with two rules); each rule that gives a benefit
/// becomes one effect carrying the promotion's id and label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Promotion {
    /// The promotion's id: 1 to 64 characters of `A-Z a-z 0-9 - _ .`, unique in the catalog.
    /// Every effect on a receipt carries it.
    pub id: String,
    /// The short text the cashier and the receipt show, in Spanish and English.
    pub label: Label,
    /// The first second the promotion is valid (unix seconds, inclusive).
    pub valid_from: u64,
    /// The first second the promotion is no longer valid (unix seconds, exclusive).
    pub valid_until: u64,
    /// Order of application: higher first. Promotions of equal priority apply item rules
    /// before basket rules, then by id.
    #[serde(default)]
    pub priority: i32,
    /// A mutually exclusive group: at most one promotion of a group applies to a sale, the
    /// one that is best for the customer (ties: priority, then id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// An exclusive promotion only discounts lines that no earlier promotion discounted,
    /// and the lines it discounts get no further discount.
    #[serde(default)]
    pub exclusive: bool,
    /// Who may receive the promotion.
    #[serde(default)]
    pub audience: Audience,
    /// The voucher code the cart must carry (from a scanned voucher token) for the
    /// promotion to apply; `None` for promotions that need no voucher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher: Option<String>,
    /// When, where and for whom the promotion applies.
    #[serde(default)]
    pub conditions: Conditions,
    /// What the promotion gives; at least one rule.
    pub rules: Vec<Rule>,
}

impl Promotion {
    /// Whether the promotion only multiplies savings (it gives no discount).
    pub fn is_savings_bonus(&self) -> bool {
        !self.rules.is_empty()
            && self
                .rules
                .iter()
                .all(|r| matches!(r, Rule::SavingsMultiplier { .. }))
    }

    /// Whether the promotion needs an identified customer: members-only and personal
    /// promotions, and any promotion with a tier, segment or uses-per-customer condition.
    pub fn needs_customer(&self) -> bool {
        self.audience != Audience::Everyone
            || !self.conditions.tiers.is_empty()
            || !self.conditions.segments.is_empty()
            || self.conditions.max_uses_per_customer.is_some()
    }
}

/// A short text in Spanish and English, authored by central IT (at most 80 characters
/// each).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The Spanish text.
    pub es: String,
    /// The English text.
    pub en: String,
}

impl Label {
    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Es => &self.es,
            Lang::En => &self.en,
        }
    }
}

/// Who may receive a promotion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every sale, anonymous ones included.
    #[default]
    Everyone,
    /// Identified loyalty customers only.
    Members,
    /// Customers to whom central assigned the promotion and who switched it on in the
    /// chat; the till receives the list of activated promotions with the customer.
    Personal,
}

/// Which lines a rule looks at: any line whose SKU, category or brand is listed, unless
/// its SKU, category or brand is in an `except_…` list. At least one of `skus`,
/// `categories` and `brands` must be given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSelector {
    /// SKUs the rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skus: Vec<String>,
    /// Categories the rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Brands the rule applies to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub brands: Vec<String>,
    /// SKUs never selected, even when their category or brand is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except_skus: Vec<String>,
    /// Categories never selected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except_categories: Vec<String>,
    /// Brands never selected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except_brands: Vec<String>,
}

impl ItemSelector {
    /// Whether a line with this SKU, category and brand is selected.
    pub fn matches(&self, sku: &str, category: Option<&str>, brand: Option<&str>) -> bool {
        let listed = |list: &[String], value: Option<&str>| {
            value.is_some_and(|v| list.iter().any(|x| x == v))
        };
        let included = listed(&self.skus, Some(sku))
            || listed(&self.categories, category)
            || listed(&self.brands, brand);
        let excluded = listed(&self.except_skus, Some(sku))
            || listed(&self.except_categories, category)
            || listed(&self.except_brands, brand);
        included && !excluded
    }
}

/// What a rule gives. Amounts are minor units of the catalog currency; percentages and
/// multipliers are basis points. A rule without `items` applies to the whole basket (every
/// line that may be discounted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// `percent` off the selected lines (or the basket), rounded half-even once for the
    /// rule and allocated to the lines pro rata.
    PercentOff {
        /// The lines; `None` for the basket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<ItemSelector>,
        /// The percentage, 1..=10000 basis points.
        percent: Rate,
    },
    /// A fixed amount off: once for the selected lines (or the basket), or for each unit
    /// when `per_unit` (a weighed line counts as one unit). Never more than the lines are
    /// worth.
    AmountOff {
        /// The lines; `None` for the basket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<ItemSelector>,
        /// The amount off, in minor units (> 0).
        amount: i64,
        /// Whether the amount is off each unit rather than once.
        #[serde(default)]
        per_unit: bool,
    },
    /// Each selected unit costs `price` (per kilogram for weighed lines). Lines already
    /// cheaper are left alone.
    FixedPrice {
        /// The lines.
        items: ItemSelector,
        /// The price per unit (or per kilogram), in minor units (≥ 0).
        price: i64,
    },
    /// Prices only for customers of the listed tiers (per unit, or per kilogram for weighed
    /// lines). A customer without one of the tiers gets nothing from this rule.
    TierPrice {
        /// The lines.
        items: ItemSelector,
        /// The price for each tier.
        prices: Vec<TierPrice>,
    },
    /// For every `buy + get` selected units, `get` of them are rewarded (free or a
    /// percentage off): the cheapest ones, or the most expensive ones. Mixed across the
    /// selected SKUs; weighed lines do not take part.
    BuyXGetY {
        /// The lines whose units count and are rewarded.
        items: ItemSelector,
        /// Units to buy, ≥ 1.
        buy: u32,
        /// Units rewarded per `buy`, ≥ 1.
        get: u32,
        /// What the rewarded units get.
        #[serde(default)]
        reward: UnitReward,
        /// Which units are rewarded.
        #[serde(default)]
        rewarded: Rewarded,
    },
    /// "3 for €10": every `quantity` selected units (mixed across the selected SKUs) cost
    /// `price` together. The most expensive units are bundled first; a bundle that would
    /// cost more than its units is not formed. Weighed lines do not take part.
    MultiBuy {
        /// The lines whose units may be bundled.
        items: ItemSelector,
        /// Units per bundle, ≥ 2.
        quantity: u32,
        /// The price of one bundle, in minor units (> 0).
        price: i64,
    },
    /// Stepped spend thresholds: the highest step whose `spend` the selected lines (or the
    /// basket) reach gives its amount off, allocated pro rata.
    SpendThreshold {
        /// The lines; `None` for the basket.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<ItemSelector>,
        /// The steps, in strictly increasing order of `spend`.
        steps: Vec<ThresholdStep>,
    },
    /// Savings on the selected lines (or every line) are multiplied: 20000 basis points is
    /// double savings. Not a discount; on a line, the largest multiplier of all applicable
    /// savings promotions wins.
    SavingsMultiplier {
        /// The lines; `None` for every line that earns.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        items: Option<ItemSelector>,
        /// The multiplier in basis points: 10001..=100000 (more than ×1, at most ×10).
        multiplier: Rate,
    },
}

impl Rule {
    /// The lines the rule selects; `None` means the whole basket.
    pub fn items(&self) -> Option<&ItemSelector> {
        match self {
            Rule::PercentOff { items, .. }
            | Rule::AmountOff { items, .. }
            | Rule::SpendThreshold { items, .. }
            | Rule::SavingsMultiplier { items, .. } => items.as_ref(),
            Rule::FixedPrice { items, .. }
            | Rule::TierPrice { items, .. }
            | Rule::BuyXGetY { items, .. }
            | Rule::MultiBuy { items, .. } => Some(items),
        }
    }
}

/// A tier's price in a [`Rule::TierPrice`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierPrice {
    /// The tier, one of the catalog's `tiers`.
    pub tier: String,
    /// The price per unit (or per kilogram), in minor units (≥ 0).
    pub price: i64,
}

/// What the rewarded units of a [`Rule::BuyXGetY`] get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitReward {
    /// The units are free. Written `reward = "free"`.
    #[default]
    Free,
    /// The units get a percentage off, 1..=10000 basis points. Written
    /// `reward = { percent = 5000 }`.
    Percent(Rate),
}

/// Which units a [`Rule::BuyXGetY`] rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewarded {
    /// The cheapest units (the usual "3 for 2").
    #[default]
    Cheapest,
    /// The most expensive units.
    MostExpensive,
}

/// One step of a [`Rule::SpendThreshold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdStep {
    /// The spend that reaches the step, in minor units (> 0).
    pub spend: i64,
    /// The amount off at this step, in minor units (> 0).
    pub off: i64,
}
