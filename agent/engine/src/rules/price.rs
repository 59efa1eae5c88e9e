//! Rules on amounts: percentage off, amount off, fixed and tier prices, spend thresholds.

use tillpass_protocol::catalog::ThresholdStep;
use tillpass_protocol::money::{Money, Rate};

use super::RuleInput;
use crate::cart::extend;
use crate::error::EngineError;

/// `percent` of what the selected lines have left, rounded half-even once, allocated pro
/// rata.
pub(super) fn percent_off(
    input: &RuleInput<'_>,
    percent: Rate,
) -> Result<Vec<(usize, i64)>, EngineError> {
    let base = input.base()?;
    let off = Money::new(base, input.currency).percent(percent)?.amount;
    input.pro_rata(off.min(base))
}

/// `amount` off once (allocated pro rata), or off each unit (a weighed line counts as one
/// unit), never more than a line has left.
pub(super) fn amount_off(
    input: &RuleInput<'_>,
    amount: i64,
    per_unit: bool,
) -> Result<Vec<(usize, i64)>, EngineError> {
    if !per_unit {
        let base = input.base()?;
        return input.pro_rata(amount.min(base));
    }
    let mut parts = Vec::new();
    for &i in input.selected {
        let Some(line) = input.priced(i) else {
            continue;
        };
        let off = Money::new(amount, input.currency)
            .checked_mul(i64::from(line.count()))?
            .amount
            .min(input.left(i));
        if off > 0 {
            parts.push((i, off));
        }
    }
    Ok(parts)
}

/// Each selected line costs `price` per unit (or per kilogram): the discount is what the
/// line has left above that, never negative.
pub(super) fn fixed_price(
    input: &RuleInput<'_>,
    price: i64,
) -> Result<Vec<(usize, i64)>, EngineError> {
    let mut parts = Vec::new();
    for &i in input.selected {
        let Some(line) = input.priced(i) else {
            continue;
        };
        let target = extend(price, line.line.quantity, input.currency)?;
        let off = input.left(i).saturating_sub(target);
        if off > 0 {
            parts.push((i, off));
        }
    }
    Ok(parts)
}

/// The highest step reached by what the selected lines have left gives its amount off,
/// allocated pro rata.
pub(super) fn spend_threshold(
    input: &RuleInput<'_>,
    steps: &[ThresholdStep],
) -> Result<Vec<(usize, i64)>, EngineError> {
    let base = input.base()?;
    let reached = steps
        .iter()
        .filter(|step| step.spend <= base)
        .max_by_key(|step| step.spend);
    match reached {
        Some(step) => input.pro_rata(step.off.min(base)),
        None => Ok(Vec::new()),
    }
}
