//! Rules that count units across the selected lines: buy X get Y and multi-buy bundles.
//!
//! The selected units form one pool. A line's amount left is spread over its units
//! exactly (a line of 3 units with €10.00 left holds units of 3.34, 3.33 and 3.33), and
//! the pool is held as runs of equal units, so a line of a million units costs no more
//! than a line of one. Units are ordered most expensive first, ties by line order.
//! Weighed lines take no part.

use std::collections::BTreeMap;

use tillpass_protocol::catalog::{Rewarded, UnitReward};
use tillpass_protocol::money::Money;

use super::RuleInput;
use crate::error::{EngineError, overflow};

/// `count` units of one line, each worth `value` minor units.
#[derive(Debug, Clone, Copy)]
struct Run {
    line: usize,
    value: i64,
    count: u64,
}

/// The selected unit lines as runs, most expensive first, ties by line.
fn pool(input: &RuleInput<'_>) -> Vec<Run> {
    let mut runs = Vec::new();
    for &i in input.selected {
        let Some(units) = input.priced(i).and_then(|p| p.units()) else {
            continue;
        };
        let units = i64::from(units);
        let left = input.left(i);
        if units == 0 || left <= 0 {
            continue;
        }
        let low = left / units;
        let high_count = left % units;
        if high_count > 0 {
            runs.push(Run {
                line: i,
                value: low + 1,
                count: u64::try_from(high_count).unwrap_or(0),
            });
        }
        runs.push(Run {
            line: i,
            value: low,
            count: u64::try_from(units - high_count).unwrap_or(0),
        });
    }
    runs.sort_by(|a, b| b.value.cmp(&a.value).then(a.line.cmp(&b.line)));
    runs
}

fn value_of(value: i64, count: u64) -> Result<i64, EngineError> {
    let count = i64::try_from(count).map_err(|_| overflow())?;
    value.checked_mul(count).ok_or_else(overflow)
}

fn add(parts: &mut BTreeMap<usize, i64>, line: usize, amount: i64) -> Result<(), EngineError> {
    if amount > 0 {
        let slot = parts.entry(line).or_insert(0);
        *slot = slot.checked_add(amount).ok_or_else(overflow)?;
    }
    Ok(())
}

/// For every `buy + get` units of the pool, `get` units are rewarded: the cheapest or the
/// most expensive ones.
pub(super) fn buy_x_get_y(
    input: &RuleInput<'_>,
    buy: u32,
    get: u32,
    reward: UnitReward,
    rewarded: Rewarded,
) -> Result<Vec<(usize, i64)>, EngineError> {
    let runs = pool(input);
    let total_units: u64 = runs.iter().map(|r| r.count).sum();
    let group = u64::from(buy) + u64::from(get);
    if group == 0 {
        return Ok(Vec::new());
    }
    let mut left = (total_units / group) * u64::from(get);
    let mut taken: BTreeMap<usize, i64> = BTreeMap::new();
    let order: Box<dyn Iterator<Item = &Run>> = match rewarded {
        Rewarded::Cheapest => Box::new(runs.iter().rev()),
        Rewarded::MostExpensive => Box::new(runs.iter()),
    };
    for run in order {
        if left == 0 {
            break;
        }
        let take = left.min(run.count);
        left -= take;
        add(&mut taken, run.line, value_of(run.value, take)?)?;
    }
    match reward {
        UnitReward::Free => Ok(taken.into_iter().collect()),
        UnitReward::Percent(rate) => {
            let value = Money::sum(
                input.currency,
                taken.values().map(|&v| Money::new(v, input.currency)),
            )?;
            let off = value.percent(rate)?.amount.min(value.amount);
            let lines: Vec<usize> = taken.keys().copied().collect();
            let weights: Vec<u64> = taken
                .values()
                .map(|&v| u64::try_from(v).unwrap_or(0))
                .collect();
            if off <= 0 || weights.iter().all(|&w| w == 0) {
                return Ok(Vec::new());
            }
            let parts = Money::new(off, input.currency).allocate(&weights)?;
            Ok(lines
                .into_iter()
                .zip(parts)
                .filter(|(_, p)| p.amount > 0)
                .map(|(line, p)| (line, p.amount))
                .collect())
        }
    }
}

/// Bundles of `quantity` units cost `price` together. Bundles are formed from the most
/// expensive units down; a bundle worth less than `price` gives nothing. A bundle's
/// discount is split over its units' lines in proportion to their value.
pub(super) fn multi_buy(
    input: &RuleInput<'_>,
    quantity: u32,
    price: i64,
) -> Result<Vec<(usize, i64)>, EngineError> {
    let size = u64::from(quantity);
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut parts: BTreeMap<usize, i64> = BTreeMap::new();
    // The bundle being filled: its members (line, value of its units there) and size.
    let mut members: Vec<(usize, i64)> = Vec::new();
    let mut filled: u64 = 0;
    for run in pool(input) {
        let mut count = run.count;
        while count > 0 {
            if filled == 0 && count >= size {
                // Whole bundles inside one run: all alike.
                let bundles = count / size;
                let off = value_of(run.value, size)?.saturating_sub(price);
                if off > 0 {
                    add(&mut parts, run.line, value_of(off, bundles)?)?;
                }
                count -= bundles * size;
                continue;
            }
            let take = count.min(size - filled);
            members.push((run.line, value_of(run.value, take)?));
            filled += take;
            count -= take;
            if filled == size {
                close_bundle(&mut parts, &members, price, input)?;
                members.clear();
                filled = 0;
            }
        }
    }
    Ok(parts.into_iter().collect())
}

/// Splits the discount of a bundle spanning several runs over its members.
fn close_bundle(
    parts: &mut BTreeMap<usize, i64>,
    members: &[(usize, i64)],
    price: i64,
    input: &RuleInput<'_>,
) -> Result<(), EngineError> {
    let value = Money::sum(
        input.currency,
        members.iter().map(|&(_, v)| Money::new(v, input.currency)),
    )?;
    let off = value.amount.saturating_sub(price);
    let weights: Vec<u64> = members
        .iter()
        .map(|&(_, v)| u64::try_from(v).unwrap_or(0))
        .collect();
    if off <= 0 || weights.iter().all(|&w| w == 0) {
        return Ok(());
    }
    let split = Money::new(off, input.currency).allocate(&weights)?;
    for (&(line, _), part) in members.iter().zip(split) {
        add(parts, line, part.amount)?;
    }
    Ok(())
}
