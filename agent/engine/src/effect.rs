//! What an evaluation returns: per-line amounts, the effects the cashier sees, the totals.

use serde::{Deserialize, Serialize};
use tillpass_protocol::catalog::Label;
use tillpass_protocol::money::{Currency, Money};

use crate::cart::Quantity;

/// The complete result of evaluating a cart. It replaces any earlier evaluation of the
/// same session (the POS shows the whole list, not a delta).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The currency of every amount.
    pub currency: Currency,
    /// Every line of the cart, ordered by [`crate::compare_line_ids`].
    pub lines: Vec<LineResult>,
    /// The effects, in the order they were applied: discounts by stacking order, then
    /// savings bonuses.
    pub effects: Vec<Effect>,
    /// The totals of the cart.
    pub totals: Totals,
    /// What became of each voucher presented, ordered by code.
    pub vouchers: Vec<VoucherOutcome>,
    /// The ids of the promotions that applied, sorted: the agent adds one use for each
    /// when the sale closes.
    pub promotions_used: Vec<String>,
}

/// One line's amounts. Tax-inclusive: the POS computes the tax from `total`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineResult {
    /// The POS's line id.
    pub line_id: String,
    /// The SKU.
    pub sku: String,
    /// The quantity sold.
    pub quantity: Quantity,
    /// The price per unit (or per kilogram).
    pub unit_price: Money,
    /// Quantity × price, before discounts (weights rounded half-even).
    pub subtotal: Money,
    /// The sum of the discounts allocated to the line.
    pub discount: Money,
    /// `subtotal − discount`, never below zero.
    pub total: Money,
    /// The savings this line earns (base and bonuses); zero for lines that do not earn.
    pub savings_earned: Money,
}

/// One promotion rule's effect on the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    /// The promotion's id.
    pub promotion_id: String,
    /// The rule's position in the promotion (0 for most promotions).
    pub rule: usize,
    /// What kind of rule produced it.
    pub kind: EffectKind,
    /// The promotion's label, in Spanish and English.
    pub label: Label,
    /// For discounts, the amount off; for savings bonuses, the extra savings. Positive.
    pub amount: Money,
    /// How the amount is split over the lines; the parts sum exactly to `amount`. Ordered
    /// like the lines; lines with no part are left out.
    pub allocations: Vec<Allocation>,
    /// The voucher the promotion needed, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voucher: Option<String>,
}

impl Effect {
    /// Whether the effect is a discount (as opposed to a savings bonus).
    pub fn is_discount(&self) -> bool {
        self.kind != EffectKind::SavingsMultiplier
    }
}

pub use tillpass_protocol::catalog::EffectKind;

/// A line's part of an effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The line.
    pub line_id: String,
    /// The part, positive.
    pub amount: Money,
}

/// The totals of a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// The sum of the lines' subtotals.
    pub subtotal: Money,
    /// The sum of all discounts; never more than `subtotal`.
    pub discount: Money,
    /// `subtotal − discount`: what the customer owes before tenders.
    pub total: Money,
    /// The part of `total` that earns savings.
    pub eligible_spend: Money,
    /// What the sale earns.
    pub savings: SavingsEarned,
}

/// The savings a sale earns. They stay pending until `pending_until`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavingsEarned {
    /// From the programme's rate with tier and category multipliers.
    pub base: Money,
    /// From savings-multiplier promotions (the sum of their effects).
    pub bonus: Money,
    /// `base + bonus`, within the programme's cap per sale.
    pub total: Money,
    /// When the savings can be spent (unix seconds): now plus the return window. `None`
    /// when nothing is earned.
    pub pending_until: Option<u64>,
}

/// What became of a voucher presented with the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherOutcome {
    /// The code.
    pub code: String,
    /// The token id, as presented.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// What happened.
    pub status: VoucherStatus,
}

/// What became of a voucher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStatus {
    /// A promotion that needs it applied: the agent marks the voucher used at close.
    Applied,
    /// The catalog has promotions for the code, but none applied to this cart.
    NotApplicable,
    /// No promotion in the catalog asks for this code.
    Unknown,
}
