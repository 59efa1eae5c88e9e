//! The promotion rules: each turns the lines it selects, at their amounts left so far, into
//! a discount per line. Every part is at most what the line has left, so no line goes
//! below zero and no discount exceeds the subtotal.
//!
//! - [`price`]: percentage and amount off, fixed and tier prices, spend thresholds.
//! - [`units`]: the rules that count units: buy X get Y and multi-buy bundles.

mod price;
mod units;

use tillpass_protocol::catalog::Rule;
use tillpass_protocol::money::{Currency, Money};

use crate::cart::Priced;
use crate::error::EngineError;

/// What a rule sees.
pub(crate) struct RuleInput<'a> {
    /// Every line of the cart, in result order.
    pub lines: &'a [Priced<'a>],
    /// The positions of the lines this rule may discount, ascending.
    pub selected: &'a [usize],
    /// What each line has left after the discounts applied so far.
    pub remaining: &'a [i64],
    /// The customer's tier, if any.
    pub tier: Option<&'a str>,
    /// The catalog currency.
    pub currency: Currency,
}

impl RuleInput<'_> {
    fn left(&self, line: usize) -> i64 {
        self.remaining.get(line).copied().unwrap_or(0)
    }

    fn priced(&self, line: usize) -> Option<&Priced<'_>> {
        self.lines.get(line)
    }

    /// The sum of what the selected lines have left.
    fn base(&self) -> Result<i64, EngineError> {
        let amounts = self
            .selected
            .iter()
            .map(|&i| Money::new(self.left(i), self.currency));
        Ok(Money::sum(self.currency, amounts)?.amount)
    }

    /// Splits `total` (at most [`Self::base`]) over the selected lines in proportion to
    /// what they have left; zero parts are dropped.
    fn pro_rata(&self, total: i64) -> Result<Vec<(usize, i64)>, EngineError> {
        if total <= 0 {
            return Ok(Vec::new());
        }
        let weights: Vec<u64> = self
            .selected
            .iter()
            .map(|&i| u64::try_from(self.left(i)).unwrap_or(0))
            .collect();
        if weights.iter().all(|&w| w == 0) {
            return Ok(Vec::new());
        }
        let parts = Money::new(total, self.currency).allocate(&weights)?;
        Ok(self
            .selected
            .iter()
            .zip(parts)
            .filter(|(_, part)| part.amount > 0)
            .map(|(&i, part)| (i, part.amount))
            .collect())
    }
}

/// The discount `rule` gives each selected line, ascending by line, zero parts left out.
/// Savings multipliers give no discount (see [`crate::savings`]).
pub(crate) fn discounts(
    rule: &Rule,
    input: &RuleInput<'_>,
) -> Result<Vec<(usize, i64)>, EngineError> {
    match rule {
        Rule::PercentOff { percent, .. } => price::percent_off(input, *percent),
        Rule::AmountOff {
            amount, per_unit, ..
        } => price::amount_off(input, *amount, *per_unit),
        Rule::FixedPrice { price, .. } => price::fixed_price(input, *price),
        Rule::TierPrice { prices, .. } => {
            let price = input
                .tier
                .and_then(|tier| prices.iter().find(|p| p.tier == tier))
                .map(|p| p.price);
            match price {
                Some(price) => price::fixed_price(input, price),
                None => Ok(Vec::new()),
            }
        }
        Rule::SpendThreshold { steps, .. } => price::spend_threshold(input, steps),
        Rule::BuyXGetY {
            buy,
            get,
            reward,
            rewarded,
            ..
        } => units::buy_x_get_y(input, *buy, *get, *reward, *rewarded),
        Rule::MultiBuy {
            quantity, price, ..
        } => units::multi_buy(input, *quantity, *price),
        Rule::SavingsMultiplier { .. } => Ok(Vec::new()),
    }
}
