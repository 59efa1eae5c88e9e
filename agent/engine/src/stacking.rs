//! Stacking: which promotions apply, in which order, and on which lines.
//!
//! 1. Candidates are ranked: higher `priority` first; at equal priority, promotions with
//!    item rules before basket-only ones; then by id. The rank is a total order, so the
//!    result never depends on the order of the catalog or of the cart.
//! 2. Walking the ranking, each promotion without a `group` is tried on its own; the first
//!    member of a group brings the whole group, and every member is tried against the
//!    same amounts: the one that gives the customer the most wins (ties: the better
//!    ranked), the others do not apply.
//! 3. A promotion works on what earlier promotions left on each line. An `exclusive`
//!    promotion skips lines already discounted, and the lines it discounts are closed to
//!    every promotion after it.
//! 4. Minimum quantity and amount conditions are measured on the lines the promotion
//!    selects, at what they have left when its turn comes.

use std::collections::{BTreeMap, BTreeSet};

use tillpass_protocol::catalog::{Promotion, Rule};
use tillpass_protocol::money::Currency;

use crate::cart::Priced;
use crate::error::{EngineError, overflow};
use crate::rules::{self, RuleInput};
use crate::selector::Selector;

/// What the engine keeps per promotion, built once per catalog.
#[derive(Debug)]
pub(crate) struct Compiled {
    /// One compiled selector per rule; `None` for basket rules.
    pub selectors: Vec<Option<Selector>>,
    /// The position in the ranking (0 first).
    pub rank: u32,
}

/// A promotion that passed the static conditions for this sale.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Offer<'e> {
    pub promotion: &'e Promotion,
    pub compiled: &'e Compiled,
    /// The lines that hit the promotion's keys (from the index).
    pub hits: &'e [usize],
}

/// The state of the lines while promotions apply.
#[derive(Debug, Clone)]
pub(crate) struct Ledger {
    /// What each line has left.
    pub remaining: Vec<i64>,
    /// Whether any promotion discounted the line.
    pub discounted: Vec<bool>,
    /// Whether an exclusive promotion closed the line.
    pub locked: Vec<bool>,
}

impl Ledger {
    pub(crate) fn new(lines: &[Priced<'_>]) -> Ledger {
        Ledger {
            remaining: lines.iter().map(|l| l.subtotal).collect(),
            discounted: vec![false; lines.len()],
            locked: vec![false; lines.len()],
        }
    }

    fn take(&mut self, parts: &[(usize, i64)]) {
        for &(line, amount) in parts {
            if let Some(left) = self.remaining.get_mut(line) {
                *left = left.saturating_sub(amount);
            }
        }
    }

    fn give_back(&mut self, parts: &[(usize, i64)]) {
        for &(line, amount) in parts {
            if let Some(left) = self.remaining.get_mut(line) {
                *left = left.saturating_add(amount);
            }
        }
    }

    fn left(&self, line: usize) -> i64 {
        self.remaining.get(line).copied().unwrap_or(0)
    }
}

/// A promotion that applied: the discount of each of its rules, per line.
#[derive(Debug, Clone)]
pub(crate) struct Applied<'e> {
    pub offer: Offer<'e>,
    /// (rule position, parts per line ascending); only rules that gave something.
    pub rules: Vec<(usize, Vec<(usize, i64)>)>,
    pub total: i64,
}

/// The lines of `lines` that rule `rule` of `offer` selects, among those `keep` admits.
pub(crate) fn rule_lines(
    offer: &Offer<'_>,
    rule: usize,
    lines: &[Priced<'_>],
    keep: &dyn Fn(usize) -> bool,
) -> Vec<usize> {
    match offer.compiled.selectors.get(rule) {
        Some(Some(selector)) => offer
            .hits
            .iter()
            .copied()
            .filter(|&i| keep(i) && lines.get(i).is_some_and(|l| selector.matches(l.line)))
            .collect(),
        _ => (0..lines.len()).filter(|&i| keep(i)).collect(),
    }
}

/// Whether the minimum quantity and amount conditions hold on the lines the promotion
/// selects, at what they have left.
pub(crate) fn meets_minimums(
    offer: &Offer<'_>,
    lines: &[Priced<'_>],
    remaining: &[i64],
    keep: &dyn Fn(usize) -> bool,
) -> Result<bool, EngineError> {
    let c = &offer.promotion.conditions;
    if c.min_quantity.is_none() && c.min_amount.is_none() {
        return Ok(true);
    }
    let mut selected = BTreeSet::new();
    for rule in 0..offer.promotion.rules.len() {
        selected.extend(rule_lines(offer, rule, lines, keep));
    }
    let mut units: u64 = 0;
    let mut amount: i64 = 0;
    for &i in &selected {
        units += lines.get(i).map_or(0, |l| u64::from(l.count()));
        amount = amount
            .checked_add(remaining.get(i).copied().unwrap_or(0))
            .ok_or_else(overflow)?;
    }
    Ok(c.min_quantity.is_none_or(|min| units >= u64::from(min))
        && c.min_amount.is_none_or(|min| amount >= min))
}

/// What the stacking needs to know about the sale.
pub(crate) struct Sale<'a> {
    pub lines: &'a [Priced<'a>],
    pub currency: Currency,
    pub tier: Option<&'a str>,
}

/// Applies the discount promotions `offers` (ranked) to the ledger; returns those that
/// applied, in order.
pub(crate) fn stack<'e>(
    sale: &Sale<'_>,
    ledger: &mut Ledger,
    offers: &[Offer<'e>],
) -> Result<Vec<Applied<'e>>, EngineError> {
    let mut groups: BTreeMap<&str, Vec<Offer<'e>>> = BTreeMap::new();
    for offer in offers {
        if let Some(group) = &offer.promotion.group {
            groups.entry(group.as_str()).or_default().push(*offer);
        }
    }
    let mut applied = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for offer in offers {
        let single = [*offer];
        let members: &[Offer<'e>] = match &offer.promotion.group {
            None => &single,
            Some(group) => {
                if !done.insert(group.as_str()) {
                    continue;
                }
                groups
                    .get(group.as_str())
                    .map_or(&single[..], Vec::as_slice)
            }
        };
        let mut best: Option<Applied<'e>> = None;
        for member in members {
            if let Some(attempt) = attempt(sale, ledger, member)? {
                for (_, parts) in &attempt.rules {
                    ledger.give_back(parts);
                }
                if best.as_ref().is_none_or(|b| attempt.total > b.total) {
                    best = Some(attempt);
                }
            }
        }
        if let Some(winner) = best {
            for (_, parts) in &winner.rules {
                ledger.take(parts);
                for &(line, _) in parts {
                    if let Some(flag) = ledger.discounted.get_mut(line) {
                        *flag = true;
                    }
                    if winner.offer.promotion.exclusive
                        && let Some(flag) = ledger.locked.get_mut(line)
                    {
                        *flag = true;
                    }
                }
            }
            applied.push(winner);
        }
    }
    Ok(applied)
}

/// Applies one promotion's rules to the ledger, in order; `None` (and the ledger as it
/// was) when its minimums fail or it gives nothing.
fn attempt<'e>(
    sale: &Sale<'_>,
    ledger: &mut Ledger,
    offer: &Offer<'e>,
) -> Result<Option<Applied<'e>>, EngineError> {
    let exclusive = offer.promotion.exclusive;
    let open = |i: usize, l: &Ledger| {
        sale.lines.get(i).is_some_and(|p| p.discountable)
            && !l.locked.get(i).copied().unwrap_or(true)
            && !(exclusive && l.discounted.get(i).copied().unwrap_or(true))
    };
    let keep = |i: usize| open(i, ledger);
    if !meets_minimums(offer, sale.lines, &ledger.remaining, &keep)? {
        return Ok(None);
    }
    let mut done: Vec<(usize, Vec<(usize, i64)>)> = Vec::new();
    let mut total: i64 = 0;
    for (position, rule) in offer.promotion.rules.iter().enumerate() {
        if matches!(rule, Rule::SavingsMultiplier { .. }) {
            continue;
        }
        let keep = |i: usize| open(i, ledger) && ledger.left(i) > 0;
        let selected = rule_lines(offer, position, sale.lines, &keep);
        if selected.is_empty() {
            continue;
        }
        let input = RuleInput {
            lines: sale.lines,
            selected: &selected,
            remaining: &ledger.remaining,
            tier: sale.tier,
            currency: sale.currency,
        };
        let parts = rules::discounts(rule, &input)?;
        if parts.is_empty() {
            continue;
        }
        for &(_, amount) in &parts {
            total = total.checked_add(amount).ok_or_else(overflow)?;
        }
        ledger.take(&parts);
        done.push((position, parts));
    }
    if total <= 0 {
        for (_, parts) in &done {
            ledger.give_back(parts);
        }
        return Ok(None);
    }
    Ok(Some(Applied {
        offer: *offer,
        rules: done,
        total,
    }))
}
