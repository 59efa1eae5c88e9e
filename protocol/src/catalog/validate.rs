//! Validation of a catalog: every problem at once, each naming the promotion and the field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Rate;

use super::condition::Conditions;
use super::promotion::{ItemSelector, Promotion, Rule, UnitReward};
use super::savings::{GiftCardRules, SavingsProgramme};
use super::{CATALOG_FORMAT, Catalog};

/// The most promotions one catalog may hold.
pub const MAX_PROMOTIONS: usize = 200_000;
/// The most rules one promotion may hold.
pub const MAX_RULES: usize = 16;
/// The most entries of one list (SKUs of a selector, stores, steps, …).
pub const MAX_LIST: usize = 10_000;
/// The longest id, code or name, in characters.
pub const MAX_NAME: usize = 64;
/// The longest label, in characters.
pub const MAX_LABEL: usize = 80;

/// One problem in a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CatalogError {
    /// The id of the promotion the problem is in (`#3` for a promotion without a usable
    /// id, by position); `None` for the rest of the catalog.
    pub promotion: Option<String>,
    /// The path of the field, such as `rules[0].percent`; empty when the problem is not
    /// about one field (a document that is not TOML at all).
    pub field: String,
    /// What is wrong, in English, for central IT.
    pub message: String,
}

impl CatalogError {
    /// A problem of the whole document.
    pub fn document(message: impl Into<String>) -> CatalogError {
        CatalogError {
            promotion: None,
            field: String::new(),
            message: message.into().trim_end().to_owned(),
        }
    }

    /// A problem in a field outside the promotions.
    pub fn catalog(field: impl Into<String>, message: impl Into<String>) -> CatalogError {
        CatalogError {
            promotion: None,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A problem in a field of a promotion.
    pub fn promotion(
        id: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> CatalogError {
        CatalogError {
            promotion: Some(id.chars().take(MAX_NAME).collect()),
            field: field.into(),
            message: message.into().trim_end().to_owned(),
        }
    }
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.promotion {
            write!(f, "promotion {id:?}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field {}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a catalog, in the order found (catalog fields first, then each
/// promotion in order). Never empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct CatalogErrors {
    /// The problems.
    pub errors: Vec<CatalogError>,
}

impl CatalogErrors {
    pub(super) fn new(errors: Vec<CatalogError>) -> CatalogErrors {
        CatalogErrors { errors }
    }

    pub(super) fn single(error: CatalogError) -> CatalogErrors {
        CatalogErrors {
            errors: vec![error],
        }
    }
}

impl fmt::Display for CatalogErrors {
    /// One problem per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects problems under one owner (the catalog or one promotion).
struct Report<'a> {
    promotion: Option<&'a str>,
    errors: &'a mut Vec<CatalogError>,
}

impl Report<'_> {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let error = match self.promotion {
            Some(id) => CatalogError::promotion(id, field, message),
            None => CatalogError::catalog(field, message),
        };
        self.errors.push(error);
    }

    fn name(&mut self, field: &str, value: &str) {
        if value.is_empty() {
            self.push(field, "must not be empty");
        } else if value.chars().count() > MAX_NAME {
            self.push(field, format!("must be at most {MAX_NAME} characters"));
        } else if value.chars().any(char::is_control) {
            self.push(field, "must not contain control characters");
        }
    }

    fn names(&mut self, field: &str, values: &[String]) {
        if values.len() > MAX_LIST {
            self.push(field, format!("must have at most {MAX_LIST} entries"));
            return;
        }
        let mut seen = BTreeSet::new();
        for (i, value) in values.iter().enumerate() {
            self.name(&format!("{field}[{i}]"), value);
            if !seen.insert(value.as_str()) {
                self.push(
                    format!("{field}[{i}]"),
                    format!("{value:?} is listed twice"),
                );
            }
        }
    }

    fn tiers(&mut self, field: &str, values: &[String], known: &BTreeSet<&str>) {
        self.names(field, values);
        for (i, value) in values.iter().enumerate() {
            if !value.is_empty() && !known.contains(value.as_str()) {
                self.push(
                    format!("{field}[{i}]"),
                    format!("unknown tier {value:?}: not in the catalog's tiers"),
                );
            }
        }
    }

    fn percent(&mut self, field: &str, rate: Rate) {
        if !(1..=10_000).contains(&rate.basis_points()) {
            self.push(field, "must be 1..=10000 basis points");
        }
    }

    fn positive(&mut self, field: &str, amount: i64) {
        if amount <= 0 {
            self.push(field, "must be a positive amount in minor units");
        }
    }

    fn not_negative(&mut self, field: &str, amount: i64) {
        if amount < 0 {
            self.push(field, "must not be negative");
        }
    }

    fn multiplier(&mut self, field: &str, rate: Rate, least: u32) {
        if !(least..=100_000).contains(&rate.basis_points()) {
            self.push(
                field,
                format!("must be {least}..=100000 basis points (10000 is ×1)"),
            );
        }
    }
}

/// Every problem of `catalog`.
pub(super) fn catalog(catalog: &Catalog) -> Vec<CatalogError> {
    let mut errors = Vec::new();
    let mut report = Report {
        promotion: None,
        errors: &mut errors,
    };
    if catalog.format != CATALOG_FORMAT {
        report.push(
            "format",
            format!(
                "unsupported catalog format {}: this till reads format {CATALOG_FORMAT}",
                catalog.format
            ),
        );
    }
    report.names("tiers", &catalog.tiers);
    let tiers: BTreeSet<&str> = catalog.tiers.iter().map(String::as_str).collect();
    if let Some(savings) = &catalog.savings {
        savings_programme(&mut report, savings, &tiers);
    }
    gift_cards(&mut report, &catalog.gift_cards);
    if catalog.promotions.len() > MAX_PROMOTIONS {
        report.push(
            "promotions",
            format!("must have at most {MAX_PROMOTIONS} promotions"),
        );
        return errors;
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for (index, promo) in catalog.promotions.iter().enumerate() {
        let owner = if promo.id.is_empty() || promo.id.chars().count() > MAX_NAME {
            format!("#{index}")
        } else {
            promo.id.clone()
        };
        let mut report = Report {
            promotion: Some(&owner),
            errors: &mut errors,
        };
        if let Some(first) = ids.insert(&promo.id, index) {
            report.push(
                "id",
                format!("duplicate id: promotion #{first} has the same id"),
            );
        }
        promotion(&mut report, promo, &tiers);
    }
    errors
}

fn savings_programme(report: &mut Report<'_>, savings: &SavingsProgramme, tiers: &BTreeSet<&str>) {
    if savings.earn_rate.basis_points() > 10_000 {
        report.push("savings.earn_rate", "must be 0..=10000 basis points");
    }
    if savings.return_window_days > 365 {
        report.push("savings.return_window_days", "must be 0..=365 days");
    }
    if let Some(cap) = savings.max_earn_per_sale {
        report.not_negative("savings.max_earn_per_sale", cap);
    }
    report.not_negative("savings.offline_redeem_cap", savings.offline_redeem_cap);
    for (tier, rate) in &savings.tier_multipliers {
        let field = format!("savings.tier_multipliers.{tier}");
        if !tiers.contains(tier.as_str()) {
            report.push(
                &*field,
                format!("unknown tier {tier:?}: not in the catalog's tiers"),
            );
        }
        report.multiplier(&field, *rate, 1);
    }
    for (category, rate) in &savings.category_multipliers {
        let field = format!("savings.category_multipliers.{category}");
        report.name(&field, category);
        report.multiplier(&field, *rate, 0);
    }
    report.names("savings.excluded_categories", &savings.excluded_categories);
}

fn gift_cards(report: &mut Report<'_>, rules: &GiftCardRules) {
    if !(1..=86_400).contains(&rules.hold_ttl_seconds) {
        report.push("gift_cards.hold_ttl_seconds", "must be 1..=86400 seconds");
    }
    report.not_negative(
        "gift_cards.offline_cap_per_card",
        rules.offline_cap_per_card,
    );
}

fn promotion(report: &mut Report<'_>, promo: &Promotion, tiers: &BTreeSet<&str>) {
    report.name("id", &promo.id);
    if !promo
        .id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        report.push("id", "must only hold A-Z a-z 0-9 - _ .");
    }
    for (field, text) in [("label.es", &promo.label.es), ("label.en", &promo.label.en)] {
        if text.trim().is_empty() {
            report.push(field, "must not be empty");
        } else if text.chars().count() > MAX_LABEL {
            report.push(field, format!("must be at most {MAX_LABEL} characters"));
        } else if text.chars().any(char::is_control) {
            report.push(field, "must not contain control characters");
        }
    }
    if promo.valid_until <= promo.valid_from {
        report.push("valid_until", "must be after valid_from");
    }
    if let Some(group) = &promo.group {
        report.name("group", group);
    }
    if let Some(code) = &promo.voucher {
        report.name("voucher", code);
    }
    conditions(report, &promo.conditions, tiers);
    if promo.rules.is_empty() {
        report.push("rules", "must have at least one rule");
    } else if promo.rules.len() > MAX_RULES {
        report.push("rules", format!("must have at most {MAX_RULES} rules"));
    }
    let bonuses = promo
        .rules
        .iter()
        .filter(|r| matches!(r, Rule::SavingsMultiplier { .. }))
        .count();
    if bonuses > 0 && bonuses < promo.rules.len() {
        report.push(
            "rules",
            "savings_multiplier rules cannot be mixed with discount rules in one promotion",
        );
    }
    if bonuses > 0 && (promo.group.is_some() || promo.exclusive) {
        report.push(
            if promo.exclusive { "exclusive" } else { "group" },
            "savings promotions do not take part in discount stacking: on each line the largest multiplier wins",
        );
    }
    for (i, rule_) in promo.rules.iter().enumerate() {
        rule(report, &format!("rules[{i}]"), rule_, tiers);
    }
}

fn conditions(report: &mut Report<'_>, c: &Conditions, tiers: &BTreeSet<&str>) {
    let mut days = BTreeSet::new();
    for (i, day) in c.weekdays.iter().enumerate() {
        if !days.insert(*day) {
            report.push(format!("conditions.weekdays[{i}]"), "day is listed twice");
        }
    }
    if c.hours.len() > MAX_LIST {
        report.push(
            "conditions.hours",
            format!("must have at most {MAX_LIST} entries"),
        );
    }
    for (i, window) in c.hours.iter().enumerate() {
        if window.from == window.until {
            report.push(
                format!("conditions.hours[{i}]"),
                "from and until must differ (an empty window never applies)",
            );
        }
    }
    report.names("conditions.stores", &c.stores);
    report.names("conditions.regions", &c.regions);
    if c.min_quantity == Some(0) {
        report.push(
            "conditions.min_quantity",
            "must be at least 1 (leave it out for none)",
        );
    }
    if let Some(amount) = c.min_amount {
        report.positive("conditions.min_amount", amount);
    }
    report.tiers("conditions.tiers", &c.tiers, tiers);
    report.names("conditions.segments", &c.segments);
    if c.max_uses_per_customer == Some(0) {
        report.push(
            "conditions.max_uses_per_customer",
            "must be at least 1 (leave it out for no limit)",
        );
    }
}

fn selector(report: &mut Report<'_>, field: &str, items: &ItemSelector) {
    if items.skus.is_empty() && items.categories.is_empty() && items.brands.is_empty() {
        report.push(
            field,
            "must list at least one of skus, categories or brands (leave items out for the whole basket)",
        );
    }
    for (name, list) in [
        ("skus", &items.skus),
        ("categories", &items.categories),
        ("brands", &items.brands),
        ("except_skus", &items.except_skus),
        ("except_categories", &items.except_categories),
        ("except_brands", &items.except_brands),
    ] {
        report.names(&format!("{field}.{name}"), list);
    }
}

fn rule(report: &mut Report<'_>, at: &str, rule: &Rule, tiers: &BTreeSet<&str>) {
    if let Some(items) = rule.items() {
        selector(report, &format!("{at}.items"), items);
    }
    match rule {
        Rule::PercentOff { percent, .. } => report.percent(&format!("{at}.percent"), *percent),
        Rule::AmountOff { amount, .. } => report.positive(&format!("{at}.amount"), *amount),
        Rule::FixedPrice { price, .. } => report.not_negative(&format!("{at}.price"), *price),
        Rule::TierPrice { prices, .. } => {
            if prices.is_empty() {
                report.push(format!("{at}.prices"), "must have at least one tier price");
            }
            let mut seen = BTreeSet::new();
            for (i, entry) in prices.iter().enumerate() {
                let field = format!("{at}.prices[{i}]");
                if !tiers.contains(entry.tier.as_str()) {
                    report.push(
                        format!("{field}.tier"),
                        format!("unknown tier {:?}: not in the catalog's tiers", entry.tier),
                    );
                }
                if !seen.insert(entry.tier.as_str()) {
                    report.push(format!("{field}.tier"), "tier is listed twice");
                }
                report.not_negative(&format!("{field}.price"), entry.price);
            }
        }
        Rule::BuyXGetY {
            buy, get, reward, ..
        } => {
            if !(1..=1000).contains(buy) {
                report.push(format!("{at}.buy"), "must be 1..=1000 units");
            }
            if !(1..=1000).contains(get) {
                report.push(format!("{at}.get"), "must be 1..=1000 units");
            }
            if let UnitReward::Percent(rate) = reward {
                report.percent(&format!("{at}.reward.percent"), *rate);
            }
        }
        Rule::MultiBuy {
            quantity, price, ..
        } => {
            if !(2..=1000).contains(quantity) {
                report.push(format!("{at}.quantity"), "must be 2..=1000 units");
            }
            report.positive(&format!("{at}.price"), *price);
        }
        Rule::SpendThreshold { steps, .. } => {
            if steps.is_empty() {
                report.push(format!("{at}.steps"), "must have at least one step");
            } else if steps.len() > MAX_LIST {
                report.push(
                    format!("{at}.steps"),
                    format!("must have at most {MAX_LIST} steps"),
                );
            }
            let mut previous: Option<i64> = None;
            for (i, step) in steps.iter().enumerate() {
                let field = format!("{at}.steps[{i}]");
                report.positive(&format!("{field}.spend"), step.spend);
                report.positive(&format!("{field}.off"), step.off);
                if previous.is_some_and(|p| step.spend <= p) {
                    report.push(
                        format!("{field}.spend"),
                        "steps must be in strictly increasing order of spend",
                    );
                }
                previous = Some(step.spend);
            }
        }
        Rule::SavingsMultiplier { multiplier, .. } => {
            report.multiplier(&format!("{at}.multiplier"), *multiplier, 10_001);
        }
    }
}
