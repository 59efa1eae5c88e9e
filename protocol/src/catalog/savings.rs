//! The savings programme (cashback earned and redeemed at the till) and the gift-card
//! rules: the retailer's settings that travel, signed, with the promotions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::money::Rate;

/// How customers earn and spend savings ("ahorro acumulado"): money kept in their wallet
/// and spent as a tender at the till.
///
/// Earning: every line that earns contributes its amount after discounts × `earn_rate` ×
/// the customer's tier multiplier × the line's category multiplier; the sum is rounded
/// down once per sale and capped by `max_earn_per_sale`. What a sale earns stays pending
/// for `return_window_days` (a return in that window takes it back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavingsProgramme {
    /// Savings per currency unit of eligible spend, in basis points: `100` earns 1 cent
    /// per euro (1 %), at most `10000`.
    pub earn_rate: Rate,
    /// Days earned savings stay pending before they can be spent (0..=365).
    pub return_window_days: u32,
    /// The most one sale can earn, bonuses included, in minor units; `None` for no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_earn_per_sale: Option<i64>,
    /// The most savings a customer may redeem at one till while the till cannot confirm
    /// the balance with central (offline), summed over the offline period, in minor units.
    #[serde(default)]
    pub offline_redeem_cap: i64,
    /// Earn multipliers per tier, in basis points (`20000` is double); tiers not listed
    /// earn ×1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tier_multipliers: BTreeMap<String, Rate>,
    /// Earn multipliers per category, in basis points; categories not listed earn ×1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub category_multipliers: BTreeMap<String, Rate>,
    /// Categories that never earn (tobacco, lottery, …). Gift-card purchases never earn
    /// whatever this says.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_categories: Vec<String>,
}

/// How gift cards are taken as tenders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiftCardRules {
    /// How long a hold on a card lasts during a sale before it lapses by itself, in seconds
    /// (1..=86400).
    #[serde(default = "GiftCardRules::default_hold_ttl")]
    pub hold_ttl_seconds: u32,
    /// The most one card may pay at one till while the till cannot confirm its balance with
    /// central (offline), summed over the offline period, in minor units.
    #[serde(default)]
    pub offline_cap_per_card: i64,
    /// Whether a card may pay part of a sale (the rest by another tender). When `false`, a
    /// card must cover the whole amount due.
    #[serde(default = "GiftCardRules::default_partial_payment")]
    pub partial_payment: bool,
}

impl GiftCardRules {
    fn default_hold_ttl() -> u32 {
        900
    }

    fn default_partial_payment() -> bool {
        true
    }
}

impl Default for GiftCardRules {
    fn default() -> Self {
        GiftCardRules {
            hold_ttl_seconds: GiftCardRules::default_hold_ttl(),
            offline_cap_per_card: 0,
            partial_payment: GiftCardRules::default_partial_payment(),
        }
    }
}
