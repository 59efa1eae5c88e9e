//! The promotion catalog: what central IT authors, signs and pushes to every till, and what
//! the till's benefits engine evaluates.
//!
//! ## Map
//! - [`Catalog`] (this module): the body of a signed catalog — currency, tiers, the savings
//!   programme, gift-card rules and the promotions. The envelope (`crate::envelope`) carries
//!   the sequence number and the issue time; the body carries neither.
//! - [`promotion`]: [`Promotion`] and its [`Rule`]s (percentage and amount off, fixed and
//!   tier prices, buy X get Y, multi-buy bundles, stepped spend thresholds, savings
//!   multipliers), the [`ItemSelector`] that picks lines by SKU, category and brand, and
//!   the stacking fields (`priority`, `group`, `exclusive`).
//! - [`effect_kind`]: [`EffectKind`], the kind of rule an effect comes from, with its code
//!   and its Spanish and English labels.
//! - [`condition`]: [`Conditions`]: weekdays and hours in the store's time zone, store and
//!   region scope, minimum quantity or amount, customer tier or segment, uses per customer.
//! - [`savings`]: [`SavingsProgramme`] (earn rate, multipliers, caps, return window) and
//!   [`GiftCardRules`] (hold time-to-live, offline cap per card, partial payment).
//! - [`validate`]: [`CatalogError`] and [`CatalogErrors`]: every problem of a catalog at
//!   once, each naming the promotion and the field.
//!
//! ## Authoring format
//! Central IT writes catalogs in TOML; [`Catalog::from_toml`] parses and validates them.
//! Money amounts are integers in minor units of the catalog's currency (`500` is €5.00),
//! rates are basis points (`1000` is 10 %), times are unix seconds, and hours are `"HH:MM"`
//! in the store's own time zone.
//!
//! ```
//! use tillpass_protocol::catalog::Catalog;
//!
//! let catalog = Catalog::from_toml(r#"
//! format = 1
//! currency = "EUR"
//! tiers = ["silver", "gold"]
//!
//! [savings]
//! earn_rate = 100                # 1 % of eligible spend (1 cent per euro)
//! return_window_days = 30
//! max_earn_per_sale = 5000       # €50.00
//! offline_redeem_cap = 2000      # €20.00 per customer while the till is unsynced
//! tier_multipliers = { gold = 20000 }   # gold earns double
//!
//! [gift_cards]
//! hold_ttl_seconds = 900
//! offline_cap_per_card = 5000
//!
//! [[promotions]]
//! id = "SUMMER-10"
//! label = { es = "Verano -10 %", en = "Summer 10 % off" }
//! valid_from = 1751328000        # 2025-07-01T00:00:00Z
//! valid_until = 1756684800       # 2025-09-01T00:00:00Z
//! rules = [{ type = "percent_off", percent = 1000, items = { categories = ["swimwear"] } }]
//! conditions = { weekdays = ["sat", "sun"], hours = [{ from = "10:00", until = "14:00" }] }
//!
//! [[promotions]]
//! id = "SPEND-MORE"
//! label = { es = "Gasta más, ahorra más", en = "Spend more, save more" }
//! valid_from = 1751328000
//! valid_until = 1756684800
//! group = "basket"
//! rules = [{ type = "spend_threshold", steps = [{ spend = 5000, off = 500 }, { spend = 10000, off = 1500 }] }]
//! "#).unwrap();
//! assert_eq!(catalog.promotions.len(), 2);
//!
//! // Every problem is reported, each with the promotion and the field.
//! let errors = Catalog::from_toml(r#"
//! format = 1
//! currency = "EUR"
//! [[promotions]]
//! id = "SUMMER-10"
//! label = { es = "Verano", en = "" }
//! valid_from = 10
//! valid_until = 5
//! rules = [{ type = "percent_off", percent = 0 }]
//! "#).unwrap_err();
//! let text = errors.to_string();
//! assert!(text.contains(r#"promotion "SUMMER-10": field rules[0].percent: must be 1..=10000 basis points"#));
//! assert!(text.contains(r#"promotion "SUMMER-10": field label.en: must not be empty"#));
//! assert!(text.contains(r#"promotion "SUMMER-10": field valid_until: must be after valid_from"#));
//! ```

pub mod condition;
pub mod effect_kind;
pub mod promotion;
pub mod savings;
pub mod validate;

use serde::{Deserialize, Serialize};

use crate::money::Currency;

pub use condition::{ClockTime, Conditions, TimeWindow, Weekday};
pub use effect_kind::EffectKind;
pub use promotion::{
    Audience, ItemSelector, Label, Promotion, Rewarded, Rule, ThresholdStep, TierPrice, UnitReward,
};
pub use savings::{GiftCardRules, SavingsProgramme};
pub use validate::{CatalogError, CatalogErrors};

/// The catalog format this code reads and writes. A catalog with another `format` is
/// refused: a till must never evaluate rules it does not fully understand.
pub const CATALOG_FORMAT: u32 = 1;

/// The body of a promotion catalog: everything a till needs to compute benefits.
///
/// Unknown fields are refused everywhere in the catalog, for the same reason: a condition
/// that an older till silently ignored would give discounts nobody authorised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The catalog format, [`CATALOG_FORMAT`].
    pub format: u32,
    /// The currency of every amount in the catalog and of the carts it applies to.
    pub currency: Currency,
    /// The loyalty tiers of the programme, lowest first. Promotions, tier prices and
    /// multipliers may only name these.
    #[serde(default)]
    pub tiers: Vec<String>,
    /// The savings (cashback) programme; `None` when the retailer has none.
    #[serde(default)]
    pub savings: Option<SavingsProgramme>,
    /// How gift cards are taken as tenders.
    #[serde(default)]
    pub gift_cards: GiftCardRules,
    /// The promotions, in any order: the engine orders them by priority and id.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

/// The catalog without its promotions: the part parsed in one piece by
/// [`Catalog::from_toml`], which parses each promotion on its own so that one broken
/// promotion does not hide the problems of the others.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogHead {
    format: u32,
    currency: Currency,
    #[serde(default)]
    tiers: Vec<String>,
    #[serde(default)]
    savings: Option<SavingsProgramme>,
    #[serde(default)]
    gift_cards: GiftCardRules,
}

impl Catalog {
    /// Parses the TOML authoring format and validates the result. On failure, every
    /// problem found is returned, each naming the promotion (when there is one) and the
    /// field.
    pub fn from_toml(text: &str) -> Result<Catalog, CatalogErrors> {
        let mut table: toml::Table = toml::from_str(text)
            .map_err(|e| CatalogErrors::single(CatalogError::document(e.message())))?;
        let mut errors = Vec::new();
        let raw_promotions = match table.remove("promotions") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(_) => {
                errors.push(CatalogError::catalog(
                    "promotions",
                    "must be an array of tables",
                ));
                Vec::new()
            }
        };
        let head: Option<CatalogHead> = match toml::Value::Table(table).try_into() {
            Ok(head) => Some(head),
            Err(e) => {
                errors.push(CatalogError::document(e.message()));
                None
            }
        };
        let mut promotions = Vec::with_capacity(raw_promotions.len());
        for (index, raw) in raw_promotions.into_iter().enumerate() {
            let id = raw
                .get("id")
                .and_then(toml::Value::as_str)
                .map_or_else(|| format!("#{index}"), str::to_owned);
            match raw.try_into::<Promotion>() {
                Ok(promotion) => promotions.push(promotion),
                Err(e) => errors.push(CatalogError::promotion(&id, "", e.message())),
            }
        }
        let Some(head) = head else {
            return Err(CatalogErrors::new(errors));
        };
        let catalog = Catalog {
            format: head.format,
            currency: head.currency,
            tiers: head.tiers,
            savings: head.savings,
            gift_cards: head.gift_cards,
            promotions,
        };
        if let Err(more) = catalog.validate() {
            errors.extend(more.errors);
        }
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(CatalogErrors::new(errors))
        }
    }

    /// Checks every rule of the catalog that its types cannot express: ranges, references
    /// to tiers, unique ids, ordered thresholds. Returns every problem, not just the first.
    /// Run it on every catalog, however it arrived (TOML, JSON, CBOR in an envelope).
    pub fn validate(&self) -> Result<(), CatalogErrors> {
        let errors = validate::catalog(self);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(CatalogErrors::new(errors))
        }
    }

    /// The promotion with this id, if any.
    pub fn promotion(&self, id: &str) -> Option<&Promotion> {
        self.promotions.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests;
