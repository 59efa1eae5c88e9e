//! Exact shares of amounts that are rounded down: savings are earned as a fraction of
//! spend, rounded down once for the sale, and that whole is then split over the lines so
//! the parts always sum to it.

use tillpass_protocol::money::allocate;

use crate::error::{EngineError, overflow};

/// Splits `⌊Σ numerators / denominator⌋` over the numerators (all ≥ 0): each gets
/// `⌊n / denominator⌋`, and the units left over go one each to the largest remainders,
/// ties to the earlier one. The parts sum exactly to the whole.
pub(crate) fn floor_shares(
    numerators: &[i128],
    denominator: i128,
) -> Result<Vec<i64>, EngineError> {
    if denominator <= 0 {
        return Err(overflow());
    }
    let mut parts = Vec::with_capacity(numerators.len());
    let mut remainders = Vec::with_capacity(numerators.len());
    let mut remainder_sum: i128 = 0;
    for (index, &n) in numerators.iter().enumerate() {
        let n = n.max(0);
        parts.push(n / denominator);
        let r = n % denominator;
        remainders.push((r, index));
        remainder_sum = remainder_sum.checked_add(r).ok_or_else(overflow)?;
    }
    let mut extra = remainder_sum / denominator;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, index) in remainders {
        if extra == 0 {
            break;
        }
        if let Some(part) = parts.get_mut(index) {
            *part += 1;
            extra -= 1;
        }
    }
    parts
        .into_iter()
        .map(|p| i64::try_from(p).map_err(|_| overflow()))
        .collect()
}

/// Scales `shares` (all ≥ 0) down so they sum to `total` (at most their sum), in
/// proportion, by largest remainder.
pub(crate) fn scale_to(shares: &[i64], total: i64) -> Result<Vec<i64>, EngineError> {
    let weights: Vec<u64> = shares
        .iter()
        .map(|&s| u64::try_from(s).unwrap_or(0))
        .collect();
    if total <= 0 || weights.iter().all(|&w| w == 0) {
        return Ok(vec![0; shares.len()]);
    }
    Ok(allocate(total, &weights)?)
}

/// The sum of `parts`, refusing overflow.
pub(crate) fn total(parts: &[i64]) -> Result<i64, EngineError> {
    parts
        .iter()
        .try_fold(0_i64, |acc, &p| acc.checked_add(p))
        .ok_or_else(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_shares_sum_to_the_floor_of_the_sum() {
        // 0.5 + 0.5 + 0.5 = 1.5 -> 1, given to the first.
        assert_eq!(floor_shares(&[5, 5, 5], 10).unwrap(), vec![1, 0, 0]);
        // 1.7 + 0.6 = 2.3 -> 2: 1 + 0 then the extra to the larger remainder (0.7).
        assert_eq!(floor_shares(&[17, 6], 10).unwrap(), vec![2, 0]);
        assert_eq!(floor_shares(&[], 10).unwrap(), Vec::<i64>::new());
        assert!(floor_shares(&[1], 0).is_err());
    }

    #[test]
    fn scaling_keeps_the_total() {
        assert_eq!(scale_to(&[30, 10], 20).unwrap(), vec![15, 5]);
        assert_eq!(scale_to(&[0, 0], 5).unwrap(), vec![0, 0]);
    }
}
