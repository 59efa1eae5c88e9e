//! What the engine is told about the moment, the store and the customer. It reads no clock
//! and no database: the agent passes all of this in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tillpass_protocol::catalog::Weekday;
use tillpass_protocol::money::Money;

/// The moment and the place of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleContext {
    /// Now, in unix seconds (the agent's sanity-checked clock).
    pub now: u64,
    /// The store's local wall time now (the agent converts with the store's time zone).
    pub local: LocalTime,
    /// The store's id, as catalogs name it in `conditions.stores`.
    pub store_id: String,
    /// The store's region, as catalogs name it in `conditions.regions`.
    pub region: String,
}

/// A wall-clock moment in the store's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalTime {
    /// The day of the week.
    pub weekday: Weekday,
    /// Minutes since local midnight, 0..1440.
    pub minute_of_day: u16,
}

/// The identified customer, as the agent's store knows them now. An anonymous sale has no
/// customer and receives only promotions for everyone; it earns nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerContext {
    /// The customer's tier, one of the catalog's tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The segments central put the customer in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// The personal promotions the customer switched on in the chat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activated_promotions: Vec<String>,
    /// How many sales each promotion has already applied to, by promotion id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub uses: BTreeMap<String, u32>,
    /// The customer's savings.
    pub savings: SavingsBalance,
    /// Whether the balance was confirmed by central (the till is in sync). When `false`,
    /// redemptions are also limited by the programme's offline cap.
    pub balance_synced: bool,
    /// Savings this customer redeemed at this till since the last sync.
    pub offline_redeemed: Money,
}

/// A customer's savings balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavingsBalance {
    /// Savings that may be spent now.
    pub available: Money,
    /// Savings earned but still inside their return window: shown, not spendable.
    pub pending: Money,
}

impl CustomerContext {
    /// How many sales `promotion_id` has already applied to for this customer.
    pub fn uses_of(&self, promotion_id: &str) -> u32 {
        self.uses.get(promotion_id).copied().unwrap_or(0)
    }
}
